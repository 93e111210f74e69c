package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bmc-sched/bmc/internal/testenv"
)

// hostile is the uid the attacks run as.
const hostile = 65534

func layerTar(t *testing.T, hdrs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
	}
	tw.Close()
	return buf.Bytes()
}

// imageOf writes a docker-save tarball of an amd64 image with the layers.
func imageOf(t *testing.T, path string, layers ...[]byte) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		layer, err := tarball.LayerFromReader(bytes.NewReader(l))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, name.MustParseReference("img:1"), img); err != nil {
		t.Fatal(err)
	}
	return img
}

// poisoned writes a docker-save tarball that pairs img's config with
// other layers, by hand, as an attacker would.
func poisoned(t *testing.T, path string, img v1.Image, layers ...[]byte) {
	t.Helper()
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(n string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	add("config.json", cfg)
	var names []string
	for i, l := range layers {
		n := fmt.Sprintf("l%d.tar", i)
		add(n, l)
		names = append(names, n)
	}
	m, _ := json.Marshal([]map[string]any{{"Config": "config.json", "Layers": names}})
	add("manifest.json", m)
	tw.Close()
	write(t, path, buf.String())
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestHostileUserImagesAndInput drives the real bmcctld and bmcsubmit as
// uid 65534 against root's images on a cluster of one real (Wake-on-LAN,
// loopback) machine: every attack is refused at submit with one line.
func TestHostileUserImagesAndInput(t *testing.T) {
	testenv.NeedRoot(t, "run bmcsubmit as uid 65534")
	state := t.TempDir()
	rootDir := t.TempDir() // root's images: 0700
	dir := workDir(t)      // the hostile user's directory
	kdir := filepath.Join(state, "kernels")
	os.MkdirAll(kdir, 0o755)
	write(t, filepath.Join(kdir, "vmlinuz"), "MZ kernel")
	nodes := wolNodes(t, state, "52:54:00:00:00:99", "10.77.9.9")
	d := startDaemon(t, state, "--nodes", nodes, "--node-listen", freePort(t), "--kernel-dir", kdir,
		"--default-kernel", filepath.Join(kdir, "vmlinuz"), "--image-max-bytes", "1000000", "--image-max-files", "1000")

	app := layerTar(t, tar.Header{Name: "bin/app", Typeflag: tar.TypeReg, Mode: 0o755, Size: 100})
	public := imageOf(t, filepath.Join(rootDir, "public.tar"), app)
	imageOf(t, filepath.Join(rootDir, "private.tar"), layerTar(t, tar.Header{Name: "secret", Typeflag: tar.TypeReg, Mode: 0o600, Size: 10}))
	os.Chmod(filepath.Join(rootDir, "private.tar"), 0o600)
	os.Chmod(rootDir, 0o755)

	// The user's files.
	trojan := layerTar(t, tar.Header{Name: "bin/app", Typeflag: tar.TypeReg, Mode: 0o755, Size: 6})
	poisoned(t, filepath.Join(dir, "poisoned.tar"), public, trojan)
	os.Symlink(filepath.Join(rootDir, "private.tar"), filepath.Join(dir, "private.tar"))
	imageOf(t, filepath.Join(dir, "big.tar"), layerTar(t, tar.Header{Name: "big", Typeflag: tar.TypeReg, Size: 2_000_000}))
	imageOf(t, filepath.Join(dir, "dev.tar"), layerTar(t, tar.Header{Name: "dev/mem", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1}))
	imageOf(t, filepath.Join(dir, "mine.tar"), layerTar(t, tar.Header{Name: "hello", Typeflag: tar.TypeReg, Size: 5}))
	for _, f := range []string{"poisoned.tar", "big.tar", "dev.tar", "mine.tar"} {
		os.Chmod(filepath.Join(dir, f), 0o644)
	}
	var env strings.Builder
	env.WriteString("[environment]\n")
	for i := range 10_000 {
		fmt.Fprintf(&env, "V%d = \"x\"\n", i)
	}
	nlDir := filepath.Join(dir, "a\nJobId=999 User=root")
	os.Mkdir(nlDir, 0o777)

	job := func(extra string) string {
		return "time_limit = \"10:00\"\nhold = true\n" + extra
	}
	cases := []struct {
		name, file, cwd, want string
	}{
		{"poisoned config", job("image = \"poisoned.tar\"\ncommand = \"true\"\n"), "",
			`^bmcsubmit: .*poisoned\.tar: layer 1: refused: its content is sha256:[0-9a-f]{64}, but the config's diff_id is sha256:[0-9a-f]{64}$`},
		{"symlink to root's private image", job("image = \"private.tar\"\ncommand = \"true\"\n"), "",
			`^bmcsubmit: .*private\.tar: permission denied \(bmcctld reads image files as the submitting user\)$`},
		{"image over --image-max-bytes", job("image = \"big.tar\"\ncommand = \"true\"\n"), "",
			`too big: over 1000000 bytes unpacked \(bmcctld --image-max-bytes 1000000\)$`},
		{"device node in the image", job("image = \"dev.tar\"\ncommand = \"true\"\n"), "",
			`refused: dev/mem is a character device; images may not hold device nodes or FIFOs`},
		{"kernel URL to the metrics port", job("image = \"mine.tar\"\ncommand = \"true\"\nkernel = \"http://127.0.0.1:9151/metrics\"\n"), "",
			`kernel: host not allowed: 127\.0\.0\.1:9151: bmcctld fetches from no host \(an admin lists hosts with --fetch-allow\)$`},
		{"registry image", job("image = \"127.0.0.1:5000/app:1\"\ncommand = \"true\"\n"), "",
			`registry not allowed: bmcctld pulls from no registry`},
		{"root inside the image", job("image = \"mine.tar\"\ncommand = \"true\"\nuser = \"root\"\n"), "",
			`user: "root" is for admins and the users bmcctld --image-root-users lists$`},
		{"escape in the command", job("image = \"mine.tar\"\ncommand = \"true\\u001b[2J\"\n"), "",
			`^job\.toml:4: command: control character U\+001B at byte 4 is not allowed \(only newline and tab are\)$`},
		{"newline in the working directory", job("image = \"/bin/none.tar\"\ncommand = \"true\"\n"), nlDir,
			`cwd: ".*\\nJobId=999 User=root" must not contain control characters$`},
		{"10k environment entries", job("image = \"mine.tar\"\ncommand = \"true\"\n") + env.String(), "",
			`^job\.toml:1006: environment: more than 1000 keys in one table \(a job file's limit\)$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cwd := dir
			if tc.cwd != "" {
				cwd = tc.cwd
			}
			write(t, filepath.Join(cwd, "job.toml"), tc.file)
			r := d.run(hostile, cwd, "bmcsubmit", "job.toml")
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if r.code != 1 || len(lines) != 1 || !regexp.MustCompile(tc.want).MatchString(lines[0]) {
				t.Fatalf("exit %d, stderr %q, want one line matching %s", r.code, r.stderr, tc.want)
			}
			t.Logf("uid %d sees: %s", hostile, lines[0])
		})
	}
	// The user's own image is accepted, and root may run as root.
	write(t, filepath.Join(dir, "ok.toml"), job("image = \"mine.tar\"\ncommand = \"true\"\n"))
	if r := d.run(hostile, dir, "bmcsubmit", "ok.toml"); r.code != 0 {
		t.Fatalf("own image: exit %d: %s", r.code, r.stderr)
	}
	write(t, filepath.Join(rootDir, "root.toml"), job("image = \"private.tar\"\ncommand = \"true\"\nuser = \"root\"\n"))
	if r := d.run(0, rootDir, "bmcsubmit", "root.toml"); r.code != 0 {
		t.Fatalf("root's job: exit %d: %s", r.code, r.stderr)
	}
	if jobs := d.jobs(true); len(jobs) != 2 {
		t.Fatalf("%d jobs queued, want 2", len(jobs))
	}
}
