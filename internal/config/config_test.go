package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, args []string, vars map[string]string) (Config, error) {
	t.Helper()
	cfg := Defaults()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	cfg.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if err := cfg.ApplyEnv(fs, env(vars)); err != nil {
		return cfg, err
	}
	if err := cfg.LoadSecrets(); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		vars  map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c Config) {
				if c.Namespace != "hce" || c.Scope != ScopeNamespace || c.WorkflowEngine != "argo" || c.ShutdownTimeout != 20*time.Second {
					t.Errorf("unexpected defaults: %s", c)
				}
			},
		},
		{
			name: "upstream env contract",
			vars: map[string]string{
				"SERVER_ADDR": "https://cp.example.com/api/query", "INFRA_ID": "id-1", "ACCESS_KEY": "k",
				"IS_INFRA_CONFIRMED": "true", "INFRA_SCOPE": "cluster", "INFRA_NAMESPACE": "chaos",
				"VERSION": "3.20.0", "START_TIME": "1700000000000", "SKIP_SSL_VERIFY": "true",
				"COMPONENTS": `DEPLOYMENTS: ["app=workflow-controller"]`,
			},
			check: func(t *testing.T, c Config) {
				if c.ServerAddr != "https://cp.example.com/api/query" || c.InfraID != "id-1" || c.AccessKey != "k" ||
					!c.IsInfraConfirmed || c.Scope != ScopeCluster || c.Namespace != "chaos" || c.InfraVersion != "3.20.0" ||
					c.StartTime != 1700000000000 || !c.SkipSSLVerify {
					t.Errorf("env not applied: %s", c)
				}
			},
		},
		{
			name: "flags win over env",
			args: []string{"--namespace", "from-flag", "--scope", "cluster"},
			vars: map[string]string{"INFRA_NAMESPACE": "from-env", "INFRA_SCOPE": "namespace"},
			check: func(t *testing.T, c Config) {
				if c.Namespace != "from-flag" || c.Scope != ScopeCluster {
					t.Errorf("flags did not win: %s", c)
				}
			},
		},
		{
			name: "empty env value is unset",
			vars: map[string]string{"INFRA_NAMESPACE": ""},
			check: func(t *testing.T, c Config) {
				if c.Namespace != "hce" {
					t.Errorf("namespace %q, want default", c.Namespace)
				}
			},
		},
		{
			name: "scope is case-insensitive",
			vars: map[string]string{"INFRA_SCOPE": "Cluster"},
			check: func(t *testing.T, c Config) {
				if c.Scope != ScopeCluster {
					t.Errorf("scope %q", c.Scope)
				}
			},
		},
		{
			name: "profiling is opt-in",
			vars: map[string]string{"CHAOS_AGENT_PROFILING": "true"},
			check: func(t *testing.T, c Config) {
				if !c.Profiling || Defaults().Profiling {
					t.Errorf("profiling %v, default %v", c.Profiling, Defaults().Profiling)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, tc.vars)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want []string // substrings of the error
	}{
		{name: "bad scope env", vars: map[string]string{"INFRA_SCOPE": "galaxy"}, want: []string{"INFRA_SCOPE", "galaxy"}},
		{name: "bad bool env", vars: map[string]string{"SKIP_SSL_VERIFY": "perhaps"}, want: []string{"SKIP_SSL_VERIFY"}},
		{name: "bad start time", vars: map[string]string{"START_TIME": "yesterday"}, want: []string{"START_TIME"}},
		{name: "server without identity", vars: map[string]string{"SERVER_ADDR": "https://cp/q"}, want: []string{"INFRA_ID", "ACCESS_KEY"}},
		{name: "server scheme", vars: map[string]string{"SERVER_ADDR": "ftp://cp/q", "INFRA_ID": "x", "ACCESS_KEY": "y"}, want: []string{"scheme"}},
		{name: "namespace", args: []string{"--namespace", "Not_A_Namespace"}, want: []string{"namespace"}},
		{name: "engine", args: []string{"--workflow-engine", "airflow"}, want: []string{"workflow-engine"}},
		{name: "tls cert not base64", vars: map[string]string{"CUSTOM_TLS_CERT": "%%%"}, want: []string{"custom-tls-cert", "base64"}},
		{name: "tls cert not pem", vars: map[string]string{"CUSTOM_TLS_CERT": base64.StdEncoding.EncodeToString([]byte("hello"))}, want: []string{"PEM"}},
		{name: "addr", args: []string{"--metrics-addr", "nonsense"}, want: []string{"metrics-addr"}},
		{name: "all problems at once", args: []string{"--log-level", "loud", "--log-format", "xml"}, want: []string{"log-level", "log-format"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args, tc.vars)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, []string{"--access-key-file", keyFile, "--server-addr", "https://cp/q", "--infra-id", "i"},
		map[string]string{"ACCESS_KEY": "s3cr3t-from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKey != "s3cr3t-from-file" {
		t.Errorf("access key %q, want the file's", c.AccessKey)
	}
	if s := c.String(); strings.Contains(s, "s3cr3t") || !strings.Contains(s, "<redacted>") {
		t.Errorf("String() leaks or does not redact: %s", s)
	}
}
