package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bmc-sched/bmc/agent/proto"
	"github.com/bmc-sched/bmc/boot/cache"
	"github.com/bmc-sched/bmc/boot/image"
	"github.com/bmc-sched/bmc/internal/clock"
)

// Defaults for zero Config fields.
const (
	DefaultTokenTTL         = 10 * time.Minute
	DefaultHeartbeat        = 10 * time.Second
	DefaultMaxDownloadBytes = 1 << 30
	DefaultSSHPort          = 22
	maxCallbackBody         = 64 << 10
)

// Callbacks is what the controller learns from the node agent. Calls come
// from HTTP handlers: return quickly.
type Callbacks interface {
	Progress(b *Boot, p proto.Progress)
	Ready(b *Boot, r proto.Ready)
	Heartbeat(b *Boot, h proto.Heartbeat)
}

// Config sets up a Server.
type Config struct {
	// NodeURL is the listener's address as nodes reach it, e.g. http://10.0.2.2:8150.
	NodeURL string
	// The cluster default kernel, used when a job names none.
	DefaultKernel  string // path or URL
	DefaultInitrd  string // path or URL; "" = agent-only initramfs
	DefaultCmdline string // e.g. "console=ttyS0,115200"
	DefaultArch    string // the default kernel's architecture; "" = any
	// ArchDefaults names, per node architecture, the catalog kernel a job
	// that names none gets on a node of that architecture (one cluster
	// default cannot boot two). Architectures not listed use DefaultKernel.
	ArchDefaults map[string]string
	// GrubEFI is the GRUB EFI image served at GRUBEFIPath, the first hop of
	// machines that boot through UEFI HTTP Boot; "" = not served.
	GrubEFI string
	// KernelDirs are the directories under which a job may name kernel and
	// initrd files by path.
	KernelDirs []string
	Catalog    Catalog
	// AgentBinaries maps a node arch ("x86_64", "aarch64") to its bmcinit.
	AgentBinaries map[string]string
	// KexecTools maps a node arch to kexec-tools' static kexec, carried in
	// the agent's archive as initramfs.KexecPath for kernels without
	// kexec_file_load (Debian's arm64); optional.
	KexecTools       map[string]string
	CacheDir         string
	CacheMaxBytes    int64 // <= 0: no limit
	MaxDownloadBytes int64 // per kernel/initrd URL; 0 = DefaultMaxDownloadBytes
	TokenTTL         time.Duration
	// HeartbeatInterval and SSHPort go to the agent in proto.Config.
	HeartbeatInterval time.Duration
	SSHPort           int
	Clock             clock.Clock
	Callbacks         Callbacks
	// Neighbour, if set, binds bound boots to the node's MAC as well as its
	// address (nodes on the controller's own link: bmcctld --dhcp-interface).
	Neighbour       NeighbourFunc
	Logger          *slog.Logger
	HTTPClient      *http.Client    // kernel/initrd downloads
	RegistryOptions []remote.Option // image pulls (auth)
	// Sources is what jobs may make the server read or fetch (sources.go).
	Sources SourcePolicy
}

// Server serves booting nodes. It is an http.Handler for the node listener.
type Server struct {
	cfg         Config
	url         string
	grubRoot    string
	clk         clock.Clock
	log         *slog.Logger
	ttl         time.Duration
	maxDownload int64
	client      *http.Client
	cache       *cache.Cache
	images      *image.Resolver
	kernelDirs  []string
	mux         *http.ServeMux

	mu         sync.Mutex
	catalog    Catalog
	adminFiles map[string]bool // default and catalog files: admitted outside KernelDirs
	tokens     map[tokenKey]*token
	byMAC      map[string]*bootState
	byJob      map[uint64][]*bootState
	digests    map[fileID]string

	conns conns
}

