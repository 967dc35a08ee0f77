package subscriber

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/clockutil"
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

	segment int // where the record is stored
}

// Store persists the outbox in segments, so that adding or removing an event rewrites one
// small segment, not the whole queue.
type Store interface {
	// Load returns every stored record, in sequence order, each with its segment.
	Load(ctx context.Context) ([]Record, error)
	// Save replaces the content of one segment (0 ≤ segment < outboxSegments).
	Save(ctx context.Context, segment int, recs []Record) error
}

// Outbox bounds; see push for what happens past them. The queue is stored in outboxSegments
// segments of at most segmentMaxEvents events or segmentMaxBytes bytes each (one ConfigMap per
// segment, which holds at most 1 MiB).
const (
	outboxMaxEvents  = 1000
	outboxMaxBytes   = 800 << 10
	outboxSegments   = 8
	segmentMaxEvents = outboxMaxEvents / outboxSegments
	segmentMaxBytes  = outboxMaxBytes / outboxSegments
)

// segment is the accounting of one stored segment.
type segment struct{ events, bytes int }

type outbox struct {
	store   Store
	metrics *Metrics
	log     *zap.Logger
	clock   clock.PassiveClock

	mu        sync.Mutex
	recs      []Record
	seq       uint64                 // last sequence number given
	dirty     uint                   // bit s: segment s in the store may be behind memory
	stored    [outboxSegments]uint64 // fingerprint of each segment's records as last stored
	segs      [outboxSegments]segment
	notify    chan struct{}   // wakes the sender
	flushes   chan struct{}   // wakes the flusher
	later     map[string]bool // coalesce's scratch space, reused
	throttled bool            // the outbox was full and has not yet drained to its low-water mark
	// pending holds events that arrived while the outbox was full, at most one per run (the
	// latest state of a run supersedes the earlier ones): pushes never wait.
	pending []Record
	// The store's health: since when saves fail (zero: they succeed) and the last error.
	failingSince time.Time
	storeErr     error
	// progress is when the head last changed (an event sent or dropped, or one queued into an
	// empty outbox): how long delivery has been stuck.
	progress time.Time
}

func newOutbox(store Store, m *Metrics, log *zap.Logger, clk clock.PassiveClock) *outbox {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &outbox{store: store, metrics: m, log: log, clock: clk, notify: make(chan struct{}, 1), flushes: make(chan struct{}, 1)}
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
		o.account(r, 1)
	}
	o.dirty = 0 // as stored
	for seg := range outboxSegments {
		o.stored[seg] = o.fingerprint(seg)
	}
	o.progress = o.clock.Now()
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

// Bounds on one event and on what waits in memory.
const (
	// maxEventBytes is the largest stored request; events are bounded before they get here
	// (boundEvent), and a larger one is dropped with a notice to the control plane: one
	// unstorable event must never wedge the outbox.
	maxEventBytes = 64 << 10
	// maxPending is how many runs may have an event waiting in memory while the outbox is full.
	maxPending = 4096
	// storeGrace is how long the store may fail before the log says it has been failing for
	// long (delivery never waits for the store).
	storeGrace = 30 * time.Second
)

