package manifests_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/manifests"
	"github.com/chaos-agent/chaos-agent/subscriber"
)

// exampleOptions are the inputs of the committed examples (hack/update-manifests.sh passes the
// same values as flags).
func exampleOptions(scope config.Scope) manifests.Options {
	return manifests.Options{
		Scope:      scope,
		Namespace:  "hce",
		ServerAddr: "https://chaos.example.com/api/query",
		InfraID:    "00000000-0000-0000-0000-000000000000",
		AccessKey:  "EXAMPLEACCESSKEY0000000000000000",
		StartTime:  1767225600000,
		Image:      "ghcr.io/chaos-agent/chaos-agent:v0.1.0",
	}
}

func render(t *testing.T, o manifests.Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := manifests.Render(&b, o); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.Bytes()
}

// object is one parsed document.
type object struct {
	raw  []byte
	m    map[string]any
	kind string
	name string
	ns   string
}

func (o object) String() string { return o.kind + " " + o.ns + "/" + o.name }

// parse splits a multi-document YAML and parses every document; a document that does not parse
// or has no kind or name fails the test.
func parse(t *testing.T, b []byte) []object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var objs []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("split documents: %v", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("document %d does not parse: %v\n%s", len(objs), err, doc)
		}
		if m == nil {
			t.Fatalf("document %d is empty:\n%s", len(objs), doc)
		}
		meta, _ := m["metadata"].(map[string]any)
		o := object{raw: doc, m: m}
		o.kind, _ = m["kind"].(string)
		o.name, _ = meta["name"].(string)
		o.ns, _ = meta["namespace"].(string)
		if o.kind == "" || o.name == "" || m["apiVersion"] == nil {
			t.Fatalf("document %d has no apiVersion, kind or name:\n%s", len(objs), doc)
		}
		objs = append(objs, o)
	}
	return objs
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.kind == kind && o.name == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the manifest", kind, name)
	return object{}
}

// decode decodes a document strictly into a typed object: an unknown or misspelt field fails.
func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict(o.raw, v); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
	return v
}

func TestExamplesUpToDate(t *testing.T) {
	for _, scope := range []config.Scope{config.ScopeCluster, config.ScopeNamespace} {
		path := "examples/infra-" + string(scope) + ".yaml"
		want := render(t, exampleOptions(scope))
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v: run make manifests", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("manifests/%s is not what the templates render: run make manifests", path)
		}
	}
}

// variants renders the options a test should hold for, named.
func variants() map[string]manifests.Options {
	full := func(scope config.Scope) manifests.Options {
		o := exampleOptions(scope)
		o.Namespace = "chaos"
		o.SkipSSLVerify = true
		o.InfraConfirmed = true
		o.CustomTLSCert = testCA
		o.NodeSelector = map[string]string{"node-role.kubernetes.io/chaos": "", "zone": "a"}
		o.Tolerations = []corev1.Toleration{
			{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "chaos", Effect: corev1.TaintEffectNoSchedule},
			{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](30)},
		}
		o.HTTPSProxy = "http://proxy.example.com:3128"
		o.HTTPProxy = "http://proxy.example.com:3128"
		o.NoProxy = "10.0.0.0/8,.svc,.cluster.local"
		o.ChaosServiceAccounts = []string{"litmus-admin", "chaos"}
		return o
	}
	return map[string]manifests.Options{
		"cluster":            exampleOptions(config.ScopeCluster),
		"namespace":          exampleOptions(config.ScopeNamespace),
		"cluster-full":       full(config.ScopeCluster),
		"namespace-full":     full(config.ScopeNamespace),
		"standalone":         {Scope: config.ScopeNamespace},
		"cluster-standalone": {Scope: config.ScopeCluster, Namespace: "ops", SkipCRDs: true},
		"impersonate-any":    {Scope: config.ScopeCluster, ChaosServiceAccounts: []string{manifests.AnyServiceAccount}},
	}
}

