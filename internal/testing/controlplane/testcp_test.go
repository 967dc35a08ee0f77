package controlplane

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const (
	testInfra = "11111111-2222-3333-4444-555555555555"
	testKey   = "initial-key-0123456789abcdefghij"
)

// upstreamConnect is the infraConnect document exactly as the upstream agent
// builds it (§1.5), without an operation id or variables.
func upstreamConnect(infraID, version, key string) string {
	return "subscription {\n    infraConnect(request: {infraID: \"" + infraID + "\", version: \"" + version +
		"\", accessKey: \"" + key + "\"}) {\n     action{\n      k8sManifest,\n      externalData,\n      requestID\n requestType\n     username\n     namespace\n     }\n  }\n}\n"
}

const connectWithVars = `subscription Connect($id: InfraIdentity!) {
  infraConnect(request: $id) { projectID action { requestID requestType k8sManifest namespace externalData username } }
}`

func newServer(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	if o.KeepAlive == 0 {
		o.KeepAlive = time.Hour
	}
	s := New(o)
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, url
}

var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// post sends a raw body and returns the status and the decoded JSON body.
func post(t *testing.T, url, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := httpClient.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// gql posts a GraphQL request (vars may be nil).
func gql(t *testing.T, url, query string, vars map[string]any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return post(t, url, "application/json", string(b))
}

func firstError(m map[string]any) string {
	errs, _ := m["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func errorCode(m map[string]any) string {
	errs, _ := m["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	s, _ := ext["code"].(string)
	return s
}

func ident(infraID, key, version string) map[string]any {
	return map[string]any{"infraID": infraID, "accessKey": key, "version": version}
}

const confirmQuery = `mutation($r: InfraIdentity!) { confirmInfraRegistration(request: $r) { isInfraConfirmed newAccessKey infraID } }`

// confirm registers and confirms testInfra, returning the rotated key.
func confirm(t *testing.T, s *Server, url string) string {
	t.Helper()
	s.RegisterInfra(testInfra, testKey)
	code, m := gql(t, url, confirmQuery, map[string]any{"r": ident(testInfra, testKey, s.Version())})
	if code != 200 || firstError(m) != "" {
		t.Fatalf("confirm: %d %v", code, m)
	}
	return s.AccessKey(testInfra)
}

func TestPostValidation(t *testing.T) {
	s, url := newServer(t, Options{})
	s.RegisterInfra(testInfra, testKey)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string // extensions.code of the first error
		errSub      string // substring of the first error message
	}{
		{"valid query", "application/json", `{"query":"{ getServerVersion { key value } }"}`, 200, "", ""},
		{"unknown field", "application/json", `{"query":"{ nope }"}`, 422, codeValidationFailed, `Cannot query field "nope"`},
		{"unknown mutation field", "application/json",
			`{"query":"mutation { podLog(request: {}) { x } }"}`, 422, codeValidationFailed, ""},
		{"missing required variable", "application/json",
			`{"query":"mutation($r: InfraIdentity!) { confirmInfraRegistration(request: $r) { isInfraConfirmed } }"}`,
			422, codeValidationFailed, "must be defined"},
		{"variable with unknown input field", "application/json",
			`{"query":"mutation($r: InfraIdentity!) { confirmInfraRegistration(request: $r) { isInfraConfirmed } }","variables":{"r":{"infraID":"a","accessKey":"b","version":"c","bogus":1}}}`,
			422, codeValidationFailed, "unknown field"},
		{"variable missing input field", "application/json",
			`{"query":"mutation($r: InfraIdentity!) { confirmInfraRegistration(request: $r) { isInfraConfirmed } }","variables":{"r":{"infraID":"a","accessKey":"b"}}}`,
			422, codeValidationFailed, "must be defined"},
		{"inline literal missing required field", "application/json",
			`{"query":"mutation { confirmInfraRegistration(request: {infraID: \"a\", accessKey: \"b\"}) { isInfraConfirmed } }"}`,
			422, codeValidationFailed, "version"},
		{"selection on scalar", "application/json",
			`{"query":"mutation { kubeObj(request: {requestID: \"r\", kubeObj: \"x\", infraID: {infraID: \"a\", accessKey: \"b\", version: \"c\"}}) { x } }"}`,
			422, codeValidationFailed, ""},
		{"missing selection on object", "application/json",
			`{"query":"mutation { confirmInfraRegistration(request: {infraID: \"a\", accessKey: \"b\", version: \"c\"}) }"}`,
			422, codeValidationFailed, "must have a selection"},
		{"parse error", "application/json", `{"query":"mutation { "}`, 422, codeParseFailed, ""},
		{"empty query", "application/json", `{"query":""}`, 422, codeValidationFailed, "no operation provided"},
		{"unknown operation name", "application/json", `{"query":"query A { __typename }","operationName":"B"}`, 422, codeValidationFailed, "operation B not found"},
		{"bad JSON", "application/json", `{"query": `, 400, "", "json request body could not be decoded"},
		{"wrong content type", "text/plain", `{"query":"{ __typename }"}`, 400, "", "transport not supported"},
		{"subscription over POST", "application/json", `{"query":"` + strings.ReplaceAll(strings.ReplaceAll(upstreamConnect(testInfra, "3.31.0", testKey), "\"", `\"`), "\n", `\n`) + `"}`, 400, "", "websocket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, m := post(t, url, tc.contentType, tc.body)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, m)
			}
			if tc.status == 200 {
				if firstError(m) != "" {
					t.Fatalf("unexpected error %v", m)
				}
				return
			}
			if _, ok := m["data"]; !ok || m["data"] != nil {
				t.Errorf("data = %v, want null", m["data"])
			}
			if got := errorCode(m); got != tc.code {
				t.Errorf("code = %q, want %q (%v)", got, tc.code, m)
			}
			if msg := firstError(m); !strings.Contains(msg, tc.errSub) || msg == "" {
				t.Errorf("error %q does not contain %q", msg, tc.errSub)
			}
		})
	}
	if len(s.Runs()) != 0 || len(s.Rejected()) == 0 {
		t.Errorf("runs=%d rejected=%d", len(s.Runs()), len(s.Rejected()))
	}
}

