package kube

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// The full clientset and its fake stay usable wherever the agent takes an Interface.
var (
	_ Interface = (kubernetes.Interface)(nil)
	_ Interface = (*fake.Clientset)(nil)
	_ Interface = (*Clientset)(nil)
)

func TestNewClientset(t *testing.T) {
	cs, err := NewClientset(&rest.Config{Host: "https://127.0.0.1:6443", QPS: 5, Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]rest.Interface{
		"core": cs.CoreV1().RESTClient(), "apps": cs.AppsV1().RESTClient(), "policy": cs.PolicyV1().RESTClient(),
		"coordination": cs.CoordinationV1().RESTClient(), "discovery": cs.Discovery().RESTClient(),
	} {
		if c == nil {
			t.Errorf("%s client is nil", name)
		}
	}
	if got := cs.CoreV1().RESTClient().Get().Resource("pods").Namespace("hce").URL().String(); got != "https://127.0.0.1:6443/api/v1/namespaces/hce/pods" {
		t.Errorf("core URL = %s", got)
	}
	if got := cs.AppsV1().RESTClient().Get().Resource("replicasets").URL().String(); got != "https://127.0.0.1:6443/apis/apps/v1/replicasets" {
		t.Errorf("apps URL = %s", got)
	}
	if _, err := NewClientset(&rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{CAFile: "/nonexistent/ca.crt"}}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

func TestServiceAccountClientsRestrictTo(t *testing.T) {
	base := &rest.Config{Host: "https://127.0.0.1:6443"}
	f := NewServiceAccountClients(base).RestrictTo([]string{"hce", "shop"})
	if _, err := f.For("shop", "litmus-admin"); err != nil {
		t.Fatalf("a named namespace: %v", err)
	}
	_, err := f.For("kube-system", "litmus-admin")
	if err == nil || !strings.Contains(err.Error(), "only in hce, shop") {
		t.Fatalf("another namespace: %v", err)
	}
	for _, open := range [][]string{nil, {"*"}} {
		if _, err := NewServiceAccountClients(base).RestrictTo(open).For("anywhere", "sa"); err != nil {
			t.Errorf("RestrictTo(%v): %v", open, err)
		}
	}
}
