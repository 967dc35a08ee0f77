package probes

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

func TestCmdProbeInline(t *testing.T) {
	checkGoroutines(t)
	const SOT = litmus.ProbeModeSOT
	tests := []struct {
		name     string
		probe    litmus.Probe
		verdict  litmus.ProbeVerdict
		desc     []string
		errCode  litmus.ErrorCode
		errWant  []string
		maxTaken time.Duration
	}{
		{
			name:    "int equal passes",
			probe:   cmdProbe("p", SOT, "echo 5", "int", "==", "5"),
			verdict: litmus.ProbeVerdictPassed,
			desc:    []string{"'5'", "== 5"},
		},
		{
			name:    "output is trimmed",
			probe:   cmdProbe("p", SOT, "printf '  hello world \\n\\n'", "string", "equal", "hello world"),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "float between",
			probe:   cmdProbe("p", SOT, "echo 0.75", "float", "between", "0.5,1"),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "string contains",
			probe:   cmdProbe("p", SOT, "echo the pod is Running", "string", "contains", "Running"),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "mismatch is a failure",
			probe:   cmdProbe("p", SOT, "echo 4", "int", "==", "5"),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"Actual value: 4. Expected value: == 5"},
		},
		{
			name:    "mismatch reason carries stderr",
			probe:   cmdProbe("p", SOT, "echo warning >&2; echo 4", "int", "==", "5", stopOnFailure()),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"Actual value: 4", "stderr: warning"},
			errCode: litmus.ErrorCodeCmdProbeFailure,
		},
		{
			name:    "non-zero exit is an error",
			probe:   cmdProbe("p", SOT, "echo partial; echo boom >&2; exit 3", "int", "==", "5"),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodeCmdProbeError,
			errWant: []string{"unable to run command: exit status 3", "stderr: boom", "stdout: partial"},
		},
		{
			name: "timeout kills the command and its children",
			probe: cmdProbe("p", SOT, "sleep 30 & sleep 30; echo 5", "int", "==", "5",
				withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("300ms") })),
			verdict:  litmus.ProbeVerdictFailed,
			desc:     []string{"probe failed due to timeout", "300ms"},
			maxTaken: 5 * time.Second,
		},
		{
			name: "timeout with stopOnFailure returns PROBE_TIMEOUT",
			probe: cmdProbe("p", SOT, "sleep 30", "int", "==", "5", stopOnFailure(),
				withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("200ms") })),
			verdict:  litmus.ProbeVerdictFailed,
			errCode:  litmus.ErrorCodeProbeTimeout,
			maxTaken: 5 * time.Second,
		},
		{
			name: "attempts retry a failing command",
			probe: cmdProbe("p", SOT, "f=$TMPF; n=$(cat $f 2>/dev/null || echo 0); n=$((n+1)); echo $n > $f; echo $n", "int", ">=", "3",
				attempts(3), withRP(func(r *litmus.RunProperties) { r.Interval = litmus.DurationFromString("10ms") })),
			verdict: litmus.ProbeVerdictPassed,
			desc:    []string{"'3'"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TMPF", t.TempDir()+"/count")
			start := time.Now()
			res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{tt.probe}})
			if tt.errCode != "" {
				_ = wantCode(t, err, tt.errCode, tt.errWant...)
			} else if err != nil {
				t.Fatalf("PreChaos: %v", err)
			}
			wantVerdict(t, res, "p", tt.verdict, tt.desc...)
			if tt.maxTaken > 0 && time.Since(start) > tt.maxTaken {
				t.Errorf("took %s, want at most %s", time.Since(start), tt.maxTaken)
			}
		})
	}
}

