package subscriber

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// actionMemoryFactor estimates the memory an action needs from its size: the frame, the decoded
// strings, YAML to JSON, the unstructured object and the typed copies each hold a copy.
const actionMemoryFactor = 8

// memBudget accounts estimated bytes; acquire waits while the budget is spent.
type memBudget struct {
	sem *semaphore.Weighted
	max int64
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{sem: semaphore.NewWeighted(limit), max: limit}
}

// acquire takes n bytes (at most the whole budget, so that one large action still runs alone).
func (b *memBudget) acquire(ctx context.Context, n int64) error {
	return b.sem.Acquire(ctx, min(n, b.max))
}

func (b *memBudget) release(n int64) { b.sem.Release(min(n, b.max)) }

// actionWeight is an action's estimated memory.
func actionWeight(a Action) int64 {
	n := int64(len(a.K8sManifest) + len(a.externalData()) + len(a.RequestID) + len(a.Namespace) + len(a.RequestType))
	return actionMemoryFactor*n + 4<<10
}
