package subscriber

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runLink starts s.link in the bubble and returns a stop function that cancels it and checks
// that it returned nil.
func runLink(t *testing.T, s *Subscriber) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.link(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("link returned %v after ctx ended", err)
		}
	}
}

// eventReasons counts the Kubernetes Events the subscriber recorded, by reason.
func eventReasons(t *testing.T, fc fakeClients) map[string]int {
	t.Helper()
	evs, err := fc.kube.CoreV1().Events(fakeNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range evs.Items {
		out[e.Reason]++
	}
	return out
}

// TestLinkReconnectsAfterDrop: a connection the server drops is noticed at once, readiness and
// the gauge follow, and the link dials again after the first back-off step.
func TestLinkReconnectsAfterDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cp := newMemCP(200 * time.Millisecond)
		fc := newFakeClients()
		s := newFakeSubscriber(t, fc, func(o *Options) { o.Dial = cp.dial })
		stop := runLink(t, s)
		defer stop()

		settle()
		if !s.Connected() || testutil.ToFloat64(s.o.Metrics.connected) != 1 {
			t.Fatalf("not connected after the ack (connected=%v)", s.Connected())
		}
		dropped := time.Now()
		cp.conn(0).drop()
		synctest.Wait()
		if s.Connected() || testutil.ToFloat64(s.o.Metrics.connected) != 0 {
			t.Fatal("still connected after the server dropped the connection")
		}
		time.Sleep(200 * time.Millisecond) // > ReconnectMin × 1.3
		synctest.Wait()
		if !s.Connected() {
			t.Fatal("not connected again after the back-off")
		}
		dials := cp.dialTimes()
		if len(dials) != 2 {
			t.Fatalf("%d dials, want 2", len(dials))
		}
		if wait := dials[1].Sub(dropped); wait < 70*time.Millisecond || wait > 130*time.Millisecond {
			t.Errorf("redialled %s after the drop, want ReconnectMin 100ms ± 30%%", wait)
		}
		r := eventReasons(t, fc)
		if r["ControlPlaneConnected"] != 2 || r["ControlPlaneDisconnected"] != 1 {
			t.Errorf("events %v, want 2 connects and 1 disconnect", r)
		}
	})
}

// TestLinkHalfOpen: a server that stops sending (no keep-alive, no close) is declared dead
// exactly KeepAliveTimeout after its last frame, and the link reconnects.
func TestLinkHalfOpen(t *testing.T) {
	for _, ka := range []time.Duration{2 * time.Second, 30 * time.Second} {
		t.Run(ka.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cp := newMemCP(ka / 10)
				fc := newFakeClients()
				s := newFakeSubscriber(t, fc, func(o *Options) { o.Dial = cp.dial; o.KeepAliveTimeout = ka })
				stop := runLink(t, s)
				defer stop()
				synctest.Wait()

				// Keep-alives arrive every ka/10: the link stays up much longer than the timeout.
				time.Sleep(3 * ka)
				synctest.Wait()
				if !s.Connected() || len(cp.dialTimes()) != 1 {
					t.Fatalf("a live link was dropped (connected=%v, dials=%d)", s.Connected(), len(cp.dialTimes()))
				}
				// The last frame came at 3·ka exactly; silence the server half a period later.
				time.Sleep(ka / 20)
				cp.conn(0).silence()
				lastFrame := time.Now().Add(-ka / 20)
				time.Sleep(time.Until(lastFrame.Add(ka)) - time.Millisecond)
				synctest.Wait()
				if !s.Connected() {
					t.Fatalf("silent link dropped %s after the last frame, before the %s timeout", time.Since(lastFrame), ka)
				}
				time.Sleep(2 * time.Millisecond)
				synctest.Wait()
				if s.Connected() {
					t.Fatalf("silent link still up %s after the last frame", time.Since(lastFrame))
				}
				time.Sleep(2 * time.Second) // > ReconnectMax × 1.3
				synctest.Wait()
				if !s.Connected() || len(cp.dialTimes()) != 2 {
					t.Errorf("not reconnected after the half-open link (connected=%v, dials=%d)", s.Connected(), len(cp.dialTimes()))
				}
			})
		})
	}
}

