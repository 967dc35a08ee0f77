package subscriber

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// watchdog tracks a loop that must come back within a bound: before each step that blocks, the
// loop says by when it will be back (expect); before a wait with no bound, that it is idle.
type watchdog struct {
	due atomic.Int64 // Unix ns by which the loop is back; 0: idle or not started
}

// stepGrace is added to every expected step: scheduling, a slow API server.
const stepGrace = 30 * time.Second

func (w *watchdog) expect(now time.Time, d time.Duration) {
	w.due.Store(now.Add(d + stepGrace).UnixNano())
}

func (w *watchdog) idle() { w.due.Store(0) }

// overdue reports by how much the loop is late (0 when not).
func (w *watchdog) overdue(now time.Time) time.Duration {
	due := w.due.Load()
	if due == 0 || now.UnixNano() <= due {
		return 0
	}
	return now.Sub(time.Unix(0, due))
}

// outboxStuckAfter is how long delivery may make no progress while the link is up (the control
// plane answers) before the outbox counts as stuck.
const outboxStuckAfter = 10 * time.Minute

// linkState is what /readyz says about the link.
type linkState struct {
	mu      sync.Mutex
	lastErr error
	since   time.Time // when the link last went up or down
}

func (l *linkState) set(err error, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastErr, l.since = err, now
}

func (l *linkState) get() (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.since, l.lastErr
}

// Live reports whether the link and the outbox make progress: nil, or why they are stuck (a
// wedged goroutine, or events not delivered for outboxStuckAfter although the control plane is
// connected). /healthz fails on it, so that the kubelet restarts a wedged agent.
func (s *Subscriber) Live() error {
	now := s.o.Clock.Now()
	var errs []error
	if d := s.linkDog.overdue(now); d > 0 {
		errs = append(errs, fmt.Errorf("control-plane link stuck: a step is %s overdue", d.Round(time.Second)))
	}
	if d := s.sendDog.overdue(now); d > 0 {
		errs = append(errs, fmt.Errorf("outbox sender stuck: a step is %s overdue", d.Round(time.Second)))
	}
	if d := s.flushDog.overdue(now); d > 0 {
		errs = append(errs, fmt.Errorf("outbox flusher stuck: a write is %s overdue", d.Round(time.Second)))
	}
	if d := s.outbox.stalled(); d > outboxStuckAfter && s.Connected() {
		errs = append(errs, fmt.Errorf("outbox stuck: no event delivered for %s although the control plane is connected (%d waiting)", d.Round(time.Second), s.outbox.depth()))
	}
	return errors.Join(errs...)
}

// Ready reports whether the link is doing its job: nil, or why not (not connected, with the
// last error; the outbox store failing; Live's reasons).
func (s *Subscriber) Ready() error {
	var errs []error
	if !s.Connected() {
		since, err := s.linkSt.get()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("control plane not connected (since %s): %w", since.UTC().Format(time.RFC3339), err))
		default:
			errs = append(errs, errors.New("control plane not connected yet"))
		}
	}
	if err := s.outbox.storeProblem(); err != nil {
		errs = append(errs, err)
	}
	if err := s.Live(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
