package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Check creates one ChaosEngine, prints its name the way litmus-checker does (ChaosCenter reads
// it from the step's log), and waits until the engine is completed or stopped by the agent that
// runs it; it returns the verdict.
func Check(ctx context.Context, c kube.Clients, e *litmus.ChaosEngine, out io.Writer, saveName string) (string, error) {
	u, err := litmus.ToUnstructured(e)
	if err != nil {
		return "", err
	}
	created, err := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.Namespace).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create ChaosEngine: %w", err)
	}
	e.Name = created.GetName()
	fmt.Fprintf(out, "ChaosEngine Name : %s\n", e.Name)
	if saveName != "" {
		if err := os.WriteFile(saveName, []byte(e.Name), 0o644); err != nil {
			return "", err
		}
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		en, err := getEngine(ctx, c, e)
		if err == nil {
			if s := en.Status.EngineStatus; s == litmus.EngineStatusCompleted || s == litmus.EngineStatusStopped {
				verdict := ""
				if len(en.Status.Experiments) > 0 {
					verdict = string(en.Status.Experiments[0].Verdict)
				}
				fmt.Fprintf(out, "ChaosEngine %s: %s, verdict %s\n", e.Name, s, verdict)
				return verdict, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-t.C:
		}
	}
}
