package probes

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// probe is a validated litmus.Probe with everything parsed that can be parsed before chaos
// starts: timings, comparator, templates, HTTP client, k8s manifest.
type probe struct {
	idx      int
	spec     litmus.Probe
	timings  litmus.ProbeTimings // InitialDelay already falls back to InitialDelaySeconds
	attempts int
	cmp      *Comparator

	// http
	httpMethod       string // http.MethodGet or http.MethodPost
	httpExpected     string // responseCode as configured
	httpPost         *litmus.HTTPPost
	httpClient       *http.Client
	httpTimeout      time.Duration // client timeout: responseTimeout if set, else probeTimeout
	urlTmpl          *template.Template
	cmdTmpl          *template.Template
	fieldSelTmpl     *template.Template
	labelSelTmpl     *template.Template
	resourceNameTmpl *template.Template

	// k8s
	gvr      schema.GroupVersionResource
	manifest *unstructured.Unstructured // decoded data (operation create)

	// cmd source: name of the pod this probe uses
	sourcePodName string
}

func (p *probe) name() string { return p.spec.Name }

func (p *probe) isSource() bool {
	return p.spec.Type == litmus.ProbeTypeCmd && p.spec.CmdProbeInputs != nil && p.spec.CmdProbeInputs.Source != nil
}

// validate checks every probe of run and returns their compiled form, or one GENERIC_ERROR
// listing every problem found (each naming its probe).
func validate(run litmus.ProbeRun) ([]*probe, error) {
	var problems []string
	seen := map[string]bool{}
	var out []*probe
	sources := 0
	for i, spec := range run.Probes {
		label := fmt.Sprintf("probe %q", spec.Name)
		if spec.Name == "" {
			label = fmt.Sprintf("probe #%d", i+1)
			problems = append(problems, label+": name is required")
		} else if seen[spec.Name] {
			problems = append(problems, fmt.Sprintf("%s: duplicate probe name (probe names must be unique within an experiment)", label))
			continue
		} else {
			seen[spec.Name] = true
		}
		p, errs := compile(i, spec, run)
		for _, err := range errs {
			problems = append(problems, label+": "+err.Error())
		}
		if len(errs) > 0 {
			continue
		}
		if p.isSource() {
			sources++
			p.sourcePodName = sourcePodBaseName(run)
			if sources > 1 {
				p.sourcePodName = fmt.Sprintf("%s-%d", p.sourcePodName, sources)
			}
		}
		out = append(out, p)
	}
	if len(problems) > 0 {
		return nil, &litmus.Error{
			Code:   litmus.ErrorCodeGeneric,
			Phase:  litmus.ExperimentPhasePreChaos,
			Reason: "invalid probes: " + strings.Join(problems, "; "),
		}
	}
	return out, nil
}

func compile(idx int, spec litmus.Probe, run litmus.ProbeRun) (*probe, []error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	p := &probe{idx: idx, spec: spec, attempts: spec.RunProperties.Attempts()}

	switch spec.Mode {
	case litmus.ProbeModeSOT, litmus.ProbeModeEOT, litmus.ProbeModeEdge,
		litmus.ProbeModeContinuous, litmus.ProbeModeOnChaos:
	case "":
		bad("mode is required (one of SOT, EOT, Edge, Continuous, OnChaos)")
	default:
		bad("unknown mode %q (valid, case-sensitive: SOT, EOT, Edge, Continuous, OnChaos)", spec.Mode)
	}

	rp := spec.RunProperties
	t, err := rp.Timings()
	if err != nil {
		bad("%v", err)
	} else {
		if rp.ProbeTimeout.IsZero() {
			bad("runProperties.probeTimeout is required")
		} else if t.ProbeTimeout <= 0 {
			bad("runProperties.probeTimeout must be positive, got %q", rp.ProbeTimeout)
		}
		if rp.Interval.IsZero() {
			bad("runProperties.interval is required")
		}
		if rp.InitialDelay.IsZero() && rp.InitialDelaySeconds > 0 {
			if int64(rp.InitialDelaySeconds) > int64(maxProbeDuration/time.Second) {
				bad("runProperties.initialDelaySeconds %d is above the limit of %s", rp.InitialDelaySeconds, maxProbeDuration)
			}
			t.InitialDelay = time.Duration(rp.InitialDelaySeconds) * time.Second
		}
		for _, f := range []struct {
			name string
			d    time.Duration
		}{{"probeTimeout", t.ProbeTimeout}, {"interval", t.Interval}, {"probePollingInterval", t.ProbePollingInterval},
			{"initialDelay", t.InitialDelay}, {"evaluationTimeout", t.EvaluationTimeout}} {
			if f.d > maxProbeDuration {
				bad("runProperties.%s %s is above the limit of %s", f.name, f.d, maxProbeDuration)
			}
		}
		p.timings = t
	}
	if rp.InitialDelaySeconds < 0 {
		bad("runProperties.initialDelaySeconds must not be negative, got %d", rp.InitialDelaySeconds)
	}
	if rp.Attempt < 0 || rp.Retry < 0 {
		bad("runProperties.attempt and runProperties.retry must not be negative")
	}

	switch spec.Type {
	case litmus.ProbeTypeHTTP:
		errs = append(errs, p.compileHTTP()...)
	case litmus.ProbeTypeCmd:
		errs = append(errs, p.compileCmd(run)...)
	case litmus.ProbeTypeK8s:
		errs = append(errs, p.compileK8s(run)...)
	case litmus.ProbeTypeProm:
		errs = append(errs, p.compileProm()...)
	case litmus.ProbeTypeSLO:
		bad("sloProbe is a Harness-only probe type and is not supported by chaos-agent")
	case "":
		bad("type is required (one of httpProbe, cmdProbe, k8sProbe, promProbe)")
	default:
		bad("unknown type %q (valid: httpProbe, cmdProbe, k8sProbe, promProbe)", spec.Type)
	}
	return p, errs
}

