// Package config holds chaos-agent's typed configuration: its defaults, its flags, the
// environment variables of the upstream subscriber contract (SERVER_ADDR, INFRA_ID, ...), and
// validation. Precedence is flags over environment over defaults.
package config

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaos-agent/chaos-agent/internal/imageref"
)

// Scope is the reach of an install: the whole cluster or the agent's own namespace.
type Scope string

// Scopes.
const (
	ScopeCluster   Scope = "cluster"
	ScopeNamespace Scope = "namespace"
)

// Workflow engines.
const (
	WorkflowEngineArgo   = "argo"
	WorkflowEngineNative = "native"
)

// envAnnotation is the pflag annotation that lists the environment variables of a flag.
const envAnnotation = "chaos-agent/env"

// Config is the agent's whole configuration.
type Config struct {
	// Control-plane link (the upstream subscriber contract, litmus-protocol §2.2).
	ServerAddr       string // SERVER_ADDR: GraphQL endpoint; empty runs the agent without a control plane
	InfraID          string // INFRA_ID
	AccessKey        string // ACCESS_KEY (secret, never printed)
	AccessKeyFile    string // file holding the access key (wins over ACCESS_KEY)
	IsInfraConfirmed bool   // IS_INFRA_CONFIRMED
	InfraVersion     string // VERSION: the version reported to the control plane
	StartTime        int64  // START_TIME: registration time, Unix ms
	SkipSSLVerify    bool   // SKIP_SSL_VERIFY
	CustomTLSCert    string // CUSTOM_TLS_CERT: base64 PEM of extra CA certificates

	// Scope.
	Scope     Scope  // INFRA_SCOPE
	Namespace string // INFRA_NAMESPACE: the agent's own namespace

	// Kubernetes.
	Kubeconfig string  // KUBECONFIG; empty means in-cluster
	KubeQPS    float64 // client-side rate limit
	KubeBurst  int

	// Serving and lifecycle.
	MetricsAddr     string        // Prometheus /metrics
	HealthAddr      string        // /healthz and /readyz
	Profiling       bool          // /debug/pprof on the metrics address
	LeaderElect     bool          // run one active replica
	ShutdownTimeout time.Duration // after the stop signal, the most the agent waits for its parts to stop
	WorkflowEngine  string        // argo | native
	// ImageRegistry (IMAGE_REGISTRY) points the step images of the Workflows the agent applies
	// at a private registry (imageref.Mirror); empty leaves them as the control plane sent them.
	ImageRegistry string

	// PodName identifies this replica (leader election, engine status, event sources).
	PodName string // POD_NAME; default: the host name
	// ServiceAccount is the agent's own service account, which Workflows may never run as.
	ServiceAccount string // POD_SERVICE_ACCOUNT
	// ChaosNamespaces limits impersonation of chaos service accounts to these namespaces
	// (comma list; empty or "*": wherever RBAC allows). The install renders its --chaos-namespaces.
	ChaosNamespaces string // CHAOS_AGENT_CHAOS_NAMESPACES

	// Logging.
	LogLevel  string
	LogFormat string
}

// Defaults returns the configuration used when neither flags nor environment say otherwise.
func Defaults() Config {
	return Config{
		InfraVersion:    "3.31.0",
		Scope:           ScopeNamespace,
		Namespace:       "hce",
		KubeQPS:         50,
		KubeBurst:       100,
		MetricsAddr:     ":8080",
		HealthAddr:      ":8081",
		LeaderElect:     false,
		ShutdownTimeout: 20 * time.Second,
		WorkflowEngine:  WorkflowEngineArgo,
		ServiceAccount:  "chaos-agent",
		LogLevel:        "info",
		LogFormat:       "json",
	}
}

// scopeValue adapts Scope to pflag.
type scopeValue Scope

func (s *scopeValue) String() string { return string(*s) }
func (s *scopeValue) Type() string   { return "scope" }
func (s *scopeValue) Set(v string) error {
	switch Scope(strings.ToLower(strings.TrimSpace(v))) {
	case ScopeCluster:
		*s = scopeValue(ScopeCluster)
	case ScopeNamespace:
		*s = scopeValue(ScopeNamespace)
	default:
		return fmt.Errorf("%q is not a scope: want cluster or namespace", v)
	}
	return nil
}

