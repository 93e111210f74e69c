package bmcq

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli/clitest"
)

// The read commands through cobra against a fake daemon: each prints its
// golden table, and with --json the daemon's answer re-indented.
func TestReadCommands(t *testing.T) {
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kernels, _ := json.Marshal(api.KernelList{Kernels: []api.KernelInfo{
		{Name: "default", Kernel: "/srv/vmlinuz", Initrd: "/srv/initrd.img", Cmdline: "console=ttyS0", Default: true},
		{Name: "debian-12-arm", Arch: "aarch64", Kernel: "/srv/arm/vmlinux", Description: "Debian 12 arm64"},
	}})
	routes := map[string][]byte{
		"GET " + api.PathNodes:        fixture("nodes.json"),
		"GET " + api.PathJobs + "/12": fixture("show.json"),
		"GET " + api.PathKernels:      kernels,
	}
	var posts []string
	d := clitest.Start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			posts = append(posts, r.URL.Path+" "+strings.TrimSpace(string(body)))
			if strings.Contains(r.URL.Path, "/99/") {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"error":"no job 99"}`)
				return
			}
			io.WriteString(w, `{"jobs":[12]}`)
			return
		}
		b, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			http.Error(w, `{"error":"unexpected"}`, http.StatusNotFound)
			return
		}
		w.Write(b)
	}))
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"nodes"}, "nodes.txt"},
		{[]string{"nodes", "--json"}, "nodes-out.json"},
		{[]string{"show", "12"}, "show.txt"},
		{[]string{"show", "12", "--json"}, "show-out.json"},
		{[]string{"kernels"}, "kernels.txt"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := run(t, d, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tc.golden, []byte(out))
		})
	}

	out, errOut, code := run(t, d, "cancel", "12", "99", "--json")
	if code != 1 || out != "{\n  \"jobs\": [\n    12\n  ]\n}\n" || errOut != "bmcq cancel: job 99: no job 99\n" {
		t.Errorf("cancel 12 99: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code = run(t, d, "node", "drain", "sim001"); code != 1 || errOut != "bmcq: drain needs --reason TEXT\n" {
		t.Errorf("drain without a reason: exit %d, %q", code, errOut)
	}
	if _, errOut, code = run(t, d, "node", "drain", "sim001", "--reason", "fan noise"); code != 0 {
		t.Errorf("drain: exit %d, %q", code, errOut)
	}
	want := []string{"/v1/jobs/12/cancel {}", "/v1/jobs/99/cancel {}", `/v1/nodes/sim001/drain {"reason":"fan noise"}`}
	if strings.Join(posts, "\n") != strings.Join(want, "\n") {
		t.Errorf("posted:\n%s\nwant:\n%s", strings.Join(posts, "\n"), strings.Join(want, "\n"))
	}
}
