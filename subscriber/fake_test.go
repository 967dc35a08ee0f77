package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap/zaptest"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// This file holds the in-memory doubles of the fast tests: a Conn over channels, a control plane
// speaking graphql-ws over it, and a Subscriber on fake clientsets. Everything blocks only on
// channels and timers, so the tests run inside testing/synctest bubbles with a fake clock.

const (
	fakeInfra = "infra-1"
	fakeKey   = "key-0123456789abcdef0123456789ab"
	fakeNS    = "hce"
)

// memConn is one end of an in-memory websocket connection.
type memConn struct {
	in     <-chan []byte // frames from the peer
	out    chan<- []byte // frames to the peer
	closed chan struct{} // shared by both ends: closing either end drops the connection
	once   *sync.Once
}

func (c *memConn) Read(deadline time.Time) ([]byte, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case m := <-c.in:
		return m, nil
	case <-c.closed:
		return nil, net.ErrClosed
	case <-t.C:
		return nil, os.ErrDeadlineExceeded
	}
}

func (c *memConn) Write(ctx context.Context, msg []byte) error {
	select {
	case c.out <- msg:
		return nil
	case <-c.closed:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// memPipe returns the two ends of a connection.
func memPipe() (agent, server *memConn) {
	// Buffered like a socket: a peer may write while the other end is writing too.
	a2s, s2a := make(chan []byte, 64), make(chan []byte, 64)
	closed, once := make(chan struct{}), &sync.Once{}
	return &memConn{in: s2a, out: a2s, closed: closed, once: once},
		&memConn{in: a2s, out: s2a, closed: closed, once: once}
}

// cpConn is the control plane's view of one agent connection.
type cpConn struct {
	conn   *memConn
	silent chan struct{} // closed: the server stops sending anything (half-open link)
	frames chan []byte   // extra frames to send
	once   sync.Once
}

// memCP is an in-memory control plane: it accepts connections (or fails dials), acknowledges
// connection_init, answers start with keep-alives every ka, and forwards frames a test pushes.
type memCP struct {
	ka time.Duration

	mu      sync.Mutex
	dials   []time.Time        // when each dial happened
	dialErr func(n int) error  // the n-th dial (from 0) fails with this error, if not nil
	reject  func(n int) string // the n-th connection's subscription is refused with this message, if not empty
	conns   []*cpConn          // accepted connections, in order
	started chan int           // receives the index of each connection whose subscription started
	hang    func(n int) bool   // the n-th dial blocks until its context ends
}

func newMemCP(ka time.Duration) *memCP {
	return &memCP{ka: ka, started: make(chan int, 100)}
}

func (cp *memCP) dial(ctx context.Context, url string) (Conn, error) {
	cp.mu.Lock()
	n := len(cp.dials)
	cp.dials = append(cp.dials, time.Now())
	var err error
	if cp.dialErr != nil {
		err = cp.dialErr(n)
	}
	hang := cp.hang != nil && cp.hang(n)
	cp.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	agent, server := memPipe()
	c := &cpConn{conn: server, silent: make(chan struct{}), frames: make(chan []byte, 16)}
	cp.mu.Lock()
	idx := len(cp.conns)
	cp.conns = append(cp.conns, c)
	cp.mu.Unlock()
	go cp.serve(idx, c)
	return agent, nil
}

// serve speaks the server side of graphql-ws on one connection until it closes.
func (cp *memCP) serve(idx int, c *cpConn) {
	send := func(f frame) bool {
		b, _ := json.Marshal(f)
		select {
		case <-c.silent:
			return true // swallowed
		default:
		}
		return c.conn.Write(context.Background(), b) == nil
	}
	var ka <-chan time.Time
	for {
		select {
		case <-c.conn.closed:
			return
		case m := <-c.conn.in:
			f, err := decodeFrame(m)
			if err != nil {
				continue
			}
			switch f.Type {
			case frameConnectionInit:
				send(frame{Type: frameConnectionAck})
			case frameStart:
				cp.mu.Lock()
				msg := ""
				if cp.reject != nil {
					msg = cp.reject(idx)
				}
				cp.mu.Unlock()
				if msg != "" {
					p, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"message": msg}}})
					send(frame{Type: frameData, ID: f.ID, Payload: p})
					continue
				}
				t := time.NewTicker(cp.ka)
				defer t.Stop()
				ka = t.C
				send(frame{Type: frameKeepAlive})
				cp.started <- idx
			}
		case <-ka:
			send(frame{Type: frameKeepAlive})
		case b := <-c.frames:
			select {
			case <-c.silent:
			default:
				_ = c.conn.Write(context.Background(), b)
			}
		}
	}
}

