package agent_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/internal/score"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// seedEngine is the seed tutorial's fault (pod-delete on app=<app> with the Continuous
// http-cartservice-probe, verbatim but for the URL and a shorter duration).
const seedEngine = `apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata:
  namespace: %[1]s
  name: %[2]s
spec:
  appinfo:
    appns: %[1]s
    applabel: app=%[2]s
    appkind: deployment
  engineState: active
  chaosServiceAccount: chaos
  experiments:
    - name: pod-delete
      spec:
        components:
          env:
            - name: TOTAL_CHAOS_DURATION
              value: "6"
            - name: CHAOS_INTERVAL
              value: "3"
            - name: FORCE
              value: "false"
            - name: PODS_AFFECTED_PERC
              value: ""
        probe:
          - name: http-cartservice-probe
            type: httpProbe
            mode: Continuous
            runProperties:
              probeTimeout: 10
              retry: 1
              interval: 1
              stopOnFailure: false
            httpProbe/inputs:
              url: %[3]s
              method:
                get:
                  criteria: ==
                  responseCode: "200"
                  responseTimeout: 15
`

// TestSeedTutorialResilience reproduces the seed tutorial's result on the real cluster: a
// frontend stand-in answers /cart with 200 only while the cartservice Deployment has a Ready pod;
// pod-delete with the Continuous probe fails with 1 replica (score 0) and passes with 2 (score 100).
func TestSeedTutorialResilience(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	setupChaos(t, c, ns)

	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	pods := factory.Core().V1().Pods().Lister()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	type run struct {
		app      string
		replicas int32
		verdict  litmus.Verdict
		psp      string
		score    float64
	}
	runs := []run{
		{app: "cart-one", replicas: 1, verdict: litmus.VerdictFail, psp: "0", score: 0},
		{app: "cart-two", replicas: 2, verdict: litmus.VerdictPass, psp: "100", score: 100},
	}
	urls := map[string]string{}
	for _, r := range runs {
		d := testcluster.Deployment(ns, r.app, r.replicas)
		// The cartservice takes 2 s to become Ready after a restart (kwok stage delay).
		d.Spec.Template.Annotations = map[string]string{"chaos-agent.io/ready-delay": "2s"}
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sel := labels.SelectorFromSet(labels.Set{"app": r.app})
		frontend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			list, _ := pods.Pods(ns).List(sel)
			for _, p := range list {
				if testcluster.PodReady(p) {
					fmt.Fprintln(w, "cart ok")
					return
				}
			}
			http.Error(w, "cartservice unavailable", http.StatusServiceUnavailable)
		}))
		t.Cleanup(frontend.Close)
		urls[r.app] = frontend.URL + "/cart"
		testcluster.Eventually(t, 60*time.Second, r.app+" ready", func(ctx context.Context) (bool, error) {
			code, _, err := get(ctx, urls[r.app])
			return code == http.StatusOK, err
		})
	}

	cfg := config.Defaults()
	cfg.Kubeconfig, cfg.Namespace, cfg.MetricsAddr, cfg.HealthAddr, cfg.PodName = c.Kubeconfig, ns, "", "", "seed-test"
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- agent.New(cfg, zaptest.NewLogger(t)).Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})

	for _, r := range runs {
		var obj map[string]any
		if err := yaml.Unmarshal(fmt.Appendf(nil, seedEngine, ns, r.app, urls[r.app]), &obj); err != nil {
			t.Fatal(err)
		}
		createRaw(t, c, ns, obj)
	}
	for _, r := range runs {
		res := waitVerdict(t, c, ns, r.app)
		st := res.Status.ExperimentStatus
		s := score.Resilience([]score.Fault{{Name: r.app, Weight: 10, PSP: st.ProbeSuccessPercentage}})
		probe := res.Status.ProbeStatuses
		t.Logf("%d replica(s): verdict %s, phase %s, probeSuccessPercentage %s, score %.0f, probe %+v", r.replicas, st.Verdict, st.Phase, st.ProbeSuccessPercentage, s, probe)
		if st.Verdict != r.verdict || st.ProbeSuccessPercentage != r.psp || s != r.score {
			t.Errorf("%s: verdict %s psp %s score %v, want %s %s %v", r.app, st.Verdict, st.ProbeSuccessPercentage, s, r.verdict, r.psp, r.score)
		}
		if len(probe) != 1 || probe[0].Name != "http-cartservice-probe" || probe[0].Mode != litmus.ProbeModeContinuous {
			t.Fatalf("probe statuses %+v", probe)
		}
		wantProbe := litmus.ProbeVerdictPassed
		if r.verdict == litmus.VerdictFail {
			wantProbe = litmus.ProbeVerdictFailed
			if !strings.Contains(probe[0].Status.Description, "503") {
				t.Errorf("failed probe description %q does not show the 503", probe[0].Status.Description)
			}
		}
		if probe[0].Status.Verdict != wantProbe {
			t.Errorf("%s: probe verdict %s, want %s", r.app, probe[0].Status.Verdict, wantProbe)
		}
	}
}

func createRaw(t *testing.T, c *testcluster.Cluster, ns string, obj map[string]any) {
	t.Helper()
	var en litmus.ChaosEngine
	b, _ := yaml.Marshal(obj)
	if err := yaml.UnmarshalStrict(b, &en); err != nil {
		t.Fatalf("the seed engine does not decode strictly: %v", err)
	}
	u, err := litmus.ToUnstructured(&en)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
