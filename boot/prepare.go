package boot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot/cache"
	"github.com/bmc-sched/bmc/boot/image"
	"github.com/bmc-sched/bmc/boot/initramfs"
	"github.com/bmc-sched/bmc/internal/userfs"
)

// Request is one boot of one job on one machine.
type Request struct {
	JobID uint64
	Boot  uint64 // the job's boot counter: a retry is a new boot with new tokens
	Node  string
	MAC   string
	// Address is the node's address on the provisioning network: its
	// script, artifacts and agent calls are served to that address only.
	// Zero leaves the boot unbound (the user-mode lab, where every node
	// reaches the controller from the host's loopback).
	Address netip.Addr
	Arch    string // node.Config.Arch
	// Loader is node.Config.Boot: "" or "ipxe", or "uefi-grub".
	Loader string
	// From the job spec.
	Kernel  string // "" (cluster default), a catalog name, an absolute path under KernelDirs, or an http(s) URL
	Initrd  string // same forms; "" = the initrd that goes with Kernel
	Cmdline string
	Image   string
	// ImageDigest is what the image named at submit ("" = not pinned).
	ImageDigest string
	// Owner is the job's owner: job-named files and path images are read
	// with this identity, never the controller's.
	Owner userfs.Identity
	// AuthorizedKey is the controller's per-job SSH key (authorized_keys line).
	AuthorizedKey string
}

// Artifact is a file the boot serves.
type Artifact struct {
	Source string `json:"source"` // where it came from: path or URL ("" for the agent-only initrd)
	Size   int64  `json:"size"`
	Digest string `json:"digest"` // sha256:... of the bytes served
}

// RootfsInfo describes the flattened image.
type RootfsInfo struct {
	Image    string `json:"image"`    // the reference as resolved
	Platform string `json:"platform"` // e.g. linux/amd64
	Manifest string `json:"manifest"` // the verified manifest's digest (the cache key)
	Config   string `json:"config"`   // the image's config digest
	Size     int64  `json:"size"`
	Digest   string `json:"digest"` // sha256:... of the tar stream
}

// Boot is a prepared boot. Its fields do not change after Prepare.
type Boot struct {
	JobID uint64 `json:"job_id"`
	Boot  uint64 `json:"boot"`
	Node  string `json:"node"`
	MAC   string `json:"mac"` // lower case, colon separated
	// Address is Request.Address: where the boot's calls must come from.
	Address netip.Addr `json:"address,omitzero"`
	Arch    string     `json:"arch"`
	Loader  string     `json:"loader"`
	// KernelName is what accounting shows: the catalog name, "default", or
	// the path or URL the job gave.
	KernelName string     `json:"kernel_name"`
	Kernel     Artifact   `json:"kernel"`
	Initrd     Artifact   `json:"initrd"` // the served one, agent included
	Cmdline    string     `json:"cmdline"`
	Rootfs     RootfsInfo `json:"rootfs"`

	AuthorizedKey string `json:"-"`
	KernelToken   string `json:"-"`
	InitrdToken   string `json:"-"`
	AgentToken    string `json:"-"`

	Prepared time.Time `json:"prepared"`
	// Expires bounds the artifact tokens and the boot script; the agent token
	// slides past it while the agent calls in.
	Expires time.Time `json:"expires"`
}

// bootState is the server's mutable record of a Boot, guarded by Server.mu.
type bootState struct {
	b            *Boot
	kernelPath   string
	initrdPath   string
	rootfsPath   string
	leases       []*cache.Lease
	tokens       []tokenKey
	scriptServed bool
	binding      // what the node did that only it may do once
}

// kernelChoice is a resolved kernel selection before any file is touched.
type kernelChoice struct {
	name    string
	kernel  string // path or URL
	initrd  string // path or URL, "" = none
	cmdline string // the admin's part
	// jobKernel, jobInitrd: the job named the file or URL itself (read as
	// its owner, fetched only from allowed hosts), not the admin.
	jobKernel, jobInitrd bool
}

