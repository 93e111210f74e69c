package main

// One lab per configuration: up, bmcctld restarted with the flags, down.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type lab struct {
	dir, bin, socket string
}

// labUp brings up a lab of n x86_64 nodes, with vlab up's extra flags.
func labUp(ctx context.Context, o options, dir string, n int, extra ...string) (*lab, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // jobs write their output as their user
		return nil, err
	}
	up := exec.CommandContext(ctx, "scripts/vlab", append([]string{"up", strconv.Itoa(n), "--dir", dir,
		"--port-base", strconv.Itoa(o.portBase), "--node-port", strconv.Itoa(o.nodePort),
		"--ssh-base", strconv.Itoa(o.sshBase), "--metrics-port", strconv.Itoa(o.metricsPort)}, extra...)...)
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	if err := up.Run(); err != nil {
		return nil, fmt.Errorf("vlab up: %w", err)
	}
	l := &lab{dir: dir, bin: filepath.Join(dir, "bin"), socket: filepath.Join(dir, "bmcctld.sock")}
	if b := os.Getenv("BMCCTLD"); b != "" {
		l.bin = filepath.Dir(b)
	}
	return l, nil
}

func (l *lab) down() error {
	down := exec.Command("scripts/vlab", "down", "--dir", l.dir)
	down.Stdout, down.Stderr = os.Stderr, os.Stderr
	return down.Run()
}

// restart stops the lab's bmcctld and starts it again from the command
// line vlab recorded, with extra flags, where vlab's down finds it.
func (l *lab) restart(ctx context.Context, extra []string) error {
	pidb, err := os.ReadFile(filepath.Join(l.dir, "bmcctld.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err != nil {
		return fmt.Errorf("bmcctld.pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop bmcctld: %w", err)
	}
	for syscall.Kill(pid, 0) == nil { // not our child: poll its end
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	line, err := os.ReadFile(filepath.Join(l.dir, "bmcctld.cmd"))
	if err != nil {
		return err
	}
	cmdline := strings.TrimSpace(string(line))
	for _, f := range extra {
		cmdline += " " + strconv.Quote(f)
	}
	out, err := os.OpenFile(filepath.Join(l.dir, "bmcctld.out"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	os.Remove(l.socket)
	cmd := exec.Command("bash", "-c", "exec "+cmdline)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	if err := os.WriteFile(filepath.Join(l.dir, "bmcctld.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	for i := 0; i < 300; i++ {
		if _, err := l.bmc(ctx, l.dir, "bmcq", "nodes"); err == nil {
			return nil
		}
		if syscall.Kill(cmd.Process.Pid, 0) != nil {
			return errors.New("bmcctld exited at start: see bmcctld.out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("bmcctld did not answer within 30 s")
}

func (l *lab) bmc(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(l.bin, name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BMC_SOCKET="+l.socket)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// meterJoules is what the lab's meter of vnodeI counted since the lab came up.
func (l *lab) meterJoules(i int) (float64, error) {
	out, err := exec.Command("scripts/vlab", "energy", "--dir", l.dir, fmt.Sprintf("vnode%d", i)).Output()
	if err != nil {
		return 0, fmt.Errorf("vlab energy vnode%d: %w", i, err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}