// TestLinkBackoffBounds: failing dials are retried after capped exponential waits with ±30 %
// jitter: each wait lies within its step's bounds, never below ReconnectMin·0.7 nor above
// ReconnectMax·1.3, and the waits at the cap differ (jitter).
func TestLinkBackoffBounds(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
		dials    int
	}{
		{"defaults", 0, 0, 14},
		{"test settings", 100 * time.Millisecond, time.Second, 14},
		{"min equals max", 5 * time.Second, 5 * time.Second, 10},
		{"slow start", 10 * time.Second, 5 * time.Minute, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cp := newMemCP(time.Second)
				cp.dialErr = func(int) error { return errors.New("connection refused") }
				fc := newFakeClients()
				s := newFakeSubscriber(t, fc, func(o *Options) {
					o.Dial, o.ReconnectMin, o.ReconnectMax = cp.dial, tc.min, tc.max
				})
				lo, hi := s.o.ReconnectMin, s.o.ReconnectMax // with New's defaults
				stop := runLink(t, s)
				for deadline := time.Now().Add(time.Hour); len(cp.dialTimes()) < tc.dials; {
					if time.Now().After(deadline) {
						t.Fatalf("%d dials in an hour", len(cp.dialTimes()))
					}
					time.Sleep(lo)
					synctest.Wait()
				}
				stop()
				dials := cp.dialTimes()
				step := lo
				capped := map[time.Duration]bool{}
				for i := 1; i < tc.dials; i++ {
					wait := dials[i].Sub(dials[i-1])
					low, high := time.Duration(float64(step)*0.7), time.Duration(float64(step)*1.3)
					if wait < low || wait > high {
						t.Errorf("wait %d = %s, want within [%s, %s]", i, wait, low, high)
					}
					if wait < time.Duration(float64(lo)*0.7) || wait > time.Duration(float64(hi)*1.3) {
						t.Errorf("wait %d = %s outside the overall bounds", i, wait)
					}
					if step == hi {
						capped[wait] = true
					}
					step = min(2*step, hi)
				}
				if len(capped) < 2 {
					t.Errorf("waits at the cap %v: want jitter (at least two different values)", capped)
				}
				if s.Connected() {
					t.Error("connected although every dial failed")
				}
			})
		})
	}
}

// TestLinkRefusals: the server's refusals of the subscription set the next wait: "already
// connected" is retried within 3 s whatever the back-off, an identity or version mismatch waits
// at least ReconnectMax; the back-off restarts after a session that stayed up over a minute; a
// dial that hangs is abandoned after 30 s.
func TestLinkRefusals(t *testing.T) {
	tests := []struct {
		name           string
		reject         string
		hang           bool
		upFor          time.Duration // the first session lasts this long before the server drops it
		min, max       time.Duration
		wantLo, wantHi time.Duration // the wait between the first and second dial
	}{
		{name: "already connected", reject: "CLUSTER ALREADY CONNECTED", min: 10 * time.Second, max: time.Minute,
			wantLo: 0, wantHi: 3 * time.Second},
		{name: "access key", reject: "ERROR: INFRA_ID MISMATCH OR ACCESS KEY MISMATCH", min: 100 * time.Millisecond, max: 20 * time.Second,
			wantLo: 20 * time.Second, wantHi: 26 * time.Second},
		{name: "version", reject: "ERROR: VERSION MISMATCH", min: time.Second, max: 40 * time.Second,
			wantLo: 40 * time.Second, wantHi: 52 * time.Second},
		{name: "other error", reject: "internal error", min: 2 * time.Second, max: time.Minute,
			wantLo: 1400 * time.Millisecond, wantHi: 2600 * time.Millisecond},
		{name: "long healthy session", upFor: 2 * time.Minute, min: time.Second, max: time.Minute,
			wantLo: 2*time.Minute + 700*time.Millisecond, wantHi: 2*time.Minute + 1300*time.Millisecond},
		{name: "dial hangs", hang: true, min: time.Second, max: time.Minute,
			wantLo: 30*time.Second + 700*time.Millisecond, wantHi: 30*time.Second + 1300*time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cp := newMemCP(time.Second)
				cp.reject = func(n int) string {
					if n == 0 {
						return tc.reject
					}
					return ""
				}
				cp.hang = func(n int) bool { return tc.hang && n == 0 }
				fc := newFakeClients()
				s := newFakeSubscriber(t, fc, func(o *Options) {
					o.Dial, o.ReconnectMin, o.ReconnectMax = cp.dial, tc.min, tc.max
				})
				stop := runLink(t, s)
				defer stop()
				if tc.upFor > 0 {
					time.Sleep(tc.upFor)
					synctest.Wait()
					if !s.Connected() {
						t.Fatal("the first session did not stay up")
					}
					cp.conn(0).drop()
				}
				for deadline := time.Now().Add(time.Hour); len(cp.dialTimes()) < 2; {
					if time.Now().After(deadline) {
						t.Fatal("no second dial in an hour")
					}
					time.Sleep(100 * time.Millisecond)
					synctest.Wait()
				}
				d := cp.dialTimes()
				if wait := d[1].Sub(d[0]); wait < tc.wantLo || wait > tc.wantHi {
					t.Errorf("second dial %s after the first, want within [%s, %s]", wait, tc.wantLo, tc.wantHi)
				}
				settle()
				if !s.Connected() {
					t.Error("not connected after the server accepted")
				}
				// A refusal right after the server's ack never counted as subscribed.
				if r := eventReasons(t, fc)["ControlPlaneConnected"]; tc.reject != "" && r != 1 {
					t.Errorf("%d ControlPlaneConnected events, want 1 (the refused subscription must not count)", r)
				}
			})
		})
	}
}