// TestEveryDocumentParses decodes every document of every variant strictly into its Kubernetes
// type and checks the labels every object carries.
func TestEveryDocumentParses(t *testing.T) {
	for name, o := range variants() {
		t.Run(name, func(t *testing.T) {
			objs := parse(t, render(t, o))
			o = o.WithDefaults()
			instance := o.InfraID
			if instance == "" {
				instance = o.Namespace
			}
			seen := map[string]bool{}
			for _, obj := range objs {
				if seen[obj.String()] {
					t.Errorf("%s appears twice", obj)
				}
				seen[obj.String()] = true
				switch obj.kind {
				case "Namespace":
					decode[corev1.Namespace](t, obj)
				case "ServiceAccount":
					decode[corev1.ServiceAccount](t, obj)
				case "Role":
					decode[rbacv1.Role](t, obj)
				case "RoleBinding":
					decode[rbacv1.RoleBinding](t, obj)
				case "ClusterRole":
					decode[rbacv1.ClusterRole](t, obj)
				case "ClusterRoleBinding":
					decode[rbacv1.ClusterRoleBinding](t, obj)
				case "ConfigMap":
					decode[corev1.ConfigMap](t, obj)
				case "Secret":
					decode[corev1.Secret](t, obj)
				case "Service":
					decode[corev1.Service](t, obj)
				case "Deployment":
					decode[appsv1.Deployment](t, obj)
				case "CustomResourceDefinition":
				default:
					t.Errorf("unexpected kind %s", obj)
				}
				labels, _ := obj.m["metadata"].(map[string]any)["labels"].(map[string]any)
				if labels["app.kubernetes.io/part-of"] != "chaos-agent" {
					t.Errorf("%s: no label app.kubernetes.io/part-of=chaos-agent", obj)
				}
				// CRDs are shared by every install of the cluster: no instance label.
				if obj.kind != "CustomResourceDefinition" && labels["app.kubernetes.io/instance"] != instance {
					t.Errorf("%s: label app.kubernetes.io/instance=%v, want %s", obj, labels["app.kubernetes.io/instance"], instance)
				}
				namespaced := !slices.Contains([]string{"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}, obj.kind)
				if namespaced && obj.ns != o.Namespace {
					t.Errorf("%s: namespace %q, want %q", obj, obj.ns, o.Namespace)
				}
				if !namespaced && obj.ns != "" {
					t.Errorf("%s: cluster-scoped object with a namespace", obj)
				}
			}
			for _, want := range []string{
				"ServiceAccount chaos-agent", "ServiceAccount argo", "ServiceAccount argo-chaos", "ServiceAccount litmus-admin",
				"Role chaos-agent", "RoleBinding chaos-agent", "Role litmus-admin", "RoleBinding litmus-admin",
				"Role argo", "RoleBinding argo", "Role argo-chaos", "RoleBinding argo-chaos",
				"ConfigMap subscriber-config", "Secret subscriber-secret", "ConfigMap workflow-controller-configmap",
				"Deployment chaos-agent", "Service chaos-agent-metrics", "Deployment workflow-controller",
			} {
				kind, name, _ := strings.Cut(want, " ")
				find(t, objs, kind, name)
			}
		})
	}
}

var clusterKinds = []string{"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}

func TestNamespaceScopeHasNoClusterScopedObject(t *testing.T) {
	for name, o := range variants() {
		if o.WithDefaults().Scope != config.ScopeNamespace {
			continue
		}
		for _, obj := range parse(t, render(t, o)) {
			if slices.Contains(clusterKinds, obj.kind) {
				t.Errorf("%s: namespace-scoped render has %s", name, obj)
			}
		}
	}
}

func TestClusterScopeObjects(t *testing.T) {
	objs := parse(t, render(t, exampleOptions(config.ScopeCluster)))
	if objs[0].kind != "Namespace" || objs[0].name != "hce" {
		t.Errorf("first object is %s, want the Namespace hce", objs[0])
	}
	var crds []string
	for _, o := range objs {
		if o.kind == "CustomResourceDefinition" {
			crds = append(crds, o.name)
		}
	}
	wantCRDs := []string{
		"chaosengines.litmuschaos.io", "chaosexperiments.litmuschaos.io", "chaosresults.litmuschaos.io",
		"clusterworkflowtemplates.argoproj.io", "cronworkflows.argoproj.io", "workflows.argoproj.io",
		"workflowtemplates.argoproj.io", "workfloweventbindings.argoproj.io", "workflowtasksets.argoproj.io",
		"workflowtaskresults.argoproj.io", "workflowartifactgctasks.argoproj.io",
	}
	if !slices.Equal(crds, wantCRDs) {
		t.Errorf("CRDs %v, want %v", crds, wantCRDs)
	}
	// CRDs come before anything else but the Namespace, so kubectl apply creates them first.
	for i, o := range objs[1 : 1+len(wantCRDs)] {
		if o.kind != "CustomResourceDefinition" {
			t.Errorf("object %d is %s, want a CRD", i+1, o)
		}
	}
	for _, name := range []string{"chaos-agent-hce", "litmus-admin-hce"} {
		find(t, objs, "ClusterRole", name)
		crb := decode[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", name))
		if crb.RoleRef.Name != name || len(crb.Subjects) != 1 || crb.Subjects[0].Namespace != "hce" {
			t.Errorf("ClusterRoleBinding %s: %+v", name, crb)
		}
	}

	skipped := parse(t, render(t, manifests.Options{Scope: config.ScopeCluster, SkipCRDs: true}))
	for _, o := range skipped {
		if o.kind == "CustomResourceDefinition" {
			t.Errorf("SkipCRDs: %s rendered", o)
		}
	}
}

// TestRBAC checks the least-privilege promises: no wildcards; no Secrets but subscriber-secret
// for the agent; no cluster-wide Secrets for anyone; impersonation limited to the chaos
// service accounts.
func TestRBAC(t *testing.T) {
	for name, o := range variants() {
		t.Run(name, func(t *testing.T) {
			objs := parse(t, render(t, o))
			o = o.WithDefaults()
			for _, obj := range objs {
				var rules []rbacv1.PolicyRule
				switch obj.kind {
				case "Role":
					rules = decode[rbacv1.Role](t, obj).Rules
				case "ClusterRole":
					rules = decode[rbacv1.ClusterRole](t, obj).Rules
				default:
					continue
				}
				for _, r := range rules {
					for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
						if slices.Contains(list, "*") {
							t.Errorf("%s: wildcard in %+v", obj, r)
						}
					}
					if !slices.Contains(r.Resources, "secrets") {
						continue
					}
					switch {
					case obj.kind == "ClusterRole":
						t.Errorf("%s grants Secrets cluster-wide: %+v", obj, r)
					case obj.name == "chaos-agent" && !slices.Equal(r.ResourceNames, []string{"subscriber-secret"}):
						t.Errorf("%s: Secrets beyond subscriber-secret: %+v", obj, r)
					case slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && (obj.name != "chaos-agent" || v != "update") }):
						t.Errorf("%s: Secrets verbs %v", obj, r.Verbs)
					}
				}
				// The agent writes only its own ConfigMaps: the registration flag and every
				// segment of the event outbox (subscriber.OutboxConfigMapNames).
				if obj.kind == "Role" && obj.name == "chaos-agent" {
					want := append([]string{"subscriber-config"}, subscriber.OutboxConfigMapNames("chaos-agent-outbox")...)
					found := false
					for _, r := range rules {
						if slices.Contains(r.Resources, "configmaps") && slices.Contains(r.Verbs, "update") {
							found = true
							if !slices.Equal(r.ResourceNames, want) {
								t.Errorf("%s: writable ConfigMaps %v, want %v", obj, r.ResourceNames, want)
							}
						}
					}
					if !found {
						t.Errorf("%s: no rule to write the outbox", obj)
					}
				}
				for _, r := range rules {
					if !slices.Contains(r.Verbs, "impersonate") {
						continue
					}
					if !strings.HasPrefix(obj.name, "chaos-agent") || !slices.Equal(r.Resources, []string{"serviceaccounts"}) {
						t.Errorf("%s: impersonation rule %+v", obj, r)
					}
					want := o.ChaosServiceAccounts
					if slices.Contains(want, manifests.AnyServiceAccount) {
						want = nil
					}
					if !slices.Equal(r.ResourceNames, want) {
						t.Errorf("%s: impersonates %v, want %v", obj, r.ResourceNames, want)
					}
				}
			}
		})
	}
}

func TestAgentDeployment(t *testing.T) {
	o := variants()["cluster-full"]
	objs := parse(t, render(t, o))
	d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "chaos-agent"))
	spec := d.Spec.Template.Spec
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %s: want 1 and Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if spec.ServiceAccountName != "chaos-agent" || !ptr.Deref(spec.AutomountServiceAccountToken, false) {
		t.Errorf("service account %q, automount %v", spec.ServiceAccountName, spec.AutomountServiceAccountToken)
	}
	if ptr.Deref(spec.TerminationGracePeriodSeconds, 0) != 40 {
		t.Errorf("terminationGracePeriodSeconds %v, want 40", spec.TerminationGracePeriodSeconds)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != o.Image || !slices.Equal(c.Args, []string{"serve", "--leader-elect"}) {
		t.Errorf("image %q args %v", c.Image, c.Args)
	}
	checkHardened(t, "chaos-agent", spec.SecurityContext, c.SecurityContext, 65532)
	if len(c.EnvFrom) != 2 || c.EnvFrom[0].ConfigMapRef.Name != "subscriber-config" || c.EnvFrom[1].SecretRef.Name != "subscriber-secret" {
		t.Errorf("envFrom %+v", c.EnvFrom)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for name, path := range map[string]string{"INFRA_NAMESPACE": "metadata.namespace", "POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"} {
		if e := env[name]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("env %s: %+v, want fieldRef %s", name, e, path)
		}
	}
	if e := env["GOMEMLIMIT"]; e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("env GOMEMLIMIT: %+v", e)
	}
	for name, want := range map[string]string{"HTTPS_PROXY": o.HTTPSProxy, "HTTP_PROXY": o.HTTPProxy, "NO_PROXY": o.NoProxy} {
		if env[name].Value != want {
			t.Errorf("env %s=%q, want %q", name, env[name].Value, want)
		}
	}
	r := c.Resources
	if r.Requests.Cpu().String() != "50m" || r.Requests.Memory().String() != "64Mi" || r.Limits.Cpu().String() != "500m" || r.Limits.Memory().String() != "256Mi" {
		t.Errorf("resources %+v", r)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 8080 || ports["health"] != 8081 {
		t.Errorf("ports %v", ports)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("liveness probe %+v", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("readiness probe %+v", p)
	}
	checkScheduling(t, "chaos-agent", spec, o)

	svc := decode[corev1.Service](t, find(t, objs, "Service", "chaos-agent-metrics"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].Name != "metrics" {
		t.Errorf("metrics Service ports %+v", svc.Spec.Ports)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("metrics Service selector %v does not select the agent's pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
		}
	}
}

func TestWorkflowController(t *testing.T) {
	o := variants()["namespace-full"]
	objs := parse(t, render(t, o))
	d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "workflow-controller"))
	spec := d.Spec.Template.Spec
	if d.Spec.Template.Labels["app"] != "workflow-controller" {
		t.Errorf("pod labels %v: want app=workflow-controller (COMPONENTS)", d.Spec.Template.Labels)
	}
	if spec.ServiceAccountName != "argo" {
		t.Errorf("service account %q, want argo", spec.ServiceAccountName)
	}
	c := spec.Containers[0]
	wantArgs := []string{"--namespaced", "--managed-namespace", "chaos", "--configmap", "workflow-controller-configmap", "--executor-image", manifests.DefaultArgoExecImage}
	if c.Image != manifests.DefaultArgoImage || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("image %q args %v, want %q %v", c.Image, c.Args, manifests.DefaultArgoImage, wantArgs)
	}
	checkHardened(t, "workflow-controller", spec.SecurityContext, c.SecurityContext, 8737)
	checkScheduling(t, "workflow-controller", spec, o)

	cm := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "workflow-controller-configmap"))
	if cm.Data["instanceID"] != o.InfraID {
		t.Errorf("instanceID %q, want the infra ID %q", cm.Data["instanceID"], o.InfraID)
	}
	if _, ok := cm.Data["containerRuntimeExecutor"]; ok {
		t.Error("containerRuntimeExecutor is set: Argo v3.7 has only the emissary executor")
	}
	for _, key := range []string{"executor", "workflowDefaults"} {
		var v map[string]any
		if err := yaml.UnmarshalStrict([]byte(cm.Data[key]), &v); err != nil || v == nil {
			t.Errorf("workflow-controller-configmap %s does not parse: %v", key, err)
		}
	}
	// Stand-alone (no infra ID): no instanceID, the controller runs unlabelled Workflows.
	cm = decode[corev1.ConfigMap](t, find(t, parse(t, render(t, manifests.Options{})), "ConfigMap", "workflow-controller-configmap"))
	if _, ok := cm.Data["instanceID"]; ok {
		t.Errorf("stand-alone render has instanceID %q", cm.Data["instanceID"])
	}
}

