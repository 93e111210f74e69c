package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// stateWithJobs runs bmcctld, submits a held 400-task array (so the jobs
// bucket has branch pages) and one more job, and stops it with SIGTERM. It
// returns the state directory, now holding state.db and its shutdown backup.
func stateWithJobs(t *testing.T) string {
	t.Helper()
	state, dir := t.TempDir(), workDir(t)
	d := startDaemon(t, state, "--sim", "1")
	write(t, filepath.Join(dir, "j.toml"), "image = \"busybox\"\ncommand = \"true\"\ntime_limit = \"10:00\"\n")
	for _, args := range [][]string{{"--hold", "--array", "1-400", "j.toml"}, {"--hold", "j.toml"}} {
		if r := d.run(0, dir, "bmcsubmit", args...); r.code != 0 {
			t.Fatalf("bmcsubmit: %s", r.stderr)
		}
	}
	d.stop()
	return state
}

// runDaemon runs bmcctld to its end (it is expected to stop by itself).
func runDaemon(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return runCmd(t, exec.CommandContext(ctx, bin("bmcctld"), args...))
}

// boltPages finds pages of a state file by following its tree from the
// current meta page: the jobs bucket's root (a branch page here) and its
// first child (a leaf). bbolt's layout: page header id u64, flags u16,
// count u16, overflow u32; meta after the header with root at +16, txid at
// +48; leaf elements flags, pos, ksize, vsize (u32 each); branch elements
// pos, ksize u32, child u64.
type boltPages struct {
	size           int
	branch, leaf   int
	branchElement0 int // file offset of the branch page's first element
	leafElement0   int
}

func findPages(t *testing.T, b []byte) boltPages {
	t.Helper()
	ne := binary.NativeEndian
	psize := int(ne.Uint32(b[16+8:]))
	meta := b[16:]
	if m1 := b[psize+16:]; ne.Uint64(m1[48:]) > ne.Uint64(meta[48:]) {
		meta = m1
	}
	page := func(id int) []byte { return b[id*psize : (id+1)*psize] }
	root := page(int(ne.Uint64(meta[16:])))
	p := boltPages{size: psize}
	for i := range int(ne.Uint16(root[10:])) {
		e := root[16+16*i:]
		k := e[ne.Uint32(e[4:]):][:ne.Uint32(e[8:])]
		if string(k) == "jobs" {
			p.branch = int(ne.Uint64(e[ne.Uint32(e[4:])+ne.Uint32(e[8:]):]))
		}
	}
	if p.branch == 0 || ne.Uint16(page(p.branch)[8:]) != 0x01 {
		t.Fatal("the jobs bucket's root is not a branch page")
	}
	p.leaf = int(ne.Uint64(page(p.branch)[16+8:]))
	p.branchElement0, p.leafElement0 = p.branch*psize+16, p.leaf*psize+16
	return p
}

// A damaged state file stops bmcctld with exit status 1 and one line on
// stderr that says what is wrong and how to restore; never a crash.
func TestDamagedStateFileIsOneLine(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(stateWithJobs(t), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	pg := findPages(t, good)
	ps := pg.size
	flip := func(off int, mask byte) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= mask; return b }
	}
	cases := map[string]func([]byte) []byte{
		"truncated to 0":              func(b []byte) []byte { return b[:0] },
		"truncated to 1000":           func(b []byte) []byte { return b[:1000] },
		"truncated to 3 pages":        func(b []byte) []byte { return b[:3*ps] },
		"truncated at the leaf":       func(b []byte) []byte { return b[:pg.leaf*ps+100] },
		"meta 0 bit flipped":          flip(16+20, 0x01),
		"meta 1 bit flipped":          flip(ps+16+40, 0x10),
		"branch count bit flipped":    flip(pg.branch*ps+10, 0x02),
		"branch child bit flipped":    flip(pg.branchElement0+12, 0x40),
		"leaf key size bit flipped":   flip(pg.leafElement0+8, 0x20),
		"leaf value size bit flipped": flip(pg.leafElement0+14, 0x01),
		"leaf zeroed":                 func(b []byte) []byte { clear(b[pg.leaf*ps : (pg.leaf+1)*ps]); return b },
		"branch zeroed":               func(b []byte) []byte { clear(b[pg.branch*ps : (pg.branch+1)*ps]); return b },
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			state := t.TempDir()
			path := filepath.Join(state, "state.db")
			if err := os.WriteFile(path, damage(bytes.Clone(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runDaemon(t, "--sim", "1", "--state-dir", state)
			want := regexp.MustCompile(`^bmcctld: ` + regexp.QuoteMeta(path) + ` is damaged: [^\n]+; keep it and go back to the newest good backup with: bmcctld --restore --state-dir ` + regexp.QuoteMeta(state) + "\n$")
			if r.code != 1 || !want.MatchString(r.stderr) {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line matching %s", r.code, r.stderr, want)
			}
		})
	}
}

