package executor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// ClientFactory returns clients that act as a service account (Kubernetes impersonation), so
// that RBAC bounds what an experiment can touch.
type ClientFactory interface {
	For(namespace, serviceAccount string) (kube.Clients, error)
}

// Options configure an Executor. Kube, Dynamic, Clients and Faults are required.
type Options struct {
	// Namespace limits the executor to one namespace (namespace-scoped install); "" watches
	// engines in every namespace and may target pods anywhere (cluster scope).
	Namespace string
	Kube      kube.Interface // the agent's own identity: caches, results, events, engine status
	Dynamic   dynamic.Interface
	Clients   ClientFactory // the engines' chaos service accounts
	Faults    *Registry     // the faults it runs (executor/faults.Builtin())
	Probes    ProbeRunner   // nil: engines with probes end in Error
	Clock     clock.WithTicker
	Log       *zap.Logger
	Metrics   *Metrics
	// Identity names this agent in engine status (runner) and event sources; the pod name.
	Identity string
	// IdentityIsPod says Identity is this process's pod, which runs one agent at a time: a claim
	// of another instance under the same identity is then a previous process of this pod (its
	// container restarted, e.g. after a SIGKILL or an OOM kill), gone for sure, so its engines are
	// closed at once rather than after the claim lease.
	IdentityIsPod bool
	// Workers is how many engines are reconciled concurrently (runs themselves are goroutines).
	Workers int
	// NewRand returns the random source of one run (victim selection, ranges); crypto-seeded by default.
	NewRand func() *mrand.Rand
	// Policy is the cluster owner's policy, checked at run time on every engine's resolved inputs;
	// nil checks nothing (tests).
	Policy PolicySource
	// Guard halts chaos (kill switch, halt-all, control-plane link loss); nil never halts.
	Guard Guard
	// ClaimLease is how long an engine's claim lasts without renewal (default 30s): another
	// executor closes an initialized engine as stale only after its claim has expired.
	ClaimLease time.Duration
	// ResyncPeriod of the informers; 0 means none.
	ResyncPeriod time.Duration
	// TargetCacheIdle is how long the pod, ReplicaSet and node caches that target selection reads
	// outlive the last run (default 2 min): they start with the first run, so an idle agent
	// caches none of the namespace's pods.
	TargetCacheIdle time.Duration
	// EngineSelector, if set, is a label selector: only the ChaosEngines it matches are run
	// (`run` executes its own engines, never other engines of the namespaces it can see).
	EngineSelector string
}

// Executor is the ChaosEngine controller.
type Executor struct {
	o        Options
	instance string // random, names this instance in engine claims
	log      *zap.Logger
	engines  cache.SharedIndexInformer
	results  cache.SharedIndexInformer // for the exporter
	synced   atomic.Bool
	targets  *lazyTargets
	queue    workqueue.TypedRateLimitingInterface[string]
	events   *events
	writer   *results
	exporter *exporter

	mu   sync.Mutex
	runs map[string]*activeRun // by namespace/name
	wg   sync.WaitGroup        // active runs
}