// TestProbeChaining registers the output of cmdProbes and uses it in later probes' command,
// url and (see the k8s tests) selectors.
func TestProbeChaining(t *testing.T) {
	checkGoroutines(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	const SOT = litmus.ProbeModeSOT

	t.Run("cmd and http", func(t *testing.T) {
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			cmdProbe("greeting", SOT, "echo hello", "string", "equal", "hello"),
			cmdProbe("echoer", SOT, `echo "{{ .greeting.ProbeArtifacts.Register }}-world"`, "string", "equal", "hello-world"),
			cmdProbe("endpoint", SOT, "echo "+srv.URL, "string", "contains", "http"),
			httpGetProbe("web", SOT, "{{ .endpoint.ProbeArtifacts.Register }}/healthz", "==", "200"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"greeting", "echoer", "endpoint", "web"} {
			wantVerdict(t, res, n, litmus.ProbeVerdictPassed)
		}
		wantVerdict(t, res, "web", litmus.ProbeVerdictPassed, srv.URL+"/healthz")
		if res.Passed != 4 {
			t.Errorf("Passed = %d, want 4", res.Passed)
		}
	})
	t.Run("text/template does not escape", func(t *testing.T) {
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			cmdProbe("a", SOT, `echo '<a&b>'`, "string", "equal", "<a&b>"),
			cmdProbe("b", SOT, `echo '{{ .a.ProbeArtifacts.Register }}'`, "string", "equal", "<a&b>"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, res, "b", litmus.ProbeVerdictPassed)
	})
	t.Run("dashed names via index", func(t *testing.T) {
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			cmdProbe("my-probe", SOT, `echo 42`, "int", "==", "42"),
			cmdProbe("b", SOT, `echo {{ (index . "my-probe").ProbeArtifacts.Register }}`, "int", "==", "42"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, res, "b", litmus.ProbeVerdictPassed)
	})
	t.Run("a failed probe registers nothing", func(t *testing.T) {
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			cmdProbe("a", SOT, `echo 7`, "int", "==", "8"),
			cmdProbe("b", SOT, `echo "x{{ .a.ProbeArtifacts.Register }}"`, "string", "equal", "x"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, res, "a", litmus.ProbeVerdictFailed)
		wantVerdict(t, res, "b", litmus.ProbeVerdictPassed)
	})
	t.Run("unknown probe is a generic error naming the probe", func(t *testing.T) {
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			cmdProbe("b", SOT, `echo {{ .nosuch.ProbeArtifacts.Register }}`, "string", "equal", "x"),
		}})
		_ = wantCode(t, err, litmus.ErrorCodeGeneric, `probe "b"`, "nosuch")
		wantVerdict(t, res, "b", litmus.ProbeVerdictAwaited)
	})
}

func TestSourcePod(t *testing.T) {
	run := litmus.ProbeRun{
		Namespace: "litmus", EngineUID: "uid-1", Experiment: "pod-delete", RunID: "abc123",
		ServiceAccount: "litmus-admin",
	}
	t.Run("defaults", func(t *testing.T) {
		p := okProbe("p", litmus.ProbeModeSOT, "echo 1")
		p.CmdProbeInputs.Source = &litmus.ProbeSource{Image: "busybox:1.36"}
		pod := sourcePod(run, p)
		if pod.Name != "pod-delete-probe-abc123" || pod.Namespace != "litmus" {
			t.Errorf("pod %s/%s", pod.Namespace, pod.Name)
		}
		if want := map[string]string{"name": "pod-delete-probe-abc123", "chaosUID": "uid-1"}; !maps.Equal(pod.Labels, want) {
			t.Errorf("labels %v, want %v", pod.Labels, want)
		}
		if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Spec.ServiceAccountName != "litmus-admin" {
			t.Errorf("restartPolicy %q, serviceAccount %q", pod.Spec.RestartPolicy, pod.Spec.ServiceAccountName)
		}
		if len(pod.Spec.Containers) != 1 {
			t.Fatalf("%d containers", len(pod.Spec.Containers))
		}
		c := pod.Spec.Containers[0]
		if c.Name != "pod-delete-probe" || c.Image != "busybox:1.36" {
			t.Errorf("container %s image %s", c.Name, c.Image)
		}
		if !slices.Equal(c.Command, []string{"/bin/sh"}) || !slices.Equal(c.Args, []string{"-c", "sleep 10000"}) {
			t.Errorf("command %q args %q", c.Command, c.Args)
		}
		if c.SecurityContext != nil || c.ImagePullPolicy != "" || pod.Spec.HostNetwork || c.Resources.Requests != nil {
			t.Errorf("unexpected settings: %+v", c)
		}
	})
	t.Run("everything from source", func(t *testing.T) {
		p := okProbe("p", litmus.ProbeModeSOT, "echo 1")
		src := &litmus.ProbeSource{
			Image:            "registry.example/tools:1",
			HostNetwork:      true,
			Args:             []string{"-c", "sleep infinity"},
			Command:          []string{"/bin/bash"},
			Env:              []corev1.EnvVar{{Name: "A", Value: "1"}},
			Labels:           map[string]string{"team": "sre", "name": "overridden?"},
			Annotations:      map[string]string{"note": "x"},
			ImagePullPolicy:  corev1.PullAlways,
			Privileged:       true,
			NodeSelector:     map[string]string{"kubernetes.io/os": "linux"},
			Tolerations:      []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			Volumes:          []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			VolumeMount:      []corev1.VolumeMount{{Name: "v", MountPath: "/v"}},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
		}
		p.CmdProbeInputs.Source = src
		pod := sourcePod(run, p)
		c := pod.Spec.Containers[0]
		want := map[string]string{"name": "pod-delete-probe-abc123", "chaosUID": "uid-1", "team": "sre"}
		if !maps.Equal(pod.Labels, want) {
			t.Errorf("labels %v, want %v", pod.Labels, want)
		}
		if pod.Annotations["note"] != "x" || !pod.Spec.HostNetwork || pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
			t.Errorf("metadata/spec not copied: %+v %+v", pod.ObjectMeta, pod.Spec)
		}
		if len(pod.Spec.Tolerations) != 1 || len(pod.Spec.Volumes) != 1 || len(pod.Spec.ImagePullSecrets) != 1 {
			t.Errorf("tolerations/volumes/pull secrets not copied: %+v", pod.Spec)
		}
		if !slices.Equal(c.Command, src.Command) || !slices.Equal(c.Args, src.Args) || c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("container %+v", c)
		}
		if c.SecurityContext == nil || !ptr.Deref(c.SecurityContext.Privileged, false) {
			t.Errorf("not privileged: %+v", c.SecurityContext)
		}
		if len(c.Env) != 1 || len(c.VolumeMounts) != 1 {
			t.Errorf("env/mounts not copied: %+v", c)
		}
		// The pod does not alias the probe's slices and maps.
		pod.Labels["team"] = "changed"
		c.Args[0] = "changed"
		if src.Labels["team"] != "sre" || src.Args[0] != "-c" {
			t.Error("sourcePod aliases the probe's source")
		}
	})
	t.Run("several source probes get distinct names", func(t *testing.T) {
		var ps []litmus.Probe
		for i := range 3 {
			p := okProbe(fmt.Sprintf("p%d", i), litmus.ProbeModeContinuous, "echo 1")
			p.CmdProbeInputs.Source = &litmus.ProbeSource{Image: "busybox"}
			ps = append(ps, p)
		}
		ps = slices.Insert(ps, 1, okProbe("inline", litmus.ProbeModeSOT, "echo 1"))
		r := run
		r.Probes = ps
		r.Kube, r.RESTConfig = kubefake.NewClientset(), &rest.Config{}
		compiled, err := validate(r)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range compiled {
			names = append(names, p.sourcePodName)
		}
		want := []string{"pod-delete-probe-abc123", "", "pod-delete-probe-abc123-2", "pod-delete-probe-abc123-3"}
		if !slices.Equal(names, want) {
			t.Errorf("names %q, want %q", names, want)
		}
	})
}

