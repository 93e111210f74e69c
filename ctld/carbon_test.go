package ctld

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/job"
)

// --when-greenest: the daemon picks the begin time, and says so.
func TestWhenGreenestPicksTheCleanStart(t *testing.T) {
	carbon, err := accounting.NewCarbon([]accounting.CarbonWindow{
		{Name: "coal", Schedule: "0 16 * * *", GPerKWh: 500},
		{Name: "wind", Schedule: "0 14 * * *", GPerKWh: 100}, // 14:00-16:00 UTC
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 1, func(h *harness) { h.cfg.Energy.Carbon = carbon })
	file := []byte("image = \"busybox\"\ncommand = \"true\"\ntime_limit = \"1:00:00\"\n")
	resp, err := h.greenest(wire.Submit{File: "g.toml", Cwd: h.dir, Greenest: true, Deadline: "8h"}, file)
	if err != nil {
		t.Fatal(err)
	}
	// The clock is at 12:00 UTC: the wind window starts at 14:00.
	if b := h.job(resp.IDs[0]).Spec.Begin; !b.Equal(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)) {
		t.Errorf("begin %v", b)
	}
	if !strings.Contains(resp.Note, "begins 2026-11-25 14:00 UTC: the lowest carbon intensity within 8h for its 1:00:00 time limit (100 gCO2e/kWh on average; 500 if it started at once)") {
		t.Errorf("note %q", resp.Note)
	}
	for _, tc := range []struct {
		sub  wire.Submit
		want string
	}{
		{wire.Submit{File: "g.toml", Cwd: h.dir, Greenest: true}, "--deadline"},
		{wire.Submit{File: "g.toml", Cwd: h.dir, Greenest: true, Deadline: "soon"}, "--deadline"},
		{wire.Submit{File: "g.toml", Cwd: h.dir, Deadline: "8h"}, "--deadline goes with --when-greenest"},
	} {
		if _, err := h.greenest(tc.sub, file); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.sub, err)
		}
	}
}

func TestWhenGreenestNeedsASchedule(t *testing.T) {
	h := newHarness(t, 1)
	_, err := h.greenest(wire.Submit{File: "g.toml", Cwd: h.dir, Greenest: true, Deadline: "8h"},
		[]byte("image = \"busybox\"\ncommand = \"true\"\n"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "bmcctld has no carbon-intensity schedule") {
		t.Errorf("err = %v", err)
	}
}

// greenest submits a job file as alice the way the plain protocol's submit
// --when-greenest does (apiserver): the begin time first, then the submit.
func (h *harness) greenest(sub wire.Submit, file []byte) (api.SubmitResponse, error) {
	spec, err := job.Parse(sub.File, file)
	if err != nil {
		return api.SubmitResponse{}, err
	}
	note, err := h.c.WhenGreenest(&sub, spec)
	if err != nil {
		return api.SubmitResponse{}, err
	}
	resp, err := h.c.Submit(context.Background(), alice, api.SubmitRequest{Spec: *spec, Cwd: sub.Cwd, File: sub.File})
	resp.Note = note
	return resp, err
}

// Imported hourly values enter the next bills: grams = joules × intensity.
func TestCarbonImportWeighsBills(t *testing.T) {
	h := newHarness(t, 1)
	if _, err := h.c.ImportCarbon(alice, nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("alice imported: %v", err)
	}
	var hours []accounting.CarbonHour
	for i := range 48 {
		hours = append(hours, accounting.CarbonHour{At: t0.Truncate(time.Hour).Add(time.Duration(i-24) * time.Hour), GPerKWh: 200})
	}
	res, err := h.c.ImportCarbon(root, hours)
	if err != nil || res.Total != 48 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := h.c.ImportCarbon(root, []accounting.CarbonHour{{At: t0, GPerKWh: -1}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a negative intensity: %v", err)
	}
	id := h.submit(alice, loadSpec(10*time.Second, 1))[0]
	h.waitState(id, job.Completed)
	j := h.acctJob(id)
	if want := j.EnergyJoules / accounting.JoulesPerKWh * 200; math.Abs(j.CarbonGrams-want) > 1e-6*want || want == 0 {
		t.Errorf("%.3f g for %.0f J at 200 g/kWh, want %.3f", j.CarbonGrams, j.EnergyJoules, want)
	}
	// They survive a restart.
	h.restart()
	if c := h.c.carbon(); c == nil || len(c.Hours()) != 48 {
		t.Errorf("after a restart: %v", c)
	}
}
