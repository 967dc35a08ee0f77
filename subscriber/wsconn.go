package subscriber

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is a websocket connection to the control plane. Read is called from one goroutine only;
// Write may be called concurrently.
type Conn interface {
	// Read returns the next text message; it fails if none arrives before deadline.
	Read(deadline time.Time) ([]byte, error)
	Write(ctx context.Context, msg []byte) error
	Close() error
}

// DialFunc opens a Conn. Its errors should be *HandshakeError, saying whether the server
// answered the upgrade request with an HTTP status.
type DialFunc func(ctx context.Context, url string) (Conn, error)

// DefaultMaxFrameBytes bounds one websocket message from the control plane. ChaosCenter's largest
// messages (experiment Workflows with their embedded manifests) are well under 1 MiB.
const DefaultMaxFrameBytes = 4 << 20

// HandshakeError is a failed websocket dial. Status is the HTTP status the server answered the
// upgrade request with, or 0 when no answer came (no connection, TLS failure, timeout).
type HandshakeError struct {
	Status int
	Err    error
}

func (e *HandshakeError) Error() string { return e.Err.Error() }
func (e *HandshakeError) Unwrap() error { return e.Err }

// gorillaDialer dials with gorilla/websocket: the only place that library is used. A message
// larger than maxFrame fails the read (the link reconnects) before it is buffered whole.
func gorillaDialer(tlsCfg *tls.Config, maxFrame int64) DialFunc {
	d := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 30 * time.Second,
		TLSClientConfig:  tlsCfg,
		Subprotocols:     []string{"graphql-ws"},
		ReadBufferSize:   64 << 10,
		WriteBufferSize:  64 << 10,
	}
	return func(ctx context.Context, url string) (Conn, error) {
		c, resp, err := d.DialContext(ctx, url, nil)
		if err != nil {
			if resp != nil {
				return nil, &HandshakeError{Status: resp.StatusCode, Err: fmt.Errorf("dial %s: %w (HTTP %d)", url, err, resp.StatusCode)}
			}
			return nil, &HandshakeError{Err: fmt.Errorf("dial %s: %w", url, err)}
		}
		c.SetReadLimit(maxFrame)
		return &gorillaConn{c: c}, nil
	}
}

type gorillaConn struct {
	c  *websocket.Conn
	wm sync.Mutex
}

func (g *gorillaConn) Read(deadline time.Time) ([]byte, error) {
	if err := g.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	for {
		typ, msg, err := g.c.ReadMessage()
		if err != nil {
			return nil, err
		}
		if typ == websocket.TextMessage || typ == websocket.BinaryMessage {
			return msg, nil
		}
	}
}

func (g *gorillaConn) Write(ctx context.Context, msg []byte) error {
	g.wm.Lock()
	defer g.wm.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := g.c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return g.c.WriteMessage(websocket.TextMessage, msg)
}

func (g *gorillaConn) Close() error {
	g.wm.Lock()
	_ = g.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	g.wm.Unlock()
	return g.c.Close()
}
