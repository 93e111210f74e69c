// Command boot measures the boot cycle of a job on the virtual lab and what
// the controller adds to it: on a one-node lab (scripts/vlab) it alternates a
// bare network boot of the same machine — same QEMU flags, same firmware and
// iPXE path, same kernel and lab initrd, but a tiny /bmcinit that prints a
// marker and powers off, served by a static HTTP server — with a real job
// submitted to bmcctld, N times, and reports each phase with its median and
// range. A direct -kernel boot runs too, to show what the firmware and iPXE
// cost on their own.
//
// Run from the repository root, as root (the lab needs it):
//
//	go run ./bench/boot -n 3              # the lab's bridge and bmcctld's DHCP
//	go run ./bench/boot -n 3 -net user    # QEMU's user-mode network
//
// BMCCTLD and VLAB_METER are passed to scripts/vlab (prebuilt binaries).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type config struct {
	n                                        int
	dir                                      string
	keep                                     bool
	portBase, nodePort, sshBase, metricsPort int
	barePort                                 int
	jobTimeout                               time.Duration
	cpu                                      string
	net                                      string
}

func main() {
	var c config
	flag.IntVar(&c.n, "n", 3, "rounds (one bare boot, one direct boot and one job each)")
	flag.StringVar(&c.dir, "dir", "", "lab directory (default: a new temporary one)")
	flag.BoolVar(&c.keep, "keep", false, "leave the lab up at the end")
	flag.IntVar(&c.portBase, "port-base", 39001, "vlab --port-base (IPMI)")
	flag.IntVar(&c.nodePort, "node-port", 38150, "vlab --node-port (controller's boot server)")
	flag.IntVar(&c.sshBase, "ssh-base", 32222, "vlab --ssh-base")
	flag.IntVar(&c.metricsPort, "metrics-port", 38151, "vlab --metrics-port")
	flag.IntVar(&c.barePort, "bare-port", 38160, "port of the bare boot's static HTTP server on 127.0.0.1")
	flag.StringVar(&c.cpu, "cpu", "", "QEMU CPU model for the node and the bare boots, e.g. max (RDRAND seeds the CRNG at once); default the lab's")
	flag.StringVar(&c.net, "net", "bridge", "vlab --net: bridge (the lab's default: bmcctld's DHCP on a bridge) or user (QEMU's slirp)")
	flag.DurationVar(&c.jobTimeout, "job-timeout", 5*time.Minute, "give up on a boot after this long")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), c, log); err != nil {
		log.Error("bench failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	if c.dir == "" {
		d, err := os.MkdirTemp("", "bmc-bench-boot-")
		if err != nil {
			return err
		}
		c.dir = d
	}
	// bmcctld runs jobs as their user: the lab directory must be readable.
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return err
	}
	up := exec.CommandContext(ctx, "scripts/vlab", "up", "1", "--dir", c.dir, "--net", c.net,
		"--port-base", strconv.Itoa(c.portBase), "--node-port", strconv.Itoa(c.nodePort),
		"--ssh-base", strconv.Itoa(c.sshBase), "--metrics-port", strconv.Itoa(c.metricsPort))
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	defer func() {
		if c.keep {
			log.Info("lab left up", "dir", c.dir)
			return
		}
		down := exec.Command("scripts/vlab", "down", "--dir", c.dir)
		down.Stdout, down.Stderr = os.Stderr, os.Stderr
		if err := down.Run(); err != nil {
			log.Error("vlab down", "err", err)
		}
	}()
	if err := up.Run(); err != nil {
		return fmt.Errorf("vlab up: %w", err)
	}
	if c.cpu != "" {
		if err := setCPU(filepath.Join(c.dir, "node1", "startcmd"), c.cpu); err != nil {
			return err
		}
	}
	l, err := openLab(c.dir)
	if err != nil {
		return err
	}
	bare, err := newBareServer(c, l)
	if err != nil {
		return err
	}
	defer bare.Close()

	var rounds []round
	for i := 1; i <= c.n; i++ {
		var r round
		if r.bare, err = bare.boot(ctx, i, true); err != nil {
			return fmt.Errorf("round %d, bare iPXE boot: %w", i, err)
		}
		log.Info("bare iPXE boot", "round", i, "marker", r.bare.total)
		if r.direct, err = bare.boot(ctx, i, false); err != nil {
			return fmt.Errorf("round %d, direct boot: %w", i, err)
		}
		log.Info("bare direct boot", "round", i, "marker", r.direct.total)
		if r.job, err = l.runJob(ctx, c, i); err != nil {
			return fmt.Errorf("round %d, job: %w", i, err)
		}
		log.Info("job", "round", i, "id", r.job.id, "power_on_to_start", r.job.powerOnToStart)
		rounds = append(rounds, r)
	}
	fi, err := os.Stat(filepath.Join(bare.dir, "initrd.img"))
	if err != nil {
		return err
	}
	report(os.Stdout, rounds, fi.Size(), l.qemu)
	return nil
}

// lab is a running one-node lab.
type lab struct {
	dir, bin, socket string
	qemu             []string // node1's QEMU command line, from its startcmd
}

func openLab(dir string) (*lab, error) {
	l := &lab{dir: dir, bin: filepath.Join(dir, "bin")}
	if b := os.Getenv("BMCCTLD"); b != "" {
		l.bin = filepath.Dir(b) // vlab then builds no user commands
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "BMC_SOCKET="); ok {
			l.socket = v
		}
	}
	if l.socket == "" {
		return nil, fmt.Errorf("%s/env names no BMC_SOCKET", dir)
	}
	start, err := os.ReadFile(filepath.Join(dir, "node1", "startcmd"))
	if err != nil {
		return nil, err
	}
	if l.qemu, err = parseStartcmd(string(start)); err != nil {
		return nil, err
	}
	return l, nil
}

// setCPU makes the node's QEMU (started by ipmi_sim from startcmd on every
// power on) emulate cpu; the bare boots copy the same command line.
func setCPU(startcmd, cpu string) error {
	b, err := os.ReadFile(startcmd)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(" -accel tcg ")) || bytes.Contains(b, []byte(" -cpu ")) {
		return fmt.Errorf("%s: no \"-accel tcg\" to add -cpu to, or a -cpu already", startcmd)
	}
	b = bytes.Replace(b, []byte(" -accel tcg "), []byte(" -accel tcg -cpu "+cpu+" "), 1)
	return os.WriteFile(startcmd, b, 0o755)
}

// parseStartcmd returns the argv of the startcmd's exec line. vlab writes
// no quoting into it (paths and values have no spaces), so fields suffice.
func parseStartcmd(s string) ([]string, error) {
	s = strings.ReplaceAll(s, "\\\n", " ")
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "exec" {
			return f[1:], nil
		}
	}
	return nil, errors.New("startcmd has no exec line")
}

// guestEvents names the lines of interest: the kernel's handover to init and
// the agent's log lines (bmcinit writes "bmcinit: [uptime] message" to the console).
var guestEvents = []struct{ key, prefix string }{
	{"init", "Run /bmcinit as init process"},
	{"modules", "modules loaded"},
	{"entropy", "entropy ready"},
	{"link", "link up"},
	{"lease", "dhcp lease"},
	{"rootfs", "rootfs extracted"},
	{"ready", "ready addr="},
	{"ssh", "ssh connection"},
	{"command", "job command job="},
}

var guestLineRE = regexp.MustCompile(`^(?:bmcinit: )?\[\s*([0-9.]+)\] (.*)$`)

var markerRE = regexp.MustCompile(marker + ` ([0-9.]+)`)

var logfmtRE = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)
