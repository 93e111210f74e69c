package ipmitest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStartServesIPMI checks the helper itself with plain ipmitool: the BMC
// answers, power on starts the machine process, power off ends it.
func TestStartServesIPMI(t *testing.T) {
	b := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := b.Ipmitool(ctx, "chassis", "power", "status")
	if err != nil || !strings.Contains(out, "Chassis Power is off") {
		t.Fatalf("status = %q, %v", out, err)
	}
	if b.MachineRunning() {
		t.Fatal("machine runs before power on")
	}
	if out, err := b.Ipmitool(ctx, "chassis", "power", "on"); err != nil {
		t.Fatalf("power on: %q, %v", out, err)
	}
	if err := b.WaitMachine(ctx, true); err != nil {
		t.Fatal(err)
	}
	if out, err := b.Ipmitool(ctx, "chassis", "power", "off"); err != nil {
		t.Fatalf("power off: %q, %v", out, err)
	}
	if err := b.WaitMachine(ctx, false); err != nil {
		t.Fatal(err)
	}
	cfg := b.Config()
	if cfg.Port != b.Port || cfg.PowerSensor != SensorName || cfg.CipherSuite != "3" {
		t.Fatalf("Config() = %+v", cfg)
	}
}
