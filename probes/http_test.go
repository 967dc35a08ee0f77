package probes

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// testServer serves:
//
//	/status/<code>   that status code
//	/redirect        302 to /status/200
//	/post            201 if the request is a POST with body `{"a":1}` and content type
//	                 application/json, else 400
//	/headers         200 if X-Probe: yes and the Host is probe.example, else 403
//	/slow            waits until the client goes away
//	/flaky           500 for the first two requests, 200 afterwards
func testServer(t *testing.T, tls bool) (*httptest.Server, *atomic.Int64) {
	var flaky atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code := 0
		for _, c := range r.PathValue("code") {
			code = code*10 + int(c-'0')
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, strings.Repeat("x", 3<<20)) // larger than the read limit
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status/200", http.StatusFound)
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != `{"a":1}` || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "yes" || r.Host != "probe.example" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if flaky.Add(1) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	return srv, &flaky
}

// refusedURL returns a URL on which nothing listens.
func refusedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr + "/"
}

func TestHTTPProbe(t *testing.T) {
	checkGoroutines(t)
	srv, _ := testServer(t, false)
	tlsSrv, _ := testServer(t, true)
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(bodyFile, []byte(`{"a":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	const SOT = litmus.ProbeModeSOT
	post := func(name, url string, p litmus.HTTPPost, opts ...probeOpt) litmus.Probe {
		pr := httpGetProbe(name, SOT, url, "", "", opts...)
		p.Criteria, p.ResponseCode = "==", "201"
		pr.HTTPProbeInputs.Method = litmus.HTTPMethod{Post: &p}
		return pr
	}
	with := func(p litmus.Probe, f func(*litmus.HTTPProbeInputs)) litmus.Probe {
		f(p.HTTPProbeInputs)
		return p
	}
	tests := []struct {
		name     string
		probe    litmus.Probe
		verdict  litmus.ProbeVerdict
		desc     []string         // substrings of the description
		errCode  litmus.ErrorCode // returned error, if any
		errWant  []string
		maxTaken time.Duration
	}{
		{
			name:    "200 expected 200",
			probe:   httpGetProbe("p", SOT, srv.URL+"/status/200", "==", "200"),
			verdict: litmus.ProbeVerdictPassed,
			desc:    []string{"did respond with correct status code", "Actual code: '200'", "Expected code: '== 200'"},
		},
		{
			name:    "500 expected 200 fails",
			probe:   httpGetProbe("p", SOT, srv.URL+"/status/500", "==", "200"),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"responded with status code 500", "Actual value: 500. Expected value: == 200"},
		},
		{
			name:    "500 with stopOnFailure returns the failure",
			probe:   httpGetProbe("p", SOT, srv.URL+"/status/500", "==", "200", stopOnFailure()),
			verdict: litmus.ProbeVerdictFailed,
			errCode: litmus.ErrorCodeHTTPProbeFailure,
			errWant: []string{"status code 500"},
		},
		{
			name:    "oneOf",
			probe:   httpGetProbe("p", SOT, srv.URL+"/status/404", "oneOf", "[400,404]"),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "redirect followed",
			probe:   httpGetProbe("p", SOT, srv.URL+"/redirect", "==", "200"),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "connection refused is a failure",
			probe:   httpGetProbe("p", SOT, refusedURL(t), "==", "200", stopOnFailure()),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"did not respond", "connection refused"},
			errCode: litmus.ErrorCodeHTTPProbeFailure,
		},
		{
			name:    "POST with body",
			probe:   post("p", srv.URL+"/post", litmus.HTTPPost{ContentType: "application/json", Body: `{"a":1}`}),
			verdict: litmus.ProbeVerdictPassed,
			desc:    []string{"Actual code: '201'"},
		},
		{
			name:    "POST with bodyPath",
			probe:   post("p", srv.URL+"/post", litmus.HTTPPost{ContentType: "application/json", BodyPath: bodyFile}),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "POST with wrong body",
			probe:   post("p", srv.URL+"/post", litmus.HTTPPost{ContentType: "application/json", Body: `{}`}),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"status code 400"},
		},
		{
			name:    "POST bodyPath missing is an error",
			probe:   post("p", srv.URL+"/post", litmus.HTTPPost{BodyPath: filepath.Join(t.TempDir(), "nope")}),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodeHTTPProbeError,
			errWant: []string{"read POST body from bodyPath"},
		},
		{
			name: "headers sent",
			probe: with(httpGetProbe("p", SOT, srv.URL+"/headers", "==", "200"), func(in *litmus.HTTPProbeInputs) {
				in.Headers = map[string]string{"X-Probe": "yes", "Host": "probe.example"}
			}),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "without headers",
			probe:   httpGetProbe("p", SOT, srv.URL+"/headers", "==", "200"),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"status code 403"},
		},
		{
			name:    "TLS self-signed fails",
			probe:   httpGetProbe("p", SOT, tlsSrv.URL+"/status/200", "==", "200"),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"did not respond", "certificate"},
		},
		{
			name: "TLS self-signed with insecureSkipVerify",
			probe: with(httpGetProbe("p", SOT, tlsSrv.URL+"/status/200", "==", "200"), func(in *litmus.HTTPProbeInputs) {
				in.InsecureSkipVerify = true
			}),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name: "probeTimeout is the client timeout",
			probe: httpGetProbe("p", SOT, srv.URL+"/slow", "==", "200",
				withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("200ms") })),
			verdict:  litmus.ProbeVerdictFailed,
			desc:     []string{"did not respond", "Client.Timeout exceeded"},
			maxTaken: 3 * time.Second,
		},
		{
			name: "responseTimeout wins over probeTimeout",
			probe: with(httpGetProbe("p", SOT, srv.URL+"/slow", "==", "200"), func(in *litmus.HTTPProbeInputs) {
				in.ResponseTimeout = litmus.DurationFromString("150ms")
			}),
			verdict:  litmus.ProbeVerdictFailed,
			desc:     []string{"Client.Timeout exceeded"},
			maxTaken: 3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{tt.probe}})
			if tt.errCode != "" {
				wantCode(t, err, tt.errCode, tt.errWant...)
			} else if err != nil {
				t.Fatalf("PreChaos: %v", err)
			}
			wantVerdict(t, res, "p", tt.verdict, tt.desc...)
			wantPassed := 0
			if tt.verdict == litmus.ProbeVerdictPassed {
				wantPassed = 1
			}
			if res.Passed != wantPassed {
				t.Errorf("Passed = %d, want %d", res.Passed, wantPassed)
			}
			if res.StoppedByProbe != (tt.errCode != "" && tt.verdict == litmus.ProbeVerdictFailed) {
				t.Errorf("StoppedByProbe = %v", res.StoppedByProbe)
			}
			if tt.maxTaken > 0 && time.Since(start) > tt.maxTaken {
				t.Errorf("took %s, want at most %s", time.Since(start), tt.maxTaken)
			}
		})
	}
}

func TestHTTPProbeAttempts(t *testing.T) {
	checkGoroutines(t)
	t.Run("stops at first success", func(t *testing.T) {
		srv, flaky := testServer(t, false)
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			httpGetProbe("p", litmus.ProbeModeSOT, srv.URL+"/flaky", "==", "200", attempts(5)),
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, res, "p", litmus.ProbeVerdictPassed)
		if n := flaky.Load(); n != 3 {
			t.Errorf("%d requests, want 3 (two failures, then the first success)", n)
		}
	})
	t.Run("all attempts fail", func(t *testing.T) {
		srv, flaky := testServer(t, false)
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			httpGetProbe("p", litmus.ProbeModeSOT, srv.URL+"/flaky", "==", "200", withRP(func(r *litmus.RunProperties) { r.Retry = 2 })),
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, res, "p", litmus.ProbeVerdictFailed, "status code 500")
		if n := flaky.Load(); n != 2 {
			t.Errorf("%d requests, want 2 (retry: 2)", n)
		}
	})
	t.Run("interval after every try including success", func(t *testing.T) {
		srv, _ := testServer(t, false)
		start := time.Now()
		_, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{
			httpGetProbe("p", litmus.ProbeModeSOT, srv.URL+"/status/200", "==", "200",
				withRP(func(r *litmus.RunProperties) { r.Interval = litmus.DurationFromString("300ms") })),
		}})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 300*time.Millisecond {
			t.Errorf("took %s, want at least the 300ms interval after the successful try", took)
		}
	})
}

// TestHTTPProbeContinuousFlip runs a Continuous httpProbe (real clock, real server) whose
// server starts answering 500 during the chaos: the probe ends Failed, the loop stops at the
// failure, and no goroutine survives Close.
func TestHTTPProbeContinuousFlip(t *testing.T) {
	checkGoroutines(t)
	var code, requests atomic.Int64
	code.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)
	s := startSession(t, testRunner(t), litmus.ProbeRun{
		Probes:             []litmus.Probe{httpGetProbe("p", litmus.ProbeModeContinuous, srv.URL, "==", "200", polling("20ms"))},
		StatusCheckTimeout: 5 * time.Second,
	})
	if err := s.PreChaos(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a few successful requests", func() bool { return requests.Load() >= 3 })
	wantVerdict(t, s.Result(), "p", litmus.ProbeVerdictAwaited)
	code.Store(500)
	waitFor(t, "the probe to fail", func() bool { return s.Result().Statuses[0].Status.Verdict == litmus.ProbeVerdictFailed })
	n := requests.Load()
	time.Sleep(100 * time.Millisecond)
	if requests.Load() != n {
		t.Errorf("the loop went on after the failure: %d requests, then %d", n, requests.Load())
	}
	if err := s.PostChaos(t.Context()); err != nil {
		t.Fatalf("PostChaos: %v", err)
	}
	res := s.Result()
	wantVerdict(t, res, "p", litmus.ProbeVerdictFailed, "status code 500")
	if res.Passed != 0 {
		t.Errorf("Passed = %d", res.Passed)
	}
	s.Close()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
