package vlabredfish

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play QEMU: run through a link named
// qemu-system-x86_64 with "-pidfile F", it writes its PID to F and waits,
// ignoring SIGTERM when asked to, so PowerOff's SIGKILL is exercised.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "qemu-system-x86_64" {
		if os.Getenv("FAKE_QEMU_STUBBORN") == "1" {
			signal.Ignore(syscall.SIGTERM)
		}
		for i := 1; i+1 < len(os.Args); i++ {
			if os.Args[i] == "-pidfile" {
				os.WriteFile(os.Args[i+1], []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
			}
		}
		select {}
	}
	os.Exit(m.Run())
}

func fakeQEMU(t *testing.T, stubborn bool) *QEMU {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "qemu-system-x86_64")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(dir, "qemu.pid")
	env := ""
	if stubborn {
		env = "FAKE_QEMU_STUBBORN=1 "
	}
	start := filepath.Join(dir, "startcmd")
	script := "#!/bin/sh\nexec env " + env + bin + " -name test -pidfile " + pid + "\n"
	if err := os.WriteFile(start, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &QEMU{StartCmd: start, PIDFile: pid, KillWait: 200 * time.Millisecond}
}

func TestQEMUPower(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		q := fakeQEMU(t, stubborn)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if q.Running() {
			t.Fatal("running before power on")
		}
		if err := q.PowerOn(ctx); err != nil || !q.Running() {
			t.Fatalf("power on: %v, running %v", err, q.Running())
		}
		if err := q.PowerOn(ctx); err != nil {
			t.Fatalf("on when on: %v", err)
		}
		t.Cleanup(func() { q.PowerOff(context.Background(), false) })
		if err := q.PowerOff(ctx, true); err != nil || q.Running() {
			t.Fatalf("stubborn=%v: power off: %v, running %v", stubborn, err, q.Running())
		}
		if err := q.PowerOff(ctx, false); err != nil {
			t.Fatalf("off when off: %v", err)
		}
	}
}

func TestQEMUStartFails(t *testing.T) {
	dir := t.TempDir()
	start := filepath.Join(dir, "startcmd")
	os.WriteFile(start, []byte("#!/bin/sh\necho no qemu >&2\nexit 3\n"), 0o755)
	q := &QEMU{StartCmd: start, PIDFile: filepath.Join(dir, "qemu.pid")}
	if err := q.PowerOn(context.Background()); err == nil {
		t.Fatal("a start command that exits is not a running machine")
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	f := Files{WattsFile: filepath.Join(dir, "w"), JoulesFile: filepath.Join(dir, "j")}
	os.WriteFile(f.WattsFile, []byte("96\n"), 0o644)
	os.WriteFile(f.JoulesFile, []byte("1234.567\n"), 0o644)
	if w, err := f.Watts(); err != nil || w != 96 {
		t.Errorf("Watts = %v, %v", w, err)
	}
	if j, err := f.Joules(); err != nil || j != 1234.567 {
		t.Errorf("Joules = %v, %v", j, err)
	}
	os.WriteFile(f.JoulesFile, []byte("-1\n"), 0o644)
	if _, err := f.Joules(); err == nil {
		t.Error("a negative counter was accepted")
	}
	if _, err := (Files{WattsFile: filepath.Join(dir, "none")}).Watts(); err == nil {
		t.Error("a missing file was accepted")
	}
}