// Prepare resolves everything a boot needs, mints its tokens and makes it
// the machine's current boot (retiring an older one of the same MAC). It
// can take seconds when an image has to be flattened; call it before power-on.
func (s *Server) Prepare(ctx context.Context, req Request) (_ *Boot, err error) {
	start := s.clk.Now()
	mac, err := s.checkRequest(&req)
	if err != nil {
		return nil, err
	}
	kc, err := s.chooseKernel(req)
	if err != nil {
		return nil, err
	}
	st := &bootState{}
	defer func() {
		if err != nil {
			for _, l := range st.leases {
				l.Release()
			}
		}
	}()
	kernel, err := s.fetch(ctx, st, kc.kernel, kc.jobKernel, req.Owner)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", kc.name, err)
	}
	st.kernelPath = kernel.path
	initrd, err := s.assembleInitrd(ctx, st, kc, req)
	if err != nil {
		return nil, err
	}
	st.initrdPath = initrd.path
	rf, err := s.images.Rootfs(ctx, image.Request{Ref: req.Image, Arch: req.Arch, Owner: req.Owner, Digest: req.ImageDigest})
	if err != nil {
		return nil, imageError{err}
	}
	st.leases = append(st.leases, rf.Lease)
	st.rootfsPath = rf.Path

	now := s.clk.Now()
	b := &Boot{
		JobID: req.JobID, Boot: req.Boot, Node: req.Node, MAC: mac, Address: req.Address, Arch: req.Arch, Loader: req.Loader,
		KernelName: kc.name,
		Kernel:     kernel.Artifact,
		Initrd:     initrd.Artifact,
		Cmdline:    joinCmdline(kc.cmdline, req.Cmdline, "rdinit="+initramfs.AgentPath, proto.ParamURL+"="+s.url),
		Rootfs: RootfsInfo{
			Image: rf.Ref, Platform: rf.Platform, Manifest: rf.Manifest, Config: rf.Config, Size: rf.Size, Digest: rf.Digest,
		},
		AuthorizedKey: req.AuthorizedKey,
		KernelToken:   newToken(),
		InitrdToken:   newToken(),
		AgentToken:    newToken(),
		Prepared:      now,
		Expires:       now.Add(s.ttl),
	}
	st.b = b

	s.mu.Lock()
	if old := s.byMAC[mac]; old != nil {
		s.log.Info("boot replaced", "node", old.b.Node, "job", old.b.JobID, "boot", old.b.Boot)
		s.retireLocked(old)
	}
	for _, t := range []struct {
		tok  string
		kind tokenKind
	}{{b.KernelToken, kindKernel}, {b.InitrdToken, kindInitrd}, {b.AgentToken, kindAgent}} {
		k := keyOf(t.tok)
		s.tokens[k] = &token{key: k, kind: t.kind, boot: st, expires: b.Expires}
		st.tokens = append(st.tokens, k)
	}
	s.byMAC[mac] = st
	s.byJob[req.JobID] = append(s.byJob[req.JobID], st)
	s.mu.Unlock()

	s.log.Info("boot prepared", "job", b.JobID, "boot", b.Boot, "node", b.Node, "mac", mac,
		"kernel", b.KernelName, "image", b.Rootfs.Image, "rootfs_bytes", b.Rootfs.Size,
		"initrd_bytes", b.Initrd.Size, "took", s.clk.Now().Sub(start))
	return b, nil
}

// Finish ends every boot of a job: its tokens stop working at once and its
// cache entries may be evicted. Call it when the job reaches a final state
// (and before Prepare of a retry is not needed: Prepare retires the old boot).
func (s *Server) Finish(jobID uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.byJob[jobID] {
		s.retireLocked(st)
	}
	delete(s.byJob, jobID)
}

// retireLocked revokes a boot's tokens and releases its cache leases.
func (s *Server) retireLocked(st *bootState) {
	for _, k := range st.tokens {
		delete(s.tokens, k)
	}
	st.tokens = nil
	for _, l := range st.leases {
		l.Release()
	}
	st.leases = nil
	if s.byMAC[st.b.MAC] == st {
		delete(s.byMAC, st.b.MAC)
	}
}

