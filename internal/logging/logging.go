// Package logging builds the one zap logger the agent passes to its components.
package logging

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
)

// New returns a logger writing to w at the given level ("debug", "info", "warn", "error") in the
// given format ("json" for machines, "console" for people).
func New(w io.Writer, level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core, zap.AddCaller()), nil
}

// KlogRouter sends client-go's klog output (reflector retries, leader election, throttling
// notices) through the agent's zap logger, as JSON like every other line, under the logger name
// "client-go". klog's logger is process-wide and may be set only before other goroutines use it:
// the router sets it once, at its first Route, and later Routes only switch the logger it writes
// to (atomically). Make one in main and pass it to the commands.
type KlogRouter struct {
	once sync.Once
	core atomic.Pointer[zapcore.Core]
}

// Route makes klog write to log from now on.
func (r *KlogRouter) Route(log *zap.Logger) {
	c := log.Core()
	r.core.Store(&c)
	r.once.Do(func() {
		klog.SetLogger(zapr.NewLogger(zap.New(&routedCore{r: r}, zap.AddCaller()).Named("client-go")))
	})
}

// routedCore writes to the router's current core.
type routedCore struct {
	r      *KlogRouter
	fields []zapcore.Field
}

func (c *routedCore) target() zapcore.Core {
	if p := c.r.core.Load(); p != nil {
		return (*p).With(c.fields)
	}
	return zapcore.NewNopCore()
}

func (c *routedCore) Enabled(l zapcore.Level) bool {
	if p := c.r.core.Load(); p != nil {
		return (*p).Enabled(l)
	}
	return false
}

func (c *routedCore) With(fields []zapcore.Field) zapcore.Core {
	return &routedCore{r: c.r, fields: append(slices.Clone(c.fields), fields...)}
}

func (c *routedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return c.target().Check(e, ce)
}

func (c *routedCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.target().Write(e, fields)
}

func (c *routedCore) Sync() error { return c.target().Sync() }
