package probes

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

func TestStartValidation(t *testing.T) {
	const (
		SOT = litmus.ProbeModeSOT
	)
	good := okProbe("good", SOT, "echo 1")
	dyn := fake.NewSimpleDynamicClient(runtime.NewScheme())
	k8sIn := func(op litmus.K8sOperation) litmus.K8sProbeInputs {
		return litmus.K8sProbeInputs{Version: "v1", Resource: "configmaps", Operation: op}
	}
	sourceProbe := func() litmus.Probe {
		p := okProbe("src", SOT, "echo 1")
		p.CmdProbeInputs.Source = &litmus.ProbeSource{Image: "busybox"}
		return p
	}
	tests := []struct {
		name   string
		probes []litmus.Probe
		run    func(*litmus.ProbeRun)
		want   []string // substrings of the error reason; nil = valid
	}{
		{name: "valid", probes: []litmus.Probe{good, httpGetProbe("h", SOT, "http://127.0.0.1:1/x", "==", "200")}},
		{name: "no probes", probes: nil},
		{
			name:   "unknown type",
			probes: []litmus.Probe{{Name: "p", Type: "fooProbe", Mode: SOT, RunProperties: props("1s", "1s")}},
			want:   []string{`probe "p"`, `unknown type "fooProbe"`},
		},
		{
			name:   "missing type",
			probes: []litmus.Probe{{Name: "p", Mode: SOT, RunProperties: props("1s", "1s")}},
			want:   []string{`probe "p": type is required`},
		},
		{
			name:   "unknown mode (case-sensitive)",
			probes: []litmus.Probe{okProbe("p", "sot", "echo 1")},
			want:   []string{`probe "p": unknown mode "sot"`},
		},
		{name: "missing mode", probes: []litmus.Probe{okProbe("p", "", "echo 1")}, want: []string{`probe "p": mode is required`}},
		{
			name:   "malformed probeTimeout",
			probes: []litmus.Probe{okProbe("p", SOT, "echo 1", withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("abc") }))},
			want:   []string{`probe "p": runProperties.probeTimeout: invalid duration "abc"`},
		},
		{
			name:   "malformed initialDelay",
			probes: []litmus.Probe{okProbe("p", SOT, "echo 1", initialDelay("5 minutes"))},
			want:   []string{`runProperties.initialDelay: invalid duration`},
		},
		{
			name:   "missing probeTimeout",
			probes: []litmus.Probe{okProbe("p", SOT, "echo 1", withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.Duration{} }))},
			want:   []string{`probe "p": runProperties.probeTimeout is required`},
		},
		{
			name:   "zero probeTimeout",
			probes: []litmus.Probe{okProbe("p", SOT, "echo 1", withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("0s") }))},
			want:   []string{`probeTimeout must be positive`},
		},
		{
			name:   "missing interval",
			probes: []litmus.Probe{okProbe("p", SOT, "echo 1", withRP(func(r *litmus.RunProperties) { r.Interval = litmus.Duration{} }))},
			want:   []string{`probe "p": runProperties.interval is required`},
		},
		{
			name:   "duplicate names",
			probes: []litmus.Probe{okProbe("dup", SOT, "echo 1"), good, okProbe("dup", litmus.ProbeModeEOT, "echo 1")},
			want:   []string{`probe "dup": duplicate probe name`},
		},
		{
			name:   "missing name",
			probes: []litmus.Probe{okProbe("", SOT, "echo 1")},
			want:   []string{`probe #1: name is required`},
		},
		{
			name:   "sloProbe",
			probes: []litmus.Probe{{Name: "slo", Type: litmus.ProbeTypeSLO, Mode: SOT, RunProperties: props("1s", "1s")}},
			want:   []string{`probe "slo": sloProbe is a Harness-only probe type and is not supported by chaos-agent`},
		},
		{
			name:   "missing cmd inputs",
			probes: []litmus.Probe{{Name: "p", Type: litmus.ProbeTypeCmd, Mode: SOT, RunProperties: props("1s", "1s")}},
			want:   []string{`probe "p": cmdProbe requires the "cmdProbe/inputs" block`},
		},
		{
			name:   "missing http inputs",
			probes: []litmus.Probe{{Name: "p", Type: litmus.ProbeTypeHTTP, Mode: SOT, RunProperties: props("1s", "1s")}},
			want:   []string{`"httpProbe/inputs" block`},
		},
		{
			name:   "missing k8s inputs",
			probes: []litmus.Probe{{Name: "p", Type: litmus.ProbeTypeK8s, Mode: SOT, RunProperties: props("1s", "1s")}},
			want:   []string{`"k8sProbe/inputs" block`},
		},
		{
			name:   "missing prom inputs",
			probes: []litmus.Probe{{Name: "p", Type: litmus.ProbeTypeProm, Mode: SOT, RunProperties: props("1s", "1s")}},
			want:   []string{`"promProbe/inputs" block`},
		},
		{
			name:   "invalid cmd comparator criteria",
			probes: []litmus.Probe{cmdProbe("p", SOT, "echo 1", "int", "~=", "1")},
			want:   []string{`probe "p": cmdProbe/inputs.comparator: invalid comparator`, `"~="`},
		},
		{
			name:   "missing cmd comparator type",
			probes: []litmus.Probe{cmdProbe("p", SOT, "echo 1", "", "==", "1")},
			want:   []string{`unsupported comparator type ""`},
		},
		{
			name:   "invalid cmd comparator value",
			probes: []litmus.Probe{cmdProbe("p", SOT, "echo 1", "int", "==", "abc")},
			want:   []string{`"abc" is not an integer`},
		},
		{
			name:   "missing cmd command",
			probes: []litmus.Probe{okProbe("p", SOT, " ")},
			want:   []string{`cmdProbe/inputs.command is required`},
		},
		{
			name:   "bad command template",
			probes: []litmus.Probe{okProbe("p", SOT, "echo {{ .x")},
			want:   []string{`probe "p": command is not a valid template`},
		},
		{
			name:   "source without image and clients",
			probes: []litmus.Probe{func() litmus.Probe { p := sourceProbe(); p.CmdProbeInputs.Source.Image = ""; return p }()},
			want:   []string{`cmdProbe/inputs.source.image is required`, `needs a Kubernetes client and REST config`},
		},
		{
			name:   "source valid with clients",
			probes: []litmus.Probe{sourceProbe()},
			run: func(r *litmus.ProbeRun) {
				r.Kube, r.RESTConfig, r.Namespace = kubefake.NewClientset(), &rest.Config{}, "ns"
			},
		},
		{
			name: "http both get and post",
			probes: []litmus.Probe{func() litmus.Probe {
				p := httpGetProbe("p", SOT, "http://x", "==", "200")
				p.HTTPProbeInputs.Method.Post = &litmus.HTTPPost{Body: "{}", Criteria: "==", ResponseCode: "200"}
				return p
			}()},
			want: []string{`probe "p": httpProbe/inputs.method must have exactly one of get or post, not both`},
		},
		{
			name: "http neither get nor post",
			probes: []litmus.Probe{func() litmus.Probe {
				p := httpGetProbe("p", SOT, "http://x", "==", "200")
				p.HTTPProbeInputs.Method.Get = nil
				return p
			}()},
			want: []string{`must have one of get or post`},
		},
		{
			name: "http post without body",
			probes: []litmus.Probe{func() litmus.Probe {
				p := httpGetProbe("p", SOT, "http://x", "==", "200")
				p.HTTPProbeInputs.Method = litmus.HTTPMethod{Post: &litmus.HTTPPost{Criteria: "==", ResponseCode: "200"}}
				return p
			}()},
			want: []string{`post requires one of body or bodyPath`},
		},
		{
			name:   "http invalid criteria",
			probes: []litmus.Probe{httpGetProbe("p", SOT, "http://x", "equal", "200")},
			want:   []string{`httpProbe/inputs.method.get`, `invalid comparator`},
		},
		{
			name:   "http missing url",
			probes: []litmus.Probe{httpGetProbe("p", SOT, "", "==", "200")},
			want:   []string{`httpProbe/inputs.url is required`},
		},
		{
			name:   "http invalid url scheme",
			probes: []litmus.Probe{httpGetProbe("p", SOT, "ftp://host/x", "==", "200")},
			want:   []string{`scheme must be http or https`},
		},
		{
			name:   "http unparsable url",
			probes: []litmus.Probe{httpGetProbe("p", SOT, "http://[::1", "==", "200")},
			want:   []string{`invalid URL "http://[::1"`},
		},
		{
			name:   "http url without host",
			probes: []litmus.Probe{httpGetProbe("p", SOT, "http:///path", "==", "200")},
			want:   []string{`no host`},
		},
		{
			name: "http bad responseTimeout",
			probes: []litmus.Probe{func() litmus.Probe {
				p := httpGetProbe("p", SOT, "http://x", "==", "200")
				p.HTTPProbeInputs.ResponseTimeout = litmus.DurationFromString("soon")
				return p
			}()},
			want: []string{`httpProbe/inputs.responseTimeout: invalid duration "soon"`},
		},
		{
			name: "http bad header name",
			probes: []litmus.Probe{func() litmus.Probe {
				p := httpGetProbe("p", SOT, "http://x", "==", "200")
				p.HTTPProbeInputs.Headers = map[string]string{"Bad Header": "v"}
				return p
			}()},
			want: []string{`invalid header name "Bad Header"`},
		},
		{
			name:   "k8s unknown operation",
			probes: []litmus.Probe{k8sProbe("p", k8sIn("patch"), "")},
			run:    func(r *litmus.ProbeRun) { r.Dynamic = dyn },
			want:   []string{`probe "p": k8sProbe/inputs.operation "patch" is not supported`},
		},
		{
			name:   "k8s missing operation",
			probes: []litmus.Probe{k8sProbe("p", k8sIn(""), "")},
			run:    func(r *litmus.ProbeRun) { r.Dynamic = dyn },
			want:   []string{`k8sProbe/inputs.operation is required`},
		},
		{
			name:   "k8s create without data",
			probes: []litmus.Probe{k8sProbe("p", k8sIn(litmus.K8sOperationCreate), "")},
			run:    func(r *litmus.ProbeRun) { r.Dynamic = dyn },
			want:   []string{`k8sProbe operation "create" requires the manifest in "data"`},
		},
		{
			name:   "k8s create with invalid yaml",
			probes: []litmus.Probe{k8sProbe("p", k8sIn(litmus.K8sOperationCreate), "a: [b")},
			run:    func(r *litmus.ProbeRun) { r.Dynamic = dyn },
			want:   []string{`k8sProbe data: invalid YAML manifest`},
		},
		{
			name:   "k8s create manifest without kind",
			probes: []litmus.Probe{k8sProbe("p", k8sIn(litmus.K8sOperationCreate), "apiVersion: v1\nmetadata:\n  name: x\n")},
			run:    func(r *litmus.ProbeRun) { r.Dynamic = dyn },
			want:   []string{`manifest needs apiVersion and kind`},
		},
		{
			name:   "k8s missing version and resource",
			probes: []litmus.Probe{k8sProbe("p", litmus.K8sProbeInputs{Operation: litmus.K8sOperationPresent}, "")},
			run:    func(r *litmus.ProbeRun) { r.Dynamic = dyn },
			want:   []string{`k8sProbe/inputs.version is required`, `k8sProbe/inputs.resource is required`},
		},
		{
			name:   "k8s without dynamic client",
			probes: []litmus.Probe{k8sProbe("p", k8sIn(litmus.K8sOperationPresent), "")},
			want:   []string{`k8sProbe needs a dynamic Kubernetes client`},
		},
		{
			name:   "k8s bad selector template",
			probes: []litmus.Probe{k8sProbe("p", litmus.K8sProbeInputs{Version: "v1", Resource: "pods", Operation: "present", LabelSelector: "app={{"}, "")},
			run:    func(r *litmus.ProbeRun) { r.Dynamic = dyn },
			want:   []string{`labelSelector is not a valid template`},
		},
		{
			name:   "prom without endpoint",
			probes: []litmus.Probe{promProbe("p", "", "up", ">=", "1")},
			want:   []string{`probe "p": promProbe/inputs.endpoint is required`},
		},
		{
			name:   "prom without query",
			probes: []litmus.Probe{promProbe("p", "http://prom:9090", "", ">=", "1")},
			want:   []string{`promProbe/inputs requires one of query or queryPath`},
		},
		{
			name:   "prom invalid endpoint",
			probes: []litmus.Probe{promProbe("p", "prom:9090", "up", ">=", "1")},
			want:   []string{`promProbe/inputs.endpoint: invalid URL`},
		},
		{
			name:   "prom invalid comparator",
			probes: []litmus.Probe{promProbe("p", "http://prom:9090", "up", "equal", "1")},
			want:   []string{`promProbe/inputs.comparator: invalid comparator`},
		},
		{
			name: "all problems reported together",
			probes: []litmus.Probe{
				okProbe("a", "sot", "echo 1"),
				{Name: "b", Type: litmus.ProbeTypeSLO, Mode: SOT, RunProperties: props("1s", "1s")},
				good,
			},
			want: []string{`probe "a": unknown mode`, `probe "b": sloProbe`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := litmus.ProbeRun{Probes: tt.probes, Experiment: "pod-delete", RunID: "abc123"}
			if tt.run != nil {
				tt.run(&run)
			}
			s, err := testRunner(t).start(t.Context(), run)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				defer s.Close(t.Context())
				res := s.Result()
				if len(res.Statuses) != len(tt.probes) {
					t.Fatalf("%d statuses, want %d", len(res.Statuses), len(tt.probes))
				}
				for i, st := range res.Statuses {
					p := tt.probes[i]
					if st.Name != p.Name || st.Type != p.Type || st.Mode != p.Mode || st.Status.Verdict != litmus.ProbeVerdictAwaited {
						t.Errorf("status %d = %+v, want %s/%s/%s Awaited", i, st, p.Name, p.Type, p.Mode)
					}
				}
				return
			}
			if s != nil {
				t.Fatal("Start returned a session along with an error")
			}
			le := wantCode(t, err, litmus.ErrorCodeGeneric, tt.want...)
			if le.Phase != litmus.ExperimentPhasePreChaos {
				t.Errorf("phase %q, want PreChaos", le.Phase)
			}
			if strings.Contains(le.Reason, `probe "good"`) {
				t.Errorf("the valid probe is blamed: %s", le.Reason)
			}
		})
	}
}

