package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/clockutil"
)

// apiWatch probes the Kubernetes API server so that an unreachable or refusing one is visible:
// a warning with the last error at once and every warnEvery while it lasts, and /readyz not ready.
// (client-go itself only retries, quietly.)
type apiWatch struct {
	probe func(context.Context) error
	clock clock.Clock
	log   *zap.Logger

	mu       sync.Mutex
	ok       bool
	lastErr  error
	failedAt time.Time // since when the probes fail
}

// Probe timing.
const (
	apiProbeTimeout = 5 * time.Second
	apiProbeFailing = 5 * time.Second  // between probes while failing
	apiProbeHealthy = 30 * time.Second // between probes while healthy
	apiWarnEvery    = 30 * time.Second
)

// Run probes until ctx ends.
func (w *apiWatch) Run(ctx context.Context) error {
	var warned time.Time
	for {
		err := w.probe(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := w.clock.Now()
		w.mu.Lock()
		wasOK := w.ok
		w.ok, w.lastErr = err == nil, err
		switch {
		case err == nil:
			w.failedAt = time.Time{}
		case w.failedAt.IsZero():
			w.failedAt = now
		}
		since := w.failedAt
		w.mu.Unlock()
		wait := apiProbeHealthy
		switch {
		case err != nil:
			wait = apiProbeFailing
			if warned.IsZero() || now.Sub(warned) >= apiWarnEvery {
				warned = now
				w.log.Warn("Kubernetes API server unreachable or refusing; retrying", zap.Error(err), zap.Duration("for", now.Sub(since).Round(time.Second)))
			}
		case !wasOK && !warned.IsZero():
			warned = time.Time{}
			w.log.Info("Kubernetes API server reachable again")
		}
		if err := clockutil.Sleep(ctx, w.clock, wait); err != nil {
			return nil
		}
	}
}

// newAPIWatch watches the API server c talks to.
func newAPIWatch(c rest.Interface, clk clock.Clock, log *zap.Logger) *apiWatch {
	return &apiWatch{probe: func(ctx context.Context) error { return probeVersion(ctx, c) }, clock: clk, log: log}
}

// probeVersion is GET /version, bounded in time.
func probeVersion(ctx context.Context, c rest.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, apiProbeTimeout)
	defer cancel()
	if err := c.Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return fmt.Errorf("GET /version: %w", err)
	}
	return nil
}

// Ready is nil once the API server answered the last probe, else why not.
func (w *apiWatch) Ready() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.ok:
		return nil
	case w.lastErr == nil:
		return errors.New("the Kubernetes API server not reached yet")
	default:
		return fmt.Errorf("the Kubernetes API server unreachable since %s: %w", w.failedAt.UTC().Format(time.RFC3339), w.lastErr)
	}
}
