package probes

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// The k8sProbe tests run against the real local cluster (hack/cluster.sh); they skip
// without CHAOS_AGENT_TEST_KUBECONFIG.

func TestK8sProbe(t *testing.T) {
	c := testcluster.Get(t)
	cms := func(ns string) []string {
		list, err := c.Client.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "probe-test"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, cm := range list.Items {
			names = append(names, cm.Name)
		}
		return names
	}
	createCM := func(ns, name string, labels map[string]string) {
		t.Helper()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cmIn := func(ns string, op litmus.K8sOperation, f func(*litmus.K8sProbeInputs)) litmus.K8sProbeInputs {
		in := litmus.K8sProbeInputs{Version: "v1", Resource: "configmaps", Namespace: ns, Operation: op}
		if f != nil {
			f(&in)
		}
		return in
	}
	manifest := func(name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels:\n    probe-test: created\ndata:\n  key: value\n", name)
	}

	tests := []struct {
		name    string
		setup   func(ns string)
		probes  func(ns string) []litmus.Probe
		verdict map[string]litmus.ProbeVerdict
		errCode litmus.ErrorCode
		errWant []string
		check   func(t *testing.T, ns string)
	}{
		{
			name: "create a ConfigMap from data, then AlreadyExists is a failure",
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{
					k8sProbe("create", cmIn(ns, litmus.K8sOperationCreate, nil), manifest("made-by-probe")),
					k8sProbe("again", cmIn(ns, litmus.K8sOperationCreate, nil), manifest("made-by-probe")),
				}
			},
			verdict: map[string]litmus.ProbeVerdict{"create": "Passed", "again": "Failed"},
			check: func(t *testing.T, ns string) {
				cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(t.Context(), "made-by-probe", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if cm.Data["key"] != "value" {
					t.Errorf("data %v", cm.Data)
				}
			},
		},
		{
			name: "create without any namespace goes to the chaos namespace",
			probes: func(string) []litmus.Probe {
				return []litmus.Probe{k8sProbe("create", cmIn("", litmus.K8sOperationCreate, nil), manifest("defaulted"))}
			},
			verdict: map[string]litmus.ProbeVerdict{"create": "Passed"},
			check: func(t *testing.T, ns string) {
				if _, err := c.Client.CoreV1().ConfigMaps(ns).Get(t.Context(), "defaulted", metav1.GetOptions{}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:  "present by name and by label selector",
			setup: func(ns string) { createCM(ns, "one", map[string]string{"probe-test": "x"}); createCM(ns, "two", nil) },
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{
					k8sProbe("names", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) { in.ResourceNames = "one, two" }), ""),
					k8sProbe("labels", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) { in.LabelSelector = "probe-test=x" }), ""),
					k8sProbe("fields", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) { in.FieldSelector = "metadata.name=two" }), ""),
					k8sProbe("nothing", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) { in.LabelSelector = "probe-test=none" }), ""),
				}
			},
			verdict: map[string]litmus.ProbeVerdict{"names": "Passed", "labels": "Passed", "fields": "Passed", "nothing": "Failed"},
		},
		{
			name:  "present across all namespaces",
			setup: func(ns string) { createCM(ns, "unique", map[string]string{"probe-test-ns": ns}) },
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{k8sProbe("all", cmIn("", litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) { in.LabelSelector = "probe-test-ns=" + ns }), "")}
			},
			verdict: map[string]litmus.ProbeVerdict{"all": "Passed"},
		},
		{
			name:  "present by name missing is K8S_PROBE_ERROR",
			setup: func(ns string) { createCM(ns, "one", nil) },
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{k8sProbe("names", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) { in.ResourceNames = "one,missing" }), "")}
			},
			verdict: map[string]litmus.ProbeVerdict{"names": "Awaited"},
			errCode: litmus.ErrorCodeK8sProbeError,
			errWant: []string{`"missing"`, "not found"},
		},
		{
			name:  "absent",
			setup: func(ns string) { createCM(ns, "one", map[string]string{"probe-test": "x"}) },
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{
					k8sProbe("gone-name", cmIn(ns, litmus.K8sOperationAbsent, func(in *litmus.K8sProbeInputs) { in.ResourceNames = "ghost" }), ""),
					k8sProbe("gone-label", cmIn(ns, litmus.K8sOperationAbsent, func(in *litmus.K8sProbeInputs) { in.LabelSelector = "probe-test=ghost" }), ""),
					k8sProbe("there-name", cmIn(ns, litmus.K8sOperationAbsent, func(in *litmus.K8sProbeInputs) { in.ResourceNames = "one" }), ""),
					k8sProbe("there-label", cmIn(ns, litmus.K8sOperationAbsent, func(in *litmus.K8sProbeInputs) { in.LabelSelector = "probe-test=x" }), ""),
				}
			},
			verdict: map[string]litmus.ProbeVerdict{"gone-name": "Passed", "gone-label": "Passed", "there-name": "Failed", "there-label": "Failed"},
		},
		{
			name:  "absent when present with stopOnFailure returns K8S_PROBE_FAILURE",
			setup: func(ns string) { createCM(ns, "one", nil) },
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{k8sProbe("there", cmIn(ns, litmus.K8sOperationAbsent, func(in *litmus.K8sProbeInputs) { in.ResourceNames = "one" }), "", stopOnFailure())}
			},
			verdict: map[string]litmus.ProbeVerdict{"there": "Failed"},
			errCode: litmus.ErrorCodeK8sProbeFailure,
			errWant: []string{`"one"`, "is present, expected it to be absent"},
		},
		{
			name: "delete by label selector and by name",
			setup: func(ns string) {
				createCM(ns, "a", map[string]string{"probe-test": "del"})
				createCM(ns, "b", map[string]string{"probe-test": "del"})
				createCM(ns, "keep", map[string]string{"probe-test": "keep"})
				createCM(ns, "byname", map[string]string{"probe-test": "n"})
			},
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{
					k8sProbe("sel", cmIn(ns, litmus.K8sOperationDelete, func(in *litmus.K8sProbeInputs) { in.LabelSelector = "probe-test=del" }), ""),
					k8sProbe("name", cmIn(ns, litmus.K8sOperationDelete, func(in *litmus.K8sProbeInputs) { in.ResourceNames = "byname" }), ""),
				}
			},
			verdict: map[string]litmus.ProbeVerdict{"sel": "Passed", "name": "Passed"},
			check: func(t *testing.T, ns string) {
				if got := strings.Join(cms(ns), ","); got != "keep" {
					t.Errorf("ConfigMaps left: %q, want keep", got)
				}
			},
		},
		{
			name: "delete with an empty selection is K8S_PROBE_ERROR",
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{k8sProbe("sel", cmIn(ns, litmus.K8sOperationDelete, func(in *litmus.K8sProbeInputs) { in.LabelSelector = "probe-test=none" }), "")}
			},
			verdict: map[string]litmus.ProbeVerdict{"sel": "Awaited"},
			errCode: litmus.ErrorCodeK8sProbeError,
			errWant: []string{"no resource found to delete"},
		},
		{
			name:  "selectors and names from probe chaining",
			setup: func(ns string) { createCM(ns, "chained", map[string]string{"probe-test": "chained"}) },
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{
					cmdProbe("label", SOT, "echo chained", "string", "equal", "chained"),
					k8sProbe("by-label", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) {
						in.LabelSelector = "probe-test={{ .label.ProbeArtifacts.Register }}"
					}), ""),
					k8sProbe("by-name", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) {
						in.ResourceNames = "{{ .label.ProbeArtifacts.Register }}"
					}), ""),
					k8sProbe("by-field", cmIn(ns, litmus.K8sOperationPresent, func(in *litmus.K8sProbeInputs) {
						in.FieldSelector = "metadata.name={{ .label.ProbeArtifacts.Register }}"
					}), ""),
				}
			},
			verdict: map[string]litmus.ProbeVerdict{"label": "Passed", "by-label": "Passed", "by-name": "Passed", "by-field": "Passed"},
		},
		{
			name: "unknown resource is K8S_PROBE_ERROR",
			probes: func(ns string) []litmus.Probe {
				return []litmus.Probe{k8sProbe("p", litmus.K8sProbeInputs{Version: "v1", Resource: "nosuchthings", Namespace: ns, Operation: litmus.K8sOperationPresent, LabelSelector: "a=b"}, "")}
			},
			verdict: map[string]litmus.ProbeVerdict{"p": "Awaited"},
			errCode: litmus.ErrorCodeK8sProbeError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := c.Namespace(t)
			if tt.setup != nil {
				tt.setup(ns)
			}
			res, err := runSOT(t, testRunner(t), litmus.ProbeRun{
				Probes: tt.probes(ns), Namespace: ns, Kube: c.Client, Dynamic: c.Dynamic, RESTConfig: c.Config,
			})
			if tt.errCode != "" {
				wantCode(t, err, tt.errCode, tt.errWant...)
			} else if err != nil {
				t.Fatalf("PreChaos: %v", err)
			}
			passed := 0
			for name, v := range tt.verdict {
				wantVerdict(t, res, name, v)
				if v == litmus.ProbeVerdictPassed {
					passed++
				}
			}
			if res.Passed != passed {
				t.Errorf("Passed = %d, want %d", res.Passed, passed)
			}
			if tt.check != nil {
				tt.check(t, ns)
			}
		})
	}
}