func (s *Server) checkRequest(req *Request) (string, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, a...)...)
	}
	if !nodeName.MatchString(req.Node) {
		return "", bad("node name %q", req.Node)
	}
	hw, err := net.ParseMAC(req.MAC)
	if err != nil || len(hw) != 6 {
		return "", bad("node %s: MAC %q is not an Ethernet address", req.Node, req.MAC)
	}
	if _, err := image.Platform(req.Arch); err != nil {
		return "", bad("node %s: %v", req.Node, err)
	}
	switch req.Loader {
	case "":
		req.Loader = LoaderIPXE
	case LoaderIPXE, LoaderGRUB:
	default:
		return "", bad("node %s: boot loader %q (want %s or %s)", req.Node, req.Loader, LoaderIPXE, LoaderGRUB)
	}
	if strings.TrimSpace(req.Image) == "" {
		return "", bad("job %d names no image", req.JobID)
	}
	if strings.ContainsAny(req.AuthorizedKey, "\r\n") {
		return "", bad("authorized key must be one line")
	}
	if err := ValidateCmdline(req.Cmdline); err != nil {
		return "", err
	}
	return hw.String(), nil
}

// chooseKernel applies the naming rules; it touches no file.
func (s *Server) chooseKernel(req Request) (kernelChoice, error) {
	var kc kernelChoice
	switch k := req.Kernel; {
	case k == "" && s.cfg.ArchDefaults[req.Arch] != "":
		name := s.cfg.ArchDefaults[req.Arch]
		e, ok := s.Catalog().Lookup(name)
		if !ok {
			return kc, fmt.Errorf("%w: the default kernel for %s, %q, is not in the kernel catalog", ErrUnknownKernel, req.Arch, name)
		}
		if e.Arch != "" && e.Arch != req.Arch {
			return kc, fmt.Errorf("%w: the default kernel for %s, %s, is for %s", ErrArch, req.Arch, name, e.Arch)
		}
		kc = kernelChoice{name: e.Name, kernel: e.Kernel, initrd: e.Initrd, cmdline: e.Cmdline}
	case k == "":
		if s.cfg.DefaultKernel == "" {
			return kc, fmt.Errorf("%w: the job names no kernel and the cluster has no default", ErrUnknownKernel)
		}
		if s.cfg.DefaultArch != "" && s.cfg.DefaultArch != req.Arch {
			return kc, fmt.Errorf("%w: the default kernel is %s, node %s is %s: name a kernel from the catalog", ErrArch, s.cfg.DefaultArch, req.Node, req.Arch)
		}
		kc = kernelChoice{name: "default", kernel: s.cfg.DefaultKernel, initrd: s.cfg.DefaultInitrd, cmdline: s.cfg.DefaultCmdline}
	case isURL(k) || strings.HasPrefix(k, "/"):
		kc = kernelChoice{name: k, kernel: k, jobKernel: true}
	default:
		e, ok := s.Catalog().Lookup(k)
		if !ok {
			return kc, fmt.Errorf("%w: %q is not in the kernel catalog", ErrUnknownKernel, k)
		}
		if e.Arch != "" && e.Arch != req.Arch {
			return kc, fmt.Errorf("%w: kernel %s is for %s, node %s is %s", ErrArch, k, e.Arch, req.Node, req.Arch)
		}
		kc = kernelChoice{name: e.Name, kernel: e.Kernel, initrd: e.Initrd, cmdline: e.Cmdline}
	}
	switch i := req.Initrd; {
	case i == "":
	case isURL(i) || strings.HasPrefix(i, "/"):
		kc.initrd, kc.jobInitrd = i, true
	default:
		e, ok := s.Catalog().Lookup(i)
		if !ok || e.Initrd == "" {
			return kc, fmt.Errorf("%w: initrd %q: no catalog kernel of that name with an initrd", ErrUnknownKernel, i)
		}
		kc.initrd, kc.jobInitrd = e.Initrd, false
	}
	return kc, nil
}

type fetched struct {
	Artifact
	path string
}

// fetch makes src (a path or URL) a local file. An admin's file is read
// where it is; a job's file is copied into the cache as the job's owner
// (openJobFile); a URL is downloaded once into the cache.
func (s *Server) fetch(ctx context.Context, st *bootState, src string, job bool, owner userfs.Identity) (fetched, error) {
	if isURL(src) {
		l, err := s.download(ctx, src, !job)
		if err != nil {
			return fetched{}, err
		}
		st.leases = append(st.leases, l)
		return fetched{Artifact{Source: src, Size: l.Size, Digest: l.Digest}, l.Path}, nil
	}
	if job {
		return s.openJobFile(ctx, st, src, owner)
	}
	d, size, err := s.fileDigest(src)
	if err != nil {
		return fetched{}, err
	}
	return fetched{Artifact{Source: src, Size: size, Digest: d}, src}, nil
}

