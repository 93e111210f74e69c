package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bmc-sched/bmc/agent/proto"
)

// ErrBadRequest means a RunRequest cannot be started as given.
var ErrBadRequest = errors.New("agent: bad run request")

// outputGrace is how long output from processes the command left behind is
// still collected after the command itself exited.
const outputGrace = 2 * time.Second

// DefaultPath is the PATH a job gets unless its environment sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Runner starts a job's command. The real one chroots into the image; tests
// run commands in a temporary directory as the test user.
type Runner interface {
	Start(req proto.RunRequest, stdout, stderr io.Writer) (Process, error)
}

// Process is a started command.
type Process interface {
	// Wait returns the exit code; a command killed by signal N gives 128+N,
	// as a shell reports it.
	Wait() (int, error)
	// Signal signals the command and everything it started.
	Signal(syscall.Signal) error
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct {
	// Root is the image root. With Chroot the command runs chrooted into it
	// and users come from Root/etc/passwd; without, Root is only the default
	// working directory and the command runs as the agent's own user.
	Root   string
	Chroot bool
	// Reaper, when set, is told about the children so PID 1's zombie reaper
	// leaves them to Wait.
	Reaper *Reaper
	// JobInit, when set, is a binary that runs JobInitMain when started as
	// JobInitName (bmcinit itself): each job then runs under it in new PID
	// and mount namespaces, and ends with everything it started.
	JobInit string
	// Cmdline is a file the job sees as /proc/cmdline (JobInit with Chroot).
	Cmdline string
}

// Start implements Runner.
func (r ExecRunner) Start(req proto.RunRequest, stdout, stderr io.Writer) (Process, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, fmt.Errorf("%w: empty argv", ErrBadRequest)
	}
	argv := req.Argv
	if req.Shell {
		// Further elements become $1...; "sh" fills $0 as sh -c expects.
		argv = append([]string{"/bin/sh", "-c", req.Argv[0], "sh"}, req.Argv[1:]...)
	}
	user := User{Name: "root", Home: "/root"}
	var attr syscall.SysProcAttr
	attr.Setsid = true // the job's process group outlives no session of ours and can be killed whole
	var cred *syscall.Credential
	dir := req.Dir
	if r.Chroot {
		f, err := os.Open(filepath.Join(r.Root, "etc", "passwd"))
		var rd io.Reader = strings.NewReader("")
		if err == nil {
			defer f.Close()
			rd = f
		}
		user, err = LookupUser(rd, req.User)
		if err != nil {
			return nil, err
		}
		// Groups: only the primary one; the agent's own must not leak in.
		cred = &syscall.Credential{Uid: user.UID, Gid: user.GID, Groups: []uint32{user.GID}}
		if dir == "" {
			dir = user.Home
			if !isDirIn(r.Root, dir) {
				dir = "/"
			}
		}
		// chroot(2) keeps the old working directory: always chdir to an
		// absolute path inside the image so none points outside it.
		dir = path.Join("/", dir)
	} else {
		if req.User != "" {
			return nil, fmt.Errorf("%w: user %q needs the chroot runner", ErrBadRequest, req.User)
		}
		user.Name, user.Home = os.Getenv("USER"), os.Getenv("HOME")
		if dir == "" {
			dir = r.Root
		} else if !filepath.IsAbs(dir) {
			dir = filepath.Join(r.Root, dir)
		}
	}
	env := jobEnv(req.Env, user)
	prog, err := r.lookPath(argv[0], envPath(env))
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        prog,
		Args:        argv,
		Env:         env,
		Dir:         dir,
		Stdout:      stdout,
		Stderr:      stderr,
		SysProcAttr: &attr,
		// A background child that inherited stdout would keep Wait from
		// returning after the job's own process ended.
		WaitDelay: outputGrace,
	}
	if r.JobInit != "" {
		spec := jobSpec{Path: prog, Args: argv, Env: env, Dir: dir}
		if r.Chroot {
			spec.Root, spec.Cmdline = r.Root, r.Cmdline
		}
		if cred != nil {
			spec.UID, spec.GID, spec.Groups, spec.SetCred = cred.Uid, cred.Gid, cred.Groups, true
		}
		return r.startInit(cmd, spec)
	}
	if r.Chroot {
		attr.Chroot = r.Root
		attr.Credential = cred
	}
	if err := r.Reaper.start(cmd); err != nil {
		return nil, fmt.Errorf("agent: start %q: %w", argv[0], err)
	}
	return &execProcess{cmd: cmd, reaper: r.Reaper}, nil
}

