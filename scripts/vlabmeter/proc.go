package vlabmeter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Processes tells whether a node's QEMU runs and how much CPU it has used.
type Processes interface {
	// QEMU reads the PID in pidFile and, when that process lives and is the
	// QEMU that wrote pidFile, returns its PID and CPU time; ok is false
	// otherwise (powered off, stale PID file, PID reused by another program).
	QEMU(pidFile string) (pid int, cpu time.Duration, ok bool)
}

// ProcFS reads processes from a proc file system (Root "/proc").
type ProcFS struct{ Root string }

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: the
// kernel fixes it at 100 for user space on every architecture we run.
const clockTicks = 100

// QEMU implements Processes.
func (p ProcFS) QEMU(pidFile string) (int, time.Duration, bool) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, 0, false
	}
	dir := filepath.Join(p.Root, strconv.Itoa(pid))
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || !IsQEMUFor(cmdline, pidFile) {
		return 0, 0, false
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, 0, false
	}
	st, err := ParseStat(stat)
	if err != nil || st.State == 'Z' || st.State == 'X' {
		return 0, 0, false
	}
	return pid, st.CPU, true
}

// IsQEMUFor reports whether a NUL-separated /proc/PID/cmdline is a QEMU
// started with "-pidfile pidFile": that pairs the process with its node.
func IsQEMUFor(cmdline []byte, pidFile string) bool {
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	if len(args) == 0 || !strings.Contains(filepath.Base(string(args[0])), "qemu-system") {
		return false
	}
	for i := 1; i+1 < len(args); i++ {
		if string(args[i]) == "-pidfile" && string(args[i+1]) == pidFile {
			return true
		}
	}
	return false
}

// Stat is what the meter needs of /proc/PID/stat.
type Stat struct {
	State byte
	CPU   time.Duration // utime + stime
}

// ErrStat marks a /proc/PID/stat line that cannot be read.
var ErrStat = errors.New("malformed /proc/PID/stat")

// ParseStat reads state, utime and stime from a /proc/PID/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from its last ')'.
func ParseStat(b []byte) (Stat, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 || bytes.IndexByte(b, '(') < 0 {
		return Stat{}, fmt.Errorf("%w: no (comm)", ErrStat)
	}
	f := strings.Fields(string(b[end+1:]))
	// After comm: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt
	// majflt cmajflt utime(14) stime(15).
	if len(f) < 13 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("%w: %d fields after comm", ErrStat, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 63)
	st, err2 := strconv.ParseUint(f[12], 10, 63)
	if err := errors.Join(err1, err2); err != nil {
		return Stat{}, fmt.Errorf("%w: %w", ErrStat, err)
	}
	const maxTicks = uint64(1<<63-1) / uint64(time.Second/clockTicks) / 2
	if ut > maxTicks || st > maxTicks {
		return Stat{}, fmt.Errorf("%w: cpu time out of range", ErrStat)
	}
	return Stat{State: f[0][0], CPU: time.Duration(ut+st) * (time.Second / clockTicks)}, nil
}