// TestCmdProbeSourcePod runs source-mode cmdProbes on the real cluster. Its kwok nodes run
// no containers: a pod that can be scheduled becomes Running and Ready but cannot be exec'd
// into, and one that cannot be scheduled never becomes ready.
func TestCmdProbeSourcePod(t *testing.T) {
	c := testcluster.Get(t)
	sourceProbe := func(mode litmus.ProbeMode, src litmus.ProbeSource) litmus.Probe {
		p := okProbe("src", mode, "echo 1")
		p.CmdProbeInputs.Source = &src
		return p
	}
	run := func(ns string, p litmus.Probe) litmus.ProbeRun {
		return litmus.ProbeRun{
			Probes: []litmus.Probe{p}, Namespace: ns, EngineUID: "uid-123", Experiment: "pod-delete", RunID: "abc123",
			Kube: c.Client, Dynamic: c.Dynamic, RESTConfig: c.Config, ServiceAccount: "default",
			StatusCheckDelay: 200 * time.Millisecond, StatusCheckTimeout: 3 * time.Second,
		}
	}
	podGone := func(t *testing.T, ns string) {
		t.Helper()
		testcluster.Eventually(t, 30*time.Second, "source pod deleted", func(ctx context.Context) (bool, error) {
			_, err := c.Client.CoreV1().Pods(ns).Get(ctx, "pod-delete-probe-abc123", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	}

	t.Run("pod never ready", func(t *testing.T) {
		ns := c.Namespace(t)
		p := sourceProbe(SOT, litmus.ProbeSource{Image: "busybox", NodeSelector: map[string]string{"chaos-agent.io/no-such-node": "x"}})
		start := time.Now()
		res, err := runSOT(t, testRunner(t), run(ns, p))
		wantCode(t, err, litmus.ErrorCodeCmdProbeError,
			`source pod `+ns+`/pod-delete-probe-abc123 of probe "src" did not become Running and Ready within 3s`, "phase Pending", "Unschedulable")
		if took := time.Since(start); took < 3*time.Second || took > 20*time.Second {
			t.Errorf("took %s, want about the 3s status-check timeout", took)
		}
		wantVerdict(t, res, "src", litmus.ProbeVerdictAwaited)
		podGone(t, ns)
	})

	t.Run("pod ready, exec fails", func(t *testing.T) {
		ns := c.Namespace(t)
		p := sourceProbe(SOT, litmus.ProbeSource{Image: "busybox", Labels: map[string]string{"team": "sre"}})
		// The pod is created with the spec of sourcePod; observe it while the probe runs.
		seen := make(chan *corev1.Pod, 1)
		go func() {
			for t.Context().Err() == nil {
				pod, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), "pod-delete-probe-abc123", metav1.GetOptions{})
				if err == nil {
					seen <- pod
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			close(seen)
		}()
		res, err := runSOT(t, testRunner(t), run(ns, p))
		wantCode(t, err, litmus.ErrorCodeCmdProbeError, "unable to run command", "exec in source pod "+ns+"/pod-delete-probe-abc123")
		wantVerdict(t, res, "src", litmus.ProbeVerdictAwaited)
		var pod *corev1.Pod
		select {
		case pod = <-seen:
		case <-time.After(30 * time.Second):
		}
		if pod == nil {
			t.Fatal("source pod never observed")
		}
		if pod.Labels["chaosUID"] != "uid-123" || pod.Labels["team"] != "sre" || pod.Labels["name"] != pod.Name {
			t.Errorf("labels %v", pod.Labels)
		}
		if pod.Spec.ServiceAccountName != "default" || pod.Spec.Containers[0].Name != "pod-delete-probe" {
			t.Errorf("spec %+v", pod.Spec)
		}
		podGone(t, ns)
	})

	t.Run("continuous source pod lives until PostChaos", func(t *testing.T) {
		ns := c.Namespace(t)
		p := sourceProbe(Continuous, litmus.ProbeSource{Image: "busybox"})
		p.RunProperties.ProbePollingInterval = litmus.DurationFromString("100ms")
		s := startSession(t, testRunner(t), run(ns, p))
		if err := s.PreChaos(t.Context()); err != nil {
			t.Fatalf("PreChaos: %v", err)
		}
		// The pod was created and awaited synchronously.
		pod, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), "pod-delete-probe-abc123", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("source pod missing after PreChaos: %v", err)
		}
		if ready, _, st := podState(pod); !ready {
			t.Errorf("source pod not ready after PreChaos: %s", st)
		}
		err = s.PostChaos(t.Context())
		wantCode(t, err, litmus.ErrorCodeCmdProbeError, "exec in source pod")
		podGone(t, ns)
		s.Close()
	})
}
