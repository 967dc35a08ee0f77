package litmus

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// Workflows carry Litmus objects as raw input artifacts of their templates: a ChaosHub install
// step has ChaosExperiments, a fault step one ChaosEngine. The functions below are the one
// place where such an artifact is decoded, for every reader (subscriber, native workflow
// engine, `chaos-agent run`), so that they all agree on what a fault step is.

// MaxArtifactBytes bounds the size of one raw artifact that is decoded.
const MaxArtifactBytes = 1 << 20

// decodeArtifact decodes one YAML or JSON object with a kind, of a bounded size.
func decodeArtifact(data string) (*unstructured.Unstructured, error) {
	if len(data) > MaxArtifactBytes {
		return nil, fmt.Errorf("artifact of %d bytes is larger than %d", len(data), MaxArtifactBytes)
	}
	return kube.DecodeObject(data)
}

// ArtifactKind returns the kind of the object in a raw artifact, or "" when it is not one
// object with a kind.
func ArtifactKind(data string) string {
	u, err := decodeArtifact(data)
	if err != nil {
		return ""
	}
	return u.GetKind()
}

// DecodeEngine decodes a fault step's raw artifact: a ChaosEngine.
func DecodeEngine(data string) (*ChaosEngine, error) {
	var en ChaosEngine
	if err := decodeKind(data, KindChaosEngine, &en); err != nil {
		return nil, err
	}
	return &en, nil
}

// DecodeExperiment decodes one raw artifact of a ChaosHub install step: a ChaosExperiment.
func DecodeExperiment(data string) (*ChaosExperiment, error) {
	var x ChaosExperiment
	if err := decodeKind(data, KindChaosExperiment, &x); err != nil {
		return nil, err
	}
	return &x, nil
}

func decodeKind(data, kind string, out any) error {
	u, err := decodeArtifact(data)
	if err != nil {
		return err
	}
	if k := u.GetKind(); k != kind {
		return fmt.Errorf("artifact is a %s, not a %s", k, kind)
	}
	return FromUnstructured(u, out)
}

// EngineArtifact returns the ChaosEngine of a raw artifact, or nil when it is anything else.
func EngineArtifact(data string) *ChaosEngine {
	if !strings.Contains(data, KindChaosEngine) { // cheap test first: most artifacts are not engines
		return nil
	}
	en, err := DecodeEngine(data)
	if err != nil {
		return nil
	}
	return en
}

// EngineKey is how a fault step's engine is known before it exists: its name, or its
// generateName when the manifest has no name.
func EngineKey(en *ChaosEngine) string {
	if en.Name != "" {
		return en.Name
	}
	return en.GenerateName
}
