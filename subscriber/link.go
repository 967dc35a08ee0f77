package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"

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

// link keeps the infraConnect subscription up until ctx ends: every failure — dial errors,
// refusals, silence, server restarts — leads to a reconnect after a capped, jittered exponential
// back-off; the process never exits because of the control plane.
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
		default:
			s.log.Warn("control-plane link down", zap.Error(err), zap.Duration("retryIn", wait))
		}
		s.linkDog.expect(s.o.Clock.Now(), wait)
		if err := clockutil.Sleep(ctx, s.o.Clock, wait); err != nil {
			return nil
		}
	}
}

// session runs one websocket connection until it fails.
func (s *Subscriber) session(ctx context.Context) error {
	s.linkDog.expect(s.o.Clock.Now(), 30*time.Second)
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := s.o.Dial(dialCtx, s.wsURL)
	cancel()
	if err != nil {
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
			return fmt.Errorf("send %s: %w", frameType(m), err)
		}
	}
	acked := false
	for {
		s.linkDog.expect(s.o.Clock.Now(), s.o.KeepAliveTimeout)
		msg, err := conn.Read(s.o.Clock.Now().Add(s.o.KeepAliveTimeout))
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("read (no frame for up to %s): %w", s.o.KeepAliveTimeout, err)
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
				s.setConnected(ctx, true, nil)
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
	}
	if up {
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