// push appends an event; it is sent once the flusher has written it to the store. push never
// waits: it is called from informer handlers and action workers. An event larger than
// maxEventBytes is dropped, with an error log, the metric events_failed{kind="oversize"} and a
// small notice for the control plane in its place. When the outbox is full, intermediate events
// superseded by a newer event of the same run are dropped (latest state wins); events that still
// do not fit wait in memory, one per run, until the sender has made room (no completed event is
// ever dropped).
func (o *outbox) push(_ context.Context, runID string, completed bool, req json.RawMessage, now time.Time) {
	if len(req) > maxEventBytes {
		o.metrics.eventsFailed.WithLabelValues("oversize").Inc()
		o.log.Error("dropping a run event too large to store; sending a notice instead",
			zap.String("run", runID), zap.Bool("completed", completed), zap.Int("bytes", len(req)), zap.Int("limit", maxEventBytes))
		notice, err := noticeRequest(req, fmt.Sprintf("chaos-agent dropped a run event of %d bytes (limit %d): its details are lost", len(req), maxEventBytes))
		if err != nil || len(notice) > maxEventBytes {
			o.log.Error("cannot build a notice for the dropped event", zap.String("run", runID), zap.Error(err))
			return
		}
		req = notice
	}
	rec := Record{RunID: runID, Completed: completed, Request: req, Queued: now}
	o.mu.Lock()
	o.admit(rec)
	o.drainPending()
	o.metrics.outboxDepth.Set(float64(len(o.recs) + len(o.pending)))
	o.mu.Unlock()
	o.metrics.eventsQueued.Inc()
	o.signal()
	select {
	case o.flushes <- struct{}{}:
	default:
	}
}

// admit appends rec to the queue, or to pending when the outbox is full or others wait already
// (order is kept). Called with o.mu held.
func (o *outbox) admit(rec Record) {
	if len(o.pending) == 0 && !o.throttled {
		for o.full(rec) {
			if !o.coalesce(rec) {
				o.throttled = true // resume at the low-water mark, so that the writes are batched
				break
			}
		}
		if !o.throttled {
			o.appendRec(rec)
			return
		}
	}
	for i, p := range o.pending {
		if p.RunID != rec.RunID {
			continue
		}
		if p.Completed && !rec.Completed {
			o.metrics.eventsFailed.WithLabelValues("superseded").Inc() // a stale update after the end
			return
		}
		o.pending[i] = rec
		o.metrics.eventsFailed.WithLabelValues("superseded").Inc()
		return
	}
	if len(o.pending) >= maxPending {
		o.metrics.eventsFailed.WithLabelValues("overflow").Inc()
		o.log.Error("outbox full and too many runs waiting: dropping a run event", zap.String("run", rec.RunID), zap.Bool("completed", rec.Completed))
		return
	}
	o.pending = append(o.pending, rec)
}

// drainPending moves waiting events into the queue once it is below its low-water mark.
// Called with o.mu held.
func (o *outbox) drainPending() {
	next := Record{}
	if len(o.pending) > 0 {
		next = o.pending[0]
	}
	if o.throttled && o.belowLowWater(next) {
		o.throttled = false
	}
	for !o.throttled && len(o.pending) > 0 {
		rec := o.pending[0]
		if o.full(rec) {
			if o.coalesce(rec) {
				continue
			}
			o.throttled = true
			break
		}
		o.pending[0] = Record{}
		o.pending = o.pending[1:]
		o.appendRec(rec)
	}
	if len(o.pending) == 0 {
		o.pending = nil // let the backing array go
	}
}

// appendRec queues rec. Called with o.mu held.
func (o *outbox) appendRec(rec Record) {
	if len(o.recs) == 0 {
		o.progress = o.clock.Now()
	}
	o.seq++
	rec.Seq = o.seq
	rec.segment = o.segmentFor(rec)
	o.recs = append(o.recs, rec)
	o.account(rec, 1)
}

// noticeRequest turns a stored request into a small one for the same run that carries msg
// instead of the run's details (nodes).
func noticeRequest(req json.RawMessage, msg string) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(req, &m); err != nil {
		return nil, fmt.Errorf("undecodable request: %w", err)
	}
	var ev executionData
	if enc, ok := m["executionData"].(string); ok {
		if raw, err := base64.StdEncoding.DecodeString(enc); err == nil {
			_ = json.Unmarshal(raw, &ev) // what cannot be decoded stays empty
		}
	}
	ev.Message = msg
	ev.Nodes = map[string]node{}
	ev.Name = truncate(ev.Name, 253)
	if ev.UID == "" {
		ev.UID, _ = m["experimentRunID"].(string)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	m["executionData"] = base64.StdEncoding.EncodeToString(data)
	return json.Marshal(m)
}