// TestLinkFrames: malformed frames and actions are counted and skipped without dropping the
// link; valid actions reach the workers in order; error and complete frames end the session.
func TestLinkFrames(t *testing.T) {
	tests := []struct {
		name       string
		frames     []string
		wantBad    float64
		wantDrop   bool
		wantAction []string // request ids, in order
	}{
		{name: "garbage", frames: []string{`{not json`, `{"type":""}`, `[]`}, wantBad: 3},
		{name: "bad actions", frames: []string{`{"type":"data","id":"1","payload":{"data":null}}`, `{"type":"data","id":"1","payload":"x"}`}, wantBad: 2},
		{name: "unknown frame types", frames: []string{`{"type":"pong"}`, `{"type":"connection_ack"}`}},
		{name: "complete", frames: []string{`{"type":"complete","id":"1"}`}, wantDrop: true},
		{name: "error", frames: []string{`{"type":"error","id":"1","payload":{"message":"boom"}}`}, wantDrop: true},
		{name: "connection error", frames: []string{`{"type":"connection_error","payload":{"message":"boom"}}`}, wantDrop: true},
		{name: "huge garbage", frames: []string{`{"type":"data","payload":"` + string(make([]byte, 8<<20)) + `"}`}, wantBad: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cp := newMemCP(200 * time.Millisecond)
				s := newFakeSubscriber(t, newFakeClients(), func(o *Options) { o.Dial = cp.dial })
				stop := runLink(t, s)
				defer stop()
				synctest.Wait()
				c := cp.conn(0)
				c.action(map[string]any{"requestID": "before", "requestType": "get"})
				for _, f := range tc.frames {
					c.raw([]byte(f))
				}
				if !tc.wantDrop {
					c.action(map[string]any{"requestID": "after", "requestType": "get"})
				}
				synctest.Wait()
				if got := testutil.ToFloat64(s.o.Metrics.badFrames); got != tc.wantBad {
					t.Errorf("bad frames %v, want %v", got, tc.wantBad)
				}
				want := []string{"before"}
				if !tc.wantDrop {
					want = append(want, "after")
				}
				var got []string
				for len(s.actions) > 0 {
					got = append(got, (<-s.actions).RequestID)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("actions %v, want %v", got, want)
				}
				if s.Connected() == tc.wantDrop {
					t.Errorf("connected=%v after the frames, want %v", s.Connected(), !tc.wantDrop)
				}
				time.Sleep(time.Second) // a dropped link redials within ReconnectMin × 1.3
				synctest.Wait()
				if dials := len(cp.dialTimes()); dials != 1 && !tc.wantDrop || dials != 2 && tc.wantDrop {
					t.Errorf("%d dials, want a redial only after a session-ending frame (%v)", dials, tc.wantDrop)
				}
			})
		})
	}
}
