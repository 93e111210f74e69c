//go:build vlab

// The file is not lab_arm_test.go: Go reads a trailing _arm as GOARCH=arm.

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// powerOnToRunning is the time from the job's POWERING_ON event to its
// RUNNING event: what the controller measures as the node's boot.
func powerOnToRunning(t *testing.T, d api.JobDetail) time.Duration {
	t.Helper()
	var on, run time.Time
	for _, e := range d.Events {
		switch {
		case e.State == job.PoweringOn && on.IsZero():
			on = e.Time
		case e.State == job.Running && run.IsZero():
			run = e.Time
		}
	}
	if on.IsZero() || run.IsZero() {
		t.Fatalf("job %d: no POWERING_ON or RUNNING event in %v", d.ID, d.Events)
	}
	return run.Sub(on)
}

// One x86_64 and one aarch64 machine (UEFI HTTP Boot + GRUB) run the same
// multi-platform image; each job sees its own architecture.
func TestLabArmMultiPlatform(t *testing.T) {
	l := labUp(t, 1, 300, "--arm", "1")
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	image := "oci:" + filepath.Join(l.dir, "images", "busybox-multi")
	tests := []struct {
		arch, node string
	}{
		{"x86_64", "vnode1"},
		{"aarch64", "varm1"},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		dir := filepath.Join(work, tt.arch)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ids[tt.arch] = l.submit(dir, fmt.Sprintf(`name = "uname-%s"
image = %q
arch = %q
time_limit = "10:00"
command = "echo arch=$(uname -m); cat /etc/os-release"
`, tt.arch, image, tt.arch))
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			d := l.waitFor(ctx, ids[tt.arch], state(job.Completed))
			if d.Node != tt.node {
				t.Errorf("ran on %s, want %s", d.Node, tt.node)
			}
			out, err := os.ReadFile(d.Output)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "arch="+tt.arch+"\n") {
				t.Errorf("output does not show uname -m = %s:\n%s", tt.arch, out)
			}
			if !strings.Contains(string(out), `NAME="bmc lab busybox multi"`) {
				t.Errorf("output is not from the multi-platform image:\n%s", out)
			}
			t.Logf("%s: power on → running %s", tt.node, powerOnToRunning(t, d).Round(10*time.Millisecond))
		})
	}
	// The arm node booted through GRUB with the arm default kernel, and the
	// controller handed it the GRUB image and its per-MAC config.
	b, _ := os.ReadFile(filepath.Join(l.dir, "bmcctld.log"))
	for _, want := range []string{"loader=uefi-grub", "kernel=vlab-arm64"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("bmcctld.log never says %q", want)
		}
	}
	serial, _ := os.ReadFile(filepath.Join(l.dir, "arm1", "serial.log"))
	host := strings.TrimPrefix(l.labEnv("VLAB_NODE_URL"), "http://")
	if !strings.Contains(string(serial), "bmc: GRUB asks "+host+" ") {
		t.Errorf("varm1's console shows no GRUB network boot:\n%s", tail(string(serial), 20))
	}
}
