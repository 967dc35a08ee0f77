package probes

import (
	"fmt"
	"strings"
	"text/template"
)

// Probe chaining (litmus-execution §6.6): cmd command, http url and k8s field/label
// selectors and resource names are Go templates over
//
//	{{ .<probeName>.ProbeArtifacts.Register }}
//
// where Register is the last successful, trimmed stdout of the cmdProbe <probeName>. Every
// probe of the run is a key (its Register stays empty until a cmdProbe succeeds), so a
// reference to an unknown probe name is an error rather than silently empty. Names with
// dashes need the index form: {{ (index . "my-probe").ProbeArtifacts.Register }}.

// artifactData is the template data of one probe.
type artifactData struct {
	ProbeArtifacts probeArtifacts
}

type probeArtifacts struct {
	Register string
}

// parseTemplate parses text as a text/template, or returns nil when text has no action
// (rendered verbatim).
func parseTemplate(field, text string) (*template.Template, error) {
	if !strings.Contains(text, "{{") {
		return nil, nil
	}
	t, err := template.New(field).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid template: %w", field, err)
	}
	return t, nil
}

// render executes t over data, or returns text when t is nil.
func render(t *template.Template, text string, data map[string]artifactData) (string, error) {
	if t == nil {
		return text, nil
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %s template: %w", t.Name(), err)
	}
	return b.String(), nil
}
