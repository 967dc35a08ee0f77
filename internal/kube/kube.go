// Package kube builds Kubernetes REST configurations and clients, once, for the whole agent.
package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	appsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	policyv1 "k8s.io/client-go/kubernetes/typed/policy/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/chaos-agent/chaos-agent/internal/version"
)

// Options say how to reach the cluster.
type Options struct {
	Kubeconfig string  // empty: in-cluster service account
	QPS        float32 // client-side rate limit
	Burst      int
	// ResponseTimeout bounds the wait for a response's headers (default DefaultResponseTimeout):
	// an API server that accepts the connection and never answers fails the request instead of
	// hanging it. Watches are not cut: their headers come at once, then the body streams.
	ResponseTimeout time.Duration
}

// DefaultResponseTimeout is the default Options.ResponseTimeout.
const DefaultResponseTimeout = 30 * time.Second

// RESTConfig resolves the connection to the API server: a kubeconfig file if one is named,
// else the in-cluster service account.
func RESTConfig(o Options) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (set --kubeconfig outside a cluster): %w", err)
		}
	}
	if o.QPS > 0 {
		cfg.QPS = o.QPS
	}
	if o.Burst > 0 {
		cfg.Burst = o.Burst
	}
	cfg.UserAgent = "chaos-agent/" + version.Get().Version
	rt := o.ResponseTimeout
	if rt <= 0 {
		rt = DefaultResponseTimeout
	}
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { return &responseTimeout{next: next, d: rt} })
	return cfg, nil
}

// responseTimeout fails a request whose response headers do not arrive within d. The body (a
// watch stream, a log) is not bounded.
type responseTimeout struct {
	next http.RoundTripper
	d    time.Duration
}

func (t *responseTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.d, func() {
		cancel(fmt.Errorf("no response from the API server within %s", t.d))
	})
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	timer.Stop()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && req.Context().Err() == nil && !strings.Contains(err.Error(), cause.Error()) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		cancel(nil)
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

// WrappedRoundTripper lets client-go see through the wrapper (debugging, cancellation).
func (t *responseTimeout) WrappedRoundTripper() http.RoundTripper { return t.next }

type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Impersonate returns a copy of cfg that acts as the given service account, so that the API
// server's RBAC, not the agent's code, bounds what an experiment may touch.
func Impersonate(cfg *rest.Config, namespace, serviceAccount string) *rest.Config {
	c := rest.CopyConfig(cfg)
	// Only the user is impersonated: the API server then adds the service account's groups
	// itself, and a namespaced Role can grant "impersonate" on serviceaccounts (impersonating
	// groups would need a ClusterRole).
	c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + serviceAccount}
	return c
}

// Interface is the part of the Kubernetes API the agent uses: the API groups of its targets,
// results, events, outbox and leader lease. kubernetes.Interface (and its fake) satisfy it; the
// agent itself builds a Clientset of just these groups, which keeps the generated clients and
// caches of the other fifty-odd groups out of its memory.
type Interface interface {
	CoreV1() corev1.CoreV1Interface
	AppsV1() appsv1.AppsV1Interface
	PolicyV1() policyv1.PolicyV1Interface
	CoordinationV1() coordinationv1.CoordinationV1Interface
	Discovery() discovery.DiscoveryInterface
}

// Clientset implements Interface with one HTTP client shared by its groups.
type Clientset struct {
	core         *corev1.CoreV1Client
	apps         *appsv1.AppsV1Client
	policy       *policyv1.PolicyV1Client
	coordination *coordinationv1.CoordinationV1Client
	discovery    *discovery.DiscoveryClient
}