func TestPostResponseShapeAndAliases(t *testing.T) {
	_, url := newServer(t, Options{Version: "3.9.1"})
	status, m := post(t, url, "application/json",
		`{"query":"query Q { __typename v: getServerVersion { value ...F } } fragment F on ServerVersionResponse { key k2: key @skip(if: true) }","operationName":"Q"}`)
	if status != 200 {
		t.Fatal(status, m)
	}
	b, _ := json.Marshal(m)
	if want := `{"data":{"__typename":"Query","v":{"key":"version","value":"3.9.1"}}}`; string(b) != want {
		t.Errorf("got %s want %s", b, want)
	}
}

func TestConfirmInfraRegistration(t *testing.T) {
	s, url := newServer(t, Options{})
	s.RegisterInfra(testInfra, testKey)
	if s.Confirmed(testInfra) {
		t.Fatal("confirmed before confirmation")
	}
	keyRE := regexp.MustCompile(`^[A-Za-z0-9_-]{43}=$`)
	current := testKey
	steps := []struct {
		name      string
		infraID   string
		key       func() string
		version   string
		inline    bool
		wantErr   string
		confirmed bool
	}{
		{"version must be equal", testInfra, func() string { return current }, "3.31.1", false, "ERROR: INFRA VERSION MISMATCH (need 3.31.0 got 3.31.1)", false},
		{"unknown infra", "nope", func() string { return current }, "3.31.0", false, msgNoInfra, false},
		{"wrong key", testInfra, func() string { return "wrong" }, "3.31.0", false, "", false},
		{"right key (inline literals)", testInfra, func() string { return current }, "3.31.0", true, "", true},
		{"old key after rotation", testInfra, func() string { return testKey }, "3.31.0", false, "", false},
		{"new key rotates again", testInfra, func() string { return current }, "3.31.0", false, "", true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var (
				status int
				m      map[string]any
			)
			if st.inline {
				q := fmt.Sprintf(`mutation { confirmInfraRegistration(request: {infraID: %q, version: %q, accessKey: %q}) { isInfraConfirmed newAccessKey infraID } }`,
					st.infraID, st.version, st.key())
				status, m = gql(t, url, q, nil)
			} else {
				status, m = gql(t, url, confirmQuery, map[string]any{"r": ident(st.infraID, st.key(), st.version)})
			}
			if status != 200 {
				t.Fatalf("status %d: %v", status, m)
			}
			if st.wantErr != "" {
				if firstError(m) != st.wantErr || m["data"] != nil {
					t.Fatalf("got %v, want error %q and null data", m, st.wantErr)
				}
				return
			}
			data := m["data"].(map[string]any)["confirmInfraRegistration"].(map[string]any)
			if !st.confirmed {
				want := map[string]any{"isInfraConfirmed": false, "newAccessKey": nil, "infraID": nil}
				if fmt.Sprint(data) != fmt.Sprint(want) {
					t.Fatalf("got %v want %v", data, want)
				}
				return
			}
			nk, _ := data["newAccessKey"].(string)
			if data["isInfraConfirmed"] != true || data["infraID"] != testInfra || !keyRE.MatchString(nk) || nk == current {
				t.Fatalf("bad confirmation %v", data)
			}
			if _, err := base64.URLEncoding.DecodeString(nk); err != nil {
				t.Fatalf("key %q: %v", nk, err)
			}
			if s.AccessKey(testInfra) != nk || !s.Confirmed(testInfra) {
				t.Fatalf("server state not updated: key=%q confirmed=%v", s.AccessKey(testInfra), s.Confirmed(testInfra))
			}
			current = nk
		})
	}
}