// New checks cfg and opens the cache.
func New(cfg Config) (*Server, error) {
	s := &Server{
		cfg: cfg, clk: cfg.Clock, log: cfg.Logger, ttl: cfg.TokenTTL, maxDownload: cfg.MaxDownloadBytes, client: cfg.HTTPClient,
		tokens: map[tokenKey]*token{}, byMAC: map[string]*bootState{}, byJob: map[uint64][]*bootState{}, digests: map[fileID]string{},
	}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "boot")
	if s.ttl <= 0 {
		s.ttl = DefaultTokenTTL
	}
	if s.maxDownload <= 0 {
		s.maxDownload = DefaultMaxDownloadBytes
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Minute}
	}
	if s.cfg.HeartbeatInterval <= 0 {
		s.cfg.HeartbeatInterval = DefaultHeartbeat
	}
	if s.cfg.SSHPort <= 0 {
		s.cfg.SSHPort = DefaultSSHPort
	}
	var err error
	if s.url, s.grubRoot, err = checkNodeURL(cfg.NodeURL); err != nil {
		return nil, err
	}
	if err := ValidateCmdline(cfg.DefaultCmdline); err != nil {
		return nil, fmt.Errorf("boot: default cmdline: %w", err)
	}
	for _, d := range cfg.KernelDirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			return nil, fmt.Errorf("boot: kernel directory: %w", err)
		}
		real, _ = filepath.Abs(real)
		s.kernelDirs = append(s.kernelDirs, real)
	}
	s.SetCatalog(cfg.Catalog)
	for arch, name := range cfg.ArchDefaults {
		if _, err := image.Platform(arch); err != nil {
			return nil, fmt.Errorf("boot: default kernel for %s: %w", arch, err)
		}
		if !kernelName.MatchString(name) {
			return nil, fmt.Errorf("boot: default kernel for %s: %q is not a catalog name", arch, name)
		}
	}
	if cfg.GrubEFI != "" {
		if fi, err := os.Stat(cfg.GrubEFI); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("boot: GRUB EFI image %s is not a file", cfg.GrubEFI)
		}
	}
	for arch, p := range cfg.AgentBinaries {
		if _, err := image.Platform(arch); err != nil {
			return nil, fmt.Errorf("boot: agent binary: %w", err)
		}
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("boot: agent binary for %s: %s is not a file", arch, p)
		}
	}
	for arch, p := range cfg.KexecTools {
		if _, ok := cfg.AgentBinaries[arch]; !ok {
			return nil, fmt.Errorf("boot: kexec-tools for %s, which has no agent binary", arch)
		}
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("boot: kexec-tools for %s: %s is not a file", arch, p)
		}
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("boot: no cache directory")
	}
	if s.cache, err = cache.Open(cfg.CacheDir, cfg.CacheMaxBytes, s.clk, s.log); err != nil {
		return nil, err
	}
	if s.images, err = s.newResolver(); err != nil {
		return nil, err
	}
	s.mux = s.routes()
	return s, nil
}

// SetCatalog replaces the kernel catalog (the controller reloads the file).
// Prepared boots keep the files they resolved.
func (s *Server) SetCatalog(c Catalog) {
	admin := map[string]bool{}
	for _, p := range []string{s.cfg.DefaultKernel, s.cfg.DefaultInitrd} {
		if p != "" && !isURL(p) {
			admin[p] = true
		}
	}
	for _, k := range c.List() {
		for _, p := range []string{k.Kernel, k.Initrd} {
			if p != "" && !isURL(p) {
				admin[p] = true
			}
		}
	}
	s.mu.Lock()
	s.catalog, s.adminFiles = c, admin
	s.mu.Unlock()
}

// Catalog returns the kernel catalog in use (for bmcq kernels).
func (s *Server) Catalog() Catalog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catalog
}

// Cache exposes the artifact cache (tests and metrics).
func (s *Server) Cache() *cache.Cache { return s.cache }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /boot.ipxe", s.serveChain)
	if s.cfg.GrubEFI != "" {
		m.HandleFunc("GET "+GRUBEFIPath, s.serveGrubEFI)
	}
	m.HandleFunc("GET /ipxe/{mac}", s.serveIPXE)
	m.HandleFunc("GET /a/{token}/{file}", s.serveArtifact)
	m.HandleFunc("GET "+proto.PathConfig, s.agent(s.serveConfig))
	m.HandleFunc("GET /agent/rootfs", s.agent(s.serveRootfs))
	m.HandleFunc("POST "+proto.PathProgress, s.agent(callback(s, func(b *Boot, p proto.Progress) { s.cfg.Callbacks.Progress(b, p) })))
	m.HandleFunc("POST "+proto.PathReady, s.agent(s.serveReady))
	m.HandleFunc("POST "+proto.PathHeartbeat, s.agent(callback(s, func(b *Boot, p proto.Heartbeat) { s.cfg.Callbacks.Heartbeat(b, p) })))
	m.HandleFunc("/", s.serveOther)
	return m
}

// refuse answers 403/404 with a short reason and logs it. route is the
// pattern, never the request path, which may hold a token.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, route, reason string, attrs ...any) {
	s.log.Warn("refused", append([]any{"route", route, "reason", reason, "remote", r.RemoteAddr, "status", code}, attrs...)...)
	http.Error(w, http.StatusText(code)+": "+reason, code)
}