// BindFlags registers the configuration's flags on fs, with c's current values as defaults and
// the environment variables each flag falls back to.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	bind := func(name string, env ...string) {
		if len(env) > 0 {
			_ = fs.SetAnnotation(name, envAnnotation, env)
			f := fs.Lookup(name)
			f.Usage += " (env " + strings.Join(env, ", ") + ")"
		}
	}
	fs.StringVar(&c.ServerAddr, "server-addr", c.ServerAddr, "control-plane GraphQL endpoint, e.g. https://chaos.example.com/api/query; empty runs without a control plane")
	bind("server-addr", "SERVER_ADDR")
	fs.StringVar(&c.InfraID, "infra-id", c.InfraID, "chaos infrastructure ID issued by the control plane")
	bind("infra-id", "INFRA_ID")
	fs.StringVar(&c.AccessKeyFile, "access-key-file", c.AccessKeyFile, "file holding the infrastructure access key (the key itself is read from env ACCESS_KEY otherwise)")
	bind("access-key-file", "ACCESS_KEY_FILE")
	fs.BoolVar(&c.IsInfraConfirmed, "infra-confirmed", c.IsInfraConfirmed, "the infrastructure registration is already confirmed")
	bind("infra-confirmed", "IS_INFRA_CONFIRMED")
	fs.StringVar(&c.InfraVersion, "infra-version", c.InfraVersion, "version reported to the control plane")
	bind("infra-version", "VERSION")
	fs.Int64Var(&c.StartTime, "start-time", c.StartTime, "registration time in Unix milliseconds; older workflows are ignored")
	bind("start-time", "START_TIME")
	fs.BoolVar(&c.SkipSSLVerify, "skip-ssl-verify", c.SkipSSLVerify, "do not verify the control plane's TLS certificate (insecure)")
	bind("skip-ssl-verify", "SKIP_SSL_VERIFY")
	fs.StringVar(&c.CustomTLSCert, "custom-tls-cert", c.CustomTLSCert, "base64-encoded PEM CA certificate(s) trusted for the control plane")
	bind("custom-tls-cert", "CUSTOM_TLS_CERT")
	fs.Var((*scopeValue)(&c.Scope), "scope", "install scope: cluster or namespace")
	bind("scope", "INFRA_SCOPE")
	fs.StringVarP(&c.Namespace, "namespace", "n", c.Namespace, "the agent's own namespace")
	bind("namespace", "INFRA_NAMESPACE", "POD_NAMESPACE")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig file; empty uses the in-cluster service account")
	bind("kubeconfig", "KUBECONFIG")
	fs.Float64Var(&c.KubeQPS, "kube-api-qps", c.KubeQPS, "Kubernetes client queries per second")
	fs.IntVar(&c.KubeBurst, "kube-api-burst", c.KubeBurst, "Kubernetes client burst")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "address of the Prometheus /metrics endpoint; empty disables it")
	bind("metrics-addr", "CHAOS_AGENT_METRICS_ADDR")
	fs.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "address of /healthz and /readyz; empty disables them")
	bind("health-addr", "CHAOS_AGENT_HEALTH_ADDR")
	fs.BoolVar(&c.Profiling, "profiling", c.Profiling, "serve Go profiles under /debug/pprof/ on the metrics address")
	bind("profiling", "CHAOS_AGENT_PROFILING")
	fs.BoolVar(&c.LeaderElect, "leader-elect", c.LeaderElect, "elect one active replica through a Lease in the agent's namespace")
	bind("leader-elect", "CHAOS_AGENT_LEADER_ELECT")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "after SIGTERM, the most the agent waits for running faults to stop, results and events to be written and the lease to be released; then it exits anyway")
	bind("shutdown-timeout", "CHAOS_AGENT_SHUTDOWN_TIMEOUT")
	fs.StringVar(&c.WorkflowEngine, "workflow-engine", c.WorkflowEngine, "who runs experiment workflows: argo or native")
	bind("workflow-engine", "CHAOS_AGENT_WORKFLOW_ENGINE")
	fs.StringVar(&c.ImageRegistry, "image-registry", c.ImageRegistry, "pull the step images of applied Workflows from this registry (a mirror, e.g. registry.example.com/mirror)")
	bind("image-registry", "IMAGE_REGISTRY")
	fs.StringVar(&c.PodName, "pod-name", c.PodName, "name of this replica; defaults to the host name")
	bind("pod-name", "POD_NAME")
	fs.StringVar(&c.ServiceAccount, "service-account", c.ServiceAccount, "the agent's own service account: Workflows from the control plane may never run as it")
	bind("service-account", "POD_SERVICE_ACCOUNT")
	fs.StringVar(&c.ChaosNamespaces, "chaos-namespaces", c.ChaosNamespaces, "namespaces whose chaos service accounts faults may run as (comma list; empty or *: wherever RBAC allows)")
	bind("chaos-namespaces", "CHAOS_AGENT_CHAOS_NAMESPACES")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	bind("log-level", "CHAOS_AGENT_LOG_LEVEL")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or console")
	bind("log-format", "CHAOS_AGENT_LOG_FORMAT")
}

// ApplyEnv fills every flag of fs that was not given on the command line from its environment
// variables (the first one that is set and non-empty wins), then reads the secrets that never
// travel as flags. lookup is os.LookupEnv in production.
func (c *Config) ApplyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		for _, name := range f.Annotations[envAnnotation] {
			v, ok := lookup(name)
			if !ok || v == "" {
				continue
			}
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("env %s=%q: %w", name, v, err))
			}
			return
		}
	})
	if v, ok := lookup("ACCESS_KEY"); ok {
		c.AccessKey = v
	}
	if c.PodName == "" {
		c.PodName, _ = os.Hostname()
	}
	if c.PodName == "" {
		c.PodName = "chaos-agent"
	}
	return errors.Join(errs...)
}

