package subscriber

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/clockutil"
)

// rejectedError is the server refusing the infraConnect subscription.
type rejectedError struct{ messages []string }

func (e *rejectedError) Error() string {
	return "control plane refused the subscription: " + strings.Join(e.messages, "; ")
}

func (e *rejectedError) alreadyConnected() bool {
	return strings.Contains(strings.ToUpper(e.Error()), "ALREADY CONNECTED")
}

func (e *rejectedError) authOrVersion() bool {
	s := strings.ToUpper(e.Error())
	return strings.Contains(s, "MISMATCH") || strings.Contains(s, "VERSION") || strings.Contains(s, "ACCESS")
}

// link keeps the infraConnect subscription up until ctx ends; the process never exits because
// of the control plane. After a failure it waits before the next attempt:
//
//   - a refusal — the server answered and said no (wrong key, version mismatch, a 4xx handshake,
//     an untrusted certificate) — waits a capped, jittered exponential back-off
//     (ReconnectMin doubling to ReconnectMax), since asking again soon changes nothing;
//   - an unreachable server (dial, read or write errors, a 502/503/504 from a proxy) is watched
//     with cheap readiness probes (an HTTP GET, no websocket, no GraphQL) every ProbeInterval or
//     less, jittered, and subscribed to again as soon as a probe finds it back after it was
//     seen down — however long the outage was. While probes fail no handshake is attempted, so
//     a fleet of agents costs a recovering server one small request per agent and interval.
func (s *Subscriber) link(ctx context.Context) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = s.o.ReconnectMin
	bo.MaxInterval = s.o.ReconnectMax
	bo.Multiplier = 2
	bo.RandomizationFactor = 0.3
	bo.MaxElapsedTime = 0
	bo.Reset()
	defer s.linkDog.idle()
	for {
		started := s.o.Clock.Now()
		err := s.session(ctx)
		s.setConnected(ctx, false, err)
		if ctx.Err() != nil {
			return nil
		}
		if s.o.Clock.Since(started) > time.Minute {
			bo.Reset() // the session was healthy for a while: start over with short waits
		}
		wait := bo.NextBackOff()
		var rej *rejectedError
		switch {
		case errors.As(err, &rej) && rej.alreadyConnected():
			// The server closes the old subscription and expects us to retry shortly.
			wait = min(wait, 3*time.Second)
			s.log.Warn("control plane says this infrastructure is already connected; retrying", zap.Duration("retryIn", wait))
		case errors.As(err, &rej) && rej.authOrVersion():
			wait = max(wait, s.o.ReconnectMax)
			s.log.Error("control plane refused this agent's identity or version: check INFRA_ID, the access key and VERSION (re-download the infrastructure manifest if the key was rotated)",
				zap.Error(err), zap.Duration("retryIn", wait))
		case unreachable(err):
			s.log.Warn("control-plane link down; probing the server until it answers", zap.Error(err),
				zap.Duration("probeEvery", s.o.ProbeInterval), zap.Duration("retryIn", wait))
			if err := s.awaitServer(ctx, wait); err != nil {
				return nil
			}
			continue
		default:
			s.log.Warn("control-plane link down", zap.Error(err), zap.Duration("retryIn", wait))
		}
		s.linkDog.expect(s.o.Clock.Now(), wait)
		if err := clockutil.Sleep(ctx, s.o.Clock, wait); err != nil {
			return nil
		}
	}
}