func recSize(r Record) int { return len(r.Request) + 96 }

// account adds (sign 1) or removes (sign -1) r in its segment, which becomes dirty. Called
// with o.mu held.
func (o *outbox) account(r Record, sign int) {
	o.segs[r.segment].events += sign
	o.segs[r.segment].bytes += sign * recSize(r)
	o.dirty |= 1 << r.segment
}

// segmentFor returns the segment rec goes to: the newest record's segment while it has room,
// else an empty segment; -1 when there is none. Called with o.mu held.
func (o *outbox) segmentFor(rec Record) int {
	if n := len(o.recs); n > 0 {
		s := o.recs[n-1].segment
		if o.segs[s].events < segmentMaxEvents && o.segs[s].bytes+recSize(rec) <= segmentMaxBytes {
			return s
		}
	}
	for i, seg := range o.segs {
		if seg.events == 0 {
			return i
		}
	}
	return -1
}

// size is the bytes of all records (approximately). Called with o.mu held.
func (o *outbox) size() int {
	n := 0
	for _, seg := range o.segs {
		n += seg.bytes
	}
	return n
}

// full reports whether adding rec would exceed the bounds. Called with o.mu held.
func (o *outbox) full(rec Record) bool {
	return len(o.recs) > 0 && (len(o.recs)+1 > outboxMaxEvents || o.size()+recSize(rec) > outboxMaxBytes || o.segmentFor(rec) < 0)
}

// belowLowWater reports whether adding rec keeps the outbox within three quarters of its bounds,
// where pushes resume once it was full. Called with o.mu held.
func (o *outbox) belowLowWater(rec Record) bool {
	return len(o.recs) == 0 || (len(o.recs)+1 <= outboxMaxEvents*3/4 && o.size()+recSize(rec) <= outboxMaxBytes*3/4)
}

// coalesce drops the oldest intermediate event that a newer event of the same run (or rec)
// supersedes, never the head (it may be in flight). Called with o.mu held.
func (o *outbox) coalesce(rec Record) bool {
	if o.later == nil {
		o.later = map[string]bool{}
	}
	later := o.later
	clear(later)
	later[rec.RunID] = true
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
	o.account(o.recs[victim], -1)
	o.recs = append(o.recs[:victim], o.recs[victim+1:]...)
	o.metrics.eventsFailed.WithLabelValues("superseded").Inc()
	return true
}

// saveTimeout bounds one segment write.
const saveTimeout = 10 * time.Second

// ackFlushPeriod is how often removals alone are written (new events are written at once).
const ackFlushPeriod = time.Second

// runFlusher writes the outbox to the store: right away when events were added (events pushed
// while a write is in progress go together in the next one, so a burst costs a few writes), every
// second when only acknowledged events were removed, and once more when ctx ends.
//
// The sender does not wait for these writes: an event is sent while it is being written, so the
// ConfigMap write is off the delivery path, and an event acknowledged before the flusher gets to
// it is never written (a segment whose records are already stored as they are is skipped). This
// gives up nothing: an event is lost only if the process dies before both its write and its
// delivery — the window there always was between an informer seeing a change and its write — and
// a restarted agent re-lists every Workflow and queues each run's current state. What a crash can
// do is replay an older, stored event of a run after a newer one was delivered unwritten (whose
// removal of the older one was not yet written); the re-listed current state follows it at once,
// and the control plane discards any event of a run it has as completed.
func (s *Subscriber) runFlusher(ctx context.Context) error {
	o := s.outbox
	ticker := s.o.Clock.NewTicker(ackFlushPeriod)
	defer ticker.Stop()
	defer s.flushDog.idle()
	for {
		s.flushDog.expect(s.o.Clock.Now(), ackFlushPeriod)
		select {
		case <-ctx.Done():
			o.persist(context.WithoutCancel(ctx))
			return nil
		case <-o.flushes:
		case <-ticker.C():
		}
		s.flushDog.expect(s.o.Clock.Now(), outboxSegments*saveTimeout)
		o.persist(ctx)
	}
}