func writeScript(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// lookup finds a live token of kind want. It returns the refusal reason
// instead when there is none.
func (s *Server) lookupLocked(tok string, want tokenKind, now time.Time) (*token, string) {
	if tok == "" {
		return nil, "no token"
	}
	t, ok := s.tokens[keyOf(tok)]
	switch {
	case !ok || !t.matches(tok):
		return nil, "unknown or revoked token"
	case t.kind != want:
		return nil, "token is for the " + t.kind.String() + ", not the " + want.String()
	case !now.Before(t.expires):
		return nil, "token expired"
	case t.used:
		return nil, "token already used"
	}
	return t, ""
}

// lookupBoundLocked is lookupLocked for a request that must come from
// the token's node: a token presented from another address aborts that
// boot (stolen, for the caller to report as a conflict once the lock is
// gone); one from the node's address before its MAC resolves is refused
// with 503, so the node retries and nothing is spent.
func (s *Server) lookupBoundLocked(tok string, want tokenKind, r *http.Request, now time.Time) (t *token, reason string, status int, stolen *bootState) {
	t, reason = s.lookupLocked(tok, want, now)
	if t == nil {
		return nil, reason, http.StatusForbidden, nil
	}
	switch s.fromNode(t.boot, r) {
	case fromElsewhere:
		if s.abortLocked(t.boot) {
			stolen = t.boot
		}
		return nil, "token presented from another address", http.StatusForbidden, stolen
	case fromUnresolved:
		return nil, unresolvedReason, http.StatusServiceUnavailable, nil
	}
	return t, "", http.StatusOK, nil
}

func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request) {
	const route = "/a/{token}/{file}"
	tok := r.PathValue("token")
	fp := fingerprint(tok)
	var want tokenKind
	switch r.PathValue("file") {
	case "vmlinuz":
		want = kindKernel
	case "initrd.img":
		want = kindInitrd
	default:
		s.refuse(w, r, http.StatusNotFound, route, "no such artifact", "token", fp)
		return
	}
	if r.Method != http.MethodGet {
		// A HEAD would spend a single-use token without a transfer.
		s.refuse(w, r, http.StatusForbidden, route, "GET only", "token", fp)
		return
	}
	s.mu.Lock()
	t, reason, status, stolen := s.lookupBoundLocked(tok, want, r, s.clk.Now())
	var b *Boot
	var path string
	if t != nil {
		t.used = true // spent as the transfer starts: a copy of the URL is worth nothing
		b = t.boot.b
		path = t.boot.kernelPath
		if want == kindInitrd {
			path = t.boot.initrdPath
		}
	}
	s.mu.Unlock()
	if stolen != nil {
		s.conflict(stolen, r, ConflictTokenForeign, route)
	}
	if t == nil {
		s.refuse(w, r, status, route, reason, "token", fp, "file", want.String())
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.log.Error("artifact unreadable", "job", b.JobID, "file", want.String(), "err", err)
		http.Error(w, "artifact unreadable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	s.log.Info("artifact served", "job", b.JobID, "boot", b.Boot, "node", b.Node, "file", want.String(), "token", fp, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, f)
}

// agent wraps a handler that needs the boot's agent token. Each use moves
// the token's expiry TokenTTL ahead, so a running job's heartbeats keep it.
func (s *Server) agent(h func(http.ResponseWriter, *http.Request, *bootState)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		route := r.Pattern
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			s.refuse(w, r, http.StatusForbidden, route, "no bearer token")
			return
		}
		now := s.clk.Now()
		s.mu.Lock()
		t, reason, status, stolen := s.lookupBoundLocked(tok, kindAgent, r, now)
		var st *bootState
		if t != nil {
			t.expires = now.Add(s.ttl)
			st = t.boot
		}
		s.mu.Unlock()
		if stolen != nil {
			s.conflict(stolen, r, ConflictTokenForeign, route)
		}
		if t == nil {
			s.refuse(w, r, status, route, reason, "token", fingerprint(tok))
			return
		}
		h(w, r, st)
	}
}

func (s *Server) serveConfig(w http.ResponseWriter, r *http.Request, st *bootState) {
	b := st.b
	writeJSON(w, proto.Config{
		JobID:            b.JobID,
		Node:             b.Node,
		Hostname:         b.Node,
		AuthorizedKey:    b.AuthorizedKey,
		RootfsURL:        s.url + "/agent/rootfs",
		RootfsSize:       b.Rootfs.Size,
		RootfsDigest:     b.Rootfs.Digest,
		HeartbeatSeconds: int(s.cfg.HeartbeatInterval / time.Second),
		SSHPort:          s.cfg.SSHPort,
	})
}

func (s *Server) serveRootfs(w http.ResponseWriter, r *http.Request, st *bootState) {
	b := st.b
	f, err := os.Open(st.rootfsPath)
	if err != nil {
		s.log.Error("rootfs unreadable", "job", b.JobID, "err", err)
		http.Error(w, "rootfs unreadable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	s.log.Info("rootfs served", "job", b.JobID, "boot", b.Boot, "node", b.Node, "range", r.Header.Get("Range"), "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/x-tar")
	// The digest as ETag lets a resumed download use If-Range safely.
	w.Header().Set("ETag", `"`+b.Rootfs.Digest+`"`)
	http.ServeContent(w, r, "", time.Time{}, f)
}

func callback[T any](s *Server, call func(*Boot, T)) func(http.ResponseWriter, *http.Request, *bootState) {
	return func(w http.ResponseWriter, r *http.Request, st *bootState) {
		var v T
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCallbackBody))
		if err := dec.Decode(&v); err != nil {
			s.refuse(w, r, http.StatusBadRequest, r.Pattern, "bad JSON body", "job", st.b.JobID)
			return
		}
		if s.cfg.Callbacks != nil {
			call(st.b, v)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
