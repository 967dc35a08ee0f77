// Command devcp runs the test control plane (internal/testing/controlplane) as a standalone
// process for local demos: a ChaosCenter-compatible GraphQL endpoint at /query
// (POST + graphql-ws websocket) plus a small admin API:
//
//	POST /admin/action[?infra=ID]  body: JSON testcp.Action; pushes it to the agent
//	GET  /admin/runs               every accepted chaosExperimentRun (JSON list)
//	GET  /admin/infra[?infra=ID]   {"infraID","connected","confirmed","accessKey"}
//	GET  /admin/rejected           messages of rejected requests
//
// ID defaults to --infra-id. Every request the agent sends is logged.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/chaos-agent/chaos-agent/internal/logging"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devcp:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9002", "listen address")
	version := flag.String("version", testcp.DefaultVersion, "server VERSION agents are checked against")
	infraID := flag.String("infra-id", "", "register this infra at start-up (needs --access-key)")
	accessKey := flag.String("access-key", "", "initial access key of --infra-id")
	confirmed := flag.Bool("confirmed", false, "register --infra-id as already confirmed (IS_INFRA_CONFIRMED=true installs)")
	keepAlive := flag.Duration("keepalive", testcp.DefaultKeepAlive, "graphql-ws ka interval")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	logFormat := flag.String("log-format", "console", "console or json")
	flag.Parse()

	log, err := logging.New(os.Stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	s := testcp.New(testcp.Options{Version: *version, KeepAlive: *keepAlive, Log: log})
	if *infraID != "" {
		if *accessKey == "" {
			return errors.New("--infra-id needs --access-key")
		}
		if *confirmed {
			s.RegisterConfirmedInfra(*infraID, *accessKey)
		} else {
			s.RegisterInfra(*infraID, *accessKey)
		}
		log.Info("infra registered", zap.String("infraID", *infraID), zap.Bool("confirmed", *confirmed))
	}

	mux := http.NewServeMux()
	mux.Handle("/query", s.Handler())
	a := &admin{s: s, defaultInfra: *infraID, log: log}
	mux.HandleFunc("/admin/action", a.action)
	mux.HandleFunc("/admin/runs", a.runs)
	mux.HandleFunc("/admin/infra", a.infra)
	mux.HandleFunc("/admin/rejected", a.rejected)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("devcp listening", zap.String("url", "http://"+ln.Addr().String()+"/query"), zap.String("version", s.Version()))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shCtx) // does not wait for hijacked websockets …
	s.Stop()                // … which Stop closes
	return nil
}

type admin struct {
	s            *testcp.Server
	defaultInfra string
	log          *zap.Logger
}

func (a *admin) infraID(r *http.Request) string {
	if id := r.URL.Query().Get("infra"); id != "" {
		return id
	}
	return a.defaultInfra
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *admin) action(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return
	}
	var act testcp.Action
	if err := json.NewDecoder(r.Body).Decode(&act); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	id := a.infraID(r)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := a.s.Send(ctx, id, act); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, testcp.ErrNotConnected) {
			status = http.StatusConflict
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sent": true, "infraID": id})
}

func (a *admin) runs(w http.ResponseWriter, _ *http.Request) {
	runs := a.s.Runs()
	if runs == nil {
		runs = []testcp.RunEvent{}
	}
	writeJSON(w, http.StatusOK, runs)
}

func (a *admin) rejected(w http.ResponseWriter, _ *http.Request) {
	rej := a.s.Rejected()
	if rej == nil {
		rej = []string{}
	}
	writeJSON(w, http.StatusOK, rej)
}

func (a *admin) infra(w http.ResponseWriter, r *http.Request) {
	id := a.infraID(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"infraID":   id,
		"connected": a.s.Connected(id),
		"confirmed": a.s.Confirmed(id),
		"accessKey": a.s.AccessKey(id),
	})
}
