package litmus

import "time"

// Names of the generic experiment variables: every fault reads them (the executor parses them,
// see executor.Params), and the executor derives some of them from the engine.
const (
	EnvTotalChaosDuration  = "TOTAL_CHAOS_DURATION"
	EnvChaosInterval       = "CHAOS_INTERVAL"
	EnvRandomness          = "RANDOMNESS"
	EnvRampTime            = "RAMP_TIME"
	EnvDefaultHealthCheck  = "DEFAULT_HEALTH_CHECK"
	EnvStatusCheckDelay    = "STATUS_CHECK_DELAY"
	EnvStatusCheckTimeout  = "STATUS_CHECK_TIMEOUT"
	EnvDryRun              = "DRY_RUN" // chaos-agent extension: select and report, inject nothing
	EnvInstanceID          = "INSTANCE_ID"
	EnvChaosServiceAccount = "CHAOS_SERVICE_ACCOUNT"
)

// Defaults of the Litmus contract, used wherever an engine or experiment leaves a value out.
const (
	// DefaultStatusCheckDelay is the poll period of status checks (STATUS_CHECK_DELAY and
	// statusCheckTimeouts.delay).
	DefaultStatusCheckDelay = 2 * time.Second
	// DefaultStatusCheckTimeout bounds one status check (STATUS_CHECK_TIMEOUT and
	// statusCheckTimeouts.timeout).
	DefaultStatusCheckTimeout = 180 * time.Second
	// DefaultChaosDuration is TOTAL_CHAOS_DURATION when neither the experiment nor the fault's
	// own defaults set it.
	DefaultChaosDuration = 30 * time.Second
	// DefaultChaosInterval is CHAOS_INTERVAL likewise.
	DefaultChaosInterval = 10 * time.Second
	// DefaultChaosServiceAccount is what an engine without chaosServiceAccount runs as (the
	// service account upstream's runner pod would get).
	DefaultChaosServiceAccount = "default"
)
