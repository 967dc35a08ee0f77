package probes

// Probe evaluation: how this package runs the probes, and where it departs from upstream
// litmus-go (litmus-execution.md §6, §7.2–§7.3, §12). The comparator's own divergences are
// listed in comparator.go.
//
// Phases and verdicts (same as upstream): SOT and Edge-pre run synchronously in PreChaos in
// engine order, then Continuous loops start; OnChaos loops start at ChaosStarted; PostChaos
// stops the loops, judges them, then runs EOT and Edge-post in engine order. An execution
// error (*_PROBE_ERROR, GENERIC_ERROR) is returned at once and leaves the verdict Awaited; a
// failure (*_PROBE_FAILURE, PROBE_TIMEOUT) marks the probe Failed and is returned only with
// stopOnFailure (the probe is then flagged stopped: Result.StoppedByProbe). Edge passes in
// PreChaos are not counted; an Edge that failed in PreChaos stays Failed. A loop that ended
// without failure or error is Passed (also when it never ran an evaluation, e.g. an OnChaos
// initialDelay longer than the chaos duration; its description then says so).
//
// Divergences (each is an improvement; none changes a verdict of a manifest that works
// upstream, except where upstream crashes or mis-measures):
//
//  1. Validation up front: Start rejects, before any chaos, unknown types and modes, bad or
//     missing durations (probeTimeout, interval), duplicate probe names (upstream looks
//     statuses up by name, litmus#5179), sloProbe (Harness-only; upstream silently leaves it
//     Awaited), missing inputs blocks, invalid comparators, malformed URLs and templates,
//     httpProbe method problems, k8sProbe operations and manifests, promProbe endpoint and
//     query. All problems are reported together in one GENERIC_ERROR.
//  2. httpProbe: the method is whichever of get/post is present (upstream always picks GET
//     and crashes on a POST-only probe). Optional inputs.headers (a chaos-agent extension; a
//     "Host" entry sets the request host). inputs.responseTimeout (or the method-level
//     responseTimeout) is the client timeout when set (a bare number means milliseconds, as
//     in LitmusChaos 2.x), else probeTimeout. TLS is verified unless insecureSkipVerify.
//     Every transport error (refused, reset, timeout, TLS verification, too many redirects)
//     is an HTTP_PROBE_FAILURE (upstream: only some network errors; the rest are ERRORs).
//     Only bodyPath read errors and unbuildable requests are HTTP_PROBE_ERRORs. At most
//     1 MiB of the response body is read. There is no response-body criteria: the inputs
//     carry no field for it.
//  3. cmdProbe inline: /bin/sh -c in its own process group, killed as a whole when
//     probeTimeout expires (upstream lets the command run on and only judges the elapsed
//     time). A non-zero exit stays a CMD_PROBE_ERROR (compat) and the reason carries the exit
//     status, stderr and stdout. A comparison failure's reason is the comparator message,
//     followed by stderr when there is any (upstream: stderr alone, if non-empty).
//  4. cmdProbe source: inheritInputs is ignored with a warning (the agent has no
//     experiment container to inherit from); the pull policy is the source's or the cluster default (no
//     LIB_IMAGE_PULL_POLICY). A run with several source probes names them
//     <experiment>-probe-<runID>, then -2, -3, … (upstream reuses one name, so concurrent
//     Continuous/OnChaos source probes collide). Pods are deleted with grace period 0; a
//     synchronous probe waits for the deletion so an Edge probe can recreate its pod. The
//     OnChaos source pod is created by the probe's goroutine. Exec uses WebSocket with SPDY
//     fallback.
//  5. k8sProbe: a create whose probe and manifest name no namespace goes to the chaos
//     namespace for namespaced resources (per discovery); upstream posts to the cluster
//     scope and fails. The manifest is decoded at Start. Delete by selector tolerates items
//     that vanished meanwhile.
//  6. promProbe: the Prometheus HTTP API (GET <endpoint>/api/v1/query) instead of the promql
//     CLI. Exactly one sample (one-series instant vector, or scalar) is required, else
//     PROM_PROBE_ERROR; HTTP, transport and API errors are PROM_PROBE_ERRORs.
//  7. Attempts (cmd/k8s/prom): every try is bounded by probeTimeout (a context deadline)
//     instead of running to completion; a try that hit the deadline, or succeeded after
//     probeTimeout or more, is a PROBE_TIMEOUT failure. Errors and failures are retried
//     alike (upstream too). httpProbe keeps upstream's loop: interval after every try,
//     including a successful one.
//  8. Durations accept Go durations and legacy bare numbers (seconds); initialDelaySeconds is
//     honoured when initialDelay is empty (upstream ignores it). The OnChaos window is
//     ChaosDuration from ChaosStarted for every probe type (upstream subtracts nanoseconds
//     from seconds for k8s/prom). Waits (initial delay, polling) are interrupted by PostChaos
//     (the loop would end at its next check anyway) and are capped at the OnChaos window's
//     end, so loops end promptly; an evaluation in progress still completes.
//  9. PostChaos waits for all loops against one StatusCheckTimeout deadline (upstream: up
//     to the timeout per probe, polled every STATUS_CHECK_DELAY); a loop still running then
//     is a PROBE_TIMEOUT failure and is cancelled.
// 10. Chaining uses text/template (upstream html/template HTML-escapes values). Every probe
//     of the run is a template key, so a reference to an unknown probe is a GENERIC_ERROR
//     naming the probe (missingkey=error); template parse errors are found by Start
//     (upstream panics).
// 11. A Continuous/OnChaos probe with stopOnFailure calls Run.Stop once per session, on its
//     first failure (not on execution errors, which PostChaos reports).
