package runner

import (
	"context"
	"errors"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// fakeAccess allows what allowed says (by "verb group/resource"), or fails.
type fakeAccess struct {
	allowed map[string]bool
	err     error
}

func (f fakeAccess) Create(_ context.Context, r *authv1.SelfSubjectAccessReview, _ metav1.CreateOptions) (*authv1.SelfSubjectAccessReview, error) {
	if f.err != nil {
		return nil, f.err
	}
	a := r.Spec.ResourceAttributes
	if a.Namespace != "" {
		return nil, errors.New("want a cluster-wide question")
	}
	out := r.DeepCopy()
	out.Status.Allowed = f.allowed["*"] || f.allowed[a.Verb+" "+strings.TrimPrefix(a.Group+"/"+a.Resource, "/")]
	return out, nil
}

func TestScope(t *testing.T) {
	engine := func(ns, appns string) *litmus.ChaosEngine {
		e := &litmus.ChaosEngine{}
		e.Namespace, e.Spec.AppInfo = ns, litmus.AppInfo{AppNS: appns, AppLabel: "app=a", AppKind: "deployment"}
		return e
	}
	admin := &Manifests{Engines: []*litmus.ChaosEngine{engine("litmus", "shop")}}
	local := &Manifests{Engines: []*litmus.ChaosEngine{engine("shop", "")}}
	tests := []struct {
		name    string
		access  AccessChecker
		m       *Manifests
		want    string
		wantErr string
	}{
		{name: "cluster-wide user, admin mode", access: fakeAccess{allowed: map[string]bool{"*": true}}, m: admin, want: ""},
		{name: "cluster-wide user, one namespace", access: fakeAccess{allowed: map[string]bool{"*": true}}, m: local, want: ""},
		{name: "namespace user, one namespace", access: fakeAccess{}, m: local, want: "shop"},
		{name: "namespace user, admin mode", access: fakeAccess{allowed: map[string]bool{"list pods": true, "watch pods": true}}, m: admin,
			wantErr: "span namespaces litmus, shop, and your kubeconfig may not list apps/replicasets"},
		{name: "no access checker, admin mode", m: admin, want: ""},
		{name: "no access checker, one namespace", m: local, want: "shop"},
		{name: "API error", access: fakeAccess{err: errors.New("boom")}, m: local, wantErr: "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Scope(t.Context(), tc.access, tc.m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Scope = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Scope = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
