package kube

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestResponseTimeout: a request to an API server that accepts TLS and never answers fails after
// ResponseTimeout, without any context deadline; a watch whose body streams longer is not cut.
func TestResponseTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]\n"+
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n", srv.URL)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := RESTConfig(Options{Kubeconfig: path, ResponseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := NewClientset(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = cs.CoreV1().Pods("default").List(context.WithoutCancel(t.Context()), metav1.ListOptions{})
	if took := time.Since(start); err == nil || took > 10*time.Second || !strings.Contains(err.Error(), "no response from the API server within 1s") {
		t.Fatalf("List against a silent server: %v after %s; want the response timeout after ~1 s", err, took)
	}
	w, err := cs.CoreV1().Pods("default").Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	select {
	case ev, ok := <-w.ResultChan():
		t.Fatalf("watch ended early: %v %v", ev, ok)
	case <-time.After(3 * time.Second): // three response timeouts: the stream is not cut
	}
}
