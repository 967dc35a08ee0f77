package subscriber

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/policy"
)

// Names of the upstream install's objects the agent reads and writes.
const (
	ConfigMapName = "subscriber-config"
	SecretName    = "subscriber-secret"
)

// Options configure a Subscriber. Kube, Dynamic, Argo, Mapper and the identity are required.
type Options struct {
	ServerAddr string
	InfraID    string
	AccessKey  string // the key from the environment (before confirmation)
	// InfraConfirmed is IS_INFRA_CONFIRMED from the environment: it decides when the ConfigMap
	// subscriber-config (whose flag wins, as upstream) cannot be read, e.g. out of the cluster.
	InfraConfirmed bool
	Version        string
	Namespace      string // the agent's namespace: Workflows live here
	// ClusterScope watches Workflows in every namespace (INFRA_SCOPE=cluster).
	ClusterScope bool
	StartTime    time.Time // Workflows created earlier are ignored
	PodName      string
	// AgentServiceAccount is the agent's own service account: Workflows may never run as it
	// (default chaos-agent).
	AgentServiceAccount string
	// ImageRegistry points the step images of applied Workflows at a private registry
	// (IMAGE_REGISTRY; imageref.Mirror). Empty: the images are applied as sent.
	ImageRegistry string

	Kube    kube.Interface
	Dynamic dynamic.Interface
	Argo    argoclient.Interface
	Mapper  meta.RESTMapper

	HTTP *HTTPOptions
	Dial DialFunc // default: gorilla with the TLS settings
	// Probe reports whether the server answers at all; the link calls it while the server is
	// unreachable (default: an HTTP GET on ServerAddr, see Subscriber.probe).
	Probe func(ctx context.Context) bool

	Clock            clock.WithTicker
	Log              *zap.Logger
	Metrics          *Metrics
	KeepAliveTimeout time.Duration  // no frame for this long = dead link (default 30s)
	ReconnectMin     time.Duration  // default 1s
	ReconnectMax     time.Duration  // default 60s
	Workers          int            // actions executed concurrently (default 4)
	Outbox           Store          // default: the ConfigMap chaos-agent-outbox in Namespace
	Policy           *policy.Source // default: the ConfigMap chaos-agent-policy in Namespace
	// MaxFrameBytes bounds one websocket message (default DefaultMaxFrameBytes).
	MaxFrameBytes int64
	// ActionMemory bounds the memory that queued and running actions may hold, estimated as
	// actionMemoryFactor times their size (default 64 MiB): the read loop waits when it is spent,
	// so a burst of large frames cannot exhaust a small agent's memory.
	ActionMemory int64
	// HaltAll stops every running fault (action halt_all); nil refuses the action.
	HaltAll func(reason string)
	// SubscribeSettle is how long after the server's connection_ack the subscription must go
	// unrefused to count as up (default 100ms): ChaosCenter acknowledges the connection, then
	// refuses a bad infraConnect (ALREADY CONNECTED, a wrong key) with an error frame; an accepted
	// subscription sends nothing until the first action. An action confirms it at once.
	SubscribeSettle time.Duration
	// ProbeInterval spaces the readiness probes of an unreachable server at most this far apart (default 500ms).
	ProbeInterval time.Duration
}

// HTTPOptions configure the HTTP client and websocket TLS.
type HTTPOptions struct {
	SkipVerify    bool
	CustomCertB64 string
	Timeout       time.Duration
}

// Subscriber is the control-plane link.
type Subscriber struct {
	o      Options
	log    *zap.Logger
	wsURL  string
	gql    *gqlClient
	key    atomic.Pointer[string] // current access key (rotated by confirmation)
	outbox *outbox
	w      *watcher

	connected   atomic.Bool
	connectedAt atomic.Int64 // unix nanoseconds of the last subscription ack
	linkSt      linkState
	// unsavedKey is a rotated access key not yet stored in the Secret (kept in memory, stored
	// in the background).
	unsavedKey string
	// Watchdogs of the loops /healthz checks.
	linkDog, sendDog, flushDog watchdog
	actions                    chan Action
	memory                     *memBudget    // accounts the actions queued and running
	loaded                     chan struct{} // closed once the outbox is loaded
}