type fileID struct {
	path  string
	size  int64
	mtime time.Time
}

// fileDigest hashes a file once per (path, size, mtime): kernels and initrds
// are read on every Prepare otherwise.
func (s *Server) fileDigest(p string) (string, int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrUnknownKernel, err)
	}
	id := fileID{p, fi.Size(), fi.ModTime()}
	s.mu.Lock()
	d, ok := s.digests[id]
	s.mu.Unlock()
	if ok {
		return d, fi.Size(), nil
	}
	f, err := os.Open(p)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrUnknownKernel, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	d = "sha256:" + hex.EncodeToString(h.Sum(nil))
	s.mu.Lock()
	s.digests[id] = d
	s.mu.Unlock()
	return d, fi.Size(), nil
}

// assembleInitrd builds (or finds in the cache) the job's initrd with the
// agent appended, keyed by both inputs' digests.
func (s *Server) assembleInitrd(ctx context.Context, st *bootState, kc kernelChoice, req Request) (fetched, error) {
	src, arch := kc.initrd, req.Arch
	agentPath, ok := s.cfg.AgentBinaries[arch]
	if !ok {
		return fetched{}, fmt.Errorf("%w: %s", ErrNoAgent, arch)
	}
	agentDigest, agentSize, err := s.fileDigest(agentPath)
	if err != nil {
		return fetched{}, fmt.Errorf("%w: %s: %v", ErrNoAgent, arch, err)
	}
	base := "none"
	var in fetched
	if src != "" {
		in, err = s.fetch(ctx, st, src, kc.jobInitrd, req.Owner)
		if err != nil {
			return fetched{}, fmt.Errorf("initrd: %w", err)
		}
		base = strings.TrimPrefix(in.Digest, "sha256:")
	}
	key := "initrd/" + base + "-" + strings.TrimPrefix(agentDigest, "sha256:")
	toolPath, withTool := s.cfg.KexecTools[arch]
	var toolSize int64
	if withTool {
		var toolDigest string
		if toolDigest, toolSize, err = s.fileDigest(toolPath); err != nil {
			return fetched{}, fmt.Errorf("kexec-tools for %s: %w", arch, err)
		}
		key += "-" + strings.TrimPrefix(toolDigest, "sha256:")[:16]
	}
	key += "-" + initramfs.Format + ".img"
	l, err := s.cache.Get(ctx, key, func(ctx context.Context, w io.Writer) error {
		var r io.Reader = strings.NewReader("")
		if in.path != "" {
			f, err := os.Open(in.path)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		a, err := os.Open(agentPath)
		if err != nil {
			return err
		}
		defer a.Close()
		var extra []initramfs.File
		if withTool {
			k, err := os.Open(toolPath)
			if err != nil {
				return err
			}
			defer k.Close()
			extra = append(extra, initramfs.File{Path: initramfs.KexecPath, Size: toolSize, Data: k})
		}
		start := s.clk.Now()
		err = initramfs.Append(w, r, a, agentSize, extra...)
		s.log.Info("initrd assembled", "initrd", src, "arch", arch, "took", s.clk.Now().Sub(start))
		return err
	})
	if err != nil {
		return fetched{}, fmt.Errorf("initrd: %w", err)
	}
	st.leases = append(st.leases, l)
	return fetched{Artifact{Source: src, Size: l.Size, Digest: l.Digest}, l.Path}, nil
}

// Progress says how far a prepared boot got on the server's side: whether the
// node fetched its boot script and its kernel. The controller uses it to
// blame a boot that never came up on the node (no script fetched: the
// machine did not start or did not network-boot) or on the job's kernel.
type Progress struct {
	ScriptServed bool
	KernelServed bool
}

// BootProgress reports Progress for one boot of a job; ok is false when the
// server knows no such boot.
func (s *Server) BootProgress(jobID, boot uint64) (p Progress, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.byJob[jobID] {
		if st.b.Boot != boot {
			continue
		}
		p.ScriptServed = st.scriptServed
		for _, k := range st.tokens {
			if t := s.tokens[k]; t != nil && t.kind == kindKernel && t.used {
				p.KernelServed = true
			}
		}
		return p, true
	}
	return p, false
}
