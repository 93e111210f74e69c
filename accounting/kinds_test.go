package accounting

import (
	"reflect"
	"testing"

	"github.com/bmc-sched/bmc/job"
)

func TestAppKey(t *testing.T) {
	for _, tc := range []struct{ image, want string }{
		{"busybox:1.36", "busybox:1.36"},
		{"ghcr.io/org/app@sha256:abc", "sha256:abc"},
		{"ghcr.io/org/app:v1@sha256:abc", "sha256:abc"},
		{"oci:/srv/images/app", "oci:/srv/images/app"},
		{"weird@notadigest", "weird@notadigest"},
	} {
		if got := AppKey(tc.image, "make"); got != [2]string{tc.want, "make"} {
			t.Errorf("AppKey(%q) = %q, want %q", tc.image, got, tc.want)
		}
	}
}

func TestKindHistoryMeans(t *testing.T) {
	e := func(id, boot uint64, kind, image string, joules float64, st job.State) *Entry {
		return &Entry{Facts: Facts{Job: id, Boot: boot, Kind: kind, Image: image, Command: "run", State: st}, Joules: joules}
	}
	app := AppKey("img", "run")
	other := AppKey("reg/img@sha256:1", "run")
	for _, tc := range []struct {
		name string
		in   []*Entry
		want map[[2]string][]KindEnergy
	}{
		{"empty ledger", nil, map[[2]string][]KindEnergy{}},
		{"fewest mean joules first", []*Entry{
			e(1, 1, "x86", "img", 300, job.Completed), e(2, 1, "arm", "img", 100, job.Completed),
			e(3, 1, "arm", "img", 140, job.Completed), e(4, 1, "x86", "img", 500, job.Completed),
		}, map[[2]string][]KindEnergy{app: {{"arm", 2, 240}, {"x86", 2, 800}}}},
		{"only completed jobs; every boot; the last boot's kind", []*Entry{
			e(1, 1, "x86", "img", 1000, job.Pending), e(1, 2, "arm", "img", 50, job.Completed), // requeued: 1050 J on arm
			e(2, 1, "x86", "img", 10, job.Failed), // failed: not counted
			e(3, 1, "x86", "img", 400, job.Completed),
		}, map[[2]string][]KindEnergy{app: {{"x86", 1, 400}, {"arm", 1, 1050}}}},
		{"applications apart, by digest; a kindless entry is skipped", []*Entry{
			e(1, 1, "x86", "img", 10, job.Completed), e(2, 1, "x86", "reg/img@sha256:1", 20, job.Completed),
			e(3, 1, "", "img", 1, job.Completed),
		}, map[[2]string][]KindEnergy{app: {{"x86", 1, 10}}, other: {{"x86", 1, 20}}}},
		{"equal means by kind name", []*Entry{e(1, 1, "b", "img", 10, job.Completed), e(2, 1, "a", "img", 10, job.Completed)},
			map[[2]string][]KindEnergy{app: {{"a", 1, 10}, {"b", 1, 10}}}},
	} {
		var h KindHistory
		for _, x := range tc.in {
			h.Add(x)
		}
		if got := h.Means(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, tc.want)
		}
	}
}

func TestPreferReason(t *testing.T) {
	for _, tc := range []struct {
		ks   []KindEnergy
		want string
	}{
		{[]KindEnergy{{"sim-arm", 3, 1344}, {"sim-x86", 2, 3940}},
			"energy: sim-arm used 448 J on average for this image and command (3 runs) vs 1,970 J on sim-x86"},
		{[]KindEnergy{{"a", 1, 1234567.4}, {"b", 1, 99999999.6}},
			"energy: a used 1,234,567 J on average for this image and command (1 run) vs 100,000,000 J on b"},
	} {
		if got := PreferReason(tc.ks); got != tc.want {
			t.Errorf("PreferReason = %q\nwant %q", got, tc.want)
		}
	}
}