// TestSourcePodImageRegistry: a Runner given an image registry creates cmdProbe source pods from
// the mirror, with its pull secrets added to the probe's own.
func TestSourcePodImageRegistry(t *testing.T) {
	p := okProbe("src", litmus.ProbeModeSOT, "echo 1")
	p.CmdProbeInputs.Source = &litmus.ProbeSource{Image: "busybox:1.36", ImagePullSecrets: []corev1.LocalObjectReference{{Name: "own"}}}
	kube := kubefake.NewClientset()
	r := litmus.ProbeRun{Probes: []litmus.Probe{p}, Namespace: "ns", Engine: "e", Experiment: "pod-delete", RunID: "abc123",
		Kube: kube, RESTConfig: &rest.Config{}}
	compiled, err := validate(r)
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{r: NewRunner(Options{ImageRegistry: "registry.example.com/mirror", ImagePullSecrets: []string{"regcred", "own"}}), run: r, log: zap.NewNop(), pods: map[string]bool{}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.startSourcePod(ctx, compiled[0]) }() // waits for Running: the fake never gets there
	defer func() { cancel(); <-done }()
	var pod *corev1.Pod
	for range 200 {
		if pod, err = kube.CoreV1().Pods("ns").Get(ctx, compiled[0].sourcePodName, metav1.GetOptions{}); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pod == nil {
		t.Fatalf("no source pod created: %v", err)
	}
	if img := pod.Spec.Containers[0].Image; img != "registry.example.com/mirror/library/busybox:1.36" {
		t.Errorf("source pod image %q, want the mirror's", img)
	}
	want := []corev1.LocalObjectReference{{Name: "own"}, {Name: "regcred"}}
	if !slices.Equal(pod.Spec.ImagePullSecrets, want) {
		t.Errorf("imagePullSecrets %v, want %v", pod.Spec.ImagePullSecrets, want)
	}
}
