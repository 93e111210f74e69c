package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/boot/image"
	"github.com/bmc-sched/bmc/ctld"
	"github.com/bmc-sched/bmc/dhcpd"
	"github.com/bmc-sched/bmc/internal/clock"
	"github.com/bmc-sched/bmc/internal/netallow"
	"github.com/bmc-sched/bmc/machine"
	"github.com/bmc-sched/bmc/machine/realnode"
	"github.com/bmc-sched/bmc/node"
	"github.com/bmc-sched/bmc/power"
	"github.com/bmc-sched/bmc/power/bmc"
	"github.com/bmc-sched/bmc/power/wol"
)

// nodeListener serves the boot server to booting nodes.
type nodeListener struct {
	ln    net.Listener
	srv   *http.Server
	boots *boot.Server
	hub   *realnode.AgentHub
	dhcp  *dhcpd.Responder // nil without --dhcp-interface
}

// kernels lists the cluster default and the catalog for bmcq kernels.
func (n *nodeListener) kernels(f *flags) api.KernelList {
	var l api.KernelList
	if f.defaultKernel != "" {
		l.Kernels = append(l.Kernels, api.KernelInfo{Name: "default", Kernel: f.defaultKernel, Initrd: f.defaultInitrd,
			Cmdline: f.defaultCmdline, Default: true, Description: "used by jobs that name no kernel"})
	}
	if n == nil {
		return l
	}
	for _, k := range n.boots.Catalog().List() {
		l.Kernels = append(l.Kernels, api.KernelInfo{Name: k.Name, Arch: k.Arch, Kernel: k.Kernel, Initrd: k.Initrd,
			Cmdline: k.Cmdline, Description: k.Description})
	}
	return l
}

