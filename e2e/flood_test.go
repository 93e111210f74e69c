package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// floodEnv makes the test binary a flooder (see TestMain): it opens
// connections to NETWORK:ADDRESS, N of them, says how many it got, and
// holds them until its stdin closes.
const floodEnv = "BMC_E2E_FLOOD"

func flood(spec string) int {
	network, rest, _ := strings.Cut(spec, ":")
	i := strings.LastIndex(rest, ":")
	addr := rest[:i]
	n, _ := strconv.Atoi(rest[i+1:])
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			conns = append(conns, c)
		}
	}
	fmt.Printf("opened %d\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// flooder runs a flooder as uid and returns once it holds its connections;
// closing the returned writer ends it.
func flooder(t *testing.T, uid uint32, spec string) io.Closer {
	t.Helper()
	// The test binary's own directory is closed to other uids.
	self := bin("e2e-flooder")
	if _, err := os.Stat(self); err != nil {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(self, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), floodEnv+"="+spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "opened ") {
		t.Fatalf("flooder as uid %d: %q %v", uid, line, err)
	}
	t.Logf("uid %d holds %s", uid, strings.TrimSpace(line))
	return in
}

// TestConnectionFlood: uid 65534 and uid 1000 open thousands of idle
// connections to the user socket, and thousands more go to the node
// listener. Each user keeps at most its share, so root's bmcq still
// answers, as does /metrics (which counts what the caps refused); once the
// total is taken, a third user is refused but root is not; when the
// flooders leave, everyone is served again.
func TestConnectionFlood(t *testing.T) {
	state := t.TempDir()
	nodes := wolNodes(t, state, "52:54:00:00:00:98", "10.77.9.8")
	metrics, nodeAddr := freePort(t), freePort(t)
	d := startDaemon(t, state, "--nodes", nodes, "--node-listen", nodeAddr, "--metrics-listen", metrics,
		"--api-max-conns", "100", "--api-max-conns-per-user", "64", "--api-read-timeout", "2m", "--api-idle-timeout", "2m",
		"--node-read-timeout", "2m")
	dir := workDir(t)
	bmcq := func(uid uint32) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin("bmcq"), "nodes")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "BMC_SOCKET="+d.sock)
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		}
		return runCmd(t, cmd)
	}

	a := flooder(t, hostile, "unix:"+d.sock+":3000")
	b := flooder(t, 1000, "unix:"+d.sock+":3000")
	n := flooder(t, hostile, "tcp:"+nodeAddr+":3000")

	if r := bmcq(0); r.code != 0 || !strings.Contains(r.stdout, "real1") {
		t.Errorf("root's bmcq during the flood: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// The daemon works through its accept backlog at its own pace: poll
	// until every connection the flooders hold has been counted.
	for _, want := range []struct {
		series   string
		min, max float64
	}{
		{`bmc_connections_open{listener="api"}`, 100, 100},
		{`bmc_connections_refused_total{listener="api"}`, 5000, 6000},
		{`bmc_connections_open{listener="node"}`, 32, 32},
		{`bmc_connections_refused_total{listener="node"}`, 2900, 3000},
	} {
		metricWithin(t, metrics, want.series, want.min, want.max)
	}
	if r := bmcq(1001); r.code != 1 || !strings.Contains(r.stderr, "bmcq: bmcctld closed the connection unanswered: too many connections are open") {
		t.Errorf("uid 1001 while the total is taken: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// Every connection counted, the caps full: root still gets through.
	if r := bmcq(0); r.code != 0 || !strings.Contains(r.stdout, "real1") {
		t.Errorf("root's bmcq with the caps full: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	a.Close()
	b.Close()
	n.Close()
	// Each slot comes back as its connection closes.
	metricWithin(t, metrics, `bmc_connections_open{listener="api"}`, 0, 1)
	if r := bmcq(1001); r.code != 0 {
		t.Errorf("uid 1001 after the flood: exit %d %q", r.code, r.stderr)
	}
}

// metricWithin polls /metrics until series is within min..max.
func metricWithin(t *testing.T, addr, series string, min, max float64) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		v, ok := scrape(t, addr)[series]
		if ok && v >= min && v <= max {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Errorf("%s = %v (%v), want %v..%v", series, v, ok, min, max)
			return
		}
	}
}

var series = regexp.MustCompile(`(?m)^(bmc_connections_\w+\{[^}]*\}) (\S+)$`)

// scrape reads the connection series from /metrics.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, m := range series.FindAllStringSubmatch(string(body), -1) {
		out[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	return out
}
