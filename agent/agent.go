package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync/atomic"
	"time"

	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults"
	"github.com/chaos-agent/chaos-agent/internal/binpages"
	"github.com/chaos-agent/chaos-agent/internal/clockutil"
	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/policy"
	"github.com/chaos-agent/chaos-agent/probes"
	"github.com/chaos-agent/chaos-agent/subscriber"
	"github.com/chaos-agent/chaos-agent/workflow"
)

// Agent is one chaos-agent process.
type Agent struct {
	cfg config.Config
	log *zap.Logger
	// Listening addresses once bound (for tests that pass ":0").
	metricsAddr, healthAddr chan net.Addr
}

// New returns an agent for a validated configuration.
func New(cfg config.Config, log *zap.Logger) *Agent {
	return &Agent{cfg: cfg, log: log, metricsAddr: make(chan net.Addr, 1), healthAddr: make(chan net.Addr, 1)}
}

// MetricsAddr returns the address /metrics is served on, once it is bound.
func (a *Agent) MetricsAddr(ctx context.Context) (net.Addr, error) {
	return recvAddr(ctx, a.metricsAddr)
}

// HealthAddr returns the address /healthz and /readyz are served on, once bound.
func (a *Agent) HealthAddr(ctx context.Context) (net.Addr, error) { return recvAddr(ctx, a.healthAddr) }