// A record whose pages are sound but whose value no longer decodes is
// damage too: the same one line, naming the record and the way back.
func TestUndecodableRecordIsOneLine(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(stateWithJobs(t), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	pg := findPages(t, good)
	ne := binary.NativeEndian
	e := pg.leafElement0
	value := e + int(ne.Uint32(good[e+4:])) + int(ne.Uint32(good[e+8:]))
	bad := bytes.Clone(good)
	if bad[value] != '{' {
		t.Fatalf("the first job's record starts with %q, not a JSON object", bad[value])
	}
	bad[value] = 'X'
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, "state.db"), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runDaemon(t, "--sim", "1", "--state-dir", state)
	want := regexp.MustCompile(`^bmcctld: load state: job [0-9a-f]+: decode: [^\n]+; keep it and go back to the newest good backup with: bmcctld --restore --state-dir ` + regexp.QuoteMeta(state) + "\n$")
	if r.code != 1 || !want.MatchString(r.stderr) {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line matching %s", r.code, r.stderr, want)
	}
}

// After a corruption, bmcctld --restore puts the newest good backup back,
// keeps the damaged file, and the job accepted before the backup is there.
func TestRestoreAfterCorruption(t *testing.T) {
	state := stateWithJobs(t) // jobs 1..401, then the shutdown backup
	backups, _ := filepath.Glob(filepath.Join(state, "backups", "state-*.db"))
	if len(backups) != 1 {
		t.Fatalf("backups after a clean shutdown: %v, want one", backups)
	}
	dir := workDir(t)
	write(t, filepath.Join(dir, "j.toml"), "image = \"busybox\"\ncommand = \"true\"\nhold = true\n")
	d := startDaemon(t, state, "--sim", "1")
	if r := d.run(0, dir, "bmcsubmit", "--parsable", "j.toml"); r.code != 0 || r.stdout != "402\n" {
		t.Fatalf("bmcsubmit: %d %q %s", r.code, r.stdout, r.stderr)
	}
	r := runDaemon(t, "--restore", "--state-dir", state)
	if r.code != 1 || r.stderr != "bmcctld: --restore: a bmcctld answers on "+filepath.Join(state, "bmcctld.sock")+": stop it first\n" {
		t.Errorf("restore while running: exit %d, %q", r.code, r.stderr)
	}
	d.kill9() // no shutdown backup: job 402 exists only in state.db
	path := filepath.Join(state, "state.db")
	if err := os.Truncate(path, 20000); err != nil {
		t.Fatal(err)
	}
	if r := runDaemon(t, "--sim", "1", "--state-dir", state); r.code != 1 || !strings.Contains(r.stderr, "is damaged: it is truncated") {
		t.Fatalf("start on the damaged file: exit %d, %q", r.code, r.stderr)
	}

	r = runDaemon(t, "--restore", "--state-dir", state)
	damaged, _ := filepath.Glob(path + ".damaged-*")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || r.stderr != "" || len(damaged) != 1 || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "kept the damaged state file (it is truncated: 20000 bytes, ") || !strings.HasSuffix(lines[0], " as "+damaged[0]) ||
		!strings.HasPrefix(lines[1], "restored "+path+" from "+backups[0]+" taken ") {
		t.Fatalf("restore: exit %d, stdout %q, stderr %q, kept %v", r.code, r.stdout, r.stderr, damaged)
	}
	if st, _ := os.Stat(damaged[0]); st == nil || st.Size() != 20000 {
		t.Errorf("the damaged file was not kept as it was: %v", st)
	}

	d = startDaemon(t, state, "--sim", "1")
	if r := d.run(0, dir, "bmcq", "show", "401"); r.code != 0 || !strings.HasPrefix(r.stdout, "JobId=401 ") {
		t.Errorf("job 401 after restore: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if jobs := d.jobs(true); len(jobs) != 401 {
		t.Errorf("%d jobs after restore, want the 401 of the backup", len(jobs))
	}
	d.stop()
	if r := runDaemon(t, "--restore", "--state-dir", state); r.code != 1 || !strings.Contains(r.stderr, "is not damaged") {
		t.Errorf("restore over a sound file: exit %d, %q", r.code, r.stderr)
	}
}
