package litmus

import (
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ProbeType is experiments[].spec.probe[].type.
type ProbeType string

// Probe types. sloProbe is a Harness-only type that open-source
// LitmusChaos does not evaluate.
const (
	ProbeTypeK8s  ProbeType = "k8sProbe"
	ProbeTypeHTTP ProbeType = "httpProbe"
	ProbeTypeCmd  ProbeType = "cmdProbe"
	ProbeTypeProm ProbeType = "promProbe"
	ProbeTypeSLO  ProbeType = "sloProbe"
)

// ProbeMode is experiments[].spec.probe[].mode (case-sensitive).
type ProbeMode string

// Probe modes.
const (
	ProbeModeSOT        ProbeMode = "SOT"
	ProbeModeEOT        ProbeMode = "EOT"
	ProbeModeEdge       ProbeMode = "Edge"
	ProbeModeContinuous ProbeMode = "Continuous"
	ProbeModeOnChaos    ProbeMode = "OnChaos"
)

// K8sOperation is k8sProbe/inputs.operation.
type K8sOperation string

// k8sProbe operations.
const (
	K8sOperationPresent K8sOperation = "present"
	K8sOperationAbsent  K8sOperation = "absent"
	K8sOperationCreate  K8sOperation = "create"
	K8sOperationDelete  K8sOperation = "delete"
)

// ComparatorType is comparator.type of a cmdProbe (promProbe always
// compares as float and ignores the type).
type ComparatorType string

// Comparator types.
const (
	ComparatorTypeInt    ComparatorType = "int"
	ComparatorTypeFloat  ComparatorType = "float"
	ComparatorTypeString ComparatorType = "string"
)

// Probe is one entry of ChaosEngine experiments[].spec.probe[]. Name is the
// identifier of the probe; exactly one inputs block matching Type is
// expected.
type Probe struct {
	Name          string        `json:"name"`
	Type          ProbeType     `json:"type"`
	Mode          ProbeMode     `json:"mode"`
	RunProperties RunProperties `json:"runProperties"`
	// Data is the YAML manifest created by a k8sProbe with operation create.
	Data string `json:"data,omitempty"`

	HTTPProbeInputs *HTTPProbeInputs `json:"httpProbe/inputs,omitempty"`
	CmdProbeInputs  *CmdProbeInputs  `json:"cmdProbe/inputs,omitempty"`
	K8sProbeInputs  *K8sProbeInputs  `json:"k8sProbe/inputs,omitempty"`
	PromProbeInputs *PromProbeInputs `json:"promProbe/inputs,omitempty"`
	// SLOProbeInputs is kept verbatim; sloProbe is not evaluated by
	// open-source LitmusChaos.
	SLOProbeInputs json.RawMessage `json:"sloProbe/inputs,omitempty"`
}

// RunProperties is probe[].runProperties.
type RunProperties struct {
	// ProbeTimeout is the per-attempt time limit (required by the CRD).
	ProbeTimeout Duration `json:"probeTimeout,omitzero"`
	// Interval is the pause between attempts (required by the CRD).
	Interval Duration `json:"interval,omitzero"`
	// Attempt is the total number of attempts.
	Attempt int `json:"attempt,omitempty"`
	// Retry is the legacy alias of Attempt, used when Attempt is 0.
	Retry int `json:"retry,omitempty"`
	// ProbePollingInterval is the pause between iterations of
	// Continuous/OnChaos probes.
	ProbePollingInterval Duration `json:"probePollingInterval,omitzero"`
	// InitialDelay is slept before the first execution in each phase.
	InitialDelay Duration `json:"initialDelay,omitzero"`
	// InitialDelaySeconds is the legacy integer form of InitialDelay
	// (ignored upstream since 3.x).
	InitialDelaySeconds int `json:"initialDelaySeconds,omitempty"`
	// EvaluationTimeout is only meaningful for sloProbe.
	EvaluationTimeout Duration `json:"evaluationTimeout,omitzero"`
	StopOnFailure     bool     `json:"stopOnFailure,omitempty"`
	// Verbosity "info" logs the comparison only on the first run.
	Verbosity string `json:"verbosity,omitempty"`
}

// Attempts returns the number of attempts per evaluation: Attempt if
// positive, else Retry if positive, else 1.
func (r RunProperties) Attempts() int {
	switch {
	case r.Attempt > 0:
		return r.Attempt
	case r.Retry > 0:
		return r.Retry
	}
	return 1
}

// ProbeTimings holds the parsed Duration fields of RunProperties.
type ProbeTimings struct {
	ProbeTimeout         time.Duration
	Interval             time.Duration
	ProbePollingInterval time.Duration
	InitialDelay         time.Duration
	EvaluationTimeout    time.Duration
}

// Timings parses all Duration fields; unset fields are 0. The error names
// the offending field (e.g. `runProperties.interval: invalid duration
// "abc": ...`). It performs no further validation (such as probeTimeout
// being required) and does not apply InitialDelaySeconds.
func (r RunProperties) Timings() (ProbeTimings, error) {
	var t ProbeTimings
	fields := []struct {
		name string
		in   Duration
		out  *time.Duration
	}{
		{"probeTimeout", r.ProbeTimeout, &t.ProbeTimeout},
		{"interval", r.Interval, &t.Interval},
		{"probePollingInterval", r.ProbePollingInterval, &t.ProbePollingInterval},
		{"initialDelay", r.InitialDelay, &t.InitialDelay},
		{"evaluationTimeout", r.EvaluationTimeout, &t.EvaluationTimeout},
	}
	for _, f := range fields {
		v, err := f.in.Parse()
		if err != nil {
			return ProbeTimings{}, fmt.Errorf("runProperties.%s: %w", f.name, err)
		}
		*f.out = v
	}
	return t, nil
}

// HTTPProbeInputs is httpProbe/inputs.
type HTTPProbeInputs struct {
	URL                string     `json:"url"`
	InsecureSkipVerify bool       `json:"insecureSkipVerify,omitempty"`
	Method             HTTPMethod `json:"method,omitzero"`
	// Headers is a chaos-agent extension (custom request headers); upstream
	// LitmusChaos ignores it.
	Headers map[string]string `json:"headers,omitempty"`
	// ResponseTimeout is a legacy (LitmusChaos <= 2.x) / chaos-agent
	// extension field; upstream 3.x uses runProperties.probeTimeout.
	// The meaning of a bare number is up to the executor (see ParseUnit).
	ResponseTimeout Duration `json:"responseTimeout,omitzero"`
}

// HTTPMethod holds exactly one of Get or Post.
type HTTPMethod struct {
	Get  *HTTPGet  `json:"get,omitempty"`
	Post *HTTPPost `json:"post,omitempty"`
}

// HTTPGet describes a GET request and its expected status code.
type HTTPGet struct {
	Criteria     string `json:"criteria,omitempty"`
	ResponseCode string `json:"responseCode,omitempty"`
	// ResponseTimeout is accepted here too because some published
	// manifests (Harness tutorials) place it under method.get.
	ResponseTimeout Duration `json:"responseTimeout,omitzero"`
}

// HTTPPost describes a POST request and its expected status code. Body
// wins over BodyPath (a file path read in the executor).
type HTTPPost struct {
	ContentType  string `json:"contentType,omitempty"`
	Body         string `json:"body,omitempty"`
	BodyPath     string `json:"bodyPath,omitempty"`
	Criteria     string `json:"criteria,omitempty"`
	ResponseCode string `json:"responseCode,omitempty"`
	// ResponseTimeout: see HTTPGet.ResponseTimeout.
	ResponseTimeout Duration `json:"responseTimeout,omitzero"`
}

// Comparator compares a probe's actual value against Value.
type Comparator struct {
	Type     ComparatorType `json:"type,omitempty"`
	Criteria string         `json:"criteria,omitempty"`
	Value    string         `json:"value,omitempty"`
}

// CmdProbeInputs is cmdProbe/inputs. Without Source the command runs
// inline in the experiment container; with Source in a dedicated pod.
type CmdProbeInputs struct {
	Command    string       `json:"command"`
	Comparator Comparator   `json:"comparator"`
	Source     *ProbeSource `json:"source,omitempty"`
}

// ProbeSource is cmdProbe/inputs.source: the pod that runs the command.
type ProbeSource struct {
	Image            string                        `json:"image,omitempty"`
	HostNetwork      bool                          `json:"hostNetwork,omitempty"`
	InheritInputs    bool                          `json:"inheritInputs,omitempty"`
	Args             []string                      `json:"args,omitempty"`
	Env              []corev1.EnvVar               `json:"env,omitempty"`
	Labels           map[string]string             `json:"labels,omitempty"`
	Annotations      map[string]string             `json:"annotations,omitempty"`
	Command          []string                      `json:"command,omitempty"`
	ImagePullPolicy  corev1.PullPolicy             `json:"imagePullPolicy,omitempty"`
	Privileged       bool                          `json:"privileged,omitempty"`
	NodeSelector     map[string]string             `json:"nodeSelector,omitempty"`
	Tolerations      []corev1.Toleration           `json:"tolerations,omitempty"`
	Volumes          []corev1.Volume               `json:"volumes,omitempty"`
	VolumeMount      []corev1.VolumeMount          `json:"volumeMount,omitempty"`
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// K8sProbeInputs is k8sProbe/inputs. Group may be empty (core API);
// Namespace may be empty (cluster scope / all namespaces). ResourceNames is
// a comma-separated list.
type K8sProbeInputs struct {
	Group         string       `json:"group,omitempty"`
	Version       string       `json:"version,omitempty"`
	Resource      string       `json:"resource,omitempty"`
	Namespace     string       `json:"namespace,omitempty"`
	ResourceNames string       `json:"resourceNames,omitempty"`
	FieldSelector string       `json:"fieldSelector,omitempty"`
	LabelSelector string       `json:"labelSelector,omitempty"`
	Operation     K8sOperation `json:"operation,omitempty"`
}

// PromProbeInputs is promProbe/inputs. One of Query or QueryPath is
// expected; the comparison is always numeric (float).
type PromProbeInputs struct {
	Endpoint   string     `json:"endpoint"`
	Query      string     `json:"query,omitempty"`
	QueryPath  string     `json:"queryPath,omitempty"`
	Comparator Comparator `json:"comparator"`
}
