//go:build vlab

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/job"
)

// A machine of the attack lab: one x86_64 node booting iPXE and one aarch64
// node booting UEFI HTTP Boot + GRUB, on the lab's bridge.
type labNode struct {
	name, arch, addr string
	script           string // its boot script's path on the node listener
}

var (
	x86Node = labNode{"vnode1", "x86_64", "10.77.1.1", "/ipxe/52-54-00-00-00-01"}
	armNode = labNode{"varm1", "aarch64", "10.77.2.1", "/grub.cfg-52:54:00:00:01:01"}
)

// attackerLoop is a job's shell script: for `seconds` it fetches the
// victim's boot script, tries any token it finds, and posts a Ready with
// its own node's agent token (a second Ready for its own boot). It prints
// what it got, never a token.
const attackerLoop = `U=%s
end=$(($(date +%%s) + %d))
tries=0
own=$(sed -n 's/.*bmc.token=\([A-Za-z0-9_-]*\).*/\1/p' /proc/cmdline 2>/dev/null)
key='{"host_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGF0dGFja2VyIGtleSBhdHRhY2tlciBrZXkgYXR0YWNr","ssh_port":22}'
while [ "$(date +%%s)" -lt "$end" ]; do
  tries=$((tries+1))
  rm -f /tmp/s
  timeout 5 wget -q -O /tmp/s "$U%s" 2>/dev/null
  t=$(sed -n 's/.*bmc.token=\([A-Za-z0-9_-]*\).*/\1/p' /tmp/s 2>/dev/null | head -n1)
  if [ -n "$t" ]; then
    echo "ATTACK: got the victim's boot script"
    timeout 5 wget -q -O /tmp/c --header "Authorization: Bearer $t" "$U/agent/config" 2>/dev/null && echo "ATTACK: victim's agent config served" || echo "ATTACK: victim's agent config refused"
    timeout 5 wget -q -O /dev/null --header "Authorization: Bearer $t" --post-data "$key" "$U/agent/ready" 2>/dev/null && echo "ATTACK: forged Ready accepted" || echo "ATTACK: forged Ready refused"
  fi
  timeout 5 wget -q -O /dev/null --header "Authorization: Bearer forged-$tries" --post-data "$key" "$U/agent/ready" 2>/dev/null && r=accepted || r=refused
  echo "forged Ready (made-up token) $r" >> /tmp/readies
  if [ -n "$own" ]; then
    timeout 5 wget -q -O /dev/null --header "Authorization: Bearer $own" --post-data "$key" "$U/agent/ready" 2>/dev/null && r=accepted || r=refused
    echo "second Ready for its own boot $r" >> /tmp/readies
  fi
  sleep 1
done
echo "ATTACK: $tries tries"
sort /tmp/readies 2>/dev/null | uniq -c
`

// spoofPrefix makes the attacker's node also answer as the victim's
// address, and talk to the controller from it.
const spoofPrefix = `ip addr add %s/32 dev eth0 && ip route replace %s/32 dev eth0 src %s && echo "ATTACK: now speaking as %s"
`

func randomSecret(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "s3cret-" + hex.EncodeToString(b)
}