type activeRun struct {
	uid    types.UID
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// Abort reasons, recorded in results and events.
var (
	errStopRequested = errors.New("engineState was set to stop")
	errEngineDeleted = errors.New("the ChaosEngine was deleted")
	errShutdown      = errors.New("chaos-agent is shutting down")
)

// New builds an Executor. Run starts it.
func New(o Options) (*Executor, error) {
	if o.Kube == nil || o.Dynamic == nil || o.Clients == nil || o.Faults == nil {
		return nil, errors.New("executor: Kube, Dynamic, Clients and Faults are required")
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
	if o.Identity == "" {
		o.Identity = "chaos-agent"
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.ClaimLease <= 0 {
		o.ClaimLease = defaultClaimLease
	}
	if o.NewRand == nil {
		o.NewRand = cryptoSeededRand
	}
	e := &Executor{o: o, instance: utilrand.String(8), log: o.Log, runs: map[string]*activeRun{}}
	dynFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(o.Dynamic, o.ResyncPeriod, o.Namespace, nil)
	engineFactory := dynFactory
	if o.EngineSelector != "" {
		engineFactory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(o.Dynamic, o.ResyncPeriod, o.Namespace,
			func(lo *metav1.ListOptions) { lo.LabelSelector = o.EngineSelector })
	}
	e.engines = engineFactory.ForResource(litmus.ChaosEngineGVR()).Informer()
	e.results = dynFactory.ForResource(litmus.ChaosResultGVR()).Informer()
	if o.TargetCacheIdle <= 0 {
		o.TargetCacheIdle = 2 * time.Minute
	}
	e.targets = newLazyTargets(func() *targetCaches { return newTargetCaches(o.Kube, o.Namespace, o.ResyncPeriod) }, o.Clock, o.TargetCacheIdle)
	for _, inf := range []cache.SharedIndexInformer{e.engines, e.results} {
		_ = inf.SetTransform(kube.StripManagedFields)
	}
	e.exporter = newExporter(e.results.GetStore(), e.engines.GetStore(), o.Namespace != "", o.Clock)
	e.events = &events{client: o.Kube, clock: o.Clock, component: o.Identity, log: o.Log.Named("events"), observe: e.exporter.engineEvent}
	e.writer = &results{dyn: o.Dynamic, log: o.Log.Named("results")}
	if _, err := e.engines.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    e.enqueue,
		UpdateFunc: func(_, obj any) { e.enqueue(obj) },
		DeleteFunc: e.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("engine informer: %w", err)
	}
	return e, nil
}

// Ready reports whether the executor's caches are synced and it is reconciling engines.
func (e *Executor) Ready() bool { return e.synced.Load() }

// Collector returns the upstream chaos-exporter gauges (litmuschaos_*), computed at scrape time.
func (e *Executor) Collector() prometheus.Collector { return e.exporter }

func (e *Executor) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		e.log.Warn("cannot key engine", zap.Error(err))
		return
	}
	e.queue.Add(key)
}

