//go:build vlab

package vlabtest

// Helpers of the lab script's tests: running scripts/vlab, taking a lab
// down, free ports, ipmitool, a tiny initrd and the boot server QEMU fetches
// it from.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary doubles as a stand-in bmcctld (see fakeCtld) so the
// script's controller wiring is tested without depending on the daemon.
func TestMain(m *testing.M) {
	if os.Getenv("VLABTEST_FAKE_CTLD") == "1" {
		os.Exit(fakeCtld(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func vlabScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "vlab"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// vlab runs scripts/vlab and fails the test when it fails.
func vlab(t *testing.T, ctx context.Context, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, vlabScript(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("vlab %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// labDown tears the lab down at the end and checks every recorded process is gone.
func labDown(t *testing.T, dir string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pids := recordedPIDs(dir)
		ns, _ := os.ReadFile(filepath.Join(dir, "netns"))
		vlab(t, ctx, nil, "down", "--dir", dir)
		for f, pid := range pids {
			if alive(pid) {
				t.Errorf("%s: pid %d still alive after vlab down", f, pid)
			}
		}
		if n := strings.TrimSpace(string(ns)); n != "" && exec.Command("ip", "netns", "pids", n).Run() == nil {
			t.Errorf("the lab's namespace %s outlived vlab down", n)
		}
		// Idempotent: a second down is fine.
		vlab(t, ctx, nil, "down", "--dir", dir)
	})
}

func recordedPIDs(dir string) map[string]int {
	pids := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	more, _ := filepath.Glob(filepath.Join(dir, "node*", "*.pid"))
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids[f] = pid
		}
	}
	return pids
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// freeIPMIBase finds a base p with UDP p (IPMI) and TCP p+1 (BMC link) free,
// and the same for p+10 (a second node).
func freeIPMIBase(t *testing.T) int {
	t.Helper()
	for p := 20001 + 10*(os.Getpid()%300); p < 60000; p += 10 {
		if portsFree(p) && portsFree(p+10) {
			return p
		}
	}
	t.Fatal("no free IPMI port base")
	return 0
}

func portsFree(p int) bool {
	u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	defer u.Close()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
	if err != nil {
		return false
	}
	return l.Close() == nil
}

func freeTCP(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func ipmitool(ctx context.Context, port int, password string, args ...string) (string, error) {
	a := append([]string{"-I", "lanplus", "-H", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "admin", "-E", "-C", "3", "-N", "1", "-R", "2"}, args...)
	cmd := exec.CommandContext(ctx, "ipmitool", a...)
	cmd.Env = append(os.Environ(), "IPMI_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// newc writes a cpio (newc) archive of regular files, the format the kernel
// unpacks from an initrd.
func newc(files map[string]string) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	ino := 1
	entry := func(name string, mode uint32, data string) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		pad()
		b.WriteString(data)
		pad()
		ino++
	}
	for name, data := range files {
		entry(name, 0o100755, data)
	}
	entry("TRAILER!!!", 0, "")
	return b.Bytes()
}

// bootServer plays the controller's node-facing HTTP side: it serves an iPXE
// script, the lab kernel and the lab initrd with a test program appended, and
// records when each path was first asked for.
type bootServer struct {
	mu     sync.Mutex
	hits   map[string]time.Time
	query  map[string]string
	notify chan string
}

func (s *bootServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if _, ok := s.hits[r.URL.Path]; !ok {
		s.hits[r.URL.Path] = time.Now()
		s.query[r.URL.Path] = r.URL.RawQuery
	}
	s.mu.Unlock()
	select {
	case s.notify <- r.URL.Path:
	default:
	}
}

func (s *bootServer) hit(path string) (time.Time, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.hits[path]
	return t, s.query[path], ok
}

// The guest program: loads the NIC modules exactly as bmcinit does (the
// initrd contract), configures slirp's fixed address, reports, burns CPU for
// a while so the power model must rise above idle, reports again, idles.
const guestScript = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
up() { echo "VLABTEST $1 uptime=$(cut -d' ' -f1 /proc/uptime)"; }
up init
n=0; t=0; for m in $(cat /etc/modules.order); do t=$((t+1)); insmod /lib/modules/$m && n=$((n+1)); done
up modules
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0
i=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
up carrier
U=http://10.0.2.2:%d
timeout 10 wget -q -O /dev/null "$U/report?modules=$n&listed=$t&mac=$(cat /sys/class/net/eth0/address)"
up reported
timeout 6 sh -c 'while :; do :; done'
timeout 10 wget -q -O /dev/null "$U/busy-done"
while :; do sleep 1000; done
`

var sensorWatts = regexp.MustCompile(`Sensor Reading\s*:\s*(\d+) .*Watts`)

const bootScript = `#!ipxe
kernel http://10.0.2.2:%d/vmlinuz console=ttyS0 quiet rdinit=/vlabtest
initrd http://10.0.2.2:%d/initrd.img
boot
`
