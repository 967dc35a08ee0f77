package subscriber

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

	"github.com/chaos-agent/chaos-agent/internal/kube"
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
	Version    string
	Namespace  string // the agent's namespace: Workflows live here
	// ClusterScope watches Workflows in every namespace (INFRA_SCOPE=cluster).
	ClusterScope bool
	StartTime    time.Time // Workflows created earlier are ignored
	PodName      string
	// ImageRegistry points the step images of applied Workflows at a private registry
	// (IMAGE_REGISTRY; imageref.Mirror). Empty: the images are applied as sent.
	ImageRegistry string

	Kube    kube.Interface
	Dynamic dynamic.Interface
	Argo    argoclient.Interface
	Mapper  meta.RESTMapper

	HTTP *HTTPOptions
	Dial DialFunc // default: gorilla with the TLS settings

	Clock            clock.WithTicker
	Log              *zap.Logger
	Metrics          *Metrics
	KeepAliveTimeout time.Duration // no frame for this long = dead link (default 30s)
	ReconnectMin     time.Duration // default 1s
	ReconnectMax     time.Duration // default 60s
	Workers          int           // actions executed concurrently (default 4)
	Outbox           Store         // default: the ConfigMap chaos-agent-outbox in Namespace
	Policy           *PolicySource // default: the ConfigMap chaos-agent-policy in Namespace
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

	connected atomic.Bool
	actions   chan Action
	workers   sync.WaitGroup
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
		o.Dial = gorillaDialer(tlsCfg)
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
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Outbox == nil {
		o.Outbox = NewConfigMapStore(o.Kube, o.Namespace, "chaos-agent-outbox")
	}
	if o.Policy == nil {
		o.Policy = NewPolicySource(o.Kube, o.Namespace, PolicyConfigMapName)
	}
	if o.HTTP.SkipVerify {
		o.Log.Warn("TLS verification of the control plane is OFF (SKIP_SSL_VERIFY=true)")
	}
	s := &Subscriber{
		o:       o,
		log:     o.Log,
		wsURL:   ws,
		gql:     &gqlClient{url: o.ServerAddr, http: newHTTPClient(tlsCfg, o.HTTP.Timeout)},
		actions: make(chan Action, 256),
	}
	key := o.AccessKey
	s.key.Store(&key)
	s.outbox = newOutbox(o.Outbox, o.Metrics, o.Log.Named("outbox"))
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
// watchers and the outbox sender until ctx ends.
func (s *Subscriber) Run(ctx context.Context) error {
	if err := s.outbox.load(ctx); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := s.confirm(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for range s.o.Workers {
		g.Go(func() error { s.work(gctx); return nil })
	}
	g.Go(func() error { return s.watch(gctx) })
	g.Go(func() error { return s.send(gctx) })
	g.Go(func() error { return s.runFlusher(gctx) })
	g.Go(func() error { return s.link(gctx) })
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// enqueue hands an action to the workers without blocking the read loop for long.
func (s *Subscriber) enqueue(ctx context.Context, a Action) {
	select {
	case s.actions <- a:
	case <-ctx.Done():
	}
}

func (s *Subscriber) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-s.actions:
			s.handle(ctx, a)
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