func (cp *memCP) conn(i int) *cpConn {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.conns[i]
}

func (cp *memCP) dialTimes() []time.Time {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]time.Time(nil), cp.dials...)
}

// drop closes the connection from the server's side.
func (c *cpConn) drop() { _ = c.conn.Close() }

// silence makes the server stop sending on the connection without closing it.
func (c *cpConn) silence() { c.once.Do(func() { close(c.silent) }) }

// action pushes an action frame.
func (c *cpConn) action(a map[string]any) {
	p, _ := json.Marshal(map[string]any{"data": map[string]any{"infraConnect": map[string]any{"action": a}}})
	b, _ := json.Marshal(frame{Type: frameData, ID: "1", Payload: p})
	c.frames <- b
}

// raw pushes a frame as is.
func (c *cpConn) raw(b []byte) { c.frames <- b }

// fakeClients are the clientsets of a Subscriber under test.
type fakeClients struct {
	kube *kubefake.Clientset
	dyn  *dynamicfake.FakeDynamicClient
	argo *argofake.Clientset
}

func newFakeClients(objs ...runtime.Object) fakeClients {
	scheme := runtime.NewScheme()
	listKinds := map[schema.GroupVersionResource]string{
		litmus.ChaosEngineGVR(): "ChaosEngineList",
		litmus.ChaosResultGVR(): "ChaosResultList",
	}
	kube := kubefake.NewClientset(objs...)
	// The fake clientset does not implement generateName (Events use it).
	var names atomic.Int64
	kube.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if obj, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok && obj.GetName() == "" && obj.GetGenerateName() != "" {
			obj.SetName(fmt.Sprintf("%s%d", obj.GetGenerateName(), names.Add(1)))
		}
		return false, nil, nil
	})
	argo := argofake.NewSimpleClientset()
	// Nor does it give objects a UID (Workflows are looked up by theirs).
	argo.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if obj, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok && obj.GetUID() == "" {
			obj.SetUID(types.UID("uid-" + obj.GetName()))
		}
		return false, nil, nil
	})
	return fakeClients{
		kube: kube,
		dyn:  dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, listKinds),
		argo: argo,
	}
}

// fakeSettle is the fake subscribers' SubscribeSettle: a link counts as up this long after the ack.
const fakeSettle = 10 * time.Millisecond

// settle lets a fresh subscription count as up (inside a synctest bubble).
func settle() {
	time.Sleep(fakeSettle)
	synctest.Wait()
}

// newFakeSubscriber returns a Subscriber on fake clients; edit adjusts its options.
func newFakeSubscriber(t *testing.T, fc fakeClients, edit func(*Options)) *Subscriber {
	t.Helper()
	o := Options{
		ServerAddr: "http://cp.test/query", InfraID: fakeInfra, AccessKey: fakeKey, Version: "3.31.0",
		Namespace: fakeNS, PodName: "agent-0",
		Kube: fc.kube, Dynamic: fc.dyn, Argo: fc.argo, Mapper: meta.NewDefaultRESTMapper(nil),
		Log:              zaptest.NewLogger(t),
		KeepAliveTimeout: 2 * time.Second, ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second,
		Outbox: &MemoryStore{},
		Dial: func(context.Context, string) (Conn, error) {
			return nil, errors.New("no dialer in this test")
		},
		// The server always answers HTTP: after a dropped link the agent waits its back-off.
		Probe:           func(context.Context) bool { return true },
		SubscribeSettle: fakeSettle,
	}
	if edit != nil {
		edit(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