// NewClientset builds a Clientset for cfg.
func NewClientset(cfg *rest.Config) (*Clientset, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes HTTP client: %w", err)
	}
	// Built-in types travel as protobuf: decoding a list of thousands of pods makes a fraction
	// of the garbage (and CPU) JSON does. (CRDs have no protobuf: the dynamic and Argo clients
	// keep JSON.)
	typed := rest.CopyConfig(cfg)
	typed.ContentType = "application/vnd.kubernetes.protobuf"
	typed.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	var cs Clientset
	if cs.core, err = corev1.NewForConfigAndClient(typed, httpClient); err != nil {
		return nil, fmt.Errorf("core/v1 client: %w", err)
	}
	if cs.apps, err = appsv1.NewForConfigAndClient(typed, httpClient); err != nil {
		return nil, fmt.Errorf("apps/v1 client: %w", err)
	}
	if cs.policy, err = policyv1.NewForConfigAndClient(typed, httpClient); err != nil {
		return nil, fmt.Errorf("policy/v1 client: %w", err)
	}
	if cs.coordination, err = coordinationv1.NewForConfigAndClient(typed, httpClient); err != nil {
		return nil, fmt.Errorf("coordination/v1 client: %w", err)
	}
	if cs.discovery, err = discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient); err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return &cs, nil
}

// CoreV1 implements Interface.
func (c *Clientset) CoreV1() corev1.CoreV1Interface { return c.core }

// AppsV1 implements Interface.
func (c *Clientset) AppsV1() appsv1.AppsV1Interface { return c.apps }

// PolicyV1 implements Interface.
func (c *Clientset) PolicyV1() policyv1.PolicyV1Interface { return c.policy }

// CoordinationV1 implements Interface.
func (c *Clientset) CoordinationV1() coordinationv1.CoordinationV1Interface { return c.coordination }

// Discovery implements Interface.
func (c *Clientset) Discovery() discovery.DiscoveryInterface { return c.discovery }

// Clients is a set of clients acting as one identity.
type Clients struct {
	Kube    Interface
	Dynamic dynamic.Interface
	Config  *rest.Config
}

// NewClients builds the clients for cfg.
func NewClients(cfg *rest.Config) (Clients, error) {
	k, err := NewClientset(cfg)
	if err != nil {
		return Clients{}, err
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("dynamic client: %w", err)
	}
	return Clients{Kube: k, Dynamic: d, Config: cfg}, nil
}

// ServiceAccountClients hands out clients that impersonate service accounts, built once per
// service account.
type ServiceAccountClients struct {
	base       *rest.Config
	namespaces []string // impersonation only here; empty: wherever RBAC allows
	mu         sync.Mutex
	bySA       map[string]Clients
}

// RestrictTo limits impersonation to service accounts of the given namespaces (the install's
// chaos namespaces): any other is refused with a clear error before the API server's 403. An
// empty list or "*" leaves it to RBAC. Call it before the first For.
func (f *ServiceAccountClients) RestrictTo(namespaces []string) *ServiceAccountClients {
	if slices.Contains(namespaces, "*") {
		namespaces = nil
	}
	f.namespaces = namespaces
	return f
}

// NewServiceAccountClients returns a factory of impersonating clients derived from base, whose
// identity must be allowed to impersonate the service accounts (RBAC verb "impersonate" on
// "serviceaccounts").
func NewServiceAccountClients(base *rest.Config) *ServiceAccountClients {
	return &ServiceAccountClients{base: base, bySA: map[string]Clients{}}
}

// For returns clients acting as namespace/serviceAccount.
func (f *ServiceAccountClients) For(namespace, serviceAccount string) (Clients, error) {
	if len(f.namespaces) > 0 && !slices.Contains(f.namespaces, namespace) {
		return Clients{}, fmt.Errorf("service account %s/%s: chaos service accounts are impersonated only in %s (the install's chaos namespaces: manifest --chaos-namespaces)",
			namespace, serviceAccount, strings.Join(f.namespaces, ", "))
	}
	key := namespace + "/" + serviceAccount
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.bySA[key]; ok {
		return c, nil
	}
	c, err := NewClients(Impersonate(f.base, namespace, serviceAccount))
	if err != nil {
		return Clients{}, err
	}
	f.bySA[key] = c
	return c, nil
}