// maxProbeDuration bounds every probe timing: far above a real experiment, far below overflow.
const maxProbeDuration = 24 * time.Hour

func (p *probe) compileHTTP() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	in := p.spec.HTTPProbeInputs
	if in == nil {
		return []error{errors.New(`httpProbe requires the "httpProbe/inputs" block`)}
	}
	var err error
	if p.urlTmpl, err = parseTemplate("url", in.URL); err != nil {
		bad("%v", err)
	}
	switch {
	case strings.TrimSpace(in.URL) == "":
		bad("httpProbe/inputs.url is required")
	case !strings.Contains(in.URL, "{{"):
		if err := checkHTTPURL(in.URL); err != nil {
			bad("httpProbe/inputs.url: %v", err)
		}
	}
	get, post := in.Method.Get, in.Method.Post
	var criteria, code string
	var respTimeout litmus.Duration
	switch {
	case get != nil && post != nil:
		bad("httpProbe/inputs.method must have exactly one of get or post, not both")
	case get == nil && post == nil:
		bad("httpProbe/inputs.method must have one of get or post")
	case get != nil:
		p.httpMethod, criteria, code, respTimeout = http.MethodGet, get.Criteria, get.ResponseCode, get.ResponseTimeout
	default:
		p.httpMethod, criteria, code, respTimeout = http.MethodPost, post.Criteria, post.ResponseCode, post.ResponseTimeout
		p.httpPost = post
		if post.Body == "" && post.BodyPath == "" {
			bad("httpProbe/inputs.method.post requires one of body or bodyPath")
		}
	}
	if p.httpMethod != "" {
		p.httpExpected = code
		if p.cmp, err = NewComparator(ComparatorInt, criteria, code); err != nil {
			bad("httpProbe/inputs.method.%s (criteria %q, responseCode %q): %v", strings.ToLower(p.httpMethod), criteria, code, err)
		}
	}
	// responseTimeout: the inputs-level field wins over the method-level one. A bare number
	// means milliseconds, as in LitmusChaos 2.x where responseTimeout was an integer in ms.
	if !in.ResponseTimeout.IsZero() {
		respTimeout = in.ResponseTimeout
	}
	p.httpTimeout = p.timings.ProbeTimeout
	if !respTimeout.IsZero() {
		d, err := respTimeout.ParseUnit(time.Millisecond)
		switch {
		case err != nil:
			bad("httpProbe/inputs.responseTimeout: %v", err)
		case d > 0:
			p.httpTimeout = d
		}
	}
	for k := range in.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			bad("httpProbe/inputs.headers: invalid header name %q", k)
		}
	}
	if len(errs) == 0 {
		p.httpClient = newHTTPClient(in.InsecureSkipVerify, p.httpTimeout)
	}
	return errs
}