// Run starts the informers and workers and blocks until ctx ends; then it stops every running
// experiment (their results become Stopped) and returns once they have written their results.
func (e *Executor) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	e.log.Info("executor starting", zap.String("namespace", orAll(e.o.Namespace)))
	// The queue lives exactly as long as Run (its goroutine never outlives the executor, also
	// when the caches never sync); the engine handler fills it only once the informers run.
	e.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "chaosengines"})
	defer e.queue.ShutDown()
	informerCtx, stopInformers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInformers()
	go e.engines.RunWithContext(informerCtx)
	go e.results.RunWithContext(informerCtx)
	e.targets.start(informerCtx) // the target caches run from the first run on
	defer e.targets.stop()
	if !cache.WaitForCacheSync(ctx.Done(), e.engines.HasSynced, e.results.HasSynced) {
		return fmt.Errorf("engine cache never synced: %w", context.Cause(ctx))
	}
	e.synced.Store(true)
	e.log.Info("executor caches synced")

	var workers sync.WaitGroup
	workers.Go(func() { e.watchHalts(ctx) })
	for range e.o.Workers {
		workers.Go(func() {
			for e.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	e.queue.ShutDown()
	workers.Wait()

	// Stop every run; each writes its Stopped result with its own bounded context.
	e.mu.Lock()
	for _, r := range e.runs {
		r.cancel(errShutdown)
	}
	e.mu.Unlock()
	e.wg.Wait()
	e.log.Info("executor stopped")
	return nil
}

func (e *Executor) processNext(ctx context.Context) bool {
	key, quit := e.queue.Get()
	if quit {
		return false
	}
	defer e.queue.Done(key)
	if err := e.reconcile(ctx, key); err != nil {
		e.log.Warn("reconcile failed; retrying", zap.String("engine", key), zap.Error(err))
		e.queue.AddRateLimited(key)
		return true
	}
	e.queue.Forget(key)
	return true
}

// reconcile drives one engine's lifecycle from its cached state.
func (e *Executor) reconcile(ctx context.Context, key string) error {
	obj, exists, err := e.engines.GetIndexer().GetByKey(key)
	if err != nil {
		return err
	}
	e.mu.Lock()
	run := e.runs[key]
	e.mu.Unlock()
	if !exists {
		if run != nil {
			run.cancel(errEngineDeleted)
		}
		return nil
	}
	var engine litmus.ChaosEngine
	if err := litmus.FromUnstructured(obj.(*unstructured.Unstructured), &engine); err != nil {
		return fmt.Errorf("decode engine %s: %w", key, err)
	}
	if run != nil && run.uid != engine.UID {
		run.cancel(errEngineDeleted) // deleted and re-created under the same name
		<-run.done
		run = nil
	}
	state := engine.Spec.EngineState
	if state == "" {
		state = litmus.EngineStateActive
	}
	status := engine.Status.EngineStatus
	switch {
	case run != nil && state == litmus.EngineStateStop:
		run.cancel(errStopRequested)
	case run != nil:
		// running: nothing to do
	case status == litmus.EngineStatusInitialized:
		// Initialized but not running here: another executor runs it (its claim is live: leave it
		// alone, look again when the claim would expire), or a previous agent died during the run.
		// Its progress is unknown, so it is not resumed (that could double the chaos); it is
		// closed with a reason.
		if expires, live := e.claimedElsewhere(&engine); live {
			e.queue.AddAfter(key, expires.Sub(e.o.Clock.Now())+time.Second)
			return nil
		}
		reason := "chaos-agent restarted while this engine was running; the run was not resumed"
		if state == litmus.EngineStateStop {
			reason = "engineState was set to stop while no chaos-agent was running it"
		}
		return e.markStale(ctx, &engine, reason)
	case state == litmus.EngineStateActive:
		e.start(ctx, key, &engine, litmus.EngineWarnings(obj.(*unstructured.Unstructured).Object))
	}
	return nil
}

// start launches an engine's run in its own goroutine.
// warnings name the engine's fields that are not honoured (reported when the run starts).
func (e *Executor) start(ctx context.Context, key string, engine *litmus.ChaosEngine, warnings []string) {
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r := &activeRun{uid: engine.UID, cancel: cancel, done: make(chan struct{})}
	e.mu.Lock()
	e.runs[key] = r
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(r.done)
		defer cancel(nil)
		defer func() {
			e.mu.Lock()
			if e.runs[key] == r {
				delete(e.runs, key)
			}
			e.mu.Unlock()
		}()
		e.runEngine(runCtx, engine, warnings)
	}()
}

// finalCtx is the context for writes after a run ended or was aborted: never cancelled by the
// abort itself, but bounded.
func finalCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
}

func cryptoSeededRand() *mrand.Rand {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
}

func orAll(ns string) string {
	if ns == "" {
		return "<all namespaces>"
	}
	return ns
}

// updateEngine applies mutate to a fresh copy of the engine and updates it (whole object: the
// CRD has no status subresource), retrying on conflicts. mutate returning false skips the update.
func (e *Executor) updateEngine(ctx context.Context, namespace, name string, mutate func(*litmus.ChaosEngine) bool) (*litmus.ChaosEngine, error) {
	api := e.o.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(namespace)
	var out *litmus.ChaosEngine
	err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Steps: 8, Cap: 2 * time.Second}, func(ctx context.Context) (bool, error) {
		u, err := api.Get(ctx, name, getOpts)
		if err != nil {
			return false, err
		}
		var engine litmus.ChaosEngine
		if err := litmus.FromUnstructured(u, &engine); err != nil {
			return false, err
		}
		if !mutate(&engine) {
			out = &engine
			return true, nil
		}
		done, err := writeBack(ctx, api, &engine)
		if done {
			out = &engine
		}
		return done, err
	})
	if err != nil {
		return nil, fmt.Errorf("update engine %s/%s: %w", namespace, name, err)
	}
	return out, nil
}
