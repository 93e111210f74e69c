package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// JobInitName is argv[0] under which bmcinit (or a test binary) runs
// JobInitMain instead of its usual main: the first process of a job's own
// PID and mount namespaces.
//
// Why a namespace per job: a process group or session is something a job
// can leave (setsid, a double fork re-parented to PID 1), so "the job left
// nothing running" could not be checked. A PID namespace cannot be left:
// when its first process exits the kernel kills every other process in it
// and reaps them before that exit completes. So a job ends exactly when its
// job init ends, and a machine reused for the next job provably starts
// without the previous job's processes.
const JobInitName = "bmc-jobinit"

// jobSpec is what the agent hands its job init on fd 3.
type jobSpec struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
	// Root, when set, is chrooted into; a fresh /proc for the namespace is
	// mounted at Root/proc first, and Cmdline (a file) bind-mounted over
	// its cmdline so the job does not read the boot's agent token.
	Root    string   `json:"root,omitempty"`
	Cmdline string   `json:"cmdline,omitempty"`
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`
	Groups  []uint32 `json:"groups,omitempty"`
	SetCred bool     `json:"set_cred,omitempty"`
}

// specFD is the descriptor the spec arrives on (ExtraFiles[0]).
const specFD = 3

// JobInitMain runs as the first process of a job's namespaces: it mounts
// the namespace's /proc in the image, starts the command, reaps every
// orphan the command leaves, and exits with the command's status (128+N if
// a signal N killed it) as soon as the command itself ends — which makes the
// kernel kill whatever else is left in the namespace.
//
// The signals bmc-signal sends reach this process too (the agent signals
// the job's process group, which the command shares); a namespace's first
// process ignores signals it has no handler for, and this one catches them
// only to stay alive so the command decides how to end.
func JobInitMain() int {
	f := os.NewFile(specFD, "jobspec")
	var spec jobSpec
	err := json.NewDecoder(io.LimitReader(f, maxRunRequest)).Decode(&spec)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bmc-jobinit: read job spec: %v\n", err)
		return 126
	}
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	if err := mountJobProc(spec); err != nil {
		fmt.Fprintf(os.Stderr, "bmc-jobinit: %v\n", err)
		return 126
	}
	attr := &syscall.SysProcAttr{Chroot: spec.Root}
	if spec.SetCred {
		attr.Credential = &syscall.Credential{Uid: spec.UID, Gid: spec.GID, Groups: spec.Groups}
	}
	p, err := os.StartProcess(spec.Path, spec.Args, &os.ProcAttr{
		Dir:   spec.Dir,
		Env:   spec.Env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   attr,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bmc-jobinit: start %s: %v\n", spec.Path, err)
		if errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	os.Stdin.Close()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			// ECHILD: nothing left, which cannot happen before the command
			// was reaped; end the namespace either way.
			return 125
		}
		if pid != p.Pid {
			continue // an orphan of the job's, re-parented here
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

// mountJobProc gives the namespace its own /proc inside the image, so the
// job sees its own processes only. The mount namespace is private first:
// nothing mounted here reaches the agent's view, and it all goes away with
// the namespace.
func mountJobProc(spec jobSpec) error {
	if spec.Root == "" {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	proc := filepath.Join(spec.Root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return fmt.Errorf("mkdir /proc in the image: %w", err)
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount the job's /proc: %w", err)
	}
	if spec.Cmdline != "" {
		if err := unix.Mount(spec.Cmdline, filepath.Join(proc, "cmdline"), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("hide the boot token from the job: %w", err)
		}
	}
	return nil
}
