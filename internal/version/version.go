// Package version reports the build's version, stamped in by the linker
// (-X github.com/chaos-agent/chaos-agent/internal/version.version=...).
package version

import (
	"fmt"
	"runtime"
)

// Stamped by -ldflags at build time; never assigned at run time.
var (
	version = "v0.0.0-dev"
	commit  = "unknown"
)

// Info describes this build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build information.
func Get() Info {
	return Info{
		Version:   version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String renders the information on one line.
func (i Info) String() string {
	return fmt.Sprintf("chaos-agent %s (commit %s, %s, %s)", i.Version, i.Commit, i.GoVersion, i.Platform)
}
