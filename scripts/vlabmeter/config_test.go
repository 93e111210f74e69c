package vlabmeter

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "meter.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Interval) != 20*time.Millisecond || time.Duration(c.CSVInterval) != time.Second || c.Seed != 42 {
		t.Errorf("intervals = %v, %v, seed %d", time.Duration(c.Interval), time.Duration(c.CSVInterval), c.Seed)
	}
	wantModel := Model{IdleWatts: 40, DynamicWatts: 60, StandbyWatts: 10, SurgeWatts: 30, SurgeTime: 2 * time.Second,
		Smoothing: 300 * time.Millisecond, CPUs: 1, Average: 2 * time.Second}
	if m := c.Model(0); m != wantModel {
		t.Errorf("Model(0) = %+v, want %+v", m, wantModel)
	}
	// Unset sensor keys take the documented defaults.
	wantSensor := DefaultSensor
	wantSensor.Window, wantSensor.Noise = 2*time.Second, 0.03
	if s := c.SensorConfig(); s != wantSensor {
		t.Errorf("SensorConfig = %+v, want %+v", s, wantSensor)
	}
	d, err := ParseConfig([]byte("[[node]]\nname = \"a\"\ndir = \"/x\"\n"))
	if err != nil || d.Model(0).Average != 500*time.Millisecond || time.Duration(d.Interval) != 20*time.Millisecond || d.SensorConfig() != DefaultSensor {
		t.Errorf("defaults: %+v %v", d, err)
	}
	want := []NodeConfig{
		{Name: "vnode1", Dir: "/lab/node1", Kind: "qemu-x86", CPUs: 1, IdleWatts: 40, DynamicWatts: 60,
			StandbyWatts: 10, SurgeWatts: 30, SurgeTime: Duration(2 * time.Second), Smoothing: Duration(300 * time.Millisecond)},
		{Name: "vnode2", Dir: "/lab/node2", Kind: "qemu-x86", CPUs: 1, IdleWatts: 20, DynamicWatts: 100},
	}
	if len(c.Nodes) != len(want) {
		t.Fatalf("nodes = %+v", c.Nodes)
	}
	// vnode2 emulates RAPL; an unset range is a real package's.
	wantRAPL := RAPLConfig{Dir: "/lab/node2/rapl", IdleWatts: 4, DynamicWatts: 80, MaxEnergyRangeUJ: DefaultRAPLRange, StartUJ: 7}
	if r := c.Nodes[1].RAPL; r == nil || *r != wantRAPL || c.Nodes[0].RAPL != nil {
		t.Errorf("rapl = %+v / %+v, want none / %+v", c.Nodes[0].RAPL, r, wantRAPL)
	}
	c.Nodes[1].RAPL = nil
	for i := range want {
		if c.Nodes[i] != want[i] {
			t.Errorf("node %d = %+v, want %+v", i, c.Nodes[i], want[i])
		}
	}
}

func TestParseConfigRejects(t *testing.T) {
	const node = "\n[[node]]\nname = \"a\"\ndir = \"/x\"\nidle_watts = 40\ndynamic_watts = 60\n"
	tests := map[string]string{
		"not toml":           "interval = ",
		"unknown key":        "colour = \"red\"" + node,
		"no nodes":           "interval = \"100ms\"",
		"bad duration":       "interval = \"fast\"" + node,
		"interval too short": "interval = \"1ms\"" + node,
		"csv faster":         "interval = \"1s\"\ncsv_interval = \"100ms\"" + node,
		"relative dir":       "[[node]]\nname = \"a\"\ndir = \"node1\"\n",
		"no name":            "[[node]]\ndir = \"/x\"\n",
		"twice":              node + node,
		"negative":           "[[node]]\nname = \"a\"\ndir = \"/x\"\nidle_watts = -1\n",
		"nan":                "[[node]]\nname = \"a\"\ndir = \"/x\"\nidle_watts = nan\n",
		"beyond sensor":      "[[node]]\nname = \"a\"\ndir = \"/x\"\nidle_watts = 500\ndynamic_watts = 600\n",
		"cpus":               "[[node]]\nname = \"a\"\ndir = \"/x\"\ncpus = -2\n",
		"negative average":   "average = \"-1s\"" + node,
		"negative surge":     "[[node]]\nname = \"a\"\ndir = \"/x\"\nsurge_watts = -5\n",
		"surge beyond":       "[[node]]\nname = \"a\"\ndir = \"/x\"\nidle_watts = 500\nsurge_watts = 600\n",
		"negative smoothing": "[[node]]\nname = \"a\"\ndir = \"/x\"\nsmoothing = \"-1s\"\n",
		"sensor period zero": "[sensor]\nperiod = \"0s\"" + node,
		"sensor window long": "[sensor]\nwindow = \"1h\"" + node,
		"sensor lag":         "[sensor]\nlag = \"-1s\"" + node,
		"sensor resolution":  "[sensor]\nresolution_watts = -4.0" + node,
		"sensor noise":       "[sensor]\nnoise_percent = 80.0" + node,
		"sensor unknown key": "[sensor]\nrate = 3" + node,
		"rapl relative dir":  node + "[node.rapl]\ndir = \"rapl\"\n",
		"rapl negative":      node + "[node.rapl]\ndir = \"/r\"\nidle_watts = -1.0\n",
		"rapl start beyond":  node + "[node.rapl]\ndir = \"/r\"\nmax_energy_range_uj = 10\nstart_uj = 11\n",
		"rapl unknown key":   node + "[node.rapl]\ndir = \"/r\"\nwatts = 3\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseConfig([]byte(in)); !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "meter.toml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("[[node]]\nname = \"a\"\ndir = \"/x\"\nidle_watts = inf\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		if len(c.Nodes) == 0 || c.Interval <= 0 || c.CSVInterval < c.Interval {
			t.Fatalf("accepted %+v", c)
		}
		for i, n := range c.Nodes {
			w := c.Model(i).Watts(true, 1, 0)
			if !(w >= 0 && w <= maxSensorWatts) || n.CPUs < 1 || !filepath.IsAbs(n.Dir) {
				t.Fatalf("accepted node %+v (peak %v W)", n, w)
			}
		}
	})
}