// persist writes the segments whose records differ from what the store holds. A failed write is
// retried by the flusher's next tick.
func (o *outbox) persist(ctx context.Context) {
	o.mu.Lock()
	dirty := o.dirty
	var bySegment [outboxSegments][]Record
	var prints [outboxSegments]uint64
	for seg := range outboxSegments {
		if dirty&(1<<seg) == 0 {
			continue
		}
		if prints[seg] = o.fingerprint(seg); prints[seg] == o.stored[seg] {
			dirty &^= 1 << seg // already stored as it is (e.g. pushed and acknowledged in between)
		}
	}
	if dirty == 0 {
		o.dirty = 0
		o.mu.Unlock()
		return
	}
	for _, r := range o.recs {
		if dirty&(1<<r.segment) != 0 {
			bySegment[r.segment] = append(bySegment[r.segment], r)
		}
	}
	o.dirty = 0
	o.mu.Unlock()
	var failed uint
	var errs []error
	for s := range outboxSegments {
		if dirty&(1<<s) == 0 {
			continue
		}
		if err := o.store.Save(ctx, s, bySegment[s]); err != nil {
			failed |= 1 << s
			errs = append(errs, err)
		}
	}
	o.mu.Lock()
	for seg := range outboxSegments {
		if dirty&(1<<seg) != 0 && failed&(1<<seg) == 0 {
			o.stored[seg] = prints[seg]
		}
	}
	o.mu.Unlock()
	o.metrics.outboxWrites.Add(float64(bits.OnesCount(dirty &^ failed)))
	if failed != 0 {
		err := errors.Join(errs...)
		o.mu.Lock()
		o.dirty |= failed
		now := o.clock.Now()
		if o.failingSince.IsZero() {
			o.failingSince = now
		}
		o.storeErr = err
		degraded := now.Sub(o.failingSince) >= storeGrace
		o.mu.Unlock()
		o.metrics.storeFailures.Inc()
		o.log.Warn("cannot persist the outbox; keeping events in memory, sending them and retrying", zap.Error(err), zap.Bool("failingForLong", degraded))
		return
	}
	o.mu.Lock()
	if !o.failingSince.IsZero() {
		o.log.Info("outbox persisted again", zap.Duration("after", o.clock.Since(o.failingSince)))
	}
	o.failingSince, o.storeErr = time.Time{}, nil
	o.mu.Unlock()
}

// storeProblem describes a store that has been failing for storeGrace or longer (nil when it
// works, or failed only briefly: one failed write is retried a second later).
func (o *outbox) storeProblem() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failingSince.IsZero() || o.clock.Since(o.failingSince) < storeGrace {
		return nil
	}
	return fmt.Errorf("the outbox store has been failing for %s: %w", o.clock.Since(o.failingSince).Round(time.Second), o.storeErr)
}

// stalled reports how long the oldest event has waited without any event being delivered
// (zero when the outbox is empty).
func (o *outbox) stalled() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.recs) == 0 {
		return 0
	}
	return o.clock.Since(o.progress)
}

// fingerprint identifies the records of segment seg (their sequence numbers: a record never
// changes once pushed). Called with o.mu held.
func (o *outbox) fingerprint(seg int) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, r := range o.recs {
		if r.segment == seg {
			binary.LittleEndian.PutUint64(b[:], r.Seq)
			_, _ = h.Write(b[:])
		}
	}
	return h.Sum64()
}

// head returns the oldest event. It does not wait for the store (see runFlusher): a store that
// cannot persist never blocks delivery.
func (o *outbox) head() (Record, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.recs) == 0 {
		return Record{}, false
	}
	return o.recs[0], true
}