// realMachines wires BMC drivers and the network boot path for real nodes.
func realMachines(ctx context.Context, f *flags, cfgs []node.Config, clk clock.Clock, log *slog.Logger) ([]machine.Node, *nodeListener, error) {
	hub := realnode.NewAgentHub(clk, log)
	catalog := boot.Catalog{}
	if f.kernelCatalog != "" {
		c, err := boot.LoadCatalog(f.kernelCatalog)
		if err != nil {
			return nil, nil, fmt.Errorf("--kernels: %w", err)
		}
		catalog = c
	}
	agents, kexecTools, err := agentBinaries(f.agentDir)
	if err != nil {
		return nil, nil, err
	}
	nodeURL := f.nodeURL
	if nodeURL == "" {
		nodeURL = "http://" + f.nodeListen
	}
	var neighbour boot.NeighbourFunc
	if f.dhcp.iface != "" {
		// The nodes are on bmcctld's own link: bind their boots to their MACs too.
		if neighbour, err = dhcpd.Neighbours(f.dhcp.iface); err != nil {
			return nil, nil, err
		}
	}
	sources, err := sourcePolicy(f)
	if err != nil {
		return nil, nil, err
	}
	boots, err := boot.New(boot.Config{
		NodeURL: nodeURL, DefaultKernel: f.defaultKernel, DefaultInitrd: f.defaultInitrd, DefaultCmdline: f.defaultCmdline,
		KernelDirs: f.kernelDirs, Catalog: catalog, AgentBinaries: agents, KexecTools: kexecTools,
		ArchDefaults: f.archDefaults, GrubEFI: f.grubEFI,
		CacheDir: filepath.Join(f.stateDir, "cache"), CacheMaxBytes: f.cacheMaxBytes,
		MaxDownloadBytes: f.fetchMaxBytes, Sources: sources,
		TokenTTL: 10 * time.Minute, HeartbeatInterval: ctld.AgentHeartbeat,
		Clock: clk, Callbacks: hub, Logger: log, Neighbour: neighbour,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("boot server: %w", err)
	}
	var dhcp *dhcpd.Responder
	if f.dhcp.iface != "" {
		if dhcp, err = newDHCP(&f.dhcp, nodeURL, f.grubEFI != "", cfgs); err != nil {
			return nil, nil, err
		}
	}
	keyDir := filepath.Join(f.stateDir, "keys")
	var out []machine.Node
	for _, cfg := range cfgs {
		if !cfg.Address.IsValid() && cfg.SSHAddress == "" {
			return nil, nil, fmt.Errorf("node %s: the nodes file gives neither address nor ssh_address: bmcctld would not know where its SSH server is", cfg.Name)
		}
		if !cfg.Address.IsValid() {
			log.Warn("node has no address: its boot is not bound to the network (any neighbour may fetch its boot script first)", "node", cfg.Name)
		}
		var drv power.Driver
		switch strings.ToLower(cfg.BMC.Protocol) {
		case "wol":
			// A machine woken by LAN has no BMC to ask: it is on while its
			// agent answers, and it switches itself off in-band (the session
			// does that before the controller calls PowerOff).
			drv, err = wol.New(cfg.BMC, cfg.MAC, wol.Hooks{
				Alive:    func(context.Context) (bool, error) { return false, nil },
				PowerOff: func(context.Context) error { return nil },
			}, wol.WithClock(clk), wol.WithLogger(log))
		default:
			drv, err = bmc.New(cfg.BMC, bmc.WithClock(clk), bmc.WithLogger(log.With("node", cfg.Name)))
		}
		if err != nil {
			return nil, nil, fmt.Errorf("node %s: %w", cfg.Name, err)
		}
		rm := realnode.New(cfg, drv, boots, hub, keyDir, clk, log)
		switch strings.ToLower(cfg.BMC.Protocol) {
		case "ipmi", "redfish":
			if cfg.BMC.PowerMeter == node.MeterNone {
				// Billed from the agent's RAPL counter where the machine
				// has one, else as estimated with the reason.
				break
			}
			// Watts through ipmitool (an SDR sensor by name, else DCMI) or
			// gofish: the billing samples. A node without a meter is billed
			// as estimated with the reason, never as zero.
			pm, err := bmc.NewMeter(cfg.BMC, bmc.WithMeterClock(clk), bmc.WithClock(clk), bmc.WithLogger(log.With("node", cfg.Name)))
			if err != nil {
				return nil, nil, fmt.Errorf("node %s: power meter: %w", cfg.Name, err)
			}
			rm.SetMeter(pm)
		}
		out = append(out, machine.Node{Config: cfg, Machine: rm})
	}
	ln, err := net.Listen("tcp", f.nodeListen)
	if err != nil {
		return nil, nil, fmt.Errorf("--node-listen: %w", err)
	}
	log.Info("node listener", "listen", f.nodeListen, "url", nodeURL, "default_kernel", f.defaultKernel, "agents", len(agents))
	return out, &nodeListener{ln: ln, boots: boots, hub: hub, dhcp: dhcp, srv: &http.Server{Handler: boots, ConnState: boots.ConnState, ReadHeaderTimeout: 30 * time.Second}}, nil
}

// sourcePolicy reads the flags that say what jobs may make bmcctld read
// and fetch for them.
func sourcePolicy(f *flags) (boot.SourcePolicy, error) {
	fetch, err := netallow.Parse("--fetch-allow", f.fetchAllow)
	if err != nil {
		return boot.SourcePolicy{}, err
	}
	reg, err := netallow.Parse("--registry-allow", f.registryAllow)
	if err != nil {
		return boot.SourcePolicy{}, err
	}
	return boot.SourcePolicy{
		FetchAllow: fetch, FetchTimeout: f.fetchTimeout, RegistryAllow: reg,
		Image: image.Limits{MaxBytes: f.imageMaxBytes, MaxFiles: f.imageMaxFiles},
	}, nil
}

// agentBinaries finds bmcinit for each architecture: bmcinit-<arch> in dir
// (default: next to bmcctld), and a plain bmcinit for this host's arch; and
// kexec-<arch>, kexec-tools' static kexec that the agent's archive carries
// for kernels without kexec_file_load, where there is one.
func agentBinaries(dir string) (agents, kexecTools map[string]string, err error) {
	if dir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		dir = filepath.Dir(exe)
	}
	host := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	agents, kexecTools = map[string]string{}, map[string]string{}
	for _, arch := range []string{"x86_64", "aarch64"} {
		if p := filepath.Join(dir, "bmcinit-"+arch); fileExists(p) {
			agents[arch] = p
		}
	}
	if p := filepath.Join(dir, "bmcinit"); agents[host] == "" && fileExists(p) {
		agents[host] = p
	}
	if len(agents) == 0 {
		return nil, nil, fmt.Errorf("no node agent: put bmcinit-<arch> (or bmcinit) in %s or name --agent-dir", dir)
	}
	for arch := range agents {
		if p := filepath.Join(dir, "kexec-"+arch); fileExists(p) {
			kexecTools[arch] = p
		}
	}
	return agents, kexecTools, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
