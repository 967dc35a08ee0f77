package manifests_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/manifests"
)

// impersonation lists "namespace/name-or-*" for every impersonate rule, by where it applies:
// a Role's namespace, or "*" for a ClusterRole.
func impersonation(t *testing.T, objs []object) []string {
	t.Helper()
	var out []string
	for _, obj := range objs {
		var rules []rbacv1.PolicyRule
		where := obj.ns
		switch obj.kind {
		case "Role":
			rules = decode[rbacv1.Role](t, obj).Rules
		case "ClusterRole":
			rules, where = decode[rbacv1.ClusterRole](t, obj).Rules, "*"
		default:
			continue
		}
		for _, r := range rules {
			if !slices.Contains(r.Verbs, "impersonate") {
				continue
			}
			names := r.ResourceNames
			if len(names) == 0 {
				names = []string{"*"}
			}
			for _, n := range names {
				out = append(out, where+"/"+n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestClusterScopeImpersonation: a cluster-scope install impersonates the chaos service
// accounts only in the namespaces it names, never every namespace's litmus-admin.
func TestClusterScopeImpersonation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		namespaces []string
		want       []string
	}{
		{name: "default: its own namespace", want: []string{"hce/litmus-admin"}},
		{name: "named namespaces", namespaces: []string{"hce", "shop", "payments"},
			want: []string{"hce/litmus-admin", "payments/litmus-admin", "shop/litmus-admin"}},
		{name: "every namespace, asked for", namespaces: []string{"*"}, want: []string{"*/litmus-admin", "hce/litmus-admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := parse(t, render(t, manifests.Options{Scope: config.ScopeCluster, SkipCRDs: true, ChaosNamespaces: tc.namespaces}))
			if got := impersonation(t, objs); !slices.Equal(got, tc.want) {
				t.Errorf("impersonation %v, want %v", got, tc.want)
			}
		})
	}
	if err := (manifests.Options{ChaosNamespaces: []string{"hce", "shop"}}).Validate(); err == nil {
		t.Error("a namespace-scoped install accepted another chaos namespace")
	}
	if err := (manifests.Options{Scope: config.ScopeCluster, ChaosNamespaces: []string{"*", "shop"}}).Validate(); err == nil {
		t.Error(`"*" accepted with other namespaces`)
	}
}

// TestClusterScopeNeverOwnsSystemNamespaces: the Namespace object is rendered only for a
// namespace the install may own.
func TestClusterScopeNeverOwnsSystemNamespaces(t *testing.T) {
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "hce"} {
		o := manifests.Options{Scope: config.ScopeCluster, Namespace: ns, SkipCRDs: true}
		var namespaces []string
		for _, obj := range parse(t, render(t, o)) {
			if obj.kind == "Namespace" {
				namespaces = append(namespaces, obj.name)
			}
		}
		own := ns == "hce"
		if own != (len(namespaces) == 1) || own != o.CreatesNamespace() {
			t.Errorf("namespace %s: Namespace objects %v, CreatesNamespace %v", ns, namespaces, o.CreatesNamespace())
		}
	}
}

// TestProxyCredentialsInSecret: a proxy URL with credentials is never a plain env value.
func TestProxyCredentialsInSecret(t *testing.T) {
	o := manifests.Options{HTTPSProxy: "http://user:pa55@proxy.example.com:3128", HTTPProxy: "http://proxy.example.com:3128", NoProxy: ".svc"}
	out := render(t, o)
	objs := parse(t, out)
	dep := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "chaos-agent"))
	env := map[string]corev1.EnvVar{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY"} {
		e := env[name]
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "chaos-agent-proxy" {
			t.Errorf("%s: %+v, want a reference to the Secret chaos-agent-proxy", name, e)
		}
	}
	if env["NO_PROXY"].Value != ".svc" {
		t.Errorf("NO_PROXY %+v", env["NO_PROXY"])
	}
	sec := decode[corev1.Secret](t, find(t, objs, "Secret", "chaos-agent-proxy"))
	if sec.StringData["HTTPS_PROXY"] != o.HTTPSProxy || sec.StringData["HTTP_PROXY"] != o.HTTPProxy {
		t.Errorf("Secret chaos-agent-proxy %v", sec.StringData)
	}
	if n := strings.Count(string(out), "pa55"); n != 1 {
		t.Errorf("the proxy password appears %d times in the manifest, want once (in the Secret)", n)
	}
	plain := parse(t, render(t, manifests.Options{HTTPSProxy: "http://proxy.example.com:3128"}))
	for _, obj := range plain {
		if obj.kind == "Secret" && obj.name == "chaos-agent-proxy" {
			t.Error("a Secret for a proxy without credentials")
		}
	}
}
