package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// Record is one run event waiting for the control plane. Request is the ExperimentRunRequest
// without the infra identity (the access key is never stored).
type Record struct {
	Seq       uint64          `json:"seq"`
	Queued    time.Time       `json:"queued"`
	RunID     string          `json:"runID"`
	Completed bool            `json:"completed"`
	Request   json.RawMessage `json:"request"`
}

// Store persists the outbox.
type Store interface {
	Load(ctx context.Context) ([]Record, error)
	Save(ctx context.Context, recs []Record) error
}

// Outbox bounds (a ConfigMap holds at most 1 MiB); see push for what happens past them.
const (
	outboxMaxEvents = 1000
	outboxMaxBytes  = 800 << 10 // a ConfigMap holds at most 1 MiB
)

type outbox struct {
	store   Store
	metrics *Metrics
	log     *zap.Logger

	mu        sync.Mutex
	recs      []Record
	size      int           // bytes of the records (approximately)
	seq       uint64        // last sequence number given
	persisted uint64        // every record up to this sequence number is in the store
	dirty     bool          // the store is behind memory
	notify    chan struct{} // wakes the sender
	flushes   chan struct{} // wakes the flusher
	space     chan struct{} // wakes a push waiting for room
}

func newOutbox(store Store, m *Metrics, log *zap.Logger) *outbox {
	return &outbox{store: store, metrics: m, log: log, notify: make(chan struct{}, 1), flushes: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func (o *outbox) load(ctx context.Context) error {
	recs, err := o.store.Load(ctx)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recs = recs
	for _, r := range recs {
		o.seq = max(o.seq, r.Seq)
		o.size += recSize(r)
	}
	o.persisted = o.seq
	o.metrics.outboxDepth.Set(float64(len(o.recs)))
	if len(recs) > 0 {
		o.log.Info("replaying run events from the outbox", zap.Int("events", len(recs)))
		o.signal()
	}
	return nil
}

func (o *outbox) signal() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// push appends an event; it is sent once the flusher has written it to the store. When the
// outbox is full, intermediate events superseded by a newer event of the same run are dropped
// (latest state wins); if it is still full of events that cannot be dropped, push waits for the
// sender to make room (back-pressure on the informers) — no completed event is ever dropped.
func (o *outbox) push(ctx context.Context, runID string, completed bool, req json.RawMessage, now time.Time) {
	rec := Record{RunID: runID, Completed: completed, Request: req, Queued: now}
	o.mu.Lock()
	for o.full(rec) {
		if o.coalesce(rec) {
			continue
		}
		o.mu.Unlock()
		select {
		case <-o.space:
		case <-ctx.Done():
			return
		}
		o.mu.Lock()
	}
	o.seq++
	rec.Seq = o.seq
	o.recs = append(o.recs, rec)
	o.size += recSize(rec)
	o.dirty = true
	o.metrics.outboxDepth.Set(float64(len(o.recs)))
	o.mu.Unlock()
	o.metrics.eventsQueued.Inc()
	select {
	case o.flushes <- struct{}{}:
	default:
	}
}

func recSize(r Record) int { return len(r.Request) + 96 }

// full reports whether adding rec would exceed the bounds. Called with o.mu held.
func (o *outbox) full(rec Record) bool {
	return len(o.recs) > 0 && (len(o.recs)+1 > outboxMaxEvents || o.size+recSize(rec) > outboxMaxBytes)
}

// coalesce drops the oldest intermediate event that a newer event of the same run (or rec)
// supersedes, never the head (it may be in flight). Called with o.mu held.
func (o *outbox) coalesce(rec Record) bool {
	later := map[string]bool{rec.RunID: true}
	victim := -1
	for i := len(o.recs) - 1; i >= 1; i-- {
		r := o.recs[i]
		if !r.Completed && later[r.RunID] {
			victim = i
		}
		later[r.RunID] = true
	}
	if victim < 0 {
		return false
	}
	o.size -= recSize(o.recs[victim])
	o.recs = append(o.recs[:victim], o.recs[victim+1:]...)
	o.metrics.eventsFailed.WithLabelValues("superseded").Inc()
	return true
}

// ackFlushPeriod is how often removals alone are written (new events are written at once).
const ackFlushPeriod = time.Second

// runFlusher writes the outbox to the store: right away when events were added (events pushed
// while a write is in progress go together in the next one, so a burst costs a few writes), every
// second when only acknowledged events were removed, and once more when ctx ends.
func (s *Subscriber) runFlusher(ctx context.Context) error {
	o := s.outbox
	ticker := s.o.Clock.NewTicker(ackFlushPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			o.persist(context.WithoutCancel(ctx))
			return nil
		case <-o.flushes:
		case <-ticker.C():
		}
		o.persist(ctx)
	}
}

// persist writes the queue if it changed; records pushed before the write may then be sent.
func (o *outbox) persist(ctx context.Context) {
	o.mu.Lock()
	if !o.dirty {
		o.mu.Unlock()
		return
	}
	recs := append([]Record(nil), o.recs...)
	upto := o.seq
	o.dirty = false
	o.mu.Unlock()
	if err := o.store.Save(ctx, recs); err != nil {
		o.mu.Lock()
		o.dirty = true
		o.mu.Unlock()
		o.log.Warn("cannot persist the outbox; keeping events in memory and retrying", zap.Error(err))
		select {
		case o.flushes <- struct{}{}:
		default:
		}
		return
	}
	o.mu.Lock()
	o.persisted = max(o.persisted, upto)
	o.mu.Unlock()
	o.signal()
}

// head returns the oldest event, once it is persisted.
func (o *outbox) head() (Record, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.recs) == 0 || o.recs[0].Seq > o.persisted {
		return Record{}, false
	}
	return o.recs[0], true
}