// awaitServer returns once the next subscription attempt is due after a network failure: as
// soon as a probe finds the server answering after one found it down (it is back: subscribe at
// once), or, if every probe finds it up, once wait has passed (the server answers HTTP but the
// subscription failed: keep the back-off so that a broken path is not hammered). Probes run at
// jittered intervals of at most ProbeInterval. Whatever the probes say, a subscription is tried
// again at least every max(wait, ReconnectMax): probes that cannot succeed on some path (a proxy
// that refuses plain GETs, a server slower than probeTimeout) never keep the link down for good.
func (s *Subscriber) awaitServer(ctx context.Context, wait time.Duration) error {
	start := s.o.Clock.Now()
	due := start.Add(wait)
	floor := start.Add(max(wait, s.o.ReconnectMax))
	down := false
	for {
		left := floor.Sub(s.o.Clock.Now())
		if !down {
			left = due.Sub(s.o.Clock.Now())
		}
		if left <= 0 {
			return nil
		}
		step := min(jitter(s.o.ProbeInterval), left)
		// A long outage is waiting, not being stuck: each step has its own deadline.
		s.linkDog.expect(s.o.Clock.Now(), step+probeTimeout(s.o.ProbeInterval))
		if err := clockutil.Sleep(ctx, s.o.Clock, step); err != nil {
			return err
		}
		began := s.o.Clock.Now()
		up := s.o.Probe(ctx)
		s.o.Metrics.probes.WithLabelValues(strconv.FormatBool(up)).Inc()
		switch {
		case !up:
			down = true
		case down:
			s.log.Info("control plane answers again; subscribing", zap.Duration("probeTook", s.o.Clock.Since(began)))
			return nil
		}
	}
}

// probeTimeout bounds one probe: at least 5 s, so that a distant or slow server (a TLS
// handshake over a long round trip) still counts as answering.
func probeTimeout(interval time.Duration) time.Duration { return max(interval, 5*time.Second) }

// jitter returns a duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// probe reports whether the server answers HTTP at all: a GET on the GraphQL URL (which a
// GraphQL server refuses with a 4xx — an answer all the same), through the same proxy and TLS
// settings as the link. No answer, a 5xx (a proxy whose backend is down) or a 429 means not yet.
func (s *Subscriber) probe(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(s.o.ProbeInterval))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.o.ServerAddr, nil)
	if err != nil {
		return false
	}
	resp, err := s.gql.http.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	return resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests
}

// linkError marks a failure of the network path (the connection broke or could not be made),
// as opposed to a refusal by a server that answered.
type linkError struct{ err error }

