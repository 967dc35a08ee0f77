package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.uber.org/zap"
)

// graphql-ws (subscriptions-transport-ws) message types (§1.5).
const (
	msgConnectionInit      = "connection_init"
	msgConnectionTerminate = "connection_terminate"
	msgStart               = "start"
	msgStop                = "stop"
	msgConnectionAck       = "connection_ack"
	msgConnectionError     = "connection_error"
	msgData                = "data"
	msgError               = "error"
	msgComplete            = "complete"
	msgKeepAlive           = "ka"
)

// wsMessage is one graphql-ws frame; member order matches gqlgen's output.
// Frames are written with WriteJSON like gqlgen does, so each text frame ends
// in a newline.
type wsMessage struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
}

// wsConn is one websocket connection.
type wsConn struct {
	s    *Server
	ws   *websocket.Conn
	wmu  sync.Mutex               // serialises writes
	subs map[string]*subscription // by operation id; guarded by s.mu
	done chan struct{}            // closed once the connection is torn down
	log  *zap.Logger
}

// subscription is an active infraConnect operation.
type subscription struct {
	infraID string
	id      string // operation id ("" when the client sent none)
	alias   string // response key of the infraConnect field
	sel     ast.SelectionSet
	op      *operation
	conn    *wsConn
}

// actionFrame renders an action as a "data" frame for this subscription.
func (sub *subscription) actionFrame(a Action) ([]byte, error) {
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	src := map[string]any{
		"projectID": a.ProjectID,
		"action": map[string]any{
			"requestID":    a.RequestID,
			"requestType":  a.RequestType,
			"k8sManifest":  a.K8sManifest,
			"namespace":    a.Namespace,
			"externalData": nullable(a.ExternalData),
			"username":     nullable(a.Username),
		},
	}
	data, err := json.Marshal(object{{sub.alias, sub.op.complete("InfraActionResponse", sub.sel, src)}})
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(&gqlResponse{Data: data})
	if err != nil {
		return nil, err
	}
	frame, err := json.Marshal(&wsMessage{Payload: payload, ID: sub.id, Type: msgData})
	if err != nil {
		return nil, err
	}
	// gqlgen writes frames with gorilla's WriteJSON, which ends them in "\n".
	return append(frame, '\n'), nil
}

func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already answered the request.
		s.log.Warn("websocket upgrade failed", zap.Error(err))
		return
	}
	c := &wsConn{
		s:    s,
		ws:   ws,
		subs: map[string]*subscription{},
		done: make(chan struct{}),
		log:  s.log.With(zap.String("remote", r.RemoteAddr)),
	}
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		_ = ws.Close()
		close(c.done)
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.log.Debug("websocket connected", zap.String("subprotocol", ws.Subprotocol()))
	defer c.teardown()
	c.run()
}

// teardown ends every subscription of the connection (without "complete")
// and closes the socket.
func (c *wsConn) teardown() {
	s := c.s
	s.mu.Lock()
	var ended []*subscription
	for _, sub := range c.subs {
		if s.detachLocked(sub) {
			ended = append(ended, sub)
		}
	}
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.ws.Close()
	for _, sub := range ended {
		s.subscriptionEnded(sub, "connection closed")
	}
	close(c.done)
}

// detachLocked removes a subscription from its connection and, if it is the
// infra's active one, from the infra. s.mu must be held. It reports whether
// the subscription was still attached.
func (s *Server) detachLocked(sub *subscription) bool {
	if sub.conn.subs[sub.id] != sub {
		return false
	}
	delete(sub.conn.subs, sub.id)
	if inf := s.infras[sub.infraID]; inf != nil && inf.sub == sub {
		inf.sub = nil
		s.broadcastLocked()
	}
	return true
}

func (s *Server) subscriptionEnded(sub *subscription, why string) {
	s.log.Info("infra offline", zap.String("infraID", sub.infraID), zap.String("reason", why))
	s.notify("disconnect")
}

func (c *wsConn) write(m *wsMessage) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.ws.WriteJSON(m)
}

func (c *wsConn) complete(id string) { _ = c.write(&wsMessage{ID: id, Type: msgComplete}) }

func (c *wsConn) sendData(id string, resp *gqlResponse) {
	b, err := json.Marshal(resp)
	if err != nil {
		b = []byte(`{"errors":[{"message":"could not encode response"}],"data":null}`)
	}
	_ = c.write(&wsMessage{Payload: b, ID: id, Type: msgData})
}

