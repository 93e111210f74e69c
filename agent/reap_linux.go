package agent

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reap collects every exited child that os/exec is not waiting for (orphans
// re-parented to PID 1) and returns how many. It peeks with WNOWAIT first;
// when the next zombie is one of ours it stops, leaving it to Wait, and a
// later call collects the rest.
func (r *Reaper) Reap() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
			return n
		}
		pid := siginfoPid(&info)
		if pid == 0 || r.ours[pid] {
			return n
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			return n
		}
		n++
	}
}

// siginfoPid reads si_pid, the first field of the union that follows
// si_signo, si_errno and si_code (aligned to a pointer on 64-bit ABIs).
func siginfoPid(info *unix.Siginfo) int {
	off := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), off)))
}