// attackRound runs an attacker job on `attacker` while a victim job with a
// secret boots on `victim`, and checks that the victim ran exactly once, on
// its node, with its own output, that the attacker saw neither the secret
// nor a token, and that the conflict was recorded. It returns the two jobs.
func attackRound(t *testing.T, ctx context.Context, l *lab, work string, attacker, victim labNode, spoof bool, seconds int) (api.JobDetail, api.JobDetail) {
	t.Helper()
	url := l.labEnv("VLAB_NODE_URL")
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), ":"+strings.Split(url, ":")[2])
	script := fmt.Sprintf(attackerLoop, url, seconds, victim.script)
	if spoof {
		script = fmt.Sprintf(spoofPrefix, victim.addr, host, victim.addr, victim.addr) + script
	}
	image := "oci:" + filepath.Join(l.dir, "images", "busybox-multi")
	adir := filepath.Join(work, "attacker-"+attacker.name)
	vdir := filepath.Join(work, "victim-"+victim.name)
	for _, d := range []string{adir, vdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	aid := l.submit(adir, fmt.Sprintf("name = \"attacker\"\nimage = %q\narch = %q\ntime_limit = \"10:00\"\ncommand = %q\n",
		image, attacker.arch, script))
	l.waitFor(ctx, aid, state(job.Running))

	secret := randomSecret(t)
	vid := l.submit(vdir, fmt.Sprintf("name = \"victim\"\nimage = %q\narch = %q\ntime_limit = \"10:00\"\n"+
		"command = \"echo victim ran on $BMC_NODE; printf %%s \\\"$SECRET\\\" | sha256sum\"\n"+
		"environment = { SECRET = %q }\n", image, victim.arch, secret))
	v := l.waitFor(ctx, vid, state(job.Completed))
	a := l.waitFor(ctx, aid, func(d api.JobDetail) bool { return d.State.Final() })

	// The victim: once, on its node, its own output.
	runs := 0
	for _, e := range v.Events {
		if e.State == job.Running {
			runs++
		}
	}
	if runs != 1 || v.Node != victim.name || v.ExitCode != 0 {
		t.Errorf("victim ran %d times, ended on %s with exit %d; want once on %s, exit 0", runs, v.Node, v.ExitCode, victim.name)
	}
	vout, err := os.ReadFile(v.Output)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	if want := "victim ran on " + victim.name + "\n" + hex.EncodeToString(sum[:]) + "  -\n"; string(vout) != want {
		t.Errorf("victim's output:\n%s\nwant\n%s", vout, want)
	}

	// The attacker: no secret, no token, nothing of the victim's boot.
	aout, err := os.ReadFile(a.Output)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("attacker on %s (%s) output:\n%s", attacker.name, a.State, aout)
	if strings.Contains(string(aout), secret) {
		t.Errorf("the attacker's output holds the victim's secret")
	}
	for _, tok := range bootTokens(t, l, victim, attacker) {
		if strings.Contains(string(aout), tok) {
			t.Errorf("the attacker's output holds a boot token")
		}
	}
	if strings.Contains(string(aout), "accepted") {
		t.Errorf("a forged Ready was accepted:\n%s", aout)
	}
	if !spoof && strings.Contains(string(aout), "ATTACK: got the victim's boot script") {
		t.Errorf("a neighbour got the victim's boot script:\n%s", aout)
	}

	// The conflict is on record: on the victim's job and on the attacker's.
	// A spoofer may never reach bmcctld at all (the real machine answers ARP
	// for its own address while it boots): then there is nothing to record,
	// and the log below says what did happen (docs/security.md).
	if !spoof && (!hasEvent(v, job.ReasonSecurity, "") || !hasEvent(v, job.ReasonBootAborted, "")) {
		t.Errorf("victim's events record no security event and aborted boot:\n%s", eventLines(v))
	}
	if !spoof && !hasEvent(a, job.ReasonSecurity, "touched job") {
		t.Errorf("attacker's events do not say it touched job %s:\n%s", vid, eventLines(a))
	}
	t.Logf("victim %s events:\n%s", vid, eventLines(v))
	t.Logf("attacker %s events:\n%s", aid, eventLines(a))
	return a, v
}

func hasEvent(d api.JobDetail, r job.Reason, detail string) bool {
	for _, e := range d.Events {
		if e.Reason == r && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

func eventLines(d api.JobDetail) string {
	var b strings.Builder
	for _, e := range d.Events {
		fmt.Fprintf(&b, "  %s %s %s %s\n", e.State, e.Reason, e.Node, e.Detail)
	}
	return b.String()
}

var tokenRE = regexp.MustCompile(`(?:bmc\.token=|/a/)([A-Za-z0-9_-]{43})`)

// bootTokens lists every token the nodes' consoles show (kernel command
// lines and GRUB's fetches): what the attacker must never print.
func bootTokens(t *testing.T, l *lab, nodes ...labNode) []string {
	var out []string
	for _, n := range nodes {
		dir := "node1"
		if n.arch == "aarch64" {
			dir = "arm1"
		}
		b, _ := os.ReadFile(filepath.Join(l.dir, dir, "serial.log"))
		for _, m := range tokenRE.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		t.Errorf("no token on any console: the check would prove nothing")
	}
	return out
}

// A job on one node tries to steal another node's boot, on x86_64 and on
// aarch64, then again with the victim's address on its own NIC (spoofing).
func TestLabBootTheft(t *testing.T) {
	l := labUp(t, 1, 400, "--arm", "1")
	work := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	t.Run("x86 attacks aarch64", func(t *testing.T) { attackRound(t, ctx, l, work, x86Node, armNode, false, 30) })
	t.Run("aarch64 attacks x86", func(t *testing.T) { attackRound(t, ctx, l, work, armNode, x86Node, false, 30) })
	m := l.metrics(ctx)
	if !regexp.MustCompile(`bmc_security_events_total\{kind="script_foreign"\} [1-9]`).MatchString(m) {
		t.Errorf("no script_foreign security event in the metrics:\n%s", grepLines(m, "bmc_security"))
	}
	t.Logf("metrics:\n%s", grepLines(m, "bmc_security_events_total", "bmc_dhcp_requests_total"))

	// Spoofing: the attacker takes the victim's address. See docs/security.md.
	t.Run("x86 spoofs aarch64's address", func(t *testing.T) { attackRound(t, ctx, l, work, x86Node, armNode, true, 30) })
}

func grepLines(s string, subs ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.HasPrefix(line, sub) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}
