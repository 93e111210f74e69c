package sim

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/node"
)

func TestModelFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  node.Config
		want Model
	}{
		{"all given", node.Config{Kind: "sim-big", Arch: "x86_64", ExpectedBoot: time.Minute,
			BMC: node.BMC{SimIdleWatts: 200, SimPeakWatts: 900}},
			Model{Kind: "sim-big", Arch: "x86_64", BootTime: time.Minute, IdleWatts: 200, PeakWatts: 900}},
		{"arm defaults", node.Config{Arch: "aarch64"},
			Model{Kind: "aarch64", Arch: "aarch64", BootTime: DefaultBootTime, IdleWatts: 40, PeakWatts: 180}},
		{"unknown arch, idle above default peak", node.Config{Arch: "riscv64", BMC: node.BMC{SimIdleWatts: 500}},
			Model{Kind: "riscv64", Arch: "riscv64", BootTime: DefaultBootTime, IdleWatts: 500, PeakWatts: 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ModelFor(tc.cfg); got != tc.want {
				t.Fatalf("ModelFor = %+v, want %+v", got, tc.want)
			}
			if _, err := Open("", "n1", ModelFor(tc.cfg), clock.NewFake(t0)); err != nil {
				t.Fatalf("Open refuses the model: %v", err)
			}
		})
	}
}

// FuzzOpenStateFile feeds Open arbitrary state files: it must reject or
// accept them, never panic, and an accepted machine must answer.
func FuzzOpenStateFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"name":"n1","on":true,"on_at":"2026-11-25T12:00:00Z","joules":5,"joules_at":"2026-11-25T12:00:00Z","jobs":[{"id":1,"start":"2026-11-25T12:00:15Z","runtime":60000000000,"load":0.5}]}`))
	f.Add([]byte(`{"version":1,"name":"n1"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "n1.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Open(dir, "n1", small, clock.NewFake(t0))
		if err != nil {
			return
		}
		m.Ready()
		m.Status(1)
		if _, err := m.PowerReading(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
