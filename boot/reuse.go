package boot

import "github.com/bmc-sched/bmc/agent/proto"

// The controller's side of reusing a running machine: Prepare the next
// job's boot on the same node as for a power cycle (new tokens, the old
// boot of that MAC retired), then, instead of power cycling, send the node's
// agent one of these over the old job's SSH connection (agent.Client.Reset
// or agent.Client.Kexec). No boot script is served for such a boot, so
// BootProgress never shows ScriptServed; a kexec still shows KernelServed.

// ResetRequest is proto.ExecReset's request for b: same kernel, a new
// root for b's job. The agent fetches b's Config and rootfs with the token.
func (s *Server) ResetRequest(b *Boot) proto.ResetRequest {
	return proto.ResetRequest{JobID: b.JobID, Boot: b.Boot, Token: b.AgentToken}
}

// KexecRequest is proto.ExecKexec's request for b: its single-use kernel
// and initrd URLs with their sizes and digests, the command line a network
// boot of b would get (without the token), and b's agent token.
func (s *Server) KexecRequest(b *Boot) proto.KexecRequest {
	return proto.KexecRequest{
		JobID:        b.JobID,
		Boot:         b.Boot,
		KernelURL:    s.url + "/a/" + b.KernelToken + "/vmlinuz",
		KernelSize:   b.Kernel.Size,
		KernelDigest: b.Kernel.Digest,
		InitrdURL:    s.url + "/a/" + b.InitrdToken + "/initrd.img",
		InitrdSize:   b.Initrd.Size,
		InitrdDigest: b.Initrd.Digest,
		Cmdline:      b.Cmdline,
		Token:        b.AgentToken,
	}
}