func recvAddr(ctx context.Context, ch chan net.Addr) (net.Addr, error) {
	select {
	case addr := <-ch:
		ch <- addr
		return addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run runs the agent until ctx ends, then shuts down: running experiments are stopped and
// their results written before it returns.
func (a *Agent) Run(ctx context.Context) error {
	cfg := a.cfg
	restCfg, err := kube.RESTConfig(kube.Options{Kubeconfig: cfg.Kubeconfig, QPS: float32(cfg.KubeQPS), Burst: cfg.KubeBurst})
	if err != nil {
		return err
	}
	clients, err := kube.NewClients(restCfg)
	if err != nil {
		return err
	}
	argo, err := argoclient.NewForConfig(restCfg) // Workflows: the subscriber and the native engine
	if err != nil {
		return fmt.Errorf("argo client: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := executor.NewMetrics()
	if err := metrics.Register(reg); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	scope := cfg.Namespace
	if cfg.Scope == config.ScopeCluster {
		scope = ""
	}
	// One policy for the early check (subscriber) and the run-time check (executor). Under serve
	// inline cmdProbes would run in this process: refused unless the policy allows them.
	// Without a ConfigMap, faults may act within the install's own scope: its namespace, or
	// (cluster scope, whose RBAC the owner granted cluster-wide) every namespace.
	polDefaults := policy.Defaults{}
	if cfg.Scope == config.ScopeCluster {
		polDefaults.Namespaces = []string{"*"}
	}
	pol := policy.NewSource(clients.Kube, cfg.Namespace, policy.ConfigMapName, polDefaults)
	var sub *subscriber.Subscriber
	guardOpts := policy.GuardOptions{Kube: clients.Kube, Namespace: cfg.Namespace, Defaults: polDefaults, Log: a.log.Named("guard")}
	if cfg.ServerAddr != "" {
		guardOpts.Linked = func() bool { return sub != nil && sub.Connected() }
	}
	guard := policy.NewGuard(guardOpts)
	registry, err := faults.Builtin()
	if err != nil {
		return err
	}
	ex, err := executor.New(executor.Options{
		Policy:        pol,
		Guard:         guard,
		Namespace:     scope,
		Faults:        registry,
		Kube:          clients.Kube,
		Dynamic:       clients.Dynamic,
		Clients:       kube.NewServiceAccountClients(restCfg).RestrictTo(cfg.ChaosNamespaceList()),
		Probes:        probes.NewRunner(probes.Options{Clock: clock.RealClock{}, Log: a.log.Named("probes"), ImageRegistry: cfg.ImageRegistry}),
		Clock:         clock.RealClock{},
		Log:           a.log.Named("executor"),
		Metrics:       metrics,
		Identity:      cfg.PodName,
		IdentityIsPod: cfg.PodName != "",
	})
	if err != nil {
		return err
	}
	reg.MustRegister(ex.Collector())

	api := newAPIWatch(clients.Kube.Discovery().RESTClient(), clock.RealClock{}, a.log.Named("apiserver"))
	h := &health{ready: []func() error{api.Ready, func() error {
		if !ex.Ready() {
			return errors.New("executor caches not synced")
		}
		return nil
	}}}
	if cfg.ServerAddr != "" {
		sub, err = a.newSubscriber(clients, argo, pol, guard.HaltAll)
		if err != nil {
			return err
		}
		reg.MustRegister(sub.Collectors()...)
		h.live = append(h.live, sub.Live)
		h.ready = append(h.ready, sub.Ready)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return api.Run(gctx) })
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		if cfg.Profiling {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		g.Go(func() error { return serveHTTP(gctx, a.log, "metrics", cfg.MetricsAddr, mux, a.metricsAddr) })
	}
	if cfg.HealthAddr != "" {
		g.Go(func() error { return serveHTTP(gctx, a.log, "health", cfg.HealthAddr, h.mux(), a.healthAddr) })
	}
	g.Go(func() error {
		run := func(ctx context.Context) error {
			cg, cctx := errgroup.WithContext(ctx)
			cg.Go(func() error { return guard.Run(cctx) })
			cg.Go(func() error { return ex.Run(cctx) })
			if sub == nil {
				return cg.Wait()
			}
			cg.Go(func() error { return sub.Run(cctx) })
			if cfg.WorkflowEngine == config.WorkflowEngineNative {
				// No Argo controller: the agent runs the experiment Workflows itself.
				ctrl := &workflow.Controller{Engine: &workflow.Engine{Argo: argo, Dynamic: clients.Dynamic, Log: a.log.Named("workflow")},
					Namespace: cfg.Namespace, Selector: litmus.LabelArgoInstanceID + "=" + cfg.InfraID, Log: a.log.Named("workflow")}
				cg.Go(func() error { return ctrl.Run(cctx) })
			}
			return cg.Wait()
		}
		if !cfg.LeaderElect {
			return run(gctx)
		}
		return a.leading(gctx, clients, run)
	})
	ready := func() bool {
		for _, check := range append(slices.Clone(h.live), h.ready...) {
			if check() != nil {
				return false
			}
		}
		return true
	}
	g.Go(func() error { a.releaseStartupPages(gctx, ready); return nil })
	a.log.Info("chaos-agent running", zap.String("scope", string(cfg.Scope)), zap.String("namespace", cfg.Namespace),
		zap.Bool("controlPlane", cfg.ServerAddr != ""), zap.Bool("leaderElection", cfg.LeaderElect))
	return boundedShutdown(ctx, cfg.ShutdownTimeout, a.log, g.Wait)
}

// boundedShutdown returns wait's result, but once ctx has ended (the stop signal) it waits at
// most timeout (--shutdown-timeout) more: then it returns an error and the process exits,
// leaving behind whatever has not stopped (Kubernetes would kill it at the pod's
// terminationGracePeriodSeconds anyway; the install sets that above the default timeout).
func boundedShutdown(ctx context.Context, timeout time.Duration, log *zap.Logger, wait func() error) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", zap.Duration("timeout", timeout))
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("shutdown did not finish within --shutdown-timeout %s: exiting with parts still stopping", timeout)
	}
}

// releaseStartupPages gives back the pages of the binary that start-up touched (binpages) once
// the agent is ready — caches synced and, with a control plane, subscribed — or after a minute:
// a few seconds after readiness, and once more a minute later, when the start-up burst (every
// run's state sent, caches filled) is over.
func (a *Agent) releaseStartupPages(ctx context.Context, ready func() bool) {
	clk := clock.RealClock{}
	deadline := clk.Now().Add(time.Minute)
	for !ready() && clk.Now().Before(deadline) {
		if clockutil.Sleep(ctx, clk, 100*time.Millisecond) != nil {
			return
		}
	}
	for _, wait := range []time.Duration{startupSettle, time.Minute} {
		if clockutil.Sleep(ctx, clk, wait) != nil {
			return
		}
		n, err := binpages.Release()
		if err != nil {
			a.log.Debug("cannot release the binary's start-up pages", zap.Error(err))
			return
		}
		a.log.Debug("released the binary's start-up pages", zap.Int("mappedBytes", n))
	}
}

// startupSettle is how long after readiness the start-up pages are first released.
const startupSettle = 3 * time.Second

func (a *Agent) newSubscriber(clients kube.Clients, argo argoclient.Interface, pol *policy.Source, halt func(string)) (*subscriber.Subscriber, error) {
	cfg := a.cfg
	var start time.Time
	if cfg.StartTime > 0 {
		start = time.UnixMilli(cfg.StartTime)
	}
	return subscriber.New(subscriber.Options{
		ServerAddr: cfg.ServerAddr, InfraID: cfg.InfraID, AccessKey: cfg.AccessKey, InfraConfirmed: cfg.IsInfraConfirmed, Version: cfg.InfraVersion,
		Namespace: cfg.Namespace, ClusterScope: cfg.Scope == config.ScopeCluster, StartTime: start, PodName: cfg.PodName, AgentServiceAccount: cfg.ServiceAccount,
		ImageRegistry: cfg.ImageRegistry,
		Kube:          clients.Kube, Dynamic: clients.Dynamic, Argo: argo,
		Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(clients.Kube.Discovery())),
		HTTP:   &subscriber.HTTPOptions{SkipVerify: cfg.SkipSSLVerify, CustomCertB64: cfg.CustomTLSCert},
		Log:    a.log.Named("subscriber"), Policy: pol, HaltAll: halt,
	})
}

