package subscriber

import (
	"bytes"
	"cmp"
	"context"
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

	mu        sync.Mutex
	recs      []Record
	seq       uint64                 // last sequence number given
	dirty     uint                   // bit s: segment s in the store may be behind memory
	stored    [outboxSegments]uint64 // fingerprint of each segment's records as last stored
	segs      [outboxSegments]segment
	notify    chan struct{}   // wakes the sender
	flushes   chan struct{}   // wakes the flusher
	space     chan struct{}   // wakes a push waiting for room
	later     map[string]bool // coalesce's scratch space, reused
	throttled bool            // the outbox was full and has not yet drained to its low-water mark
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
		o.account(r, 1)
	}
	o.dirty = 0 // as stored
	for seg := range outboxSegments {
		o.stored[seg] = o.fingerprint(seg)
	}
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

// push appends an event; the sender sends it and the flusher writes it to the store, both at
// once (see runFlusher). When the
// outbox is full, intermediate events superseded by a newer event of the same run are dropped
// (latest state wins); if it is still full of events that cannot be dropped, push waits for the
// sender to make room (back-pressure on the informers) — no completed event is ever dropped.
func (o *outbox) push(ctx context.Context, runID string, completed bool, req json.RawMessage, now time.Time) {
	rec := Record{RunID: runID, Completed: completed, Request: req, Queued: now}
	o.mu.Lock()
	for {
		if o.throttled && o.belowLowWater(rec) {
			o.throttled = false
		}
		full := o.full(rec)
		if !full && !o.throttled {
			break
		}
		if full && o.coalesce(rec) {
			continue
		}
		// Full: wait until the sender has drained the outbox to its low-water mark, so that
		// the events pushed then are written together, not one ConfigMap write per event.
		o.throttled = true
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
	rec.segment = o.segmentFor(rec)
	o.recs = append(o.recs, rec)
	o.account(rec, 1)
	o.metrics.outboxDepth.Set(float64(len(o.recs)))
	throttled := o.throttled
	o.mu.Unlock()
	if !throttled {
		o.wakePusher() // another push may be waiting for the same room
	}
	o.metrics.eventsQueued.Inc()
	o.signal()
	select {
	case o.flushes <- struct{}{}:
	default:
	}
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
	for seg := range outboxSegments {
		if dirty&(1<<seg) == 0 {
			continue
		}
		if err := o.store.Save(ctx, seg, bySegment[seg]); err != nil {
			failed |= 1 << seg
			errs = append(errs, err)
		}
	}
	o.mu.Lock()
	for seg := range outboxSegments {
		if dirty&(1<<seg) != 0 && failed&(1<<seg) == 0 {
			o.stored[seg] = prints[seg]
		}
	}
	o.dirty |= failed
	o.mu.Unlock()
	o.metrics.outboxWrites.Add(float64(bits.OnesCount(dirty &^ failed)))
	if failed != 0 {
		o.log.Warn("cannot persist the outbox; keeping events in memory and retrying", zap.Error(errors.Join(errs...)))
	}
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

// head returns the oldest event.
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
		o.recs = o.recs[1:]
	}
	o.metrics.outboxDepth.Set(float64(len(o.recs)))
	o.mu.Unlock()
	o.wakePusher()
}

func (o *outbox) wakePusher() {
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
		req, err := withIdentity(rec.Request, s.identity())
		if err != nil {
			s.log.Error("dropping an undecodable outbox record", zap.Uint64("seq", rec.Seq), zap.Error(err))
			s.outbox.ack(ctx, rec.Seq)
			continue
		}
		var reply string
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
		if err := clockutil.Sleep(ctx, s.o.Clock, bo.NextBackOff()); err != nil {
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

// Load implements Store. The segments are read in parallel (start-up time).
func (c *ConfigMapStore) Load(ctx context.Context) ([]Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		segs [outboxSegments][]Record
		errs [outboxSegments]error
		wg   sync.WaitGroup
	)
	for s := range outboxSegments {
		wg.Go(func() { segs[s], errs[s] = c.loadSegment(ctx, s) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	var all []Record
	for _, recs := range segs {
		all = append(all, recs...)
	}
	slices.SortFunc(all, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return all, nil
}

// loadSegment reads segment s; called with c.mu held, for distinct segments concurrently.
func (c *ConfigMapStore) loadSegment(ctx context.Context, s int) ([]Record, error) {
	name := segmentName(c.name, s)
	cm, err := c.kube.CoreV1().ConfigMaps(c.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
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
	for i := range recs {
		recs[i].segment = s
	}
	c.last[s] = metaOnly(cm)
	return recs, nil
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
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
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
