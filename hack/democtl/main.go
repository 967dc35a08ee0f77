// Command democtl drives `make demo` against the development control plane (hack/devcp): it waits
// for the agent to connect, sends the seed tutorial's Workflow as ChaosCenter would (the run's
// notify_id, the infrastructure's labels, a -<millis> name suffix), streams the run events the
// agent reports, and prints the fault's verdict and the resilience score. A development tool.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/chaos-agent/chaos-agent/internal/score"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "democtl:", err)
		os.Exit(1)
	}
}

func run() error {
	cp := flag.String("cp", "http://127.0.0.1:9002", "devcp address")
	infra := flag.String("infra", "", "infrastructure ID")
	ns := flag.String("namespace", "hce", "the infrastructure's namespace")
	manifest := flag.String("manifest", "", "the Workflow to send (JSON or YAML)")
	frontend := flag.String("frontend", "", "URL replacing the probe's http://frontend/cart")
	notify := flag.String("notify", "", "the run's notify_id")
	waitConnected := flag.Bool("wait-connected", false, "only wait until the agent is connected and confirmed")
	timeout := flag.Duration("timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	deadline := time.Now().Add(*timeout)
	if *waitConnected {
		for time.Now().Before(deadline) {
			var st map[string]any
			if getJSON(*cp+"/admin/infra?infra="+*infra, &st) == nil && st["connected"] == true && st["confirmed"] == true {
				fmt.Println("the agent confirmed its registration (access key rotated) and subscribed")
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return errors.New("the agent did not connect")
	}

	raw, err := os.ReadFile(*manifest)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("my-pod-delete-experiment-%d", time.Now().UnixMilli())
	text := strings.NewReplacer(
		`"name": "my-pod-delete-experiment"`, `"name": "`+name+`"`,
		`"namespace": "hce"`, `"namespace": "`+*ns+`"`,
		`e640346b-bff5-40db-a828-68b44e06e2d1`, *infra,
		`http://frontend/cart`, *frontend,
	).Replace(string(raw))
	text = strings.Replace(text, `"labels": {`, `"labels": {"notify_id": "`+*notify+`",`, 1)
	action, _ := json.Marshal(map[string]string{"requestType": "create", "k8sManifest": text, "namespace": *ns, "username": "demo"})
	resp, err := http.Post(*cp+"/admin/action?infra="+*infra, "application/json", bytes.NewReader(action))
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sending the Workflow: HTTP %d", resp.StatusCode)
	}
	fmt.Fprintf(os.Stderr, "   cp     sent Workflow %s (create, notify_id %s)\n", name, *notify)

	seen := 0
	for time.Now().Before(deadline) {
		var runs []struct {
			NotifyID  string         `json:"notifyID"`
			Completed bool           `json:"completed"`
			Phase     string         `json:"phase"`
			Execution map[string]any `json:"execution"`
		}
		if err := getJSON(*cp+"/admin/runs", &runs); err != nil {
			time.Sleep(300 * time.Millisecond)
			continue
		}
		var mine []int
		for i, r := range runs {
			if r.NotifyID == *notify {
				mine = append(mine, i)
			}
		}
		for _, i := range mine[min(seen, len(mine)):] {
			r := runs[i]
			fmt.Fprintf(os.Stderr, "   cp     run event: phase %-10s %s\n", r.Phase, nodesLine(r.Execution))
			if r.Completed {
				verdict, probe, psp := chaosData(r.Execution)
				s := score.Resilience([]score.Fault{{Name: "pod-delete-ji5", Weight: 10, PSP: psp}})
				fmt.Printf("RESULT %s %s %s %s %.0f\n", r.Phase, verdict, probe, psp, s) // stdout: for the demo script
				return nil
			}
		}
		seen = len(mine)
		time.Sleep(300 * time.Millisecond)
	}
	return errors.New("no completed run event in time")
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	return json.NewDecoder(resp.Body).Decode(v)
}

// nodesLine summarises the step nodes: name=phase.
func nodesLine(ex map[string]any) string {
	nodes, _ := ex["nodes"].(map[string]any)
	var parts []string
	for _, n := range nodes {
		nm, _ := n.(map[string]any)
		if t := nm["type"]; t == "Pod" || t == "ChaosEngine" {
			parts = append(parts, fmt.Sprintf("%v=%v", nm["name"], nm["phase"]))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func chaosData(ex map[string]any) (verdict, probe, psp string) {
	verdict, probe, psp = "-", "-", "0"
	nodes, _ := ex["nodes"].(map[string]any)
	for _, n := range nodes {
		nm, _ := n.(map[string]any)
		cd, ok := nm["chaosData"].(map[string]any)
		if !ok {
			continue
		}
		verdict, _ = cd["experimentVerdict"].(string)
		psp, _ = cd["probeSuccessPercentage"].(string)
		if res, ok := cd["chaosResult"].(map[string]any); ok {
			if st, ok := res["status"].(map[string]any); ok {
				if ps, ok := st["probeStatuses"].([]any); ok && len(ps) > 0 {
					p, _ := ps[0].(map[string]any)
					s, _ := p["status"].(map[string]any)
					probe, _ = s["verdict"].(string)
				}
			}
		}
	}
	return verdict, probe, psp
}