// ack removes the event seq (the head) once the server accepted or definitively refused it.
func (o *outbox) ack(_ context.Context, seq uint64) {
	o.mu.Lock()
	if len(o.recs) > 0 && o.recs[0].Seq == seq {
		o.account(o.recs[0], -1)
		o.recs[0] = Record{}
		o.recs = o.recs[1:]
		o.progress = o.clock.Now()
	}
	o.drainPending()
	o.metrics.outboxDepth.Set(float64(len(o.recs) + len(o.pending)))
	o.mu.Unlock()
	select {
	case o.flushes <- struct{}{}:
	default:
	}
}

// depth is the number of events waiting: queued and pending.
func (o *outbox) depth() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.recs) + len(o.pending)
}

// send delivers the outbox in order, one event at a time, retrying transient failures with a
// capped back-off; an event the server refuses is dropped after a few attempts (with an error
// log), and duplicates of completed runs at once.
func (s *Subscriber) send(ctx context.Context) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime, bo.RandomizationFactor = 200*time.Millisecond, 30*time.Second, 0, 0.3
	refusals := 0
	defer s.sendDog.idle()
	for {
		rec, ok := s.outbox.head()
		if !ok {
			s.sendDog.idle() // nothing to send: waiting is not being stuck
			select {
			case <-ctx.Done():
				return nil
			case <-s.outbox.notify:
				continue
			}
		}
		req, err := withIdentity(rec.Request, s.identity())
		if err != nil {
			s.log.Error("dropping an undecodable outbox record", zap.Uint64("seq", rec.Seq), zap.Error(err))
			s.outbox.ack(ctx, rec.Seq)
			continue
		}
		var reply string
		s.sendDog.expect(s.o.Clock.Now(), s.o.HTTP.Timeout)
		err = s.gql.do(ctx, docRun, map[string]any{"request": req}, "chaosExperimentRun", &reply)
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
		wait := bo.NextBackOff()
		s.sendDog.expect(s.o.Clock.Now(), wait)
		if err := clockutil.Sleep(ctx, s.o.Clock, wait); err != nil {
			return nil
		}
	}
}

// withIdentity returns a stored request (a JSON object) with the infrastructure identity, which
// is never stored, as its infraID field — without decoding and re-encoding the event.
func withIdentity(req json.RawMessage, id InfraIdentity) (json.RawMessage, error) {
	body := bytes.TrimSpace(req)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' || !json.Valid(body) {
		return nil, errors.New("the stored request is not a JSON object")
	}
	idJSON, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	inner := bytes.TrimSpace(body[1 : len(body)-1])
	out := make([]byte, 0, len(body)+len(idJSON)+16)
	out = append(out, `{"infraID":`...)
	out = append(out, idJSON...)
	if len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	return append(out, '}'), nil
}

// MemoryStore keeps the outbox in memory (tests; agents without persistence).
type MemoryStore struct {
	mu    sync.Mutex
	segs  [outboxSegments][]Record
	saves int
}

