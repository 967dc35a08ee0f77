package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// TestRouteKlog: what client-go logs through klog comes out as JSON lines of the agent's logger.
func TestRouteKlog(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r KlogRouter
	var before bytes.Buffer
	earlier, _ := New(&before, "info", "json")
	r.Route(earlier)
	r.Route(log) // a later Route switches the destination
	t.Cleanup(klog.ClearLogger)
	klog.ErrorS(errors.New("connection refused"), "Failed to watch", "reflector", "pods")
	klog.Warning("Throttling request took 1.2s")
	klog.V(4).InfoS("chatty detail") // below the agent's level: dropped
	klog.Flush()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if m["logger"] != "client-go" {
			t.Errorf("logger %v, want client-go: %s", m["logger"], l)
		}
	}
	if before.Len() != 0 {
		t.Errorf("the first logger still gets klog's lines: %s", before.String())
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	if first["msg"] != "Failed to watch" || first["error"] != "connection refused" || first["reflector"] != "pods" || first["level"] != "error" {
		t.Errorf("structured fields lost: %s", lines[0])
	}
}
