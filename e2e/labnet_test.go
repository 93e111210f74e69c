//go:build vlab

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
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// labEnv reads one VAR=value of the lab's env file ("" if absent).
func (l *lab) labEnv(key string) string {
	f, err := os.Open(filepath.Join(l.dir, "env"))
	if err != nil {
		l.t.Fatalf("lab env: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	return ""
}

// dial connects to addr from where the lab's machines are: inside the lab's
// network namespace when it has one (the socket is made there, then this
// thread goes back), here otherwise.
func (l *lab) dial(ctx context.Context, addr string) (net.Conn, error) {
	name := l.labEnv("VLAB_NETNS")
	if name == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		return nil, err
	}
	defer netns.Set(orig)
	d := net.Dialer{Timeout: 10 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// command is name args run where the lab's BMCs are: inside the lab's
// network namespace when it has one.
func (l *lab) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if ns := l.labEnv("VLAB_NETNS"); ns != "" {
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// nodeSSH is where node vnodeN's SSH server is, as the controller reaches it.
func (l *lab) nodeSSH(n int) string {
	if l.labEnv("VLAB_NET") == "user" {
		return fmt.Sprintf("127.0.0.1:%d", 12222+n-1)
	}
	return fmt.Sprintf("10.77.1.%d:22", n)
}

// metrics fetches bmcctld's /metrics, which listens inside the lab.
func (l *lab) metrics(ctx context.Context) string {
	l.t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return l.dial(ctx, addr)
	}}, Timeout: 30 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, "GET", l.labEnv("BMC_METRICS"), nil)
	resp, err := c.Do(req)
	if err != nil {
		l.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
