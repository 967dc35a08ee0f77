package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// confirmServer answers confirmInfraRegistration with a new key and counts the calls.
func confirmServer(t *testing.T, newKey string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "confirmInfraRegistration") {
			calls.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"confirmInfraRegistration": map[string]any{
			"isInfraConfirmed": true, "newAccessKey": newKey, "infraID": "infra"}}})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func confirmSubscriber(t *testing.T, url string, kube *kubefake.Clientset, confirmed bool, clk *clocktesting.FakeClock, log *zap.Logger) *Subscriber {
	t.Helper()
	s, err := New(Options{
		ServerAddr: url + "/query", InfraID: "infra", AccessKey: "initial", InfraConfirmed: confirmed, Version: "3.31.0", Namespace: "hce",
		Kube: kube, Dynamic: dynfake.NewSimpleDynamicClient(runtime.NewScheme()), Argo: argofake.NewSimpleClientset(),
		Mapper: meta.NewDefaultRESTMapper(nil), Outbox: &MemoryStore{}, Clock: clk, Log: log,
		ReconnectMin: time.Second, ReconnectMax: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRotatedKeyNeverLost: the server rotates the key but the Secret cannot be written: the agent
// goes on with the new key in memory and stores it once it can; it never stops for it.
func TestRotatedKeyNeverLost(t *testing.T) {
	srv, _ := confirmServer(t, "rotated")
	kube := kubefake.NewClientset()
	var forbid atomic.Bool
	forbid.Store(true)
	kube.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if forbid.Load() {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, SecretName, errors.New("no RBAC"))
		}
		return false, nil, nil
	})
	clk := clocktesting.NewFakeClock(time.Now())
	s := confirmSubscriber(t, srv.URL, kube, false, clk, zap.NewNop())
	if err := s.confirm(t.Context()); err != nil {
		t.Fatalf("confirm failed (the agent would exit): %v", err)
	}
	if got := s.identity().AccessKey; got != "rotated" {
		t.Fatalf("key in use %q, want the rotated one", got)
	}
	if s.unsavedKey != "rotated" {
		t.Fatal("the unsaved key is not kept for storing")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.keepKey(ctx, s.unsavedKey) }()
	defer func() { cancel(); <-done }()
	for range 3 { // a few failed attempts
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clk.Step(keyRetryMax)
	}
	forbid.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sec, err := kube.CoreV1().Secrets("hce").Get(t.Context(), SecretName, metav1.GetOptions{}); err == nil {
			if string(sec.Data["ACCESS_KEY"]) != "rotated" {
				t.Fatalf("stored key %q", sec.Data["ACCESS_KEY"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was never stored")
		}
		if clk.HasWaiters() {
			clk.Step(keyRetryMax)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("keepKey did not return once the key was stored")
	}
}

// TestInfraConfirmedFromEnvironment: IS_INFRA_CONFIRMED=true with no ConfigMap (out of cluster)
// connects with the given key, without confirming (which would rotate the key); a ConfigMap's
// flag wins over the environment, as upstream.
func TestInfraConfirmedFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         bool
		cm          *corev1.ConfigMap
		wantConfirm bool
		wantKey     string
	}{
		{name: "env true, no ConfigMap", env: true, wantConfirm: false, wantKey: "initial"},
		{name: "env false, no ConfigMap", env: false, wantConfirm: true, wantKey: "rotated"},
		{name: "ConfigMap false wins", env: true, wantConfirm: true, wantKey: "rotated",
			cm: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "hce"}, Data: map[string]string{"IS_INFRA_CONFIRMED": "false"}}},
		{name: "ConfigMap true wins", env: false, wantConfirm: false, wantKey: "initial",
			cm: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "hce"}, Data: map[string]string{"IS_INFRA_CONFIRMED": "true"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := confirmServer(t, "rotated")
			kube := kubefake.NewClientset()
			if tc.cm != nil {
				_, _ = kube.CoreV1().ConfigMaps("hce").Create(t.Context(), tc.cm, metav1.CreateOptions{})
			}
			s := confirmSubscriber(t, srv.URL, kube, tc.env, clocktesting.NewFakeClock(time.Now()), zap.NewNop())
			if err := s.confirm(t.Context()); err != nil {
				t.Fatal(err)
			}
			if (calls.Load() > 0) != tc.wantConfirm {
				t.Errorf("confirmation calls %d, want confirm=%v", calls.Load(), tc.wantConfirm)
			}
			if got := s.identity().AccessKey; got != tc.wantKey {
				t.Errorf("key %q, want %q", got, tc.wantKey)
			}
		})
	}
}

// TestServerAddrSecretsNotLogged: credentials and tokens of SERVER_ADDR never reach the log, and
// plain http is warned about.
func TestServerAddrSecretsNotLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := New(Options{
		ServerAddr: "http://admin:s3cret@127.0.0.1:1/api/query?token=t0ken", InfraID: "infra", AccessKey: "k", Version: "3.31.0", Namespace: "hce",
		Kube: kubefake.NewClientset(), Dynamic: dynfake.NewSimpleDynamicClient(runtime.NewScheme()), Argo: argofake.NewSimpleClientset(),
		Mapper: meta.NewDefaultRESTMapper(nil), Outbox: &MemoryStore{}, Log: zap.New(core), HTTP: &HTTPOptions{Timeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessageSnippet("plain http").Len() != 1 {
		t.Error("no warning about plain http")
	}
	err = s.gql.do(t.Context(), docRun, map[string]any{}, "chaosExperimentRun", nil)
	if err == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	s.log.Warn("delivery failed", zap.Error(err))
	for _, e := range logs.All() {
		line := e.Message + " " + strings.Join(func() []string {
			var out []string
			for k, v := range e.ContextMap() {
				out = append(out, k+"="+toString(v))
			}
			return out
		}(), " ")
		if strings.Contains(line, "s3cret") || strings.Contains(line, "t0ken") {
			t.Errorf("a secret in the log: %s", line)
		}
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("the error lost the address: %v", err)
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
