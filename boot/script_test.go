package boot

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestScripts(t *testing.T) {
	base := scriptData{
		URL: "http://10.0.2.2:8150", GRUBRoot: "(http,10.0.2.2:8150)", JobID: 42, Boot: 1, Node: "node1",
		KernelToken: "KTOKEN", InitrdToken: "ITOKEN", AgentToken: "ATOKEN", Init: "/bmcinit",
	}
	withCmdline := base
	withCmdline.Cmdline = "console=ttyS0,115200 quiet"
	prefixed := withCmdline
	prefixed.URL, prefixed.GRUBRoot = "https://boot.example:8443/bmc", "(https,boot.example:8443)/bmc"
	tests := []struct {
		golden string
		tmpl   string
		data   scriptData
	}{
		{"chain.ipxe", "chain", scriptData{URL: base.URL}},
		{"job.ipxe", "ipxe", withCmdline},
		{"job-no-cmdline.ipxe", "ipxe", base},
		{"job-prefixed-url.ipxe", "ipxe", prefixed},
		{"nojob.ipxe", "ipxe-nojob", scriptData{}},
		{"job.grub", "grub", withCmdline},
		{"job-prefixed-url.grub", "grub", prefixed},
		{"nojob.grub", "grub-nojob", scriptData{}},
	}
	tmpls := map[string]func(scriptData) []byte{
		"chain":      func(d scriptData) []byte { return render(chainScript, d) },
		"ipxe":       func(d scriptData) []byte { return render(ipxeScript, d) },
		"ipxe-nojob": func(d scriptData) []byte { return render(ipxeNoJob, d) },
		"grub":       func(d scriptData) []byte { return render(grubScript, d) },
		"grub-nojob": func(d scriptData) []byte { return render(grubNoJob, d) },
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			golden(t, tt.golden, tmpls[tt.tmpl](tt.data))
		})
	}
}

func TestCheckNodeURL(t *testing.T) {
	tests := []struct {
		in, url, grub string
		ok            bool
	}{
		{"http://10.0.2.2:8150", "http://10.0.2.2:8150", "(http,10.0.2.2:8150)", true},
		{"http://10.0.2.2:8150/", "http://10.0.2.2:8150", "(http,10.0.2.2:8150)", true},
		{"https://h.example/p/q", "https://h.example/p/q", "(https,h.example)/p/q", true},
		{"http://[::1]:8150", "http://[::1]:8150", "(http,[::1]:8150)", true},
		{"ftp://h", "", "", false},
		{"http://h/${x}", "", "", false},
		{"http://h/a b", "", "", false},
		{"http://h/?q=1", "", "", false},
		{"http://h/#x", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		u, g, err := checkNodeURL(tt.in)
		if (err == nil) != tt.ok || u != tt.url || g != tt.grub {
			t.Errorf("checkNodeURL(%q) = %q %q %v", tt.in, u, g, err)
		}
	}
}

// FuzzScript feeds the user- and admin-controlled inputs of a boot script
// through the same checks Prepare applies, and asserts that whatever passes
// renders to a script of the fixed shape: same lines, same commands, the
// agent parameters last and once.
func FuzzScript(f *testing.F) {
	f.Add("console=ttyS0 quiet", "node1", "52:54:00:12:34:56")
	f.Add("x\nchain http://evil", "n", "52-54-00-12-34-56")
	f.Add("a ${x} #c || d", "a.b-c_d", "5254.0012.3456")
	f.Add("rdinit=/bin/sh", "n1", "aa:bb:cc:dd:ee:ff")
	f.Fuzz(func(t *testing.T, cmdline, node, mac string) {
		s := &Server{}
		req := Request{JobID: 7, Boot: 3, Node: node, MAC: mac, Arch: "x86_64", Cmdline: cmdline, Image: "img:1"}
		if _, err := s.checkRequest(&req); err != nil {
			return
		}
		d := scriptData{
			URL: "http://10.0.2.2:8150", GRUBRoot: "(http,10.0.2.2:8150)", JobID: 7, Boot: 3, Node: req.Node,
			KernelToken: newToken(), InitrdToken: newToken(), AgentToken: newToken(), Cmdline: joinCmdline(req.Cmdline), Init: "/bmcinit",
		}
		checkShape(t, string(render(ipxeScript, d)), d, []string{"#!ipxe", "echo", "kernel", "initrd", "boot", ":failed", "echo", "exit"}, 2, " || goto failed")
		checkShape(t, string(render(grubScript, d)), d, []string{"set", "echo", "linux", "initrd", "boot"}, 2, "")
	})
}

func checkShape(t *testing.T, script string, d scriptData, cmds []string, kernelLine int, suffix string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(script, "\n"), "\n")
	if len(lines) != len(cmds) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(cmds), script)
	}
	for i, l := range lines {
		if first, _, _ := strings.Cut(l, " "); first != cmds[i] {
			t.Fatalf("line %d starts %q, want %q:\n%s", i+1, first, cmds[i], script)
		}
		for _, bad := range []string{"${", "#", "||", "&&", ";", "\r"} {
			rest := l
			if i == 0 && bad == "#" {
				continue // "#!ipxe"
			}
			if bad == "||" || bad == "${" {
				rest = strings.TrimSuffix(l, " || goto failed")
				if i == 0 {
					continue
				}
			}
			if strings.Contains(rest, bad) {
				t.Fatalf("line %d holds %q:\n%s", i+1, bad, script)
			}
		}
	}
	k := strings.TrimSuffix(lines[kernelLine], suffix)
	tail := " rdinit=/bmcinit bmc.url=" + d.URL + " bmc.token=" + d.AgentToken
	if !strings.HasSuffix(k, tail) || strings.Count(k, "rdinit=") != 1 || strings.Count(k, "bmc.") != 2 || strings.Contains(k, " -- ") {
		t.Fatalf("kernel line %q does not end with the agent parameters alone", k)
	}
}