// leading runs fn only while this replica holds the Lease chaos-agent-leader in the agent's
// namespace. Losing the lease is an error: the process exits and Kubernetes restarts it. When ctx
// ends, fn's context ends too, and the lease is released only once fn has returned (its runs
// stopped and their results written): a replacement cannot lead while this replica still works,
// and the process does not exit before fn is done.
func (a *Agent) leading(ctx context.Context, clients kube.Clients, fn func(context.Context) error) error {
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, a.cfg.Namespace, "chaos-agent-leader",
		clients.Kube.CoreV1(), clients.Kube.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: a.cfg.PodName})
	if err != nil {
		return fmt.Errorf("leader election lock: %w", err)
	}
	// The elector runs until fn has returned (or, never leading, until ctx ends).
	leCtx, stopElector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElector()
	var started atomic.Bool
	stopIdle := context.AfterFunc(ctx, func() {
		if !started.Load() {
			stopElector()
		}
	})
	defer stopIdle()
	errc := make(chan error, 1)
	lost := errors.New("lost the leader lease")
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ReleaseOnCancel: true, Name: "chaos-agent",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				started.Store(true)
				a.log.Info("became the leader")
				fctx, cancel := context.WithCancel(lctx) // ends with the lease or with ctx
				stop := context.AfterFunc(ctx, cancel)
				err := fn(fctx)
				stop()
				cancel()
				errc <- err
				stopElector() // release the lease now that fn is done
			},
			OnStoppedLeading: func() { a.log.Info("no longer the leader") },
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(leCtx) // returns when the lease is lost or released
	if started.Load() {
		err := <-errc // fn's context has ended: wait until it is done
		if err == nil && ctx.Err() == nil {
			return lost
		}
		return err // on shutdown too: e.g. caches that never synced
	}
	if ctx.Err() != nil {
		return nil
	}
	return lost
}

// serveHTTP serves handler on addr until ctx ends, then shuts the server down gracefully.
func serveHTTP(ctx context.Context, log *zap.Logger, name, addr string, handler http.Handler, bound chan<- net.Addr) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s server: %w", name, err)
	}
	bound <- ln.Addr()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", zap.String("server", name), zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("%s server shutdown: %w", name, err)
	}
	return nil
}

// health serves /healthz (the process is alive: no loop is stuck) and /readyz (it is doing its
// job); both say why when they fail.
type health struct {
	live, ready []func() error
}

func (h *health) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { respond(w, h.live) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		respond(w, append(slices.Clone(h.live), h.ready...))
	})
	return mux
}

// respond writes 200 "ok", or 503 with one line per failing check.
func respond(w http.ResponseWriter, checks []func() error) {
	var errs []error
	for _, check := range checks {
		if err := check(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
