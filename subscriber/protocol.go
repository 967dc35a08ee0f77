package subscriber

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// GraphQL documents. Every value travels in variables: nothing is concatenated into a query.
const (
	docConfirm = `mutation confirmInfraRegistration($request: InfraIdentity!) {
  confirmInfraRegistration(request: $request) { isInfraConfirmed newAccessKey infraID }
}`
	docInfraConnect = `subscription infraConnect($request: InfraIdentity!) {
  infraConnect(request: $request) {
    action { k8sManifest externalData requestID requestType username namespace }
  }
}`
	docRun           = `mutation chaosExperimentRun($request: ExperimentRunRequest!) { chaosExperimentRun(request: $request) }`
	docPodLog        = `mutation podLog($request: PodLog!) { podLog(request: $request) }`
	docKubeObj       = `mutation kubeObj($request: KubeObjectData!) { kubeObj(request: $request) }`
	docKubeNamespace = `mutation kubeNamespace($request: KubeNamespaceData!) { kubeNamespace(request: $request) }`
)

// InfraIdentity identifies the agent in every call.
type InfraIdentity struct {
	InfraID   string `json:"infraID"`
	AccessKey string `json:"accessKey"`
	Version   string `json:"version"`
}

// RequestType selects what an action does.
type RequestType string

// The request types a ChaosCenter 3.x server sends (plus aliases the upstream agent accepted).
const (
	RequestCreate            RequestType = "create"
	RequestUpdate            RequestType = "update"
	RequestDelete            RequestType = "delete"
	RequestGet               RequestType = "get"
	RequestLogs              RequestType = "logs"
	RequestKubeObject        RequestType = "kubeobject"
	RequestNamespace         RequestType = "namespace"
	RequestWorkflowRunStop   RequestType = "workflow_run_stop"
	RequestWorkflowRunDelete RequestType = "workflow_run_delete"
	RequestWorkflowDelete    RequestType = "workflow_delete"
	// RequestHaltAll is chaos-agent's own: stop every running fault now (ChaosCenter does not send
	// it; an operator's tooling may).
	RequestHaltAll RequestType = "halt_all"
)

// normalizeRequestType maps the accepted spellings to one type; unknown types are an error.
// Matching is exact (case-insensitive), never by substring as upstream did.
func normalizeRequestType(s string) (RequestType, error) {
	switch t := RequestType(lower(s)); t {
	case RequestCreate, RequestUpdate, RequestDelete, RequestGet, RequestLogs, RequestKubeObject,
		RequestNamespace, RequestWorkflowRunStop, RequestWorkflowRunDelete, RequestWorkflowDelete, RequestHaltAll:
		return t, nil
	case "kubeobjects":
		return RequestKubeObject, nil
	case "kubenamespace", "kubenamespaces":
		return RequestNamespace, nil
	default:
		return "", fmt.Errorf("unknown request type %q", s)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Action is one instruction pushed by the server.
type Action struct {
	RequestID    string  `json:"requestID"`
	RequestType  string  `json:"requestType"`
	K8sManifest  string  `json:"k8sManifest"`
	Namespace    string  `json:"namespace"`
	ExternalData *string `json:"externalData"`
	Username     *string `json:"username"`
}

func (a Action) externalData() string {
	if a.ExternalData == nil {
		return ""
	}
	return *a.ExternalData
}

func (a Action) username() string {
	if a.Username == nil {
		return ""
	}
	return *a.Username
}

// frame is a graphql-ws (subscriptions-transport-ws) message.
type frame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// graphql-ws message types.
const (
	frameConnectionInit  = "connection_init"
	frameConnectionAck   = "connection_ack"
	frameConnectionError = "connection_error"
	frameKeepAlive       = "ka"
	frameStart           = "start"
	frameStop            = "stop"
	frameData            = "data"
	frameError           = "error"
	frameComplete        = "complete"
	frameTerminate       = "connection_terminate"
)

// gqlError is one GraphQL error.
type gqlError struct {
	Message string `json:"message"`
}

// dataPayload is the payload of a data frame for infraConnect.
type dataPayload struct {
	Data *struct {
		InfraConnect *struct {
			Action *Action `json:"action"`
		} `json:"infraConnect"`
	} `json:"data"`
	Errors []gqlError `json:"errors"`
}

// errFrame marks malformed frames: they are logged and skipped, never fatal.
var errFrame = errors.New("malformed frame")

// decodeFrame parses one websocket message.
func decodeFrame(b []byte) (frame, error) {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: %w", errFrame, err)
	}
	if f.Type == "" {
		return f, fmt.Errorf("%w: no type", errFrame)
	}
	return f, nil
}

// decodeAction extracts the action (or the server's errors) from a data frame's payload.
func decodeAction(payload []byte) (*Action, []gqlError, error) {
	var p dataPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, nil, fmt.Errorf("%w: data payload: %w", errFrame, err)
	}
	if len(p.Errors) > 0 {
		return nil, p.Errors, nil
	}
	if p.Data == nil || p.Data.InfraConnect == nil || p.Data.InfraConnect.Action == nil {
		return nil, nil, fmt.Errorf("%w: data frame without an action", errFrame)
	}
	return p.Data.InfraConnect.Action, nil, nil
}

// websocketURL derives the websocket URL from SERVER_ADDR: wss for https, ws otherwise; host and
// path kept; query and fragment dropped.
func websocketURL(serverAddr string) (string, error) {
	u, err := url.Parse(serverAddr)
	if err != nil {
		return "", fmt.Errorf("server address: %w", err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server address %q has no host", serverAddr)
	}
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	return (&url.URL{Scheme: scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String(), nil
}