func checkHardened(t *testing.T, name string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext, uid int64) {
	t.Helper()
	if pod == nil || !ptr.Deref(pod.RunAsNonRoot, false) || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v", name, pod)
	}
	if c == nil {
		t.Fatalf("%s: no container securityContext", name)
	}
	if !ptr.Deref(c.RunAsNonRoot, false) || ptr.Deref(c.RunAsUser, 0) != uid || !ptr.Deref(c.ReadOnlyRootFilesystem, false) ||
		ptr.Deref(c.AllowPrivilegeEscalation, true) || c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(c.Capabilities.Add) != 0 || ptr.Deref(c.Privileged, false) || c.SeccompProfile == nil || c.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: container securityContext not hardened: %+v", name, c)
	}
}

func checkScheduling(t *testing.T, name string, spec corev1.PodSpec, o manifests.Options) {
	t.Helper()
	for k, v := range o.NodeSelector {
		if spec.NodeSelector[k] != v {
			t.Errorf("%s: nodeSelector %v lacks %s=%s", name, spec.NodeSelector, k, v)
		}
	}
	if spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("%s: nodeSelector %v lacks kubernetes.io/os=linux", name, spec.NodeSelector)
	}
	if len(spec.Tolerations) != len(o.Tolerations) {
		t.Fatalf("%s: tolerations %+v, want %+v", name, spec.Tolerations, o.Tolerations)
	}
	for i := range o.Tolerations {
		if !spec.Tolerations[i].MatchToleration(&o.Tolerations[i]) || ptr.Deref(spec.Tolerations[i].TolerationSeconds, -1) != ptr.Deref(o.Tolerations[i].TolerationSeconds, -1) {
			t.Errorf("%s: toleration %d %+v, want %+v", name, i, spec.Tolerations[i], o.Tolerations[i])
		}
	}
}

