// Package controlplane (imported as testcp) is a test control plane: a real, in-process server for the
// server side of the ChaosCenter 3.x agent protocol (see the protocol
// reference, §1–§4). It serves GraphQL over HTTP POST and graphql-ws over a
// websocket on the same path, validates every document against the agent-facing
// part of the ChaosCenter schema (SchemaSDL) with gqlparser — the library
// gqlgen, and so the real server, uses — and implements the resolvers the agent
// calls with the real server's semantics and texts: confirmInfraRegistration,
// infraConnect, chaosExperimentRun, podLog, kubeObj and kubeNamespace.
//
// It keeps everything it receives for inspection by tests, can push actions to a
// connected agent, and can simulate outages (Stop/Restart, DropConnections,
// SetFailPosts, SetReject). It has no package-level state and is safe for
// concurrent use.
package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.uber.org/zap"
)

// DefaultVersion is the server version used when Options.Version is empty.
const DefaultVersion = "3.31.0"

// DefaultKeepAlive is the graphql-ws "ka" interval of the real server.
const DefaultKeepAlive = 10 * time.Second

const (
	writeTimeout = 10 * time.Second
	maxBodyBytes = 64 << 20
)

// Options configure a Server.
type Options struct {
	// Version is the server's VERSION (default "3.31.0").
	Version string
	// KeepAlive is the interval between graphql-ws "ka" frames (default 10s).
	KeepAlive time.Duration
	// Log receives one line per request; nil means no logging.
	Log *zap.Logger
}

// Action is one action pushed to an agent over infraConnect (§3.1).
// ExternalData and Username are sent as JSON null when empty.
type Action struct {
	RequestID    string `json:"requestID"`
	RequestType  string `json:"requestType"`
	K8sManifest  string `json:"k8sManifest"`
	Namespace    string `json:"namespace"`
	ExternalData string `json:"externalData"`
	Username     string `json:"username"`
	ProjectID    string `json:"projectID"`
}

// RunEvent is one accepted chaosExperimentRun request.
type RunEvent struct {
	// Request is the ExperimentRunRequest as received (numbers as strings).
	Request map[string]any `json:"request"`
	// Execution is the decoded executionData JSON.
	Execution       map[string]any `json:"execution"`
	ExperimentRunID string         `json:"experimentRunID"`
	ExperimentID    string         `json:"experimentID"`
	NotifyID        string         `json:"notifyID"`
	Completed       bool           `json:"completed"`
	// Phase is executionData.phase.
	Phase    string    `json:"phase"`
	Received time.Time `json:"received"`
}

// Server is a test ChaosCenter control plane. Create it with New.
type Server struct {
	opts     Options
	log      *zap.Logger
	schema   *ast.Schema
	upgrader websocket.Upgrader
	events   chan string

	life      sync.Mutex // serialises Start, Stop and Restart
	httpSrv   *http.Server
	serveDone chan struct{}
	addr      string

	mu          sync.Mutex
	idle        *sync.Cond // signalled when inflight drops to 0
	inflight    int
	down        bool
	changed     chan struct{} // closed and replaced on every connection/registration change
	infras      map[string]*infraState
	rejects     map[string]string
	conns       map[*wsConn]struct{}
	runs        []RunEvent
	runDone     map[string]bool
	rejected    []string
	podLogs     []map[string]any
	kubeObjs    []map[string]any
	kubeNS      []map[string]any
	pendingLogs map[string]bool
	failPosts   int
	fatal       string
}

// New returns a Server that is not listening yet; use Start or Handler.
func New(o Options) *Server {
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	s := &Server{
		opts:   o,
		log:    o.Log,
		schema: loadSchema(),
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"graphql-ws"},
			// The shipped manifests set ALLOWED_ORIGINS=".*".
			CheckOrigin: func(*http.Request) bool { return true },
		},
		events:      make(chan string, 1024),
		changed:     make(chan struct{}),
		infras:      map[string]*infraState{},
		rejects:     map[string]string{},
		conns:       map[*wsConn]struct{}{},
		runDone:     map[string]bool{},
		pendingLogs: map[string]bool{},
	}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// Version is the server version the Server compares agents against.
