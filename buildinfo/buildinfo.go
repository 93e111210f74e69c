// Package buildinfo owns the version string every bmc command prints with
// --version and bmcctld reports to clients.
package buildinfo

import "runtime/debug"

// version is set by the build:
//
//	go build -ldflags "-X github.com/bmc-sched/bmc/buildinfo.version=v1.2.3" ./cmd/...
//
// (the Makefile sets it from git describe).
var version string

// Version is the version the build stamped, else what the Go toolchain
// recorded: the module version of a `go install`, or the VCS revision of a
// build in a work tree ("+dirty" when it had uncommitted changes), else
// "devel".
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "devel-" + rev + dirty
}
