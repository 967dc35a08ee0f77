package subscriber

import (
	"bufio"
	"context"
	"crypto/sha1" //nolint:gosec // the websocket handshake's accept key is defined with SHA-1
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawWSServer is a minimal websocket server on loopback written from RFC 6455 (no websocket
// library): it completes the handshake, then writes the frames a test gives it, so that a test
// can send what a well-behaved library would refuse to, such as a header announcing a huge
// message.
func rawWSServer(t *testing.T, frames ...[]byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) //nolint:gosec // RFC 6455
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Protocol: graphql-ws\r\nSec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n"))
		for _, f := range frames {
			if _, err := c.Write(f); err != nil {
				return
			}
		}
		// Wait for the client to go away.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	return "ws://" + ln.Addr().String() + "/query"
}

// wsHeader is an unmasked server frame header (FIN set) for a payload of n bytes.
func wsHeader(opcode byte, n uint64) []byte {
	h := []byte{0x80 | opcode}
	switch {
	case n < 126:
		return append(h, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(h, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(h, 127), n)
	}
}

func wsFrame(opcode byte, payload string) []byte {
	return append(wsHeader(opcode, uint64(len(payload))), payload...)
}

// TestGorillaConnFrames: the websocket connection returns text and binary messages, answers
// pings itself, and refuses a message larger than DefaultMaxFrameBytes from its header alone, before
// reading it.
func TestGorillaConnFrames(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name    string
		frames  [][]byte
		want    []string // messages read before the error
		wantErr string
	}{
		{name: "text and binary", frames: [][]byte{wsFrame(0x1, `{"type":"ka"}`), wsFrame(0x2, `{"type":"ka"}`)}, want: []string{`{"type":"ka"}`, `{"type":"ka"}`}},
		{name: "ping answered, not returned", frames: [][]byte{wsFrame(0x9, "p"), wsFrame(0x1, "after")}, want: []string{"after"}},
		{name: "1 MiB", frames: [][]byte{wsFrame(0x1, big)}, want: []string{big}},
		{name: "over the limit", frames: [][]byte{wsFrame(0x1, "first"), wsHeader(0x1, DefaultMaxFrameBytes+1)}, want: []string{"first"}, wantErr: "read limit"},
		{name: "8 GiB announced", frames: [][]byte{wsHeader(0x1, 8<<30)}, wantErr: "read limit"},
		{name: "close", frames: [][]byte{wsFrame(0x8, "\x03\xe8bye")}, wantErr: "1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := rawWSServer(t, tc.frames...)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := gorillaDialer(nil, DefaultMaxFrameBytes)(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			for i, want := range tc.want {
				got, err := c.Read(time.Now().Add(5 * time.Second))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if string(got) != want {
					t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(want))
				}
			}
			wait := 5 * time.Second // for the error
			if tc.wantErr == "" {
				wait = 300 * time.Millisecond // nothing more comes: the read times out
			}
			_, err = c.Read(time.Now().Add(wait))
			switch {
			case tc.wantErr == "" && !isTimeout(err):
				t.Errorf("after the messages: %v, want a read timeout", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("read: %v, want an error containing %q", err, tc.wantErr)
			}
			if err := c.Write(ctx, []byte(`{"type":"connection_terminate"}`)); tc.wantErr == "" && err != nil {
				t.Errorf("write: %v", err)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// TestGorillaDialErrors: a refused dial and a server that is not a websocket endpoint fail with
// the URL (and the HTTP status when there is one).
func TestGorillaDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "ws://" + ln.Addr().String() + "/query"
	_ = ln.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", http.StatusForbidden) }))
	defer srv.Close()
	tests := []struct{ name, url, want string }{
		{"refused", closedURL, "dial " + closedURL},
		{"not a websocket", "ws" + strings.TrimPrefix(srv.URL, "http") + "/query", "HTTP 403"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := gorillaDialer(nil, DefaultMaxFrameBytes)(ctx, tc.url)
			if err == nil {
				_ = c.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