func (s *Server) Version() string { return s.opts.Version }

// Handler serves the GraphQL endpoint: POST and websocket upgrade on any path
// ending in "/query" (so both "/query" and "/api/query" work).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves Handler. It returns
// the GraphQL URL, "http://host:port/query".
func (s *Server) Start(addr string) (string, error) {
	s.life.Lock()
	defer s.life.Unlock()
	if s.httpSrv != nil {
		return "", errors.New("testcp: already started")
	}
	if err := s.listen(addr); err != nil {
		return "", err
	}
	return "http://" + s.addr + "/query", nil
}

// URL is the GraphQL URL of the last Start ("" before).
func (s *Server) URL() string {
	s.life.Lock()
	defer s.life.Unlock()
	if s.addr == "" {
		return ""
	}
	return "http://" + s.addr + "/query"
}

func (s *Server) listen(addr string) error {
	var (
		ln  net.Listener
		err error
	)
	// When relistening on a fixed port the kernel may need a moment.
	for try := 0; ; try++ {
		ln, err = net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || try >= 40 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("testcp: listen %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	s.mu.Lock()
	s.down = false
	s.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	s.httpSrv, s.serveDone = srv, done
	s.log.Info("test control plane listening", zap.String("addr", s.addr), zap.String("version", s.opts.Version))
	return nil
}

// Stop closes the listener and every connection abruptly (websockets get no
// close frame) and waits for all handlers to return. All recorded state
// (infras, keys, runs, …) is kept. Stop is idempotent.
func (s *Server) Stop() {
	s.life.Lock()
	defer s.life.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	srv, done := s.httpSrv, s.serveDone
	s.httpSrv, s.serveDone = nil, nil

	s.mu.Lock()
	s.down = true
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	if srv != nil {
		_ = srv.Close()
		<-done
	}
	for _, c := range conns {
		_ = c.ws.Close()
	}
	s.mu.Lock()
	for s.inflight > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
	if srv != nil {
		s.log.Info("test control plane stopped", zap.String("addr", s.addr))
	}
}

// Restart stops the server if it is running and listens again on the address
// of the last Start, keeping all state.
func (s *Server) Restart() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.addr == "" {
		return errors.New("testcp: Restart before Start")
	}
	s.stopLocked()
	return s.listen(s.addr)
}

func (s *Server) enter() {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
}

func (s *Server) leave() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// broadcastLocked wakes every WaitConnected; s.mu must be held.
func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) notify(kind string) {
	select {
	case s.events <- kind:
	default:
	}
}

func (s *Server) addRejected(msg string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, msg)
	s.mu.Unlock()
}

// RegisterInfra creates (or resets) an infra record with an initial access
// key, not yet registered/confirmed — the state after registerInfra (§2.1).
func (s *Server) RegisterInfra(infraID, accessKey string) { s.setInfra(infraID, accessKey, false) }

// RegisterConfirmedInfra creates (or resets) an infra record that is already
// confirmed with accessKey as its current key — the state an agent installed
// from a re-downloaded manifest (IS_INFRA_CONFIRMED "true") finds.
func (s *Server) RegisterConfirmedInfra(infraID, accessKey string) {
	s.setInfra(infraID, accessKey, true)
}

// setInfra creates or resets an infra record: its key, and whether it is registered and confirmed.
func (s *Server) setInfra(infraID, accessKey string, confirmed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inf := s.infras[infraID]
	if inf == nil {
		inf = &infraState{}
		s.infras[infraID] = inf
	}
	inf.accessKey, inf.registered, inf.confirmed = accessKey, confirmed, confirmed
	s.broadcastLocked()
}

// AccessKey is the infra's current access key ("" if unknown).
func (s *Server) AccessKey(infraID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inf := s.infras[infraID]; inf != nil {
		return inf.accessKey
	}
	return ""
}

// Confirmed reports whether the infra has been confirmed.
func (s *Server) Confirmed(infraID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inf := s.infras[infraID]
	return inf != nil && inf.confirmed
}

// Connected reports whether an infraConnect subscription is active for the
// infra.
func (s *Server) Connected(infraID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inf := s.infras[infraID]
	return inf != nil && inf.sub != nil
}

