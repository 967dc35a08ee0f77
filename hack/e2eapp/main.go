// Command e2eapp is the workload of the end-to-end tests on the local cluster's real node: one
// static HTTP server that plays either the cart service or the frontend of the seed tutorial.
//
//	role cartservice: GET /cart answers 200 ("cart: ok (served by <pod>)").
//	role frontend:    GET /cart calls the cart service (CART_URL, default its Service DNS name)
//	                  with a short timeout and answers 200 when it answered 200, 503 otherwise.
//
// Both serve /healthz (liveness) and /readyz (readiness: 200 once READY_DELAY has passed, 503
// again from SIGTERM on). On SIGTERM the server logs it, keeps serving for DRAIN_DELAY (so a
// graceful delete takes measurable time and the endpoint can be removed first), then shuts down
// and exits 0. With TERM_LOG=DIR it also writes DIR/<hostname> with the SIGTERM's time, so a
// test can prove a deleted pod was terminated gracefully after the pod is gone.
//
// Every flag has an environment variable of the same meaning (the flag wins).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	role, addr, cartURL, termLog string
	timeout, drainDelay, ready   time.Duration
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	log.SetOutput(os.Stdout)
	c, err := parseConfig(os.Args[1:])
	if err != nil {
		log.Fatal(err)
	}
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

func env(k, def string) string {
	if v, ok := os.LookupEnv(k); ok && v != "" {
		return v
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if v := os.Getenv(k); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		log.Printf("ignoring %s=%q: not a duration", k, v)
	}
	return def
}

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("e2eapp", flag.ContinueOnError)
	fs.StringVar(&c.role, "role", env("ROLE", "cartservice"), "cartservice or frontend (ROLE)")
	fs.StringVar(&c.addr, "addr", env("ADDR", ":8080"), "listen address (ADDR)")
	fs.StringVar(&c.cartURL, "cart-url", env("CART_URL", "http://cartservice/cart"), "frontend: the cart service's URL (CART_URL)")
	fs.DurationVar(&c.timeout, "timeout", envDuration("CART_TIMEOUT", time.Second), "frontend: timeout of a cart service call (CART_TIMEOUT)")
	fs.DurationVar(&c.drainDelay, "drain-delay", envDuration("DRAIN_DELAY", 2*time.Second), "how long to keep serving after SIGTERM (DRAIN_DELAY)")
	fs.DurationVar(&c.ready, "ready-delay", envDuration("READY_DELAY", 0), "how long after start /readyz turns 200 (READY_DELAY)")
	fs.StringVar(&c.termLog, "term-log", env("TERM_LOG", ""), "directory to record the SIGTERM in, one file per hostname (TERM_LOG)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.role != "cartservice" && c.role != "frontend" {
		return c, fmt.Errorf("role %q: want cartservice or frontend", c.role)
	}
	return c, nil
}

func run(c config) error {
	host, _ := os.Hostname()
	start := time.Now()
	var terminating atomic.Bool
	client := &http.Client{Timeout: c.timeout}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case terminating.Load():
			http.Error(w, "terminating", http.StatusServiceUnavailable)
		case time.Since(start) < c.ready:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		if c.role == "cartservice" {
			fmt.Fprintf(w, "cart: ok (served by %s)\n", host)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), c.timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cartURL, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, "cart service unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			http.Error(w, fmt.Sprintf("cart service answered %d", resp.StatusCode), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "frontend %s: %s", host, body)
	})

	srv := &http.Server{Addr: c.addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("e2eapp %s serving on %s (pod %s, drain delay %s)", c.role, c.addr, host, c.drainDelay)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case s := <-sigs:
		terminating.Store(true)
		log.Printf("received %s: draining for %s", s, c.drainDelay)
		if c.termLog != "" {
			line := fmt.Sprintf("%s %s\n", s, time.Now().UTC().Format(time.RFC3339Nano))
			if err := os.WriteFile(filepath.Join(c.termLog, host), []byte(line), 0o644); err != nil {
				log.Printf("term log: %v", err)
			}
		}
	}
	time.Sleep(c.drainDelay)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Printf("stopped")
	return nil
}