// ChaosNamespaceList is ChaosNamespaces split.
func (c Config) ChaosNamespaceList() []string {
	var out []string
	for f := range strings.SplitSeq(c.ChaosNamespaces, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// LoadSecrets reads secrets that live in files.
func (c *Config) LoadSecrets() error {
	if c.AccessKeyFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.AccessKeyFile)
	if err != nil {
		return fmt.Errorf("access key file: %w", err)
	}
	c.AccessKey = strings.TrimSpace(string(b))
	return nil
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.ServerAddr != "" {
		if err := CheckServerAddr(c.ServerAddr); err != nil {
			errs = append(errs, err)
		}
		if c.InfraID == "" {
			add("infra-id (INFRA_ID) is required with a server address")
		}
		if c.AccessKey == "" {
			add("access key (ACCESS_KEY or --access-key-file) is required with a server address")
		}
	}
	if c.StartTime < 0 {
		add("start-time %d: must not be negative", c.StartTime)
	}
	if c.CustomTLSCert != "" {
		if err := CheckPEM(c.CustomTLSCert); err != nil {
			add("custom-tls-cert: %w", err)
		}
	}
	if c.Scope != ScopeCluster && c.Scope != ScopeNamespace {
		add("scope %q: want cluster or namespace", c.Scope)
	}
	for _, msg := range validation.IsDNS1123Label(c.Namespace) {
		add("namespace %q: %s", c.Namespace, msg)
	}
	if c.KubeQPS <= 0 {
		add("kube-api-qps %v: must be positive", c.KubeQPS)
	}
	if c.KubeBurst <= 0 {
		add("kube-api-burst %d: must be positive", c.KubeBurst)
	}
	for name, addr := range map[string]string{"metrics-addr": c.MetricsAddr, "health-addr": c.HealthAddr} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			add("%s %q: %w", name, addr, err)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			add("%s %q: bad port", name, addr)
		}
	}
	for _, ns := range c.ChaosNamespaceList() {
		if ns == "*" {
			continue
		}
		for _, msg := range validation.IsDNS1123Label(ns) {
			add("chaos-namespaces %q: %s", ns, msg)
		}
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown-timeout %s: must be positive", c.ShutdownTimeout)
	}
	if c.WorkflowEngine != WorkflowEngineArgo && c.WorkflowEngine != WorkflowEngineNative {
		add("workflow-engine %q: want argo or native", c.WorkflowEngine)
	}
	if c.ImageRegistry != "" {
		if err := imageref.CheckRegistry(c.ImageRegistry); err != nil {
			add("image-registry %q: %w", c.ImageRegistry, err)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		add("log-format %q: want json or console", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

// CheckServerAddr checks a control-plane address: an absolute http or https URL with a host.
func CheckServerAddr(addr string) error {
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return fmt.Errorf("server-addr: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("server-addr %q: scheme must be http or https", addr)
	case u.Host == "":
		return fmt.Errorf("server-addr %q: no host", addr)
	}
	return nil
}

// CheckPEM checks a base64-encoded PEM certificate bundle (CUSTOM_TLS_CERT): at least one block,
// every block a CERTIFICATE that parses (a private key or a request there is a mistake, and a
// secret that must not sit in a ConfigMap).
func CheckPEM(b64 string) error {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return fmt.Errorf("not base64: %w", err)
	}
	n := 0
	for rest := raw; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("PEM block %d is not a valid certificate: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("no PEM certificate after base64 decoding")
	}
	return nil
}

// masked replaces secrets in printed configuration and URLs.
const masked = "xxxxx"

// RedactURL masks the credentials of a URL: the userinfo's password (the user too, when there is
// no password: it is then a token) and every query value. A string that does not parse is
// masked whole.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return masked
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			u.User = url.UserPassword(u.User.Username(), masked)
		} else {
			u.User = url.User(masked)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{masked}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Redacted returns a copy safe to print or log: secrets are masked, including credentials in
// SERVER_ADDR.
func (c Config) Redacted() Config {
	if c.AccessKey != "" {
		c.AccessKey = "<redacted>"
	}
	c.ServerAddr = RedactURL(c.ServerAddr)
	return c
}

// PlainHTTP reports whether the control plane is reached without TLS (allowed: upstream's
// in-cluster installs use http; the caller warns).
func (c Config) PlainHTTP() bool {
	u, err := url.Parse(c.ServerAddr)
	return err == nil && u.Scheme == "http"
}

// String renders the configuration with secrets masked.
func (c Config) String() string {
	type plain Config // drops the String method
	return fmt.Sprintf("%+v", plain(c.Redacted()))
}
