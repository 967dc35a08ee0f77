package probes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// maxPromResponseBytes bounds the Prometheus response read.
const maxPromResponseBytes = 8 << 20

// evalProm evaluates a promProbe (§6.4): an instant query through the Prometheus HTTP API
// (GET <endpoint>/api/v1/query?query=<q>) instead of upstream's promql CLI.
func (s *Session) evalProm(ctx context.Context, ev *evaluation) (string, *litmus.Error) {
	return s.retry(ctx, ev.p, ev.tryProm)
}

// promResponse is the envelope of the Prometheus HTTP API.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string  `json:"metric"`
	Value  [2]json.RawMessage `json:"value"`
}

// tryProm runs the query once. The result must be exactly one sample (an instant vector of
// one series, or a scalar); anything else, and every HTTP or API problem, is a
// PROM_PROBE_ERROR. A value that does not satisfy the comparator is a PROM_PROBE_FAILURE.
func (ev *evaluation) tryProm(ctx context.Context) (string, *litmus.Error) {
	p := ev.p
	in := p.spec.PromProbeInputs
	const errCode = litmus.ErrorCodePromProbeError
	query := in.Query
	if strings.TrimSpace(query) == "" {
		b, err := os.ReadFile(in.QueryPath)
		if err != nil {
			return "", p.errorf(errCode, "read query from queryPath %s: %w", in.QueryPath, err)
		}
		query = string(b)
	}
	query = strings.TrimSpace(query)
	if query == "" {
		return "", p.errorf(errCode, "the query is empty")
	}
	endpoint := strings.TrimRight(strings.TrimSpace(in.Endpoint), "/")
	shown := endpoint
	if u, err := url.Parse(endpoint); err == nil {
		shown = u.Redacted()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/api/v1/query?"+url.Values{"query": {query}}.Encode(), nil)
	if err != nil {
		return "", p.errorf(errCode, "build query request for %s: %w", shown, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.httpClient.Do(req)
	if err != nil {
		return "", p.errorf(errCode, "query Prometheus at %s: %w", shown, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPromResponseBytes))
	if err != nil {
		return "", p.errorf(errCode, "read Prometheus response from %s: %w", shown, err)
	}
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return "", p.errorf(errCode, "Prometheus at %s answered HTTP %d with a body that is not an API response: %s", shown, resp.StatusCode, clip(strings.TrimSpace(string(body))))
	}
	if r.Status != "success" {
		return "", p.errorf(errCode, "query %q failed at %s (HTTP %d): %s: %s", query, shown, resp.StatusCode, r.ErrorType, r.Error)
	}
	var value string
	switch r.Data.ResultType {
	case "vector":
		var samples []promSample
		if err := json.Unmarshal(r.Data.Result, &samples); err != nil {
			return "", p.errorf(errCode, "decode vector result of query %q: %w", query, err)
		}
		if len(samples) != 1 {
			return "", p.errorf(errCode, "query %q returned %d series, want exactly one sample (aggregate it, e.g. with sum())", query, len(samples))
		}
		if err := json.Unmarshal(samples[0].Value[1], &value); err != nil {
			return "", p.errorf(errCode, "decode sample value of query %q: %w", query, err)
		}
	case "scalar":
		var sample [2]json.RawMessage
		if err := json.Unmarshal(r.Data.Result, &sample); err != nil {
			return "", p.errorf(errCode, "decode scalar result of query %q: %w", query, err)
		}
		if err := json.Unmarshal(sample[1], &value); err != nil {
			return "", p.errorf(errCode, "decode scalar value of query %q: %w", query, err)
		}
	default:
		return "", p.errorf(errCode, "query %q returned a %s, want an instant vector with one sample or a scalar", query, r.Data.ResultType)
	}
	cerr := p.cmp.Compare(value)
	ev.logComparison(value, cerr)
	if cerr != nil {
		return "", p.errorf(litmus.ErrorCodePromProbeFailure, "query %q: %v", query, cerr)
	}
	return fmt.Sprintf("The query result '%s' satisfied the criteria '%s'", value, p.cmp), nil
}