func (e *linkError) Error() string { return e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

// unreachable reports whether err means the server could not be reached (rather than that it
// refused): a connection that broke, a dial that got no HTTP answer — except a certificate that
// is not trusted, which no retry fixes — or a proxy's 502/503/504.
func unreachable(err error) bool {
	var le *linkError
	if errors.As(err, &le) {
		return true
	}
	var hs *HandshakeError
	if errors.As(err, &hs) {
		switch hs.Status {
		case 0:
			var cert *tls.CertificateVerificationError
			return !errors.As(err, &cert)
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// session runs one websocket connection until it fails.
func (s *Subscriber) session(ctx context.Context) error {
	s.linkDog.expect(s.o.Clock.Now(), 30*time.Second)
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := s.o.Dial(dialCtx, s.wsURL)
	cancel()
	if err != nil {
		var hs *HandshakeError
		if !errors.As(err, &hs) {
			err = &HandshakeError{Err: err} // a DialFunc that does not say: no HTTP answer
		}
		return err
	}
	defer func() { _ = conn.Close() }() // also closed when ctx ends; the second Close errors
	// Close the socket when ctx ends so that a blocked Read returns at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	init, _ := json.Marshal(frame{Type: frameConnectionInit, Payload: json.RawMessage(`{}`)})
	startPayload, _ := json.Marshal(map[string]any{
		"query": docInfraConnect, "operationName": "infraConnect",
		"variables": map[string]any{"request": s.identity()},
	})
	start, _ := json.Marshal(frame{Type: frameStart, ID: "1", Payload: startPayload})
	for _, m := range [][]byte{init, start} {
		s.linkDog.expect(s.o.Clock.Now(), 10*time.Second)
		if err := conn.Write(ctx, m); err != nil {
			return &linkError{fmt.Errorf("send %s: %w", frameType(m), err)}
		}
	}
	acked := false
	conf := &confirmation{confirm: func() { s.setConnected(ctx, true, nil) }}
	defer conf.end() // before link marks the link down
	for {
		s.linkDog.expect(s.o.Clock.Now(), s.o.KeepAliveTimeout)
		msg, err := conn.Read(s.o.Clock.Now().Add(s.o.KeepAliveTimeout))
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return &linkError{fmt.Errorf("read (no frame for up to %s): %w", s.o.KeepAliveTimeout, err)}
		}
		f, err := decodeFrame(msg)
		if err != nil {
			s.o.Metrics.badFrames.Inc()
			s.log.Warn("ignoring a malformed frame", zap.Error(err), zap.Int("bytes", len(msg)))
			continue
		}
		switch f.Type {
		case frameConnectionAck:
			if !acked {
				acked = true
				conf.arm(s.o.Clock, s.o.SubscribeSettle)
			}
		case frameKeepAlive:
		case frameData:
			action, gqlErrs, err := decodeAction(f.Payload)
			switch {
			case len(gqlErrs) > 0:
				msgs := make([]string, len(gqlErrs))
				for i, e := range gqlErrs {
					msgs[i] = e.Message
				}
				return &rejectedError{messages: msgs}
			case err != nil:
				s.o.Metrics.badFrames.Inc()
				s.log.Warn("ignoring a malformed action", zap.Error(err))
			default:
				conf.now() // an action: the subscription is up
				s.enqueue(ctx, *action)
			}
		case frameComplete:
			return errors.New("control plane ended the subscription")
		case frameError, frameConnectionError:
			return fmt.Errorf("control plane sent %s: %s", f.Type, truncate(string(f.Payload), 300))
		default:
			s.log.Debug("ignoring frame", zap.String("type", f.Type))
		}
	}
}

// lastConnected is when the subscription was last acknowledged (zero before).
func (s *Subscriber) lastConnected() time.Time {
	if ns := s.connectedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func frameType(m []byte) string {
	f, _ := decodeFrame(m)
	return f.Type
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// setConnected updates readiness, the connected gauge, and records a Kubernetes Event when the
// state changes.
func (s *Subscriber) setConnected(ctx context.Context, up bool, cause error) {
	if !up && cause != nil {
		s.linkSt.set(cause, s.o.Clock.Now()) // the last error, for /readyz
	}
	if s.connected.Swap(up) == up {
		return
	}
	if up {
		s.linkSt.set(nil, s.o.Clock.Now())
		s.connectedAt.Store(s.o.Clock.Now().UnixNano())
		s.o.Metrics.connected.Set(1)
		s.log.Info("subscribed to the control plane", zap.String("url", s.wsURL))
		s.recordEvent(ctx, corev1.EventTypeNormal, "ControlPlaneConnected", "subscribed to "+s.wsURL)
		// The server may have lost state while we were away: re-send every active run.
		s.resend(ctx)
		return
	}
	s.o.Metrics.connected.Set(0)
	msg := "disconnected from " + s.wsURL
	if cause != nil {
		msg += ": " + truncate(cause.Error(), 500)
	}
	s.recordEvent(context.WithoutCancel(ctx), corev1.EventTypeWarning, "ControlPlaneDisconnected", msg)
}

// confirmation marks a session's subscription up once (confirm): when an action arrives, or when
// the settle time after the server's connection_ack passes without a refusal. Once the session
// has ended (end) it never does, so that readiness is never claimed for a refused subscription.
type confirmation struct {
	confirm func()

	mu     sync.Mutex
	done   bool          // confirmed, or the session is over
	cancel chan struct{} // stops the settle timer
	wait   chan struct{} // closed when the settle goroutine is gone
}

// arm confirms after d unless the session ends first.
func (c *confirmation) arm(clk clock.Clock, d time.Duration) {
	t := clk.NewTimer(d)
	c.cancel, c.wait = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.wait)
		defer t.Stop()
		select {
		case <-t.C():
			c.now()
		case <-c.cancel:
		}
	}()
}

// now confirms, unless that happened already or the session is over.
func (c *confirmation) now() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done {
		c.done = true
		c.confirm()
	}
}

// end ends the session: no confirmation after it; waits for the settle goroutine.
func (c *confirmation) end() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	if c.cancel != nil {
		close(c.cancel)
		<-c.wait
	}
}