func (p *probe) compileCmd(run litmus.ProbeRun) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	in := p.spec.CmdProbeInputs
	if in == nil {
		return []error{errors.New(`cmdProbe requires the "cmdProbe/inputs" block`)}
	}
	if strings.TrimSpace(in.Command) == "" {
		bad("cmdProbe/inputs.command is required")
	}
	var err error
	if p.cmdTmpl, err = parseTemplate("command", in.Command); err != nil {
		bad("%v", err)
	}
	c := in.Comparator
	if p.cmp, err = NewComparator(ComparatorType(c.Type), c.Criteria, c.Value); err != nil {
		bad("cmdProbe/inputs.comparator: %v", err)
	}
	if src := in.Source; src != nil {
		if strings.TrimSpace(src.Image) == "" {
			bad("cmdProbe/inputs.source.image is required")
		}
		if run.Kube == nil || run.RESTConfig == nil {
			bad("cmdProbe with a source pod needs a Kubernetes client and REST config (ProbeRun.Kube, ProbeRun.RESTConfig)")
		}
		if run.Namespace == "" {
			bad("cmdProbe with a source pod needs the chaos namespace (ProbeRun.Namespace)")
		}
	}
	return errs
}

func (p *probe) compileK8s(run litmus.ProbeRun) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	in := p.spec.K8sProbeInputs
	if in == nil {
		return []error{errors.New(`k8sProbe requires the "k8sProbe/inputs" block`)}
	}
	if strings.TrimSpace(in.Version) == "" {
		bad("k8sProbe/inputs.version is required")
	}
	if strings.TrimSpace(in.Resource) == "" {
		bad("k8sProbe/inputs.resource is required")
	}
	p.gvr = schema.GroupVersionResource{Group: strings.TrimSpace(in.Group), Version: strings.TrimSpace(in.Version), Resource: strings.TrimSpace(in.Resource)}
	var err error
	if p.fieldSelTmpl, err = parseTemplate("fieldSelector", in.FieldSelector); err != nil {
		bad("%v", err)
	}
	if p.labelSelTmpl, err = parseTemplate("labelSelector", in.LabelSelector); err != nil {
		bad("%v", err)
	}
	if p.resourceNameTmpl, err = parseTemplate("resourceNames", in.ResourceNames); err != nil {
		bad("%v", err)
	}
	switch in.Operation {
	case litmus.K8sOperationPresent, litmus.K8sOperationAbsent, litmus.K8sOperationDelete:
	case litmus.K8sOperationCreate:
		if strings.TrimSpace(p.spec.Data) == "" {
			bad(`k8sProbe operation "create" requires the manifest in "data"`)
			break
		}
		if p.manifest, err = decodeManifest(p.spec.Data); err != nil {
			bad("k8sProbe data: %v", err)
		}
	case "":
		bad("k8sProbe/inputs.operation is required (one of present, absent, create, delete)")
	default:
		bad("k8sProbe/inputs.operation %q is not supported (valid: present, absent, create, delete)", in.Operation)
	}
	if run.Dynamic == nil {
		bad("k8sProbe needs a dynamic Kubernetes client (ProbeRun.Dynamic)")
	}
	return errs
}

func (p *probe) compileProm() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	in := p.spec.PromProbeInputs
	if in == nil {
		return []error{errors.New(`promProbe requires the "promProbe/inputs" block`)}
	}
	if strings.TrimSpace(in.Endpoint) == "" {
		bad("promProbe/inputs.endpoint is required")
	} else if err := checkHTTPURL(in.Endpoint); err != nil {
		bad("promProbe/inputs.endpoint: %v", err)
	}
	if strings.TrimSpace(in.Query) == "" && strings.TrimSpace(in.QueryPath) == "" {
		bad("promProbe/inputs requires one of query or queryPath")
	}
	var err error
	// promProbe always compares as float; comparator.type is ignored (upstream behaviour).
	if p.cmp, err = NewComparator(ComparatorFloat, in.Comparator.Criteria, in.Comparator.Value); err != nil {
		bad("promProbe/inputs.comparator: %v", err)
	}
	if len(errs) == 0 {
		p.httpClient = newHTTPClient(false, 0) // each try is bounded by its probeTimeout context
	}
	return errs
}

// checkHTTPURL accepts absolute http(s) URLs with a host.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("invalid URL %q: no host", raw)
	}
	return nil
}

// decodeManifest decodes the YAML (or JSON) object of a k8sProbe create.
func decodeManifest(data string) (*unstructured.Unstructured, error) {
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(data), &obj); err != nil {
		return nil, fmt.Errorf("invalid YAML manifest: %w", err)
	}
	if obj == nil {
		return nil, errors.New("empty manifest")
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, errors.New("manifest needs apiVersion and kind")
	}
	if u.GetName() == "" && u.GetGenerateName() == "" {
		return nil, errors.New("manifest needs metadata.name or metadata.generateName")
	}
	return u, nil
}