func TestInitialDelaySecondsFallback(t *testing.T) {
	tests := []struct {
		name    string
		opts    []probeOpt
		want    string
		wantErr bool
	}{
		{"initialDelaySeconds used when initialDelay empty", []probeOpt{withRP(func(r *litmus.RunProperties) { r.InitialDelaySeconds = 7 })}, "7s", false},
		{"initialDelay wins", []probeOpt{initialDelay("2s"), withRP(func(r *litmus.RunProperties) { r.InitialDelaySeconds = 7 })}, "2s", false},
		{"legacy bare number is seconds", []probeOpt{initialDelay("3")}, "3s", false},
		{"milliseconds", []probeOpt{initialDelay("500ms")}, "500ms", false},
		{"negative initialDelaySeconds", []probeOpt{withRP(func(r *litmus.RunProperties) { r.InitialDelaySeconds = -1 })}, "", true},
		// Input bounds: no overflow, nothing beyond a day.
		{"initialDelaySeconds overflows", []probeOpt{withRP(func(r *litmus.RunProperties) { r.InitialDelaySeconds = 10000000000 })}, "", true},
		{"initialDelay beyond a day", []probeOpt{initialDelay("100000")}, "", true},
		{"probeTimeout beyond a day", []probeOpt{withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("10000000000") })}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes, err := validate(litmus.ProbeRun{Probes: []litmus.Probe{okProbe("p", litmus.ProbeModeSOT, "echo 1", tt.opts...)}})
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := probes[0].timings.InitialDelay.String(); got != tt.want {
				t.Errorf("initial delay %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAttemptsAndTimeouts(t *testing.T) {
	tests := []struct {
		name         string
		opts         []probeOpt
		wantAttempts int
	}{
		{"default", nil, 1},
		{"attempt", []probeOpt{attempts(3)}, 3},
		{"retry when attempt is 0", []probeOpt{withRP(func(r *litmus.RunProperties) { r.Retry = 4 })}, 4},
		{"attempt wins over retry", []probeOpt{attempts(2), withRP(func(r *litmus.RunProperties) { r.Retry = 4 })}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes, err := validate(litmus.ProbeRun{Probes: []litmus.Probe{okProbe("p", litmus.ProbeModeSOT, "echo 1", tt.opts...)}})
			if err != nil {
				t.Fatal(err)
			}
			if probes[0].attempts != tt.wantAttempts {
				t.Errorf("attempts %d, want %d", probes[0].attempts, tt.wantAttempts)
			}
		})
	}

	// http client timeout: responseTimeout (bare number = ms) wins over probeTimeout.
	p := httpGetProbe("h", litmus.ProbeModeSOT, "http://x", "==", "200")
	probes, err := validate(litmus.ProbeRun{Probes: []litmus.Probe{p}})
	if err != nil {
		t.Fatal(err)
	}
	if got := probes[0].httpClient.Timeout.String(); got != "5s" {
		t.Errorf("client timeout %s, want probeTimeout 5s", got)
	}
	p.HTTPProbeInputs.ResponseTimeout = litmus.DurationFromSeconds(250)
	if probes, err = validate(litmus.ProbeRun{Probes: []litmus.Probe{p}}); err != nil {
		t.Fatal(err)
	}
	if got := probes[0].httpClient.Timeout.String(); got != "250ms" {
		t.Errorf("client timeout %s, want responseTimeout 250ms", got)
	}
	p.HTTPProbeInputs.ResponseTimeout = litmus.Duration{}
	p.HTTPProbeInputs.Method.Get.ResponseTimeout = litmus.DurationFromString("2s")
	if probes, err = validate(litmus.ProbeRun{Probes: []litmus.Probe{p}}); err != nil {
		t.Fatal(err)
	}
	if got := probes[0].httpClient.Timeout.String(); got != "2s" {
		t.Errorf("client timeout %s, want method-level responseTimeout 2s", got)
	}
}
