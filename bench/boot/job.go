package main

// A real job on the lab through bmcctld, and its phases from the daemon's log.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jobRun is one job's boot cycle, from its event log, the controller's log
// and the guest's uptime when the command started.
type jobRun struct {
	id                 string
	submitToPowerOn    time.Duration // submit → POWERING_ON
	ipmiOn             time.Duration // POWERING_ON → BOOTING (power on confirmed)
	script             time.Duration // POWERING_ON → boot.ipxe served
	kernelStart        time.Duration // POWERING_ON → kernel start (agent's uptime)
	network            time.Duration // guest uptime when the agent had its address
	rootfs             time.Duration // agent: network up → SSH server up (rootfs fetched and unpacked)
	sshd               time.Duration // guest uptime when the agent reported ready
	readyToRunning     time.Duration // agent ready → RUNNING (controller's SSH connect and exec)
	powerOnToStart     time.Duration // POWERING_ON → RUNNING
	uptimeAtCommand    time.Duration // the command's /proc/uptime
	runningToOff       time.Duration // RUNNING → POWERING_OFF (the whole command, over SSH)
	powerOff           time.Duration // POWERING_OFF → COMPLETED (power off confirmed)
	submitToStart      time.Duration // submit → RUNNING
	initrdBytes        int64
	rootfsBytes        int64
	powerOnAt, readyAt time.Time
	guest              guestTimeline
}

type jobDetail struct {
	State      string    `json:"state"`
	SubmitTime time.Time `json:"submit_time"`
	Output     string    `json:"output_path"`
	Events     []struct {
		Time  time.Time `json:"time"`
		State string    `json:"state"`
	} `json:"events"`
}

func (l *lab) bmc(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(l.bin, name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BMC_SOCKET="+l.socket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// runJob submits a job that prints the guest's uptime and follows it to its end.
func (l *lab) runJob(ctx context.Context, c config, round int) (jobRun, error) {
	work := filepath.Join(l.dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return jobRun{}, err
	}
	spec := fmt.Sprintf("name = \"boot-bench-%d\"\nimage = \"oci:%s/images/busybox\"\ncommand = \"cat /proc/uptime\"\ntime_limit = \"5:00\"\n", round, l.dir)
	file := fmt.Sprintf("bench-%d.toml", round)
	if err := os.WriteFile(filepath.Join(work, file), []byte(spec), 0o644); err != nil {
		return jobRun{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.jobTimeout)
	defer cancel()
	serial := filepath.Join(l.dir, "node1", "serial.log")
	var consoleFrom int64 // serial.log grows across boots: read only this one's part
	if fi, err := os.Stat(serial); err == nil {
		consoleFrom = fi.Size()
	}
	out, err := l.bmc(ctx, work, "bmcsubmit", "--parsable", file)
	if err != nil {
		return jobRun{}, err
	}
	id := strings.TrimSpace(string(out))
	var d jobDetail
	for {
		out, err := l.bmc(ctx, work, "bmcq", "show", id, "--json")
		if err != nil {
			return jobRun{}, err
		}
		d = jobDetail{}
		if err := json.Unmarshal(out, &d); err != nil {
			return jobRun{}, fmt.Errorf("bmcq show --json: %w", err)
		}
		if d.State == "COMPLETED" {
			break
		}
		if slices.Contains([]string{"FAILED", "CANCELLED", "TIMEOUT", "BOOT_FAIL", "NODE_FAIL"}, d.State) {
			return jobRun{}, fmt.Errorf("job %s ended %s", id, d.State)
		}
		select {
		case <-ctx.Done():
			return jobRun{}, fmt.Errorf("job %s still %s: %w", id, d.State, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	at := map[string]time.Time{}
	for _, e := range d.Events {
		if _, seen := at[e.State]; !seen {
			at[e.State] = e.Time
		}
	}
	r := jobRun{id: id}
	r.powerOnAt = at["POWERING_ON"]
	r.submitToPowerOn = at["POWERING_ON"].Sub(d.SubmitTime)
	r.ipmiOn = at["BOOTING"].Sub(at["POWERING_ON"])
	r.powerOnToStart = at["RUNNING"].Sub(at["POWERING_ON"])
	r.runningToOff = at["POWERING_OFF"].Sub(at["RUNNING"])
	r.powerOff = at["COMPLETED"].Sub(at["POWERING_OFF"])
	r.submitToStart = at["RUNNING"].Sub(d.SubmitTime)
	if b, err := os.ReadFile(d.Output); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			r.uptimeAtCommand = secs(f[0])
		}
	}
	if b, err := os.ReadFile(serial); err == nil && int64(len(b)) >= consoleFrom {
		r.guest = parseGuest(b[consoleFrom:])
	}
	if err := l.fromLog(id, &r, at["RUNNING"]); err != nil {
		return r, err
	}
	return r, nil
}

// fromLog fills the phases only bmcctld's log knows: when iPXE asked for its
// script and the agent's progress reports with the guest's uptime.
func (l *lab) fromLog(id string, r *jobRun, running time.Time) error {
	f, err := os.Open(filepath.Join(l.dir, "bmcctld.log"))
	if err != nil {
		return err
	}
	defer f.Close()
	var netAt time.Time
	var netUp, sshdUp time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		kv := map[string]string{}
		for _, m := range logfmtRE.FindAllStringSubmatch(sc.Text(), -1) {
			v := m[2]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			kv[m[1]] = v
		}
		if kv["job"] != id {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, kv["time"])
		if err != nil {
			continue
		}
		switch {
		case kv["msg"] == "boot prepared":
			r.initrdBytes, _ = strconv.ParseInt(kv["initrd_bytes"], 10, 64)
			r.rootfsBytes, _ = strconv.ParseInt(kv["rootfs_bytes"], 10, 64)
		case kv["msg"] == "boot script served" && r.script == 0:
			r.script = t.Sub(r.powerOnAt)
		case kv["msg"] == "agent progress" && kv["phase"] == "network":
			netAt, netUp = t, secs(kv["uptime"])
		case kv["msg"] == "agent progress" && kv["phase"] == "sshd":
			sshdUp = secs(kv["uptime"])
		case kv["msg"] == "agent ready":
			r.readyAt = t
			r.sshd = secs(kv["uptime"])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if netAt.IsZero() || r.readyAt.IsZero() {
		return fmt.Errorf("bmcctld.log has no agent progress for job %s", id)
	}
	r.kernelStart = netAt.Add(-netUp).Sub(r.powerOnAt)
	r.network = netUp
	r.rootfs = sshdUp - netUp
	r.readyToRunning = running.Sub(r.readyAt)
	return nil
}
