// Package node owns the nodes file (TOML: one [[node]] per machine, with its BMC)
// and the controller's record of a machine: its state, the reason it is down or
// drained, and the job it holds.
package node

import (
	"net/netip"
	"time"
)

// Config is one machine as the admin describes it in the nodes file.
type Config struct {
	Name     string   `json:"name"`
	Arch     string   `json:"arch"` // "x86_64" or "aarch64"
	Kind     string   `json:"kind"` // machine kind for reports, e.g. "sim-small"; defaults to arch
	Features []string `json:"features,omitempty"`
	Cores    int      `json:"cores"`
	Memory   int64    `json:"memory"` // bytes
	MAC      string   `json:"mac,omitempty"`
	// Address is the node's IPv4 address on the provisioning network: bmcctld's
	// DHCP hands it to MAC, and the node's boot and agent calls are accepted
	// only from it. Zero for nodes that are not bound (simulated, user-mode lab).
	Address    netip.Addr `json:"address,omitzero"`
	Partitions []string   `json:"partitions,omitempty"` // empty = the default partition
	Boot       string     `json:"boot,omitempty"`       // "ipxe" (default) or "uefi-grub"
	// ExpectedBoot is how long power-on to agent-ready usually takes; backfill uses it.
	ExpectedBoot time.Duration `json:"expected_boot"`
	// MaxWatts is the most the machine draws: energy quotas reserve it for
	// a starting job until its kind has a history of billed power.
	MaxWatts float64 `json:"max_watts,omitempty"`
	// BootJoules and IdleWatts are what one boot of this machine costs and
	// what it draws on with nothing to do: the starting values of the
	// break-even idle time (bmcctld --idle-off breakeven) until the ledger
	// has measured boots of the machine's kind. IdleWatts is also the
	// floor of in-band (self-reported) bills: such a job pays at least
	// IdleWatts × its time (sim nodes: the simulator's idle watts). 0: not
	// given.
	BootJoules float64 `json:"boot_joules,omitempty"`
	IdleWatts  float64 `json:"idle_watts,omitempty"`
	BMC        BMC     `json:"bmc"`
	// SSHAddress is where the controller reaches the node's SSH server when
	// that is not the address the node reports (a lab port-forward), "host:port".
	SSHAddress string `json:"ssh_address,omitempty"`
	// Kexec lets the controller start the same user's next job with
	// another kernel by kexec from the running one instead of a power
	// cycle. Only where the node's kernel has kexec_file_load, or
	// kexec_load with the kexec-tools bmcctld carries in the agent's archive
	// (the agent refuses otherwise, and the controller then power-cycles).
	Kexec bool `json:"kexec,omitempty"`
}

// BMC says how to reach a machine's baseboard management controller.
// The password is never held here: only the file it is read from.
type BMC struct {
	Protocol     string `json:"protocol"` // ipmi, redfish, amt, rpc, wol, sim
	Address      string `json:"address,omitempty"`
	Port         int    `json:"port,omitempty"`
	User         string `json:"user,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	CipherSuite  string `json:"cipher_suite,omitempty"` // IPMI lanplus -C
	PowerSensor  string `json:"power_sensor,omitempty"` // SDR sensor name with watts
	Insecure     bool   `json:"insecure,omitempty"`     // Redfish: skip TLS verification
	// PowerMeter is MeterAuto (or empty) to read the protocol's meter, or
	// MeterNone to bill the node without its BMC's readings.
	PowerMeter string `json:"power_meter,omitempty"`
	// A BMC's power reading describes the past: the mean over PowerWindow,
	// published every PowerPeriod, visible PowerLag after its window ended.
	// The meter dates each reading by them (power/bmc); zero = now.
	PowerWindow time.Duration `json:"power_window,omitempty"`
	PowerPeriod time.Duration `json:"power_period,omitempty"`
	PowerLag    time.Duration `json:"power_lag,omitempty"`
	// Sim machines only: model values, not measurements.
	SimIdleWatts float64 `json:"sim_idle_watts,omitempty"`
	SimPeakWatts float64 `json:"sim_peak_watts,omitempty"`
}

// State is a machine's scheduling state as users see it.
type State string

const (
	Idle      State = "IDLE"      // powered off and free
	Allocated State = "ALLOCATED" // holds a job (powering on, booting, running, powering off)
	Down      State = "DOWN"      // the controller cannot use it; Reason says why
	// IdleOn is a machine left on after its job, free for the next one
	// until WarmUntil (bmcctld --idle-off); the reconciler then switches
	// it off, or earlier when no waiting job fits it.
	IdleOn State = "IDLE-ON"
)

// Warm is what a machine kept on after a job still runs: the next job of
// the same user may take it without firmware (a reset when kernel, initrd,
// command line and image are the same, a kexec when the node allows it).
type Warm struct {
	Job     uint64 `json:"job"` // the job that ended on it
	UID     uint32 `json:"uid"`
	Kernel  string `json:"kernel,omitempty"`
	Initrd  string `json:"initrd,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
	Image   string `json:"image"`
}

// Node is the controller's record of one machine.
type Node struct {
	Config
	State  State     `json:"state"`
	Reason string    `json:"reason,omitempty"` // why DOWN or drained
	Drain  bool      `json:"drain,omitempty"`  // admin asked: take no new jobs
	Job    uint64    `json:"job,omitempty"`
	Since  time.Time `json:"since"` // when State last changed
	// Fault says the controller put the node DOWN for a reason it checks
	// again by itself (the reconciler), and returns it to service once the
	// check passes. DOWN without a fault waits for an admin's resume.
	Fault Fault `json:"fault,omitempty"`
	// Warm is set while an IDLE-ON machine still runs its last job's system
	// with the agent session kept for a reuse (ctld/reuse.go); nil otherwise.
	Warm *Warm `json:"warm,omitempty"`
	// WarmUntil is when an IDLE-ON machine is switched off; WarmUser is
	// the user whose job it last ran: the only user whose job may run on
	// it without a power cycle (RAM survives a warm reboot).
	WarmUntil time.Time `json:"warm_until,omitzero"`
	WarmUser  string    `json:"warm_user,omitempty"`
}

// Fault is a DOWN reason the reconciler can see clear.
type Fault string

const (
	// FaultPowerOff: switching the machine off failed; the power-off is
	// retried with backoff until the BMC says off.
	FaultPowerOff Fault = "power-off"
	// FaultBMC: the BMC did not answer a power-state query; it is asked
	// again with backoff until it answers.
	FaultBMC Fault = "bmc"
)

// Event is one line in a node's history: what the controller observed of
// the machine or did to it, and why.
type Event struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // e.g. "power_off_retry"; see ctld's reconciler
	State  State     `json:"state,omitempty"`
	Job    uint64    `json:"job,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Available reports whether the scheduler may give n a new job now.
func (n *Node) Available() bool { return (n.State == Idle || n.State == IdleOn) && !n.Drain }

// Free reports whether n holds no job and is in service (IDLE or IDLE-ON).
func (n *Node) Free() bool { return n.State == Idle || n.State == IdleOn }

// DisplayState is the state bmcq shows: drain folds in like Slurm's DRAINING/DRAINED.
func (n *Node) DisplayState() string {
	if n.Drain {
		if n.State == Allocated {
			return "DRAINING"
		}
		if n.State == Idle || n.State == IdleOn {
			return "DRAINED"
		}
	}
	return string(n.State)
}
