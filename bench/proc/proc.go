// Package proc holds what the benchmarks under bench/ share about
// processes: reading what they measure from /proc (CPU time, memory, load
// average) and running a command in shell loops as users do.
package proc

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Status reads the kB fields of /proc/PID/status.
func Status(pid int) (map[string]float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	return ParseStatus(data), nil
}

// ParseStatus returns the "Key:   123 kB" lines of a /proc/PID/status file.
func ParseStatus(data []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// CPU is the user+system CPU time a process has used so far (0 if it
// cannot be read).
func CPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return ParseStatCPU(data)
}

// ParseStatCPU sums utime and stime, the 14th and 15th fields of
// /proc/PID/stat, in clock ticks of 10 ms. The command name (field 2) may
// hold spaces and parentheses, so fields are counted after its last ')'.
func ParseStatCPU(data []byte) time.Duration {
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+st) * 10 * time.Millisecond
}

// Loadavg is the 1, 5 and 15 minute load averages.
func Loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// CPUModel is the first CPU's model name.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, 1<<16))
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
