package probes

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// maxBodyBytes bounds how much of a response body is read (and discarded).
const maxBodyBytes = 1 << 20

// newHTTPClient returns a client with its own transport (proxy settings from the
// environment, TLS verified unless insecure) and the given timeout (0 = none). Redirects are
// followed (Go default, at most 10).
func newHTTPClient(insecure bool, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the probe asked for it (insecureSkipVerify)
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// evalHTTP evaluates an httpProbe (§6.4).
func (s *Session) evalHTTP(ctx context.Context, ev *evaluation, data map[string]artifactData) (string, *litmus.Error) {
	p := ev.p
	in := p.spec.HTTPProbeInputs
	raw, err := render(p.urlTmpl, in.URL, data)
	if err != nil {
		return "", p.templateError(err)
	}
	raw = strings.TrimSpace(raw)
	if err := checkHTTPURL(raw); err != nil {
		return "", p.errorf(litmus.ErrorCodeHTTPProbeError, "httpProbe url: %v", err)
	}
	return s.retryHTTP(ctx, p, func(ctx context.Context) (string, *litmus.Error) {
		return ev.tryHTTP(ctx, raw)
	})
}

// tryHTTP sends one request. A response whose status code does not satisfy the criteria and
// any transport error (refused, reset, timeout, TLS verification, too many redirects) are
// HTTP_PROBE_FAILUREs; problems building the request are HTTP_PROBE_ERRORs.
func (ev *evaluation) tryHTTP(ctx context.Context, rawURL string) (string, *litmus.Error) {
	p := ev.p
	in := p.spec.HTTPProbeInputs
	shown := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		shown = u.Redacted()
	}
	var body io.Reader
	if post := p.httpPost; post != nil {
		switch {
		case post.Body != "":
			body = strings.NewReader(post.Body)
		default:
			b, err := os.ReadFile(post.BodyPath)
			if err != nil {
				return "", p.errorf(litmus.ErrorCodeHTTPProbeError, "read POST body from bodyPath %s: %w", post.BodyPath, err)
			}
			body = strings.NewReader(string(b))
		}
	}
	req, err := http.NewRequestWithContext(ctx, p.httpMethod, rawURL, body)
	if err != nil {
		return "", p.errorf(litmus.ErrorCodeHTTPProbeError, "build %s request for %s: %w", p.httpMethod, shown, err)
	}
	if p.httpPost != nil && p.httpPost.ContentType != "" {
		req.Header.Set("Content-Type", p.httpPost.ContentType)
	}
	for k, v := range in.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := p.httpClient.Do(req)
	if err != nil {
		return "", p.errorf(litmus.ErrorCodeHTTPProbeFailure, "the URL %s did not respond: %w", shown, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyBytes))

	code := strconv.Itoa(resp.StatusCode)
	cerr := p.cmp.Compare(code)
	ev.logComparison(code, cerr)
	if cerr != nil {
		return "", p.errorf(litmus.ErrorCodeHTTPProbeFailure, "the URL %s responded with status code %s: %v", shown, code, cerr)
	}
	return fmt.Sprintf("The URL %s did respond with correct status code. Actual code: '%s'. Expected code: '%s'", shown, code, p.cmp.String()), nil
}