// Load implements Store.
func (m *MemoryStore) Load(context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []Record
	for s, recs := range m.segs {
		for _, r := range recs {
			r.segment = s
			all = append(all, r)
		}
	}
	slices.SortFunc(all, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return all, nil
}

// Save implements Store.
func (m *MemoryStore) Save(_ context.Context, segment int, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.segs[segment] = append([]Record(nil), recs...)
	m.saves++
	return nil
}

// ConfigMapStore keeps the outbox in ConfigMaps in the agent's namespace, so that events
// survive agent restarts and rescheduling: segment 0 in the ConfigMap name, segment s in
// name-s.
type ConfigMapStore struct {
	kube      kube.Interface
	namespace string
	name      string

	mu   sync.Mutex
	last [outboxSegments]*corev1.ConfigMap // as last read or written: a save is one Update unless someone else changed it
}

// NewConfigMapStore returns a store in ConfigMaps namespace/name[-s] (created on first save).
func NewConfigMapStore(kube kube.Interface, namespace, name string) *ConfigMapStore {
	return &ConfigMapStore{kube: kube, namespace: namespace, name: name}
}

// OutboxConfigMapNames lists the ConfigMaps of an outbox named name (for RBAC resourceNames).
func OutboxConfigMapNames(name string) []string {
	names := make([]string, outboxSegments)
	for s := range names {
		names[s] = segmentName(name, s)
	}
	return names
}

func segmentName(name string, s int) string {
	if s == 0 {
		return name
	}
	return fmt.Sprintf("%s-%d", name, s)
}

const outboxKey = "events.json"

// Load implements Store.
func (c *ConfigMapStore) Load(ctx context.Context) ([]Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []Record
	for s := range outboxSegments {
		name := segmentName(c.name, s)
		cm, err := c.kube.CoreV1().ConfigMaps(c.namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read outbox ConfigMap %s: %w%s", name, err, rbacHint(err))
		}
		var recs []Record
		if raw := cm.Data[outboxKey]; raw != "" {
			if err := json.Unmarshal([]byte(raw), &recs); err != nil {
				return nil, fmt.Errorf("outbox ConfigMap %s is corrupt: %w", name, err)
			}
		}
		for _, r := range recs {
			r.segment = s
			all = append(all, r)
		}
		c.last[s] = metaOnly(cm)
	}
	slices.SortFunc(all, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return all, nil
}

// Save implements Store. It writes over the ConfigMap version it last saw (one request); only
// when that is stale (conflict, deleted) does it read the ConfigMap again.
func (c *ConfigMapStore) Save(ctx context.Context, s int, recs []Record) error {
	if recs == nil {
		recs = []Record{}
	}
	var b strings.Builder // the ConfigMap value, without an extra copy of the JSON
	if err := json.NewEncoder(&b).Encode(recs); err != nil {
		return err
	}
	data := b.String()
	ctx, cancel := context.WithTimeout(ctx, saveTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	name := segmentName(c.name, s)
	api := c.kube.CoreV1().ConfigMaps(c.namespace)
	if last := c.last[s]; last != nil {
		cm := last.DeepCopy()
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[outboxKey] = data
		saved, err := api.Update(ctx, cm, metav1.UpdateOptions{})
		if err == nil {
			c.last[s] = metaOnly(saved)
			return nil
		}
		c.last[s] = nil
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("write outbox ConfigMap %s: %w%s", name, err, rbacHint(err))
		}
	}
	cm, err := api.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if len(recs) == 0 {
			return nil // nothing to keep, and nothing stored
		}
		saved, err := api.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.namespace, Labels: map[string]string{"app.kubernetes.io/name": "chaos-agent"}},
			Data:       map[string]string{outboxKey: data},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create outbox ConfigMap %s: %w%s", name, err, rbacHint(err))
		}
		c.last[s] = metaOnly(saved)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read outbox ConfigMap %s: %w%s", name, err, rbacHint(err))
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[outboxKey] = data
	saved, err := api.Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("write outbox ConfigMap %s: %w%s", name, err, rbacHint(err))
	}
	c.last[s] = metaOnly(saved)
	return nil
}

// rbacHint explains a Forbidden outbox access: the Role of an install rendered before the outbox
// had segments names only chaos-agent-outbox.
func rbacHint(err error) string {
	if apierrors.IsForbidden(err) {
		return " (the agent's Role must allow get/update on every outbox segment, chaos-agent-outbox and chaos-agent-outbox-1 … -7: render and apply the install manifest of this version)"
	}
	return ""
}

// metaOnly keeps what the next save needs (identity, version, labels, other keys someone added)
// but not the events, which the next save replaces anyway.
func metaOnly(cm *corev1.ConfigMap) *corev1.ConfigMap {
	out := &corev1.ConfigMap{ObjectMeta: cm.ObjectMeta, BinaryData: cm.BinaryData}
	out.ManagedFields = nil
	for k, v := range cm.Data {
		if k != outboxKey {
			if out.Data == nil {
				out.Data = map[string]string{}
			}
			out.Data[k] = v
		}
	}
	return out
}
