// Package boot owns everything the controller serves to a booting machine:
// the iPXE (and GRUB) boot scripts, the one-time kernel and initrd URLs, the
// initrd with the node agent appended, the job image flattened to a root
// file system tar, and the node agent's authenticated callbacks.
//
// The controller calls Server.Prepare before powering a machine on, and
// Server.Finish when the job reaches a final state (Finish releases the cache
// entries the boot holds; a boot never finished keeps them). The node side
// then goes:
//
//	GET /boot.ipxe                   static, chains to /ipxe/${mac:hexhyp}
//	GET /ipxe/{mac}                  the boot's script, served once; a "no job" script otherwise
//	GET /grub.cfg-{mac}              the same for UEFI HTTP Boot + GRUB machines
//	GET /a/{token}/vmlinuz           single-use artifact tokens
//	GET /a/{token}/initrd.img
//	GET /agent/config                Authorization: Bearer <agent token> → proto.Config
//	GET /agent/rootfs                the image tar (Range requests work)
//	POST /agent/progress|ready|heartbeat
//
// Tokens are 32 random bytes in base64url, kept in memory only: a restarted
// controller Prepares again and the old tokens are simply unknown. Artifact
// tokens expire TokenTTL after Prepare and are spent when a transfer starts;
// the agent token expires TokenTTL after its last use (heartbeats keep it
// alive) or at Finish. Logs name a token by a fingerprint, never its value.
//
// A boot whose Request names the node's Address is bound to it (binding.go):
// its script, artifacts and agent calls are served only to that address, the
// script once, and the first Ready pins the agent. A foreign or second fetch
// of the script, a token from another address or a second Ready aborts the
// boot (every token revoked) and tells the controller (ConflictHandler).
//
// Kernel command line: the admin's part (catalog entry or default) then the
// job's, both checked by ValidateCmdline, then rdinit=/bmcinit and the bmc.*
// parameters, which no one else may set. No console= is added: the serial
// console is a property of the hardware, so it belongs in the catalog entry
// or DefaultCmdline (the virtual lab's default has console=ttyS0,115200).
package boot
