package app

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exampleArgs are the flags hack/update-manifests.sh renders the committed examples with.
func exampleArgs(scope string) []string {
	return []string{"manifest", "--scope", scope, "--namespace", "hce",
		"--server-addr", "https://chaos.example.com/api/query",
		"--infra-id", "00000000-0000-0000-0000-000000000000",
		"--access-key", "EXAMPLEACCESSKEY0000000000000000",
		"--start-time", "1767225600000",
		"--image", "ghcr.io/chaos-agent/chaos-agent:v0.1.0"}
}

func TestManifestMatchesExamples(t *testing.T) {
	for _, scope := range []string{"cluster", "namespace"} {
		code, out, errOut := run(t, exampleArgs(scope), nil)
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", scope, code, errOut)
		}
		want, err := os.ReadFile("../../../manifests/examples/infra-" + scope + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("chaos-agent manifest --scope %s differs from manifests/examples/infra-%s.yaml: run make manifests", scope, scope)
		}
	}
}

func TestManifestFlags(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("key-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	code, out, errOut := run(t, []string{"manifest", "--scope", "Cluster", "-n", "chaos",
		"--server-addr", "https://cp.example.com/api/query", "--infra-id", "abc", "--access-key-file", keyFile,
		"--node-selector", "zone=a,pool=chaos", "--tolerations", `[{"key":"dedicated","operator":"Equal","value":"chaos","effect":"NoSchedule"}]`,
		"--skip-ssl-verify", "--version", "3.20.0", "--chaos-service-accounts", "litmus-admin, chaos",
		"--https-proxy", "http://proxy:3128", "--no-proxy", ".svc,10.0.0.0/8", "--skip-crds"}, nil)
	after := time.Now().UnixMilli()
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"kind: Namespace\nmetadata:\n  name: chaos\n", `ACCESS_KEY: "key-from-file"`, `INFRA_SCOPE: "cluster"`, `VERSION: "3.20.0"`,
		`SKIP_SSL_VERIFY: "true"`, "zone: a", "pool: chaos", "key: dedicated", "effect: NoSchedule",
		`resourceNames: ["litmus-admin","chaos"]`, `value: "http://proxy:3128"`, "name: chaos-agent-chaos",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
	if strings.Contains(out, "CustomResourceDefinition") {
		t.Error("--skip-crds: CRDs rendered")
	}
	m := regexp.MustCompile(`START_TIME: "(\d+)"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no START_TIME")
	}
	if st, _ := strconv.ParseInt(m[1], 10, 64); st < before || st > after {
		t.Errorf("START_TIME %d is not now (%d..%d)", st, before, after)
	}
}

func TestManifestOutputFileAndCRDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "infra.yaml")
	code, out, errOut := run(t, []string{"manifest", "-o", path}, nil)
	if code != ExitOK || out != "" {
		t.Fatalf("exit %d, stdout %d bytes: %s", code, len(out), errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds the access key)", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "kind: Deployment") || strings.Contains(string(b), "SERVER_ADDR") {
		t.Error("a stand-alone namespace install: Deployments and no SERVER_ADDR expected")
	}

	code, out, errOut = run(t, []string{"manifest", "--crds-only"}, nil)
	if code != ExitOK {
		t.Fatalf("--crds-only: exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "kind: CustomResourceDefinition"); n != 11 {
		t.Errorf("--crds-only: %d CRDs, want 11", n)
	}
	if strings.Contains(out, "kind: Deployment") || strings.Contains(out, "kind: Namespace") {
		t.Error("--crds-only renders more than CRDs")
	}
}

func TestManifestInvalid(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	_ = os.WriteFile(keyFile, []byte("k"), 0o600)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"scope", []string{"--scope", "galaxy"}, []string{`scope "galaxy"`}},
		{"server without id and key", []string{"--server-addr", "https://cp"}, []string{"infra-id is required", "access key is required"}},
		{"node selector", []string{"--node-selector", "zone"}, []string{"--node-selector"}},
		{"tolerations not JSON", []string{"--tolerations", "key=value:NoSchedule"}, []string{"--tolerations: want a JSON list"}},
		{"tolerations unknown field", []string{"--tolerations", `[{"kee":"x"}]`}, []string{`unknown field "kee"`}},
		{"both keys", []string{"--access-key", "a", "--access-key-file", keyFile}, []string{"exclude each other"}},
		{"missing key file", []string{"--access-key-file", "/nonexistent/key"}, []string{"access key file"}},
		{"crds-only and skip-crds", []string{"--crds-only", "--skip-crds"}, []string{"exclude each other"}},
		{"several at once", []string{"--scope", "galaxy", "--namespace", "Bad_NS", "--image", "a b"}, []string{`scope "galaxy"`, `namespace "Bad_NS"`, `image "a b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"manifest"}, tc.args...), nil)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if out != "" {
				t.Errorf("stdout: %d bytes, want nothing", len(out))
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "chaos-agent: ") {
				t.Errorf("want one error line, got %q", errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error %q does not mention %q", errOut, w)
				}
			}
		})
	}
}

// TestManifestSaysWhenItCreatesANamespace: cluster scope says on stderr whether the install will
// own its namespace, and never renders kube-system as one.
func TestManifestSaysWhenItCreatesANamespace(t *testing.T) {
	code, out, stderr := run(t, []string{"manifest", "--scope", "cluster", "-n", "chaos", "--skip-crds"}, nil)
	if code != ExitOK || !strings.Contains(stderr, "creates Namespace chaos") || !strings.Contains(out, "kind: Namespace") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, out, stderr = run(t, []string{"manifest", "--scope", "cluster", "-n", "kube-system", "--skip-crds"}, nil)
	if code != ExitOK || strings.Contains(out, "kind: Namespace") || !strings.Contains(stderr, "is not created") {
		t.Fatalf("kube-system: exit %d, stderr %q, Namespace rendered %v", code, stderr, strings.Contains(out, "kind: Namespace"))
	}
	code, _, stderr = run(t, []string{"manifest", "-n", "chaos"}, nil)
	if code != ExitOK || stderr != "" {
		t.Errorf("namespace scope: exit %d, stderr %q; want nothing said", code, stderr)
	}
}