// startInit starts the job under its job init in new PID and mount
// namespaces; cmd's stdout, stderr and process group carry over.
func (r ExecRunner) startInit(cmd *exec.Cmd, spec jobSpec) (Process, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("agent: encode job spec: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("agent: job spec pipe: %w", err)
	}
	defer pr.Close()
	cmd.Path, cmd.Args, cmd.Env, cmd.Dir = r.JobInit, []string{JobInitName}, []string{}, "/"
	cmd.ExtraFiles = []*os.File{pr}
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	if err := r.Reaper.start(cmd); err != nil {
		pw.Close()
		return nil, fmt.Errorf("agent: start job init for %q: %w", spec.Args[0], err)
	}
	// The pipe holds 64 KiB; a larger environment is written while the
	// job init reads.
	go func() {
		_, _ = pw.Write(body)
		pw.Close()
	}()
	return &execProcess{cmd: cmd, reaper: r.Reaper, init: true}, nil
}

func envPath(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}
	return DefaultPath
}

// jobEnv builds a sorted environment: defaults first, the request wins.
func jobEnv(reqEnv map[string]string, u User) []string {
	m := map[string]string{"PATH": DefaultPath, "HOME": u.Home, "USER": u.Name, "LOGNAME": u.Name}
	for k, v := range reqEnv {
		m[k] = v
	}
	env := make([]string, 0, len(m))
	for k, v := range m {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			continue
		}
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// lookPath finds prog on PATH; in chroot mode the search happens inside the
// image and the returned path is the one the chrooted child will exec.
func (r ExecRunner) lookPath(prog, pathList string) (string, error) {
	if !r.Chroot {
		if strings.Contains(prog, "/") {
			return prog, nil
		}
		// exec.LookPath reads the agent's PATH; the job's may differ.
		for _, d := range filepath.SplitList(pathList) {
			if d == "" {
				continue
			}
			p := filepath.Join(d, prog)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
		return "", fmt.Errorf("%w: %q not found in PATH", exec.ErrNotFound, prog)
	}
	if strings.Contains(prog, "/") {
		return prog, nil // relative to the job's directory or absolute inside the image
	}
	for _, d := range filepath.SplitList(pathList) {
		if !path.IsAbs(d) {
			continue
		}
		p := path.Join(d, prog)
		// Lstat: a symlink inside the image points into the image, not at
		// the agent's files; exec inside the chroot resolves it.
		if fi, err := os.Lstat(filepath.Join(r.Root, p)); err == nil && (fi.Mode()&os.ModeSymlink != 0 || (fi.Mode().IsRegular() && fi.Mode()&0o111 != 0)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %q not found in the image's PATH", exec.ErrNotFound, prog)
}

func isDirIn(root, dir string) bool {
	fi, err := os.Lstat(filepath.Join(root, dir))
	return err == nil && fi.IsDir()
}

type execProcess struct {
	cmd    *exec.Cmd
	reaper *Reaper
	init   bool // cmd is the job init of the job's PID namespace
}

// Signal reaches the whole process group: Setsid made the command (or its
// job init, whose group the command shares) its leader. SIGKILL also goes
// to the job init itself, which ends its whole namespace even if the
// command moved to a group of its own.
func (p *execProcess) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("agent: signal %v: %w", sig, err)
	}
	if sig == syscall.SIGKILL && p.init {
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("agent: kill job init: %w", err)
		}
	}
	return nil
}

// Wait returns when the command exited; like a batch system it then kills
// what the command left running in its process group, so the job's end is
// the command's end.
func (p *execProcess) Wait() (int, error) {
	err := p.cmd.Wait()
	p.reaper.done(p.cmd)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		return -1, fmt.Errorf("agent: wait: %w", err)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

// Reaper collects zombies for PID 1 without stealing the exit status of the
// children os/exec waits for. A nil *Reaper does nothing.
type Reaper struct {
	mu   sync.Mutex
	ours map[int]bool
}

// NewReaper returns a reaper with no tracked children.
func NewReaper() *Reaper { return &Reaper{ours: make(map[int]bool)} }

func (r *Reaper) start(cmd *exec.Cmd) error {
	if r == nil {
		return cmd.Start()
	}
	// Held across Start so Reap cannot collect the child before it is known.
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.ours[cmd.Process.Pid] = true
	return nil
}

// Run starts cmd, waits for it and returns Wait's error, with the child
// known to the reaper for its whole life so its exit status is Wait's.
func (r *Reaper) Run(cmd *exec.Cmd) error {
	if err := r.start(cmd); err != nil {
		return err
	}
	defer r.done(cmd)
	return cmd.Wait()
}

func (r *Reaper) done(cmd *exec.Cmd) {
	if r == nil || cmd.Process == nil {
		return
	}
	r.mu.Lock()
	delete(r.ours, cmd.Process.Pid)
	r.mu.Unlock()
}