// --- websocket helpers ----------------------------------------------------

type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(url, "http")
	c, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	if err := w.c.WriteJSON(v); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame's text, skipping "ka" frames unless keepKA.
func (w *wsClient) next(keepKA bool) (string, error) {
	for {
		_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := w.c.ReadMessage()
		if err != nil {
			return "", err
		}
		// gqlgen (and so testcp) writes frames with WriteJSON: "\n"-terminated.
		if !bytes.HasSuffix(b, []byte("\n")) {
			w.t.Fatalf("frame without trailing newline: %q", b)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		if !keepKA && string(b) == `{"type":"ka"}` {
			continue
		}
		return string(b), nil
	}
}

func (w *wsClient) expect(want string) {
	w.t.Helper()
	got, err := w.next(false)
	if err != nil {
		w.t.Fatalf("waiting for %s: %v", want, err)
	}
	if got != want {
		w.t.Fatalf("frame\n got %s\nwant %s", got, want)
	}
}

// init performs connection_init and reads ack + the first ka.
func (w *wsClient) init() {
	w.t.Helper()
	w.send(map[string]any{"type": "connection_init"})
	for _, want := range []string{`{"type":"connection_ack"}`, `{"type":"ka"}`} {
		got, err := w.next(true)
		if err != nil || got != want {
			w.t.Fatalf("got %q (%v), want %s", got, err, want)
		}
	}
}

func (w *wsClient) startUpstream(infraID, version, key string) {
	w.send(map[string]any{"type": "start", "payload": map[string]any{"query": upstreamConnect(infraID, version, key)}})
}

func rejectFrame(msg string) string {
	b, _ := json.Marshal(msg)
	return `{"payload":{"errors":[{"message":` + string(b) + `,"path":["infraConnect"]}],"data":null},"type":"data"}`
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInfraConnectAcceptKeepAliveAndSend(t *testing.T) {
	s, url := newServer(t, Options{KeepAlive: 30 * time.Millisecond})
	key := confirm(t, s, url)

	if err := s.Send(context.Background(), testInfra, Action{RequestType: "create"}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send before connect: %v", err)
	}

	w := dial(t, url)
	w.init()
	// Minor and patch may differ from the server's (same major, 3 parts).
	w.startUpstream(testInfra, "3.30.2", key)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx, testInfra); err != nil {
		t.Fatal(err)
	}
	if !s.Connected(testInfra) {
		t.Fatal("not connected")
	}
	// Periodic keep-alives.
	for i := 0; i < 3; i++ {
		got, err := w.next(true)
		if err != nil || got != `{"type":"ka"}` {
			t.Fatalf("ka %d: %q %v", i, got, err)
		}
	}

	tests := []struct {
		name string
		a    Action
		want string
	}{
		{"apply with nulls", Action{RequestType: "create", K8sManifest: "kind: Workflow", Namespace: "litmus"},
			`{"payload":{"data":{"infraConnect":{"action":{"k8sManifest":"kind: Workflow","externalData":null,"requestID":"","requestType":"create","username":null,"namespace":"litmus"}}}},"type":"data"}`},
		{"logs with data", Action{RequestID: "req-1", RequestType: "logs", ExternalData: `{"podName":"p"}`, Username: "admin", ProjectID: "proj"},
			`{"payload":{"data":{"infraConnect":{"action":{"k8sManifest":"","externalData":"{\"podName\":\"p\"}","requestID":"req-1","requestType":"logs","username":"admin","namespace":""}}}},"type":"data"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Send(context.Background(), testInfra, tc.a); err != nil {
				t.Fatal(err)
			}
			w.expect(tc.want)
		})
	}
}

func TestInfraConnectWithVariablesIDAndProjectID(t *testing.T) {
	s, url := newServer(t, Options{})
	key := confirm(t, s, url)
	w := dial(t, url)
	w.init()
	w.send(map[string]any{"id": "1", "type": "start", "payload": map[string]any{
		"query": connectWithVars, "operationName": "Connect",
		"variables": map[string]any{"id": ident(testInfra, key, "3.31.0")},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx, testInfra); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, testInfra, Action{RequestID: "r", RequestType: "namespace", ExternalData: "{}", ProjectID: "p1"}); err != nil {
		t.Fatal(err)
	}
	w.expect(`{"payload":{"data":{"infraConnect":{"projectID":"p1","action":{"requestID":"r","requestType":"namespace","k8sManifest":"","namespace":"","externalData":"{}","username":null}}}},"id":"1","type":"data"}`)

	// stop ends the subscription with "complete".
	w.send(map[string]any{"id": "1", "type": "stop"})
	w.expect(`{"id":"1","type":"complete"}`)
	waitFor(t, "disconnect after stop", func() bool { return !s.Connected(testInfra) })
	if err := s.Send(ctx, testInfra, Action{RequestType: "create"}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send after stop: %v", err)
	}
}

func TestInfraConnectRejections(t *testing.T) {
	s, url := newServer(t, Options{})
	key := confirm(t, s, url)
	s.RegisterInfra("unconfirmed", "k")
	s.RegisterConfirmedInfra("rejected", "k")
	s.SetReject("rejected", "custom rejection")
	tests := []struct {
		name, infraID, version, key, want string
	}{
		{"bad key", testInfra, "3.31.0", "wrong", "ERROR:  accessID MISMATCH"},
		{"not registered", "unconfirmed", "3.31.0", "k", "ERROR:  accessID MISMATCH"},
		{"unknown infra", "unknown", "3.31.0", "k", msgNoInfra},
		{"major mismatch", testInfra, "4.31.0", key, "ERROR: infra VERSION MISMATCH (need 3.x.x got 4.31.0)"},
		{"two parts", testInfra, "3.31", key, "ERROR: infra VERSION MISMATCH (need 3.x.x got 3.31)"},
		{"SetReject", "rejected", "3.31.0", "k", "custom rejection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := dial(t, url)
			w.init()
			w.startUpstream(tc.infraID, tc.version, tc.key)
			w.expect(rejectFrame(tc.want))
			w.expect(`{"type":"complete"}`)
			if s.Connected(tc.infraID) {
				t.Fatal("connected after rejection")
			}
		})
	}
	s.SetReject("rejected", "")
	w := dial(t, url)
	w.init()
	w.startUpstream("rejected", "3.31.0", "k")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx, "rejected"); err != nil {
		t.Fatal(err)
	}
}

func TestInfraConnectCIVersionNeedsEquality(t *testing.T) {
	s, url := newServer(t, Options{Version: "ci"})
	s.RegisterConfirmedInfra(testInfra, testKey)
	w := dial(t, url)
	w.init()
	w.startUpstream(testInfra, "3.31.0", testKey)
	w.expect(rejectFrame("ERROR: infra VERSION MISMATCH (need ci got 3.31.0)"))
	w.expect(`{"type":"complete"}`)
}

func TestInfraConnectAlreadyConnected(t *testing.T) {
	s, url := newServer(t, Options{})
	s.RegisterConfirmedInfra(testInfra, testKey)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	first := dial(t, url)
	first.init()
	first.startUpstream(testInfra, "3.31.0", testKey)
	if err := s.WaitConnected(ctx, testInfra); err != nil {
		t.Fatal(err)
	}

	second := dial(t, url)
	second.init()
	second.startUpstream(testInfra, "3.31.0", testKey)
	second.expect(rejectFrame(msgAlreadyConnected))
	second.expect(`{"type":"complete"}`)
	// The old subscription was forced off; its socket stays open.
	first.expect(`{"type":"complete"}`)
	if s.Connected(testInfra) {
		t.Fatal("still connected after forced disconnect")
	}

	// The retry succeeds.
	third := dial(t, url)
	third.init()
	third.startUpstream(testInfra, "3.31.0", testKey)
	if err := s.WaitConnected(ctx, testInfra); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, testInfra, Action{RequestType: "create"}); err != nil {
		t.Fatal(err)
	}
	got, err := third.next(false)
	if err != nil || !strings.Contains(got, `"requestType":"create"`) {
		t.Fatalf("third got %q %v", got, err)
	}
}

func TestWebsocketProtocol(t *testing.T) {
	s, url := newServer(t, Options{})
	s.RegisterConfirmedInfra(testInfra, testKey)

	t.Run("first message must be connection_init", func(t *testing.T) {
		w := dial(t, url)
		w.send(map[string]any{"type": "start"})
		w.expect(`{"payload":{"message":"unexpected message start"},"type":"connection_error"}`)
		_, err := w.next(true)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseProtocolError {
			t.Fatalf("want protocol-error close, got %v", err)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		w := dial(t, url)
		w.init()
		w.send(map[string]any{"type": "bogus"})
		w.expect(`{"payload":{"message":"unexpected message bogus"},"type":"connection_error"}`)
	})
	t.Run("invalid document", func(t *testing.T) {
		w := dial(t, url)
		w.init()
		w.send(map[string]any{"id": "7", "type": "start", "payload": map[string]any{"query": "subscription { infraConnect { action { nope } } }"}})
		got, err := w.next(false)
		if err != nil || !strings.HasPrefix(got, `{"payload":[{"message":`) || !strings.HasSuffix(got, `,"id":"7","type":"error"}`) ||
			!strings.Contains(got, codeValidationFailed) {
			t.Fatalf("got %q %v", got, err)
		}
		w.expect(`{"id":"7","type":"complete"}`)
	})
	t.Run("invalid json payload", func(t *testing.T) {
		w := dial(t, url)
		w.init()
		w.send(map[string]any{"id": "8", "type": "start", "payload": "not an object"})
		w.expect(`{"payload":[{"message":"invalid json"}],"id":"8","type":"error"}`)
		w.expect(`{"id":"8","type":"complete"}`)
	})
	t.Run("query over websocket", func(t *testing.T) {
		w := dial(t, url)
		w.init()
		w.send(map[string]any{"id": "9", "type": "start", "payload": map[string]any{"query": "{ getServerVersion { value } }"}})
		w.expect(`{"payload":{"data":{"getServerVersion":{"value":"3.31.0"}}},"id":"9","type":"data"}`)
		w.expect(`{"id":"9","type":"complete"}`)
	})
	t.Run("connection_terminate", func(t *testing.T) {
		w := dial(t, url)
		w.init()
		w.send(map[string]any{"type": "connection_terminate"})
		_, err := w.next(false)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
			t.Fatalf("want normal close, got %v", err)
		}
	})
	t.Run("graphql-ws subprotocol", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"graphql-ws"}}
		c, resp, err := d.Dial("ws"+strings.TrimPrefix(url, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		defer func() { _ = c.Close() }()
		if c.Subprotocol() != "graphql-ws" {
			t.Fatalf("subprotocol %q", c.Subprotocol())
		}
	})
}

// --- chaosExperimentRun ------------------------------------------------------

const runMutation = `mutation($r: ExperimentRunRequest!) { chaosExperimentRun(request: $r) }`

func execData(phase string) string {
	b, _ := json.Marshal(map[string]any{"experimentType": "events", "phase": phase, "nodes": map[string]any{}})
	return base64.StdEncoding.EncodeToString(b)
}

func runRequest(runID, notifyID string, completed bool, data, updatedBy string) map[string]any {
	r := map[string]any{
		"experimentID":    "exp-1",
		"experimentRunID": runID,
		"experimentName":  "wf-" + runID,
		"executionData":   data,
		"infraID":         ident(testInfra, "whatever", "3.31.0"),
		"revisionID":      "rev-1",
		"completed":       completed,
		"updatedBy":       updatedBy,
	}
	if notifyID != "" {
		r["notifyID"] = notifyID
	}
	return r
}

func TestChaosExperimentRun(t *testing.T) {
	s, url := newServer(t, Options{})
	ok := func(run string) string {
		return "Experiment run received for for ExperimentID: exp-1, ExperimentRunID: " + run
	}
	dup := func(run string) string {
		return "experiment run has been discarded due the duplicate event, workflowId: exp-1, workflowRunId: " + run
	}
	steps := []struct {
		name    string
		req     map[string]any
		want    string // data string on success
		wantErr string // error message (substring) on failure
		fatal   bool
	}{
		{"running", runRequest("u1", "n1", false, execData("Running"), "YWRtaW4"), ok("u1"), "", false},
		{"running again", runRequest("u1", "n1", false, execData("Running"), ""), ok("u1"), "", false},
		{"completed", runRequest("u1", "n1", true, execData("Completed"), "YWRtaW4"), ok("u1"), "", false},
		{"after completed (by notifyID)", runRequest("u1", "n1", true, execData("Completed"), ""), "", dup("u1"), false},
		{"after completed (by run id)", runRequest("u1", "", false, execData("Running"), ""), "", dup("u1"), false},
		{"other run", runRequest("u2", "", true, execData("Error"), ""), ok("u2"), "", false},
		{"bad base64", runRequest("u3", "", false, "not base64!", ""), "", "failed to decode executionData", false},
		{"base64 of non-JSON", runRequest("u3", "", false, base64.StdEncoding.EncodeToString([]byte("nope")), ""), "", "failed to decode executionData", false},
		{"padded updatedBy", runRequest("u4", "", false, execData("Running"), "YWRtaW4="), "", "FATAL", true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, m := gql(t, url, runMutation, map[string]any{"r": st.req})
			if status != 200 {
				t.Fatalf("status %d %v", status, m)
			}
			if st.wantErr != "" {
				if !strings.Contains(firstError(m), st.wantErr) || m["data"] != nil {
					t.Fatalf("got %v, want error %q", m, st.wantErr)
				}
				b, _ := json.Marshal(m["errors"].([]any)[0].(map[string]any)["path"])
				if string(b) != `["chaosExperimentRun"]` {
					t.Errorf("path %s", b)
				}
			} else if got := m["data"].(map[string]any)["chaosExperimentRun"]; got != st.want {
				t.Fatalf("got %v want %q", m, st.want)
			}
			if (s.Fatal() != "") != st.fatal {
				t.Fatalf("Fatal() = %q", s.Fatal())
			}
		})
	}
	runs := s.Runs()
	if len(runs) != 4 {
		t.Fatalf("%d runs, want 4", len(runs))
	}
	r := runs[2]
	if r.ExperimentRunID != "u1" || r.ExperimentID != "exp-1" || r.NotifyID != "n1" || !r.Completed || r.Phase != "Completed" ||
		r.Execution["experimentType"] != "events" || r.Request["updatedBy"] != "YWRtaW4" || r.Received.IsZero() {
		t.Fatalf("bad run %+v", r)
	}
	if rej := s.Rejected(); len(rej) != 5 {
		t.Fatalf("rejected = %q", rej)
	}
}

func TestChaosExperimentRunUpstreamInlineForm(t *testing.T) {
	s, url := newServer(t, Options{})
	// The upstream agent's one-line literal form (§4.6), notifyID omitted.
	q := `mutation { chaosExperimentRun(request:{ experimentID: "E", experimentRunID: "U", revisionID:"R", completed: false, experimentName:"W", infraID: {infraID: "I", version: "3.31.0", accessKey: "K"}, updatedBy:"YWRtaW4", executionData:"` + execData("Pending") + `"} )}`
	body, _ := json.Marshal(map[string]string{"query": q})
	status, m := post(t, url, "application/json", string(body))
	if status != 200 || m["data"].(map[string]any)["chaosExperimentRun"] != "Experiment run received for for ExperimentID: E, ExperimentRunID: U" {
		t.Fatalf("%d %v", status, m)
	}
	runs := s.Runs()
	if len(runs) != 1 || runs[0].Phase != "Pending" || runs[0].NotifyID != "" || runs[0].Request["infraID"].(map[string]any)["accessKey"] != "K" {
		t.Fatalf("runs %+v", runs)
	}
}

// --- podLog / kubeObj / kubeNamespace ------------------------------------------

func TestPodLogAndKubeData(t *testing.T) {
	s, url := newServer(t, Options{})
	key := confirm(t, s, url)
	w := dial(t, url)
	w.init()
	w.startUpstream(testInfra, "3.31.0", key)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx, testInfra); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, testInfra, Action{RequestID: "log-1", RequestType: "logs", ExternalData: "{}"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.next(false); err != nil {
		t.Fatal(err)
	}

	podLog := `mutation($r: PodLog!) { podLog(request: $r) }`
	kubeObj := `mutation($r: KubeObjectData!) { kubeObj(request: $r) }`
	kubeNS := `mutation($r: KubeNamespaceData!) { kubeNamespace(request: $r) }`
	good := ident(testInfra, key, "3.31.0")
	tests := []struct {
		name, query string
		req         map[string]any
		want        string
		wantErr     string
	}{
		{"podLog pending", podLog, map[string]any{"infraID": good, "requestID": "log-1", "experimentRunID": "u1", "podName": "p", "podType": "workflow", "log": `{"mainLogs":"x"}`}, respLogsSent, ""},
		{"podLog answered twice", podLog, map[string]any{"infraID": good, "requestID": "log-1", "experimentRunID": "u1", "podName": "p", "podType": "workflow", "log": "x"}, respLogsCancelled, ""},
		{"podLog numeric ID", podLog, map[string]any{"infraID": good, "requestID": 42, "experimentRunID": "u1", "podName": "p", "podType": "workflow", "log": "x"}, respLogsCancelled, ""},
		{"podLog bad key", podLog, map[string]any{"infraID": ident(testInfra, "bad", "3.31.0"), "requestID": "x", "experimentRunID": "u1", "podName": "p", "podType": "w", "log": "x"}, "", msgAccessMismatch},
		{"podLog bad version", podLog, map[string]any{"infraID": ident(testInfra, key, "2.0.0"), "requestID": "x", "experimentRunID": "u1", "podName": "p", "podType": "w", "log": "x"}, "", "ERROR: infra VERSION MISMATCH (need 3.x.x got 2.0.0)"},
		{"kubeObj", kubeObj, map[string]any{"infraID": good, "requestID": "k1", "kubeObj": `{"namespace":"litmus","data":[]}`}, respKubeData, ""},
		{"kubeObj bad key", kubeObj, map[string]any{"infraID": ident(testInfra, "bad", "3.31.0"), "requestID": "k1", "kubeObj": "{}"}, "", msgAccessMismatch},
		{"kubeNamespace", kubeNS, map[string]any{"infraID": good, "requestID": "k2", "kubeNamespace": `[{"name":"litmus"}]`}, respKubeData, ""},
		{"kubeNamespace bad key", kubeNS, map[string]any{"infraID": ident(testInfra, "bad", "3.31.0"), "requestID": "k2", "kubeNamespace": "[]"}, "", msgAccessMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, m := gql(t, url, tc.query, map[string]any{"r": tc.req})
			if status != 200 {
				t.Fatalf("status %d %v", status, m)
			}
			if tc.wantErr != "" {
				if firstError(m) != tc.wantErr || m["data"] != nil {
					t.Fatalf("got %v want %q", m, tc.wantErr)
				}
				return
			}
			data := m["data"].(map[string]any)
			for _, v := range data {
				if v != tc.want {
					t.Fatalf("got %v want %q", m, tc.want)
				}
			}
		})
	}
	if n := len(s.PodLogs()); n != 3 {
		t.Errorf("%d pod logs", n)
	}
	if got := s.PodLogs()[2]["requestID"]; got != "42" {
		t.Errorf("numeric ID recorded as %#v", got)
	}
	if len(s.KubeObjs()) != 1 || s.KubeObjs()[0]["kubeObj"] != `{"namespace":"litmus","data":[]}` {
		t.Errorf("kubeObjs %v", s.KubeObjs())
	}
	if len(s.KubeNamespaces()) != 1 || s.KubeNamespaces()[0]["requestID"] != "k2" {
		t.Errorf("kubeNamespaces %v", s.KubeNamespaces())
	}
}

// --- outages -------------------------------------------------------------------

func TestStopRestartKeepsState(t *testing.T) {
	s, url := newServer(t, Options{})
	key := confirm(t, s, url)
	if status, _ := gql(t, url, runMutation, map[string]any{"r": runRequest("u1", "", true, execData("Completed"), "")}); status != 200 {
		t.Fatal(status)
	}
	w := dial(t, url)
	w.init()
	w.startUpstream(testInfra, "3.31.0", key)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx, testInfra); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	if _, err := w.next(false); err == nil {
		t.Fatal("client socket still open after Stop")
	}
	if s.Connected(testInfra) {
		t.Fatal("connected after Stop")
	}
	if _, err := httpClient.Post(url, "application/json", strings.NewReader(`{"query":"{__typename}"}`)); err == nil {
		t.Fatal("POST succeeded while stopped")
	}
	s.Stop() // idempotent

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Fatalf("URL changed: %s -> %s", url, s.URL())
	}
	if s.AccessKey(testInfra) != key || !s.Confirmed(testInfra) || len(s.Runs()) != 1 {
		t.Fatal("state lost across restart")
	}
	// The completed run is still known: a late duplicate is rejected.
	_, m := gql(t, url, runMutation, map[string]any{"r": runRequest("u1", "", true, execData("Completed"), "")})
	if !strings.Contains(firstError(m), "duplicate event") {
		t.Fatalf("got %v", m)
	}
	w2 := dial(t, url)
	w2.init()
	w2.startUpstream(testInfra, "3.31.0", key)
	if err := s.WaitConnected(ctx, testInfra); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil { // restart while running
		t.Fatal(err)
	}
	if s.Connected(testInfra) {
		t.Fatal("connected across restart")
	}
}

func TestDropConnections(t *testing.T) {
	s, url := newServer(t, Options{})
	s.RegisterConfirmedInfra(testInfra, testKey)
	s.RegisterConfirmedInfra("other", testKey)
	w := dial(t, url)
	w.init()
	w.startUpstream(testInfra, "3.31.0", testKey)
	other := dial(t, url)
	other.init()
	other.startUpstream("other", "3.31.0", testKey)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range []string{testInfra, "other"} {
		if err := s.WaitConnected(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	s.DropConnections(testInfra)
	if s.Connected(testInfra) || !s.Connected("other") {
		t.Fatal("wrong connection state after drop")
	}
	_, err := w.next(false)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
		t.Fatalf("want abnormal closure (no close frame), got %v", err)
	}
	if err := s.Send(ctx, "other", Action{RequestType: "create"}); err != nil {
		t.Fatal(err)
	}
	if got, err := other.next(false); err != nil || !strings.Contains(got, `"requestType":"create"`) {
		t.Fatalf("other: %q %v", got, err)
	}
}

func TestSetFailPosts(t *testing.T) {
	s, url := newServer(t, Options{})
	s.SetFailPosts(2)
	for i, want := range []int{503, 503, 200, 200} {
		resp, err := httpClient.Post(url, "application/json", bytes.NewReader([]byte(`{"query":"{ __typename }"}`)))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
}

func TestEvents(t *testing.T) {
	s, url := newServer(t, Options{})
	confirm(t, s, url)
	select {
	case ev := <-s.Events():
		if ev != "confirmInfraRegistration" {
			t.Fatalf("event %q", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
}

func TestHandlerPathsAndNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New(Options{KeepAlive: 10 * time.Millisecond})
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("127.0.0.1:0"); err == nil {
		t.Fatal("second Start succeeded")
	}
	s.RegisterConfirmedInfra(testInfra, testKey)
	resp, err := httpClient.Get(strings.TrimSuffix(url, "/query") + "/other")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	status, _ := post(t, strings.TrimSuffix(url, "/query")+"/api/query", "application/json", `{"query":"{ __typename }"}`)
	if status != 200 {
		t.Fatalf("/api/query status %d", status)
	}
	var clients []*websocket.Conn
	for i := 0; i < 3; i++ {
		c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		_ = c.WriteJSON(map[string]any{"type": "connection_init"})
		clients = append(clients, c)
	}
	time.Sleep(50 * time.Millisecond)
	s.Stop()
	for _, c := range clients {
		_ = c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+1 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
