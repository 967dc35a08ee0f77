package executor

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// An engine is claimed by exactly one executor: the update that moves it to initialized carries
// the executor's identity and is checked by resourceVersion, so of two executors watching the
// same namespace (an installed agent and `chaos-agent run`, or two agents) only one wins. The
// winner renews the claim while it runs; the others leave a live claim alone (they never close
// that run as stale) and close it only once the claim has expired, i.e. its owner is gone.
const (
	annotationClaimedBy    = "chaos-agent.io/claimed-by"
	annotationClaimRenewed = "chaos-agent.io/claim-renewed"
	defaultClaimLease      = 30 * time.Second
)

// claimant names this executor instance in claims: its identity and a random instance id, so two
// processes with the same identity (a pod name reused, tests) never take each other's claims.
func (e *Executor) claimant() string { return e.o.Identity + "/" + e.instance }

// claim marks en as claimed by this executor now.
func (e *Executor) claim(en *litmus.ChaosEngine) {
	a := en.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[annotationClaimedBy] = e.claimant()
	a[annotationClaimRenewed] = e.o.Clock.Now().UTC().Format(time.RFC3339)
	en.SetAnnotations(a)
}

// claimedElsewhere reports whether en holds a live claim of another executor, and when it
// expires.
func (e *Executor) claimedElsewhere(en *litmus.ChaosEngine) (time.Time, bool) {
	a := en.GetAnnotations()
	owner := a[annotationClaimedBy]
	if owner == "" || owner == e.claimant() {
		return time.Time{}, false
	}
	if e.o.IdentityIsPod && strings.HasPrefix(owner, e.o.Identity+"/") {
		return time.Time{}, false // this pod's previous process: gone
	}
	renewed, err := time.Parse(time.RFC3339, a[annotationClaimRenewed])
	if err != nil {
		return time.Time{}, false // an unreadable claim protects nothing
	}
	expires := renewed.Add(e.o.ClaimLease)
	return expires, e.o.Clock.Now().Before(expires)
}

// renewClaim keeps this executor's claim on a running engine fresh until ctx ends.
func (e *Executor) renewClaim(ctx context.Context, engine *litmus.ChaosEngine) {
	t := e.o.Clock.NewTicker(e.o.ClaimLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		_, err := e.updateEngine(ctx, engine.Namespace, engine.Name, func(en *litmus.ChaosEngine) bool {
			if en.UID != engine.UID || en.GetAnnotations()[annotationClaimedBy] != e.claimant() {
				return false
			}
			e.claim(en)
			return true
		})
		if err != nil && ctx.Err() == nil {
			e.log.Warn("cannot renew the engine claim", zap.String("engine", engine.Namespace+"/"+engine.Name), zap.Error(err))
		}
	}
}