func (c *wsConn) sendError(id string, errs gqlerror.List) {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"could not encode errors"}]`)
	}
	_ = c.write(&wsMessage{Payload: b, ID: id, Type: msgError})
}

func (c *wsConn) connectionError(format string, args ...any) {
	b, _ := json.Marshal(&gqlerror.Error{Message: fmt.Sprintf(format, args...)})
	_ = c.write(&wsMessage{Payload: b, Type: msgConnectionError})
}

// closeWith sends a close frame and closes the socket.
func (c *wsConn) closeWith(code int, text string) {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
}

// read returns the next frame, or nil when the connection is over.
func (c *wsConn) read() *wsMessage {
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
			c.connectionError("invalid json: %T %s", err, err.Error())
		}
		return nil
	}
	var m wsMessage
	if err := decodeJSON(data, &m); err != nil {
		c.connectionError("invalid json")
		return nil
	}
	return &m
}

func (c *wsConn) run() {
	m := c.read()
	if m == nil {
		c.closeWith(websocket.CloseProtocolError, "decoding error")
		return
	}
	switch m.Type {
	case msgConnectionInit:
		// The payload is ignored (no InitFunc upstream) but must be an object.
		if len(m.Payload) > 0 {
			var p map[string]any
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				return
			}
		}
		if err := c.write(&wsMessage{Type: msgConnectionAck}); err != nil {
			return
		}
		if err := c.write(&wsMessage{Type: msgKeepAlive}); err != nil {
			return
		}
	case msgConnectionTerminate:
		c.closeWith(websocket.CloseNormalClosure, "terminated")
		return
	default:
		c.connectionError("unexpected message %s", m.Type)
		c.closeWith(websocket.CloseProtocolError, "unexpected message")
		return
	}

	stopKA := make(chan struct{})
	kaDone := make(chan struct{})
	go c.keepAlive(stopKA, kaDone)
	defer func() {
		close(stopKA)
		<-kaDone
	}()

	for {
		m := c.read()
		if m == nil {
			return
		}
		switch m.Type {
		case msgStart:
			c.start(m)
		case msgStop:
			c.stop(m.ID)
		case msgConnectionTerminate:
			c.closeWith(websocket.CloseNormalClosure, "terminated")
			return
		default:
			c.connectionError("unexpected message %s", m.Type)
			c.closeWith(websocket.CloseProtocolError, "unexpected message")
			return
		}
	}
}

func (c *wsConn) keepAlive(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(c.s.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := c.write(&wsMessage{Type: msgKeepAlive}); err != nil {
				_ = c.ws.Close()
				return
			}
		}
	}
}

func (c *wsConn) stop(id string) {
	s := c.s
	s.mu.Lock()
	sub := c.subs[id]
	ended := sub != nil && s.detachLocked(sub)
	s.mu.Unlock()
	if ended {
		c.complete(id)
		s.subscriptionEnded(sub, "stop")
	}
}

func (c *wsConn) start(m *wsMessage) {
	s := c.s
	var req gqlRequest
	if len(m.Payload) > 0 {
		if err := decodeJSON(m.Payload, &req); err != nil {
			s.addRejected("invalid json")
			c.sendError(m.ID, gqlerror.List{{Message: "invalid json"}})
			c.complete(m.ID)
			return
		}
	}
	// A start reusing the id of a running operation replaces it.
	c.stop(m.ID)

	op, errs := prepare(s.schema, &req)
	if errs != nil {
		s.invalid(errs, req.Query)
		c.sendError(m.ID, errs)
		c.complete(m.ID)
		return
	}
	if op.op.Operation != ast.Subscription {
		c.sendData(m.ID, s.execute(op))
		c.complete(m.ID)
		return
	}
	fields := op.collect(op.op.SelectionSet, "Subscription")
	if len(fields) != 1 || fields[0].field.Name != "infraConnect" {
		c.sendData(m.ID, errorResponse(gqlerror.List{gqlerror.Errorf("only the infraConnect subscription is supported")}))
		c.complete(m.ID)
		return
	}
	cf := fields[0]
	reject := func(err error) {
		s.addRejected(err.Error())
		s.notify("infraConnect")
		c.sendData(m.ID, errorResponse(gqlerror.List{{Message: err.Error(), Path: ast.Path{ast.PathName(cf.alias)}}}))
		c.complete(m.ID)
	}
	args, err := op.arguments(cf.field)
	if err != nil {
		reject(err)
		return
	}
	id := identityFrom(args["request"])
	log := c.log.With(zap.String("type", "infraConnect"), zap.String("infraID", id.InfraID), zap.String("version", id.Version))

	s.mu.Lock()
	if msg := s.rejects[id.InfraID]; msg != "" {
		s.mu.Unlock()
		log.Info("connect rejected (SetReject)", zap.String("error", msg))
		reject(errors.New(msg))
		return
	}
	inf, err := s.verifyInfraLocked(id)
	if err != nil {
		s.mu.Unlock()
		log.Info("connect rejected", zap.Error(err))
		reject(err)
		return
	}
	if old := inf.sub; old != nil {
		// §2.8: force the old subscription off and reject the new one.
		s.detachLocked(old)
		s.mu.Unlock()
		old.conn.complete(old.id)
		s.subscriptionEnded(old, "replaced by a new connection")
		log.Info("connect rejected", zap.String("error", msgAlreadyConnected))
		reject(errors.New(msgAlreadyConnected))
		return
	}
	sub := &subscription{infraID: id.InfraID, id: m.ID, alias: cf.alias, sel: cf.sel, op: op, conn: c}
	inf.sub = sub
	c.subs[m.ID] = sub
	s.broadcastLocked()
	s.mu.Unlock()
	log.Info("infra live")
	s.notify("infraConnect")
}
