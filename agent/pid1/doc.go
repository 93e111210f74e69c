// Package pid1 owns bmcinit's life as the node's init process: the mounts,
// kernel modules, network (DHCP + netlink), the rootfs download into a tmpfs,
// the SSH server start, the Ready and heartbeat callbacks, zombie reaping,
// powering off when anything before Ready fails, and the node's side of a
// reset (a new root and token) and of a kexec (kexec_file_load, or kexec-tools' kexec_load, and the jump).
// The protocol pieces it runs live in package agent so they are tested
// without a machine to boot.
package pid1
