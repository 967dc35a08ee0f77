package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// DecodeObject decodes exactly one object given as YAML or JSON (a manifest from the control
// plane, an artifact of a Workflow). A second document that is not empty is refused: readers
// that would take only the first and appliers that would take both must not disagree.
func DecodeObject(data string) (*unstructured.Unstructured, error) {
	if strings.TrimSpace(data) == "" {
		return nil, errors.New("empty manifest")
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(data)))
	first, err := docs.Read()
	if err != nil {
		return nil, fmt.Errorf("manifest is neither YAML nor JSON: %w", err)
	}
	for {
		next, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("manifest is neither YAML nor JSON: %w", err)
		}
		if j, err := yaml.YAMLToJSON(next); err != nil || !isNull(j) {
			return nil, errors.New("manifest holds more than one YAML document")
		}
	}
	j, err := yaml.YAMLToJSON(first)
	if err != nil {
		return nil, fmt.Errorf("manifest is neither YAML nor JSON: %w", err)
	}
	var obj map[string]any
	if err := json.Unmarshal(j, &obj); err != nil || obj == nil {
		return nil, errors.New("manifest is not a single object")
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetKind() == "" {
		return nil, errors.New("manifest has no kind")
	}
	return u, nil
}

func isNull(j []byte) bool {
	j = bytes.TrimSpace(j)
	return len(j) == 0 || string(j) == "null"
}