// WaitConnected blocks until the infra is connected or ctx ends.
func (s *Server) WaitConnected(ctx context.Context, infraID string) error {
	for {
		s.mu.Lock()
		inf := s.infras[infraID]
		ok := inf != nil && inf.sub != nil
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testcp: waiting for infra %s to connect: %w", infraID, ctx.Err())
		case <-ch:
		}
	}
}

// ErrNotConnected is returned by Send when the infra has no active
// subscription (the real server silently drops such actions).
var ErrNotConnected = errors.New("testcp: infra is not connected")

// Send pushes an action to the infra's active subscription as a graphql-ws
// "data" frame shaped per the subscription's selection set. An action of type
// "logs" also makes its requestID a pending log request (see PodLogs).
func (s *Server) Send(ctx context.Context, infraID string, a Action) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	var sub *subscription
	if inf := s.infras[infraID]; inf != nil {
		sub = inf.sub
	}
	if sub != nil && a.RequestType == "logs" {
		s.pendingLogs[a.RequestID] = true
	}
	s.mu.Unlock()
	if sub == nil {
		return fmt.Errorf("%w: %s", ErrNotConnected, infraID)
	}
	frame, err := sub.actionFrame(a)
	if err != nil {
		return err
	}
	c := sub.conn
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// Re-check under the write lock so that an action never follows the
	// subscription's "complete".
	s.mu.Lock()
	active := c.subs[sub.id] == sub
	s.mu.Unlock()
	if !active {
		return fmt.Errorf("%w: %s", ErrNotConnected, infraID)
	}
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.ws.SetWriteDeadline(deadline)
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("testcp: sending action to %s: %w", infraID, err)
	}
	s.log.Info("action sent", zap.String("infraID", infraID), zap.String("requestType", a.RequestType),
		zap.String("requestID", a.RequestID))
	return nil
}

// DropConnections closes, without a close frame, every websocket that holds a
// subscription for the infra, and waits until the server has noticed.
func (s *Server) DropConnections(infraID string) {
	s.mu.Lock()
	var conns []*wsConn
	for c := range s.conns {
		for _, sub := range c.subs {
			if sub.infraID == infraID {
				conns = append(conns, c)
				break
			}
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.Close()
	}
	for _, c := range conns {
		<-c.done
	}
}

// SetReject makes infraConnect for the infra fail with message (checked before
// identity validation); "" restores normal behaviour.
func (s *Server) SetReject(infraID, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if message == "" {
		delete(s.rejects, infraID)
		return
	}
	s.rejects[infraID] = message
}

// SetFailPosts makes the next n POST requests fail with HTTP 503 before they
// are read (a transient outage, as a proxy would answer).
func (s *Server) SetFailPosts(n int) {
	s.mu.Lock()
	s.failPosts = n
	s.mu.Unlock()
}

// Runs returns every accepted chaosExperimentRun, in arrival order.
func (s *Server) Runs() []RunEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RunEvent(nil), s.runs...)
}

// Rejected returns the messages of every rejected request, in order: resolver
// errors (duplicates, bad updatedBy/executionData, identity failures,
// infraConnect rejections) and parse/validation errors.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rejected...)
}

// Fatal returns, if a request would have terminated the real server (an
// updatedBy that is not unpadded base64url), a description of the first such
// request; "" otherwise.
func (s *Server) Fatal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// PodLogs returns every podLog request that passed identity validation, as
// received.
func (s *Server) PodLogs() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.podLogs...)
}

// KubeObjs returns every accepted kubeObj request, as received.
func (s *Server) KubeObjs() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.kubeObjs...)
}

// KubeNamespaces returns every accepted kubeNamespace request, as received.
func (s *Server) KubeNamespaces() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.kubeNS...)
}

// Events delivers, best effort (buffered, never blocking the server), one
// notification per handled request: the root field name
// ("confirmInfraRegistration", "chaosExperimentRun", "podLog", "kubeObj",
// "kubeNamespace", "infraConnect"), "disconnect" when a subscription ends,
// and "invalid" for a request that failed parsing/validation.
func (s *Server) Events() <-chan string { return s.events }

