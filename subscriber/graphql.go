package subscriber

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chaos-agent/chaos-agent/internal/config"
)

// TLSConfig builds the TLS settings used for both HTTP and the websocket: verification on by
// default, extra CAs from CUSTOM_TLS_CERT (base64 PEM), and an explicit opt-out.
func TLSConfig(skipVerify bool, customCertB64 string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if skipVerify {
		cfg.InsecureSkipVerify = true //nolint:gosec // explicit SKIP_SSL_VERIFY=true, logged loudly at start
		return cfg, nil
	}
	if customCertB64 == "" {
		return cfg, nil
	}
	pemBytes, err := base64.StdEncoding.DecodeString(strings.TrimSpace(customCertB64))
	if err != nil {
		return nil, fmt.Errorf("CUSTOM_TLS_CERT is not base64: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("CUSTOM_TLS_CERT holds no PEM certificate")
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// newHTTPClient returns the client for GraphQL POSTs: proxies from the environment, the TLS
// settings above, and a timeout (upstream had none).
func newHTTPClient(tlsCfg *tls.Config, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.Proxy = http.ProxyFromEnvironment
	return &http.Client{Transport: tr, Timeout: timeout}
}

// gqlClient posts GraphQL operations with variables.
type gqlClient struct {
	url  string
	http *http.Client
}

// transientError marks failures worth retrying (transport errors, 5xx, 429).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// serverError is a GraphQL error returned by the server (the request was understood and refused).
type serverError struct{ messages []string }

func (e *serverError) Error() string { return "server: " + strings.Join(e.messages, "; ") }

// do posts one operation and decodes data.<field> into out (if not nil).
func (c *gqlClient) do(ctx context.Context, query string, variables map[string]any, field string, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = config.RedactURL(ue.URL) // SERVER_ADDR may carry credentials or a token
		}
		return &transientError{fmt.Errorf("POST %s: %w", field, err)}
	}
	defer func() { _ = resp.Body.Close() }() // read side: nothing to lose
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return &transientError{fmt.Errorf("read %s response: %w", field, err)}
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return &transientError{fmt.Errorf("%s: HTTP %d", field, resp.StatusCode)}
	}
	var r struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []gqlError                 `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: HTTP %d with an undecodable body (%d bytes)", field, resp.StatusCode, len(raw))
	}
	if len(r.Errors) > 0 {
		msgs := make([]string, len(r.Errors))
		for i, e := range r.Errors {
			msgs[i] = e.Message
		}
		return &serverError{messages: msgs}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", field, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	v, ok := r.Data[field]
	if !ok {
		return fmt.Errorf("%s: response has no data", field)
	}
	return json.Unmarshal(v, out)
}