// New validates the options and builds a Subscriber.
func New(o Options) (*Subscriber, error) {
	if o.Kube == nil || o.Dynamic == nil || o.Argo == nil || o.Mapper == nil {
		return nil, errors.New("subscriber: Kube, Dynamic, Argo and Mapper are required")
	}
	if o.InfraID == "" || o.Version == "" || o.Namespace == "" {
		return nil, errors.New("subscriber: InfraID, Version and Namespace are required")
	}
	ws, err := websocketURL(o.ServerAddr)
	if err != nil {
		return nil, err
	}
	if o.HTTP == nil {
		o.HTTP = &HTTPOptions{}
	}
	if o.HTTP.Timeout == 0 {
		o.HTTP.Timeout = 30 * time.Second
	}
	tlsCfg, err := TLSConfig(o.HTTP.SkipVerify, o.HTTP.CustomCertB64)
	if err != nil {
		return nil, err
	}
	if o.Dial == nil {
		o.Dial = gorillaDialer(tlsCfg, o.MaxFrameBytes)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.KeepAliveTimeout == 0 {
		o.KeepAliveTimeout = 30 * time.Second
	}
	if o.ReconnectMin == 0 {
		o.ReconnectMin = time.Second
	}
	if o.ReconnectMax == 0 {
		o.ReconnectMax = 60 * time.Second
	}
	if o.SubscribeSettle <= 0 {
		o.SubscribeSettle = 100 * time.Millisecond
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 500 * time.Millisecond
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if o.ActionMemory <= 0 {
		o.ActionMemory = 64 << 20
	}
	if o.AgentServiceAccount == "" {
		o.AgentServiceAccount = "chaos-agent"
	}
	if o.Outbox == nil {
		o.Outbox = NewConfigMapStore(o.Kube, o.Namespace, "chaos-agent-outbox")
	}
	if o.Policy == nil {
		o.Policy = policy.NewSource(o.Kube, o.Namespace, policy.ConfigMapName, policy.Defaults{})
	}
	if o.HTTP.SkipVerify {
		o.Log.Warn("TLS verification of the control plane is OFF (SKIP_SSL_VERIFY=true)")
	}
	if strings.HasPrefix(strings.ToLower(o.ServerAddr), "http://") {
		o.Log.Warn("the control plane is reached over plain http: the access key and every event travel unencrypted; use https unless the link stays inside the cluster",
			zap.String("serverAddr", config.RedactURL(o.ServerAddr)))
	}
	s := &Subscriber{
		o:       o,
		log:     o.Log,
		wsURL:   ws,
		gql:     &gqlClient{url: o.ServerAddr, http: newHTTPClient(tlsCfg, o.HTTP.Timeout)},
		actions: make(chan Action, 256),
		memory:  newMemBudget(o.ActionMemory),
		loaded:  make(chan struct{}),
	}
	if s.o.Probe == nil {
		s.o.Probe = s.probe
	}
	key := o.AccessKey
	s.key.Store(&key)
	s.outbox = newOutbox(o.Outbox, o.Metrics, o.Log.Named("outbox"), o.Clock)
	s.w = s.newWatcher()
	return s, nil
}

// Connected reports whether the subscription is up (readiness).
func (s *Subscriber) Connected() bool { return s.connected.Load() }

// Collectors returns the subscriber's metrics.
func (s *Subscriber) Collectors() []prometheus.Collector { return s.o.Metrics.collectors() }

func (s *Subscriber) identity() InfraIdentity {
	return InfraIdentity{InfraID: s.o.InfraID, AccessKey: *s.key.Load(), Version: s.o.Version}
}

// Run confirms the registration if needed, then runs the link, the action workers, the event
// watchers and the outbox sender until ctx ends. The outbox is read from its store while the
// registration is confirmed and the link comes up (the subscription does not need it); the
// watchers, workers and sender start once it is loaded.
func (s *Subscriber) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.outbox.load(gctx); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		close(s.loaded)
		for range s.o.Workers {
			g.Go(func() error { s.work(gctx); return nil })
		}
		g.Go(func() error { return s.watch(gctx) })
		g.Go(func() error { return s.send(gctx) })
		g.Go(func() error { return s.runFlusher(gctx) })
		return nil
	})
	g.Go(func() error {
		if err := s.confirm(gctx); err != nil {
			return err
		}
		if key := s.unsavedKey; key != "" {
			g.Go(func() error { s.keepKey(gctx, key); return nil })
		}
		return s.link(gctx)
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// enqueue hands an action to the workers. While the actions already queued and running hold the
// whole memory budget, or 256 wait, it waits (backpressure on the link rather than an
// out-of-memory kill) — but at most the keepalive timeout, so that the read loop never wedges:
// then the action is dropped with an error log and actions_total{result="dropped_busy"}.
func (s *Subscriber) enqueue(ctx context.Context, a Action) {
	wait := s.o.KeepAliveTimeout
	s.linkDog.expect(s.o.Clock.Now(), wait)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	w := actionWeight(a)
	if err := s.memory.acquire(wctx, w); err != nil {
		s.dropBusy(ctx, a)
		return
	}
	select {
	case s.actions <- a:
	case <-wctx.Done():
		s.memory.release(w)
		s.dropBusy(ctx, a)
	}
}

func (s *Subscriber) dropBusy(ctx context.Context, a Action) {
	if ctx.Err() != nil {
		return // shutting down: not a drop
	}
	rt, err := normalizeRequestType(a.RequestType)
	if err != nil {
		rt = "unknown"
	}
	s.o.Metrics.actions.WithLabelValues(string(rt), "dropped_busy").Inc()
	s.log.Error("workers too far behind: dropping an action", zap.String("requestType", a.RequestType), zap.String("requestID", a.RequestID), zap.Int("queued", len(s.actions)))
}

func (s *Subscriber) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-s.actions:
			s.handle(ctx, a)
			s.memory.release(actionWeight(a))
		}
	}
}

// recordEvent writes a Kubernetes Event on the subscriber-config ConfigMap (the install's anchor
// object), best effort.
func (s *Subscriber) recordEvent(ctx context.Context, eventType, reason, message string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := metav1.NewTime(s.o.Clock.Now())
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "chaos-agent.", Namespace: s.o.Namespace},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Name: ConfigMapName, Namespace: s.o.Namespace},
		Reason:         reason, Message: message, Type: eventType,
		Source:         corev1.EventSource{Component: "chaos-agent", Host: s.o.PodName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "chaos-agent", ReportingInstance: s.o.PodName,
	}
	if _, err := s.o.Kube.CoreV1().Events(s.o.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		s.log.Debug("cannot record event", zap.String("reason", reason), zap.Error(err))
	}
}
