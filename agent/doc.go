// Package agent owns both ends of the node-agent protocol: the pieces bmcinit
// runs on a booted node (boot parameters, the controller callbacks, safe rootfs
// extraction, the SSH server that runs the job's command inside the image root
// in a PID namespace of its own, and hands the machine to the next job with
// bmc-reset or bmc-kexec) and the controller's SSH client that drives it (Dial,
// Run, Attach, Signal, PowerOff, Reset, Kexec, per-job keys). docs/agent.md
// describes the protocol.
//
// Everything here must stay importable by a static, CGO-free bmcinit: no
// controller packages, only the standard library, golang.org/x/crypto/ssh and
// golang.org/x/sys/unix. The PID 1 boot sequence (mounts, modules, network)
// lives in agent/pid1 so the controller does not link the DHCP and netlink
// libraries.
package agent
