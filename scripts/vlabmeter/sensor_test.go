package vlabmeter

import (
	"math"
	"testing"
	"time"
)

// sensorRun feeds a truth of watts(t) at 50 Hz for d and returns the
// reading at each whole 100 ms.
func sensorRun(s *Sensor, d time.Duration, watts func(time.Duration) float64) map[time.Duration]float64 {
	t0 := time.Unix(1_800_000_000, 0)
	out := map[time.Duration]float64{}
	for e := time.Duration(0); e <= d; e += 20 * time.Millisecond {
		r := s.Add(t0.Add(e), watts(e))
		if e%(100*time.Millisecond) == 0 {
			out[e] = r
		}
	}
	return out
}

func TestSensor(t *testing.T) {
	// Samples are joined by straight lines, so the 20 ms before a step
	// already count half of it: 0.02 s × 90 W / 2 = 0.9 J in a 1 s window.
	step := func(e time.Duration) float64 { // 10 W standby, on at 1 s at 100 W
		if e < time.Second {
			return 10
		}
		return 100
	}
	ramp := func(e time.Duration) float64 { return 10 * e.Seconds() }
	exact := SensorConfig{Window: time.Second, Period: time.Second}
	tests := []struct {
		name  string
		cfg   SensorConfig
		truth func(time.Duration) float64
		want  map[time.Duration]float64
	}{
		{"holds until the period ends", exact, step, map[time.Duration]float64{
			0: 10, 900 * time.Millisecond: 10, 1500 * time.Millisecond: 10.9, 2 * time.Second: 100}},
		{"window averages a ramp", exact, ramp, map[time.Duration]float64{
			time.Second: 5, 1900 * time.Millisecond: 5, 2 * time.Second: 15, 3 * time.Second: 25}},
		{"a two-second window lags a step", SensorConfig{Window: 2 * time.Second, Period: time.Second}, step, map[time.Duration]float64{
			2 * time.Second: 55.45, 3 * time.Second: 100}},
		{"lag delays what is shown", SensorConfig{Window: time.Second, Period: time.Second, Lag: 300 * time.Millisecond}, step, map[time.Duration]float64{
			2 * time.Second: 10.9, 2200 * time.Millisecond: 10.9, 2300 * time.Millisecond: 100}},
		{"quantised to the resolution", SensorConfig{Window: time.Second, Period: time.Second, Resolution: 4}, ramp, map[time.Duration]float64{
			time.Second: 4, 2 * time.Second: 16, 3 * time.Second: 24}},
		{"a zero window samples", SensorConfig{Period: 500 * time.Millisecond}, ramp, map[time.Duration]float64{
			500 * time.Millisecond: 5, 900 * time.Millisecond: 5, time.Second: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sensorRun(NewSensor(tt.cfg, 1, "vnode1"), 4*time.Second, tt.truth)
			for at, w := range tt.want {
				if math.Abs(got[at]-w) > 1e-9 {
					t.Errorf("at %v: reading %v, want %v", at, got[at], w)
				}
			}
		})
	}
}

// Noise is seeded per node: the same seed and name replay the same
// readings, another name draws others; over many readings it averages out.
func TestSensorNoise(t *testing.T) {
	cfg := SensorConfig{Window: time.Second, Period: time.Second, Noise: 0.02}
	flat := func(time.Duration) float64 { return 100 }
	a := sensorRun(NewSensor(cfg, 7, "vnode1"), 400*time.Second, flat)
	b := sensorRun(NewSensor(cfg, 7, "vnode1"), 400*time.Second, flat)
	c := sensorRun(NewSensor(cfg, 7, "vnode2"), 400*time.Second, flat)
	var sum, sq float64
	var differ bool
	n := 0
	for e := time.Second; e <= 400*time.Second; e += time.Second {
		if a[e] != b[e] {
			t.Fatalf("at %v: %v and %v from the same seed", e, a[e], b[e])
		}
		differ = differ || a[e] != c[e]
		sum += a[e]
		sq += (a[e] - 100) * (a[e] - 100)
		n++
	}
	if !differ {
		t.Error("two nodes drew the same noise")
	}
	mean, sd := sum/float64(n), math.Sqrt(sq/float64(n))
	if math.Abs(mean-100) > 0.5 || sd < 1.5 || sd > 2.5 {
		t.Errorf("400 readings of 100 W with 2 %% noise: mean %.2f, sd %.2f", mean, sd)
	}
}