// --- HTTP ---------------------------------------------------------------

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/query") {
		http.NotFound(w, r)
		return
	}
	s.enter()
	defer s.leave()

	if r.Header.Get("Upgrade") != "" {
		s.serveWebsocket(w, r)
		return
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || mediaType != "application/json" {
		writeResponse(w, http.StatusBadRequest, errorResponse(gqlerror.List{gqlerror.Errorf("transport not supported")}))
		return
	}
	s.mu.Lock()
	fail := s.failPosts > 0
	if fail {
		s.failPosts--
	}
	s.mu.Unlock()
	if fail {
		s.log.Info("POST failed on purpose (SetFailPosts)")
		http.Error(w, "503 Service Unavailable (testcp injected failure)", http.StatusServiceUnavailable)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		writeResponse(w, http.StatusBadRequest, errorResponse(gqlerror.List{gqlerror.Errorf("could not read request body: %v", err)}))
		return
	}
	var req gqlRequest
	if err := decodeJSON(body, &req); err != nil {
		msg := fmt.Sprintf("json request body could not be decoded: %v body:%s", err, body)
		s.addRejected(msg)
		s.notify("invalid")
		writeResponse(w, http.StatusBadRequest, errorResponse(gqlerror.List{gqlerror.Errorf("%s", msg)}))
		return
	}
	op, errs := prepare(s.schema, &req)
	if errs != nil {
		s.invalid(errs, req.Query)
		writeResponse(w, http.StatusUnprocessableEntity, errorResponse(errs))
		return
	}
	if op.op.Operation == ast.Subscription {
		writeResponse(w, http.StatusBadRequest, errorResponse(gqlerror.List{
			gqlerror.Errorf("subscriptions are only served over the websocket transport")}))
		return
	}
	writeResponse(w, http.StatusOK, s.execute(op))
}

// invalid records a request that failed parsing or validation.
func (s *Server) invalid(errs gqlerror.List, query string) {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Message
	}
	s.log.Warn("invalid GraphQL request", zap.Strings("errors", msgs), zap.String("query", query))
	s.mu.Lock()
	s.rejected = append(s.rejected, msgs...)
	s.mu.Unlock()
	s.notify("invalid")
}

func writeResponse(w http.ResponseWriter, status int, resp *gqlResponse) {
	b, err := json.Marshal(resp)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"could not encode response"}],"data":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// execute runs a query or mutation operation.
func (s *Server) execute(o *operation) *gqlResponse {
	rootType := "Query"
	if o.op.Operation == ast.Mutation {
		rootType = "Mutation"
	}
	var (
		data = object{}
		errs gqlerror.List
	)
	for _, cf := range o.collect(o.op.SelectionSet, rootType) {
		v, err := s.resolveRoot(o, rootType, cf)
		if err != nil {
			errs = append(errs, &gqlerror.Error{Message: err.Error(), Path: ast.Path{ast.PathName(cf.alias)}})
			continue
		}
		data = append(data, member{cf.alias, v})
	}
	if len(errs) > 0 {
		// Every root field is non-null, so any error nulls the whole data.
		return errorResponse(errs)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return errorResponse(gqlerror.List{gqlerror.Errorf("could not encode response: %v", err)})
	}
	return &gqlResponse{Data: b}
}

func (s *Server) resolveRoot(o *operation, rootType string, cf *collectedField) (any, error) {
	switch cf.field.Name {
	case "__typename":
		return rootType, nil
	case "__schema", "__type":
		return nil, errors.New("introspection is not supported by the test control plane")
	}
	var (
		v   any
		err error
	)
	if rootType == "Query" {
		switch cf.field.Name {
		case "getServerVersion":
			v = map[string]any{"key": "version", "value": s.opts.Version}
		default:
			err = fmt.Errorf("query %s is not implemented by the test control plane", cf.field.Name)
		}
	} else {
		args, aerr := o.arguments(cf.field)
		if aerr != nil {
			return nil, aerr
		}
		v, err = s.resolveMutation(cf.field.Name, args)
	}
	if err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		return o.complete(cf.field.Definition.Type.Name(), cf.sel, m), nil
	}
	return v, nil
}
