package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]string
		d       Defaults
		wantErr string
		check   func(t *testing.T, p Policy)
	}{
		{name: "defaults under serve", check: func(t *testing.T, p Policy) {
			if p.Found || p.AllowInlineCommands || p.KillSwitch || p.MaxPodsAffectedPerc != 100 || p.LinkLossTimeout != time.Minute {
				t.Errorf("%+v", p)
			}
			if strings.Join(p.AllowedNamespaces, ",") != "agent" || strings.Join(p.AllowedProbeOperations, ",") != "present,absent" {
				t.Errorf("%+v", p)
			}
		}},
		{name: "defaults under run", d: Defaults{AllowInlineCommands: true}, check: func(t *testing.T, p Policy) {
			if !p.AllowInlineCommands {
				t.Errorf("%+v", p)
			}
		}},
		{name: "every key", data: map[string]string{"allowedNamespaces": " a, b ,", "allowedKinds": "Workflow", "maxPodsAffectedPerc": "50",
			"killSwitch": "false", "haltAll": "true", "allowedProbeOperations": "present,create", "allowInlineCommands": "true",
			"allowedHTTPProbeURLs": "http://svc.a/,https://x/", "linkLossTimeout": "5"}, check: func(t *testing.T, p Policy) {
			if !p.Found || strings.Join(p.AllowedNamespaces, ",") != "a,b" || p.MaxPodsAffectedPerc != 50 || !p.KillSwitch || !p.AllowInlineCommands ||
				len(p.AllowedHTTPProbeURLs) != 2 || p.LinkLossTimeout != 5*time.Second || strings.Join(p.AllowedProbeOperations, ",") != "present,create" {
				t.Errorf("%+v", p)
			}
		}},
		{name: "bad percentage", data: map[string]string{"maxPodsAffectedPerc": "150"}, wantErr: "maxPodsAffectedPerc"},
		{name: "bad boolean", data: map[string]string{"allowInlineCommands": "yes please"}, wantErr: "allowInlineCommands"},
		{name: "bad operation", data: map[string]string{"allowedProbeOperations": "patch"}, wantErr: "patch"},
		{name: "bad link loss", data: map[string]string{"linkLossTimeout": "99999999999999999999"}, wantErr: "linkLossTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.data, tc.data != nil, "agent", tc.d)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if !p.KillSwitch || len(p.AllowedNamespaces) != 0 || p.AllowsKind("Workflow") {
					t.Errorf("a broken policy must allow nothing: %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func TestCheckPodsAffectedPerc(t *testing.T) {
	p := Policy{MaxPodsAffectedPerc: 50}
	for v, ok := range map[string]bool{"": true, "50": true, " 10 ": true, "25-50": true, "51": false, "25-100": false, "100": false,
		"abc": false, "{{workflow.parameters.perc}}": false, "-": false, "x-10": false, "10-": false} {
		err := p.CheckPodsAffectedPerc(v)
		if (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", v, err, ok)
		}
		if err != nil && (!IsRefusal(err) || !strings.Contains(err.Error(), "maxPodsAffectedPerc")) {
			t.Errorf("%q: %v does not name the rule", v, err)
		}
	}
}

func TestCheckNamespace(t *testing.T) {
	p := Policy{AllowedNamespaces: []string{"a"}}
	if err := p.CheckNamespace("x", "a"); err != nil {
		t.Error(err)
	}
	for _, ns := range []string{"b", "", "{{workflow.parameters.ns}}"} {
		if err := p.CheckNamespace("x", ns); err == nil || !strings.Contains(err.Error(), "allowedNamespaces") {
			t.Errorf("%q: %v", ns, err)
		}
	}
	if err := (Policy{AllowedNamespaces: []string{"*"}}).CheckNamespace("x", "b"); err != nil {
		t.Error(err)
	}
}

func TestCheckProbe(t *testing.T) {
	serve := Policy{AllowedNamespaces: []string{"a"}, AllowedProbeOperations: []string{"present", "absent"}}
	writer := serve
	writer.AllowedProbeOperations = []string{"present", "absent", "create", "delete"}
	inline := serve
	inline.AllowInlineCommands = true
	urls := serve
	urls.AllowedHTTPProbeURLs = []string{"http://web.a.svc/"}
	k8s := func(op litmus.K8sOperation, ns, data string) litmus.Probe {
		return litmus.Probe{Name: "p", Type: litmus.ProbeTypeK8s, Data: data, K8sProbeInputs: &litmus.K8sProbeInputs{Version: "v1", Resource: "pods", Namespace: ns, Operation: op}}
	}
	cmd := func(src bool) litmus.Probe {
		in := &litmus.CmdProbeInputs{Command: "id"}
		if src {
			in.Source = &litmus.ProbeSource{Image: "busybox"}
		}
		return litmus.Probe{Name: "c", Type: litmus.ProbeTypeCmd, CmdProbeInputs: in}
	}
	http := func(u string) litmus.Probe {
		return litmus.Probe{Name: "h", Type: litmus.ProbeTypeHTTP, HTTPProbeInputs: &litmus.HTTPProbeInputs{URL: u}}
	}
	tests := []struct {
		name     string
		pol      Policy
		probe    litmus.Probe
		engineNS string
		rule     string // "" allowed
	}{
		{"read in the namespace", serve, k8s("present", "a", ""), "a", ""},
		{"read cluster-wide", serve, k8s("absent", "", ""), "a", ""},
		{"read elsewhere", serve, k8s("present", "b", ""), "a", "allowedNamespaces"},
		{"delete by default", serve, k8s("delete", "a", ""), "a", "allowedProbeOperations"},
		{"delete elsewhere", writer, k8s("delete", "b", ""), "a", "allowedNamespaces"},
		{"delete everywhere", writer, k8s("delete", "", ""), "a", "allowedNamespaces"},
		{"delete allowed", writer, k8s("delete", "a", ""), "a", ""},
		{"create into another namespace", writer, k8s("create", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: b}\n"), "a", "allowedNamespaces"},
		{"create defaulted", writer, k8s("create", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), "a", ""},
		{"templated operation", writer, k8s("{{.op}}", "a", ""), "a", "allowedProbeOperations"},
		{"inline refused", serve, cmd(false), "a", "allowInlineCommands"},
		{"inline allowed", inline, cmd(false), "a", ""},
		{"source", serve, cmd(true), "a", ""},
		{"source elsewhere", serve, cmd(true), "b", "allowedNamespaces"},
		{"any URL", serve, http("http://anything/"), "a", ""},
		{"listed URL", urls, http("http://web.a.svc/health"), "a", ""},
		{"unlisted URL", urls, http("http://metadata.google.internal/"), "a", "allowedHTTPProbeURLs"},
		{"userinfo trick", urls, http("http://web.a.svc@evil/"), "a", "allowedHTTPProbeURLs"},
		{"host suffix trick", urls, http("http://web.a.svc.evil/"), "a", "allowedHTTPProbeURLs"},
		{"other path", urls, http("http://web.a.svc"), "a", "allowedHTTPProbeURLs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pol.CheckProbe(tc.probe, tc.engineNS)
			if tc.rule == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "rule "+tc.rule) {
				t.Fatalf("err %v, want rule %s", err, tc.rule)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for v, want := range map[string]time.Duration{"30": 30 * time.Second, "0": 0, "1m30s": 90 * time.Second, "500ms": 500 * time.Millisecond} {
		if d, err := ParseSeconds(v); err != nil || d != want {
			t.Errorf("%q: %v %v", v, d, err)
		}
	}
	for _, v := range []string{"10000000000", "99999999999999999999", "-1", "-1s", "100000000h", "abc", "9223372036854775807ns1h", "400d"} {
		if d, err := ParseSeconds(v); err == nil {
			t.Errorf("%q: accepted as %s", v, d)
		}
	}
}
