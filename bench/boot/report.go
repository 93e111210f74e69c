package main

// The table of rounds: each phase's median and range.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

type round struct {
	bare, direct bareBoot
	job          jobRun
}

// stat prints the median and range of one figure over the rounds.
func stat(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%6.2f s  (%.2f – %.2f)", med.Seconds(), s[0].Seconds(), s[len(s)-1].Seconds())
}

func report(w io.Writer, rs []round, bareInitrd int64, qemu []string) {
	col := func(f func(round) time.Duration) []time.Duration {
		var out []time.Duration
		for _, r := range rs {
			out = append(out, f(r))
		}
		return out
	}
	row := func(name string, f func(round) time.Duration) {
		fmt.Fprintf(w, "| %s | %s |\n", name, stat(col(f)))
	}
	fmt.Fprintf(w, "\n%d rounds, %s, QEMU: %s; median (min – max)\n\n", len(rs), time.Now().UTC().Format("2006-01-02 15:04 MST"), strings.Join(qemu, " "))
	fmt.Fprintln(w, "| phase | time |")
	fmt.Fprintln(w, "|---|---|")
	fmt.Fprintln(w, "| **bare iPXE boot** (QEMU start → marker) | |")
	row("QEMU start → boot.ipxe asked (SeaBIOS, iPXE, DHCP)", func(r round) time.Duration { return r.bare.script })
	row("QEMU start → last initrd byte sent", func(r round) time.Duration { return r.bare.initrdEnd })
	row("QEMU start → kernel start", func(r round) time.Duration { return r.bare.kernelStart })
	row("kernel start → marker (guest uptime)", func(r round) time.Duration { return r.bare.uptime })
	row("total", func(r round) time.Duration { return r.bare.total })
	fmt.Fprintln(w, "| **direct boot** (-kernel/-initrd, no firmware network boot) | |")
	row("QEMU start → kernel start", func(r round) time.Duration { return r.direct.kernelStart })
	row("total", func(r round) time.Duration { return r.direct.total })
	fmt.Fprintln(w, "| **job through bmcctld** | |")
	row("submit → power on command (POWERING_ON)", func(r round) time.Duration { return r.job.submitToPowerOn })
	row("IPMI power on (POWERING_ON → BOOTING)", func(r round) time.Duration { return r.job.ipmiOn })
	row("power on → boot.ipxe served", func(r round) time.Duration { return r.job.script })
	row("power on → kernel start", func(r round) time.Duration { return r.job.kernelStart })
	row("kernel start → agent has its address (uptime)", func(r round) time.Duration { return r.job.network })
	row("agent: address → SSH server up (rootfs fetched, unpacked)", func(r round) time.Duration { return r.job.rootfs })
	row("kernel start → agent ready (uptime)", func(r round) time.Duration { return r.job.sshd })
	row("agent ready → RUNNING (controller's SSH connect, exec)", func(r round) time.Duration { return r.job.readyToRunning })
	row("guest uptime when the command ran", func(r round) time.Duration { return r.job.uptimeAtCommand })
	fmt.Fprintln(w, "| **in the guest, by its clock** (serial console; job vs bare) | |")
	row("bare: kernel start → init runs (1.1 MB initrd)", func(r round) time.Duration { return r.bare.guest["init"] })
	row("job: kernel start → init runs (initrd with agent)", func(r round) time.Duration { return r.job.guest["init"] })
	row("bare: init → marker", func(r round) time.Duration { return r.bare.uptime - r.bare.guest["init"] })
	row("agent: init → NIC modules loaded", func(r round) time.Duration { return r.job.guest.span("init", "modules") })
	row("agent: modules → CRNG ready (entropy wait)", func(r round) time.Duration { return r.job.guest.span("modules", "entropy") })
	row("agent: CRNG → link up", func(r round) time.Duration { return r.job.guest.span("entropy", "link") })
	row("agent: link → DHCP lease", func(r round) time.Duration { return r.job.guest.span("link", "lease") })
	row("agent: lease → rootfs extracted (config, download, unpack)", func(r round) time.Duration { return r.job.guest.span("lease", "rootfs") })
	row("agent: rootfs → SSH server ready", func(r round) time.Duration { return r.job.guest.span("rootfs", "ready") })
	row("agent: ready → controller's SSH connection", func(r round) time.Duration { return r.job.guest.span("ready", "ssh") })
	row("agent: SSH connection → command started", func(r round) time.Duration { return r.job.guest.span("ssh", "command") })
	row("agent: init → command started", func(r round) time.Duration { return r.job.guest.span("init", "command") })
	row("**power on → command start** (POWERING_ON → RUNNING)", func(r round) time.Duration { return r.job.powerOnToStart })
	row("command (cat /proc/uptime) over SSH: RUNNING → POWERING_OFF", func(r round) time.Duration { return r.job.runningToOff })
	row("**command end → power off confirmed** (POWERING_OFF → COMPLETED)", func(r round) time.Duration { return r.job.powerOff })
	row("**submit → command start** (idle node)", func(r round) time.Duration { return r.job.submitToStart })
	row("**controller overhead** = power on → start − bare iPXE boot", func(r round) time.Duration { return r.job.powerOnToStart - r.bare.total })
	row("submit → start − (bare iPXE boot + 1 s)", func(r round) time.Duration { return r.job.submitToStart - r.bare.total - time.Second })
	if len(rs) > 0 {
		fmt.Fprintf(w, "\ninitrd served by bmcctld %d bytes (lab initrd + agent), bare %d; rootfs %d bytes\n",
			rs[0].job.initrdBytes, bareInitrd, rs[0].job.rootfsBytes)
	}
	fmt.Fprintln(w, "\nper round: bare iPXE, direct, job power on → start, overhead")
	for i, r := range rs {
		fmt.Fprintf(w, "  %d: %.2f s  %.2f s  %.2f s  %+.2f s (job %s)\n", i+1, r.bare.total.Seconds(), r.direct.total.Seconds(),
			r.job.powerOnToStart.Seconds(), (r.job.powerOnToStart - r.bare.total).Seconds(), r.job.id)
	}
}
