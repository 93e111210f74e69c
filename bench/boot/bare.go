package main

// The bare boot: the same machine, firmware and kernel as a job's boot,
// served by a static HTTP server with a tiny init that only says when it
// reached user space.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/boot/initramfs"
)

// marker is what the bare boot's init prints, followed by its /proc/uptime.
const marker = "BMC-BENCH-BARE-BOOT"

// bareInit runs as PID 1 of the bare boot: it shows how long the kernel took
// to reach user space and powers the machine off at once, as a job would.
const bareInit = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
read up idle </proc/uptime
echo "` + marker + ` $up" >/dev/console
/bin/busybox poweroff -f
`

// bareServer is the bare boot's stand-in for the controller's boot server:
// static files and the times they were asked for.
type bareServer struct {
	c      config
	l      *lab
	dir    string
	srv    *http.Server
	mu     sync.Mutex
	events map[string]time.Time
}

func newBareServer(c config, l *lab) (*bareServer, error) {
	b := &bareServer{c: c, l: l, dir: filepath.Join(l.dir, "bare"), events: map[string]time.Time{}}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	if err := b.writeInitrd(); err != nil {
		return nil, err
	}
	script := fmt.Sprintf("#!ipxe\nkernel http://10.0.2.2:%d/vmlinuz initrd=initrd.img console=ttyS0,115200 rdinit=%s\ninitrd http://10.0.2.2:%d/initrd.img\nboot\n",
		c.barePort, initramfs.AgentPath, c.barePort)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boot.ipxe", func(w http.ResponseWriter, r *http.Request) {
		b.mark("script")
		io.WriteString(w, script)
	})
	file := func(name, path string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b.mark(name + "-start")
			http.ServeFile(w, r, path)
			b.mark(name + "-end")
		}
	}
	mux.HandleFunc("GET /vmlinuz", file("kernel", filepath.Join(l.dir, "kernel", "vmlinuz")))
	mux.HandleFunc("GET /initrd.img", file("initrd", filepath.Join(b.dir, "initrd.img")))
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.barePort))
	if err != nil {
		return nil, err
	}
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *bareServer) Close() error { return b.srv.Close() }

// writeInitrd appends bareInit to the lab's initrd exactly as bmcctld appends
// the agent, so the bare boot unpacks the same first archive.
func (b *bareServer) writeInitrd() error {
	in, err := os.Open(filepath.Join(b.l.dir, "kernel", "initrd.img"))
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(b.dir, "initrd.img"))
	if err != nil {
		return err
	}
	if err := initramfs.Append(out, in, strings.NewReader(bareInit), int64(len(bareInit))); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (b *bareServer) mark(ev string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events[ev] = time.Now()
}

func (b *bareServer) take() map[string]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := b.events
	b.events = map[string]time.Time{}
	return ev
}

// bareBoot is one bare boot, each time relative to QEMU's start.
type bareBoot struct {
	script      time.Duration // boot.ipxe asked for: firmware, iPXE, DHCP
	initrdEnd   time.Duration // last byte of the initrd sent
	kernelStart time.Duration // marker time minus the guest's uptime
	uptime      time.Duration // kernel start → marker
	guest       guestTimeline
	total       time.Duration // QEMU start → marker
}

// boot starts node1's QEMU directly (the lab's node is off: its ipmi_sim only
// starts QEMU on power on). With ipxe it network-boots from the bare server;
// without, QEMU loads the same kernel and initrd itself.
func (b *bareServer) boot(ctx context.Context, round int, ipxe bool) (bareBoot, error) {
	kind := "direct"
	if ipxe {
		kind = "ipxe"
	}
	serial := filepath.Join(b.dir, fmt.Sprintf("serial-%s-%d.log", kind, round))
	args := bareArgs(b.l.qemu, b.c, serial, filepath.Join(b.dir, "qemu.pid"))
	if !ipxe {
		args = append(args, "-kernel", filepath.Join(b.l.dir, "kernel", "vmlinuz"),
			"-initrd", filepath.Join(b.dir, "initrd.img"),
			"-append", "console=ttyS0,115200 rdinit="+initramfs.AgentPath)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	os.Remove(serial)
	b.take()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return bareBoot{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return bareBoot{}, fmt.Errorf("QEMU ended before the marker: %v %s", err, stderr.String())
		case <-tick.C:
		}
		up, ok := findMarker(serial)
		if !ok {
			continue
		}
		tm := time.Now()
		select { // init powers off at once; a stuck guest is killed with the context
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
			<-done
		}
		ev := b.take()
		console, _ := os.ReadFile(serial)
		bb := bareBoot{uptime: up, total: tm.Sub(t0), guest: parseGuest(console)}
		bb.kernelStart = bb.total - up
		if ipxe {
			bb.script = ev["script"].Sub(t0)
			bb.initrdEnd = ev["initrd-end"].Sub(t0)
		}
		return bb, nil
	}
}

// bareArgs turns the lab node's QEMU command into the bare boot's: the same
// machine, NIC, serial port and an IPMI KCS interface (QEMU's internal BMC
// instead of the lab's ipmi_sim, which must not see a second QEMU), the boot
// file from the bare server, and no SSH forward.
func bareArgs(node []string, c config, serial, pidfile string) []string {
	var out []string
	for i := 0; i < len(node); i++ {
		a := node[i]
		switch {
		case strings.HasPrefix(a, "user,id=n0"), strings.HasPrefix(a, "tap,id=n0"):
			// The bare boot runs here, beside the lab, on QEMU's own network
			// whichever network the lab's machines use.
			a = fmt.Sprintf("user,id=n0,bootfile=http://10.0.2.2:%d/boot.ipxe", c.barePort)
		case strings.HasPrefix(a, "socket,id=ipmi0") && len(out) > 0 && out[len(out)-1] == "-chardev":
			out = out[:len(out)-1] // and the -chardev before it
			continue
		case strings.HasPrefix(a, "ipmi-bmc-extern"):
			a = "ipmi-bmc-sim,id=bmc0"
		case strings.HasPrefix(a, "file,id=ser0"):
			a = "file,id=ser0,path=" + serial
		case a == "-pidfile" && i+1 < len(node):
			out = append(out, a, pidfile)
			i++
			continue
		case a == "-name" && i+1 < len(node):
			out = append(out, a, node[i+1]+"-bare")
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}