// TestSubscriberContract checks subscriber-config and subscriber-secret against the
// environment contract of docs/configuration.md.
func TestSubscriberContract(t *testing.T) {
	o := variants()["cluster-full"]
	objs := parse(t, render(t, o))
	cm := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "subscriber-config"))
	want := map[string]string{
		"SERVER_ADDR":        o.ServerAddr,
		"IS_INFRA_CONFIRMED": "true",
		"INFRA_SCOPE":        "cluster",
		"VERSION":            "3.31.0",
		"START_TIME":         "1767225600000",
		"SKIP_SSL_VERIFY":    "true",
		"CUSTOM_TLS_CERT":    testCA,
		"COMPONENTS":         `DEPLOYMENTS: ["app=workflow-controller"]`,
	}
	if !mapsEqual(cm.Data, want) {
		t.Errorf("subscriber-config data %v, want %v", cm.Data, want)
	}
	sec := decode[corev1.Secret](t, find(t, objs, "Secret", "subscriber-secret"))
	if !mapsEqual(sec.StringData, map[string]string{"INFRA_ID": o.InfraID, "ACCESS_KEY": o.AccessKey}) {
		t.Errorf("subscriber-secret stringData %v", sec.StringData)
	}

	// The environment the agent gets from them is a valid configuration.
	cfg := config.Defaults()
	fs := newFlagSet(&cfg)
	lookup := func(k string) (string, bool) {
		if v, ok := cm.Data[k]; ok {
			return v, true
		}
		v, ok := sec.StringData[k]
		return v, ok
	}
	if err := cfg.ApplyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the rendered environment is not a valid configuration: %v", err)
	}
	if cfg.Scope != config.ScopeCluster || cfg.ServerAddr != o.ServerAddr || cfg.InfraID != o.InfraID || cfg.AccessKey != o.AccessKey || !cfg.IsInfraConfirmed || !cfg.SkipSSLVerify {
		t.Errorf("configuration from the rendered environment: %s", cfg)
	}

	// Stand-alone: no SERVER_ADDR at all.
	cm = decode[corev1.ConfigMap](t, find(t, parse(t, render(t, manifests.Options{})), "ConfigMap", "subscriber-config"))
	if _, ok := cm.Data["SERVER_ADDR"]; ok {
		t.Errorf("stand-alone subscriber-config has SERVER_ADDR %q", cm.Data["SERVER_ADDR"])
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestRenderCRDs(t *testing.T) {
	var b bytes.Buffer
	if err := manifests.RenderCRDs(&b); err != nil {
		t.Fatal(err)
	}
	objs := parse(t, b.Bytes())
	if len(objs) != 11 {
		t.Errorf("%d CRDs, want 11", len(objs))
	}
	for _, o := range objs {
		if o.kind != "CustomResourceDefinition" {
			t.Errorf("--crds-only renders %s", o)
		}
	}
}

func TestDefaults(t *testing.T) {
	o := manifests.Options{}.WithDefaults()
	if o.Scope != config.ScopeNamespace || o.Namespace != "hce" || o.Version != "3.31.0" ||
		o.Image != manifests.DefaultImage() || !strings.HasPrefix(o.Image, "ghcr.io/chaos-agent/chaos-agent:") ||
		o.ArgoImage != "quay.io/argoproj/workflow-controller:v3.7.18" || o.ArgoExecImage != "quay.io/argoproj/argoexec:v3.7.18" ||
		!slices.Equal(o.ChaosServiceAccounts, []string{"litmus-admin"}) {
		t.Errorf("defaults %+v", o)
	}
	if err := (manifests.Options{}).Validate(); err != nil {
		t.Errorf("zero options (a stand-alone install) are invalid: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		o    manifests.Options
		want []string
	}{
		{name: "everything wrong at once", o: manifests.Options{
			Scope: "galaxy", Namespace: "Not_A_Namespace", ServerAddr: "ftp://x", StartTime: -1,
			CustomTLSCert: "not base64!", Image: "bad image", NodeSelector: map[string]string{"bad key!": "v"},
			Tolerations:          []corev1.Toleration{{Operator: "Sometimes", Effect: "Whenever"}},
			ChaosServiceAccounts: []string{"Bad_SA"}, HTTPSProxy: "::", NoProxy: "a, b",
		}, want: []string{
			`scope "galaxy"`, `namespace "Not_A_Namespace"`, "scheme must be http or https", "infra-id is required",
			"access key is required", "start-time -1", "custom-tls-cert: not base64", `image "bad image"`,
			`node selector key "bad key!"`, `operator "Sometimes"`, `effect "Whenever"`, `chaos service account "Bad_SA"`,
			`https-proxy "::"`, `no-proxy "a, b"`,
		}},
		{name: "server without host", o: manifests.Options{ServerAddr: "https://", InfraID: "x", AccessKey: "k"}, want: []string{"no host"}},
		{name: "infra id not a label value", o: manifests.Options{ServerAddr: "https://cp", InfraID: "a/b", AccessKey: "k"}, want: []string{`infra-id "a/b"`}},
		{name: "access key with a newline", o: manifests.Options{ServerAddr: "https://cp", InfraID: "x", AccessKey: "k\nk"}, want: []string{"access key: contains white space"}},
		{name: "PEM missing", o: manifests.Options{CustomTLSCert: "aGVsbG8="}, want: []string{"no PEM certificate"}},
		{name: "toleration value with Exists", o: manifests.Options{Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}}, want: []string{"operator Exists takes no value"}},
		{name: "toleration seconds without NoExecute", o: manifests.Options{Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, TolerationSeconds: ptr.To[int64](1)}}}, want: []string{"tolerationSeconds needs effect NoExecute"}},
		{name: "star with others", o: manifests.Options{ChaosServiceAccounts: []string{"*", "litmus-admin"}}, want: []string{`"*" stands alone`}},
		{name: "node selector value", o: manifests.Options{NodeSelector: map[string]string{"zone": "a b"}}, want: []string{`node selector zone="a b"`}},
		{name: "engine", o: manifests.Options{WorkflowEngine: "airflow"}, want: []string{`workflow-engine "airflow"`}},
		{name: "registry with a scheme", o: manifests.Options{ImageRegistry: "https://registry.example.com"}, want: []string{`image-registry "https://registry.example.com"`}},
		{name: "registry that is a Docker Hub user", o: manifests.Options{ImageRegistry: "mirror"}, want: []string{"registry host"}},
		{name: "pull secret name", o: manifests.Options{ImagePullSecrets: []string{"Reg_Cred"}}, want: []string{`image pull secret "Reg_Cred"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var b bytes.Buffer
			if manifests.Render(&b, tc.o) == nil || b.Len() != 0 {
				t.Errorf("Render of invalid options wrote %d bytes", b.Len())
			}
		})
	}
}

// testCA is a base64 PEM self-signed CA certificate, made once per test binary.
var testCA = func() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Unix(0, 0), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}()

func newFlagSet(cfg *config.Config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	cfg.BindFlags(fs)
	return fs
}

// TestNativeEngine: --workflow-engine=native renders no Argo controller (nor its ServiceAccounts,
// Roles and ConfigMap) and tells the agent to run the Workflows itself.
func TestNativeEngine(t *testing.T) {
	for _, scope := range []config.Scope{config.ScopeCluster, config.ScopeNamespace} {
		o := exampleOptions(scope)
		o.WorkflowEngine = config.WorkflowEngineNative
		objs := parse(t, render(t, o))
		for _, obj := range objs {
			switch obj.name {
			case "workflow-controller", "workflow-controller-configmap", "argo", "argo-chaos":
				t.Errorf("%s scope, native engine: %s rendered", scope, obj)
			}
		}
		d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "chaos-agent"))
		if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--workflow-engine=native") {
			t.Errorf("%s scope: agent args %v, want --workflow-engine=native", scope, args)
		}
		cm := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "subscriber-config"))
		if strings.Contains(cm.Data["COMPONENTS"], "workflow-controller") {
			t.Errorf("COMPONENTS %q names the workflow-controller, which is not installed", cm.Data["COMPONENTS"])
		}
	}
	// The default stays Argo.
	objs := parse(t, render(t, exampleOptions(config.ScopeNamespace)))
	find(t, objs, "Deployment", "workflow-controller")
	d := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "chaos-agent"))
	if args := d.Spec.Template.Spec.Containers[0].Args; slices.Contains(args, "--workflow-engine=native") {
		t.Errorf("default render: agent args %v", args)
	}
}

// TestImageRegistry: one option points every image at a mirror and every pod at the pull
// secrets: the agent, the workflow-controller, argoexec (the executor image) and, through the
// agent's IMAGE_REGISTRY and the step pods' ServiceAccount, the Workflows' step images.
func TestImageRegistry(t *testing.T) {
	o := exampleOptions(config.ScopeCluster)
	o.ImageRegistry = "registry.example.com:5000/mirror/"
	o.ImagePullSecrets = []string{"regcred", "other"}
	o.DropInStepImages = true
	objs := parse(t, render(t, o))
	const reg = "registry.example.com:5000/mirror/"
	wantSecrets := []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "other"}}
	agent := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "chaos-agent"))
	wc := decode[appsv1.Deployment](t, find(t, objs, "Deployment", "workflow-controller"))
	for _, d := range []*appsv1.Deployment{agent, wc} {
		spec := d.Spec.Template.Spec
		if !slices.Equal(spec.ImagePullSecrets, wantSecrets) {
			t.Errorf("%s: imagePullSecrets %v, want %v", d.Name, spec.ImagePullSecrets, wantSecrets)
		}
		if img := spec.Containers[0].Image; !strings.HasPrefix(img, reg) {
			t.Errorf("%s: image %q not from %s", d.Name, img, reg)
		}
	}
	if got := agent.Spec.Template.Spec.Containers[0].Image; got != reg+"chaos-agent/chaos-agent:v0.1.0" {
		t.Errorf("agent image %q", got)
	}
	if args := wc.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, reg+"argoproj/argoexec:v3.7.18") {
		t.Errorf("workflow-controller args %v: want the executor image from the mirror", args)
	}
	for _, name := range []string{"chaos-agent", "argo", "argo-chaos"} {
		sa := decode[corev1.ServiceAccount](t, find(t, objs, "ServiceAccount", name))
		if !slices.Equal(sa.ImagePullSecrets, wantSecrets) {
			t.Errorf("ServiceAccount %s: imagePullSecrets %v, want %v (step pods inherit them)", name, sa.ImagePullSecrets, wantSecrets)
		}
	}
	cm := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "subscriber-config"))
	if cm.Data["IMAGE_REGISTRY"] != strings.TrimSuffix(reg, "/") {
		t.Errorf("IMAGE_REGISTRY %q, want %q", cm.Data["IMAGE_REGISTRY"], strings.TrimSuffix(reg, "/"))
	}
	images := argoImages(t, objs)
	if got := images[reg+"chaosnative/litmus-checker:2.11.0"]["entrypoint"]; !slices.Equal(got, []string{"/usr/local/bin/chaos-agent", "check"}) {
		t.Errorf("images map %v: want the mirrored checker's entrypoint", images)
	}
	if _, ok := images["chaosnative/litmus-checker:2.11.0"]; ok {
		t.Error("images map names the upstream image although Workflows are pointed at the mirror")
	}

	// Without a registry nothing changes: no pull secrets, no IMAGE_REGISTRY, upstream names.
	objs = parse(t, render(t, exampleOptions(config.ScopeCluster)))
	if sa := decode[corev1.ServiceAccount](t, find(t, objs, "ServiceAccount", "argo-chaos")); len(sa.ImagePullSecrets) > 0 {
		t.Errorf("imagePullSecrets %v without --image-pull-secret", sa.ImagePullSecrets)
	}
	if cm := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "subscriber-config")); cm.Data["IMAGE_REGISTRY"] != "" {
		t.Errorf("IMAGE_REGISTRY %q without --image-registry", cm.Data["IMAGE_REGISTRY"])
	}
}

// TestDropInStepImages: Argo is told the entrypoints of the step images only when the user says
// they are chaos-agent's drop-ins; an upstream image with another entrypoint would break.
func TestDropInStepImages(t *testing.T) {
	if images := argoImages(t, parse(t, render(t, exampleOptions(config.ScopeNamespace)))); len(images) != 0 {
		t.Errorf("images map %v rendered without --drop-in-step-images", images)
	}
	o := exampleOptions(config.ScopeNamespace)
	o.DropInStepImages = true
	images := argoImages(t, parse(t, render(t, o)))
	for name, want := range map[string][]string{
		"chaosnative/litmus-checker:2.11.0":           {"/usr/local/bin/chaos-agent", "check"},
		"docker.io/chaosnative/litmus-checker:2.11.0": {"/usr/local/bin/chaos-agent", "check"},
		"litmuschaos/litmus-checker:latest":           {"/usr/local/bin/chaos-agent", "check"},
		"chaosnative/k8s:2.11.0":                      {"/bin/sh"},
		"litmuschaos/k8s:latest":                      {"/bin/sh"},
	} {
		if got := images[name]; !slices.Equal(got["entrypoint"], want) || len(got["cmd"]) != 0 {
			t.Errorf("images[%s] = %v, want entrypoint %v (Argo's cmd would become the arguments)", name, got, want)
		}
	}
}

// argoImages decodes the workflow-controller-configmap's images map strictly (Argo's
// config.Image: entrypoint and cmd).
func argoImages(t *testing.T, objs []object) map[string]map[string][]string {
	t.Helper()
	cm := decode[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "workflow-controller-configmap"))
	var images map[string]map[string][]string
	if err := yaml.UnmarshalStrict([]byte(cm.Data["images"]), &images); err != nil {
		t.Fatalf("images map: %v", err)
	}
	for name, img := range images {
		for k := range img {
			if k != "entrypoint" && k != "cmd" {
				t.Errorf("images[%s] has key %q: Argo knows entrypoint and cmd", name, k)
			}
		}
	}
	return images
}