// ack removes the event seq (the head) once the server accepted or definitively refused it.
func (o *outbox) ack(_ context.Context, seq uint64) {
	o.mu.Lock()
	if len(o.recs) > 0 && o.recs[0].Seq == seq {
		o.size -= recSize(o.recs[0])
		o.recs = o.recs[1:]
		o.dirty = true
	}
	o.metrics.outboxDepth.Set(float64(len(o.recs)))
	o.mu.Unlock()
	select {
	case o.space <- struct{}{}:
	default:
	}
}

func (o *outbox) depth() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.recs)
}

// send delivers the outbox in order, one event at a time, retrying transient failures with a
// capped back-off; an event the server refuses is dropped after a few attempts (with an error
// log), and duplicates of completed runs at once.
func (s *Subscriber) send(ctx context.Context) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime, bo.RandomizationFactor = 200*time.Millisecond, 30*time.Second, 0, 0.3
	refusals := 0
	for {
		rec, ok := s.outbox.head()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-s.outbox.notify:
				continue
			}
		}
		var req map[string]any
		if err := json.Unmarshal(rec.Request, &req); err != nil {
			s.log.Error("dropping an undecodable outbox record", zap.Uint64("seq", rec.Seq), zap.Error(err))
			s.outbox.ack(ctx, rec.Seq)
			continue
		}
		req["infraID"] = s.identity()
		var reply string
		err := s.gql.do(ctx, docRun, map[string]any{"request": req}, "chaosExperimentRun", &reply)
		var se *serverError
		switch {
		case err == nil:
			s.o.Metrics.eventsSent.Inc()
			s.o.Metrics.eventLatency.Observe(s.o.Clock.Since(rec.Queued).Seconds())
			s.outbox.ack(ctx, rec.Seq)
			bo.Reset()
			refusals = 0
			s.log.Debug("run event delivered", zap.String("run", rec.RunID), zap.Bool("completed", rec.Completed), zap.String("reply", reply))
			continue
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &se) && strings.Contains(strings.ToLower(se.Error()), "duplicate"):
			s.log.Info("control plane already has this run completed; event dropped", zap.String("run", rec.RunID))
			s.o.Metrics.eventsFailed.WithLabelValues("duplicate").Inc()
			s.outbox.ack(ctx, rec.Seq)
			continue
		case errors.As(err, &se):
			refusals++
			if refusals >= 5 {
				s.log.Error("control plane refuses a run event; dropping it", zap.String("run", rec.RunID), zap.Error(err))
				s.o.Metrics.eventsFailed.WithLabelValues("refused").Inc()
				s.outbox.ack(ctx, rec.Seq)
				refusals = 0
				continue
			}
			s.o.Metrics.eventsFailed.WithLabelValues("refused_retry").Inc()
		default:
			s.o.Metrics.eventsFailed.WithLabelValues("transient").Inc()
			s.log.Debug("run event not delivered; will retry", zap.String("run", rec.RunID), zap.Error(err))
		}
		if err := sleep(ctx, s.o.Clock, bo.NextBackOff()); err != nil {
			return nil
		}
	}
}

// MemoryStore keeps the outbox in memory (tests; agents without persistence).
type MemoryStore struct {
	mu   sync.Mutex
	recs []Record
}

// Load implements Store.
func (m *MemoryStore) Load(context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...), nil
}

// Save implements Store.
func (m *MemoryStore) Save(_ context.Context, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append([]Record(nil), recs...)
	return nil
}

// ConfigMapStore keeps the outbox in a ConfigMap in the agent's namespace, so that events
// survive agent restarts and rescheduling.
type ConfigMapStore struct {
	kube      kube.Interface
	namespace string
	name      string
}

// NewConfigMapStore returns a store in ConfigMap namespace/name (created on first save).
func NewConfigMapStore(kube kube.Interface, namespace, name string) *ConfigMapStore {
	return &ConfigMapStore{kube: kube, namespace: namespace, name: name}
}

const outboxKey = "events.json"

// Load implements Store.
func (c *ConfigMapStore) Load(ctx context.Context) ([]Record, error) {
	cm, err := c.kube.CoreV1().ConfigMaps(c.namespace).Get(ctx, c.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox ConfigMap %s: %w", c.name, err)
	}
	var recs []Record
	if raw := cm.Data[outboxKey]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &recs); err != nil {
			return nil, fmt.Errorf("outbox ConfigMap %s is corrupt: %w", c.name, err)
		}
	}
	return recs, nil
}

// Save implements Store.
func (c *ConfigMapStore) Save(ctx context.Context, recs []Record) error {
	raw, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	api := c.kube.CoreV1().ConfigMaps(c.namespace)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cm, err := api.Get(ctx, c.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: map[string]string{"app.kubernetes.io/name": "chaos-agent"}},
			Data:       map[string]string{outboxKey: string(raw)},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[outboxKey] = string(raw)
	_, err = api.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}
