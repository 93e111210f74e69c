package boot

import (
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bmc-sched/bmc/boot/initramfs"
)

// The boot scripts as nodes ask for them: the static first hops, and each
// boot's one-time iPXE or GRUB script, bound to its node (binding.go).

func (s *Server) serveChain(w http.ResponseWriter, r *http.Request) {
	writeScript(w, render(chainScript, scriptData{URL: s.url}))
}

// serveGrubEFI hands out the GRUB image without a token: like boot.ipxe it
// is the same for every machine and says nothing of a job; its embedded
// config asks for the per-MAC grub.cfg, which is the token-bound part.
func (s *Server) serveGrubEFI(w http.ResponseWriter, r *http.Request) {
	f, err := os.Open(s.cfg.GrubEFI)
	if err != nil {
		s.log.Error("GRUB EFI image unreadable", "err", err)
		http.Error(w, "GRUB image unreadable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	// UEFI HTTP Boot takes the image by this type (or by a URL ending in .efi).
	w.Header().Set("Content-Type", "application/efi")
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (s *Server) serveIPXE(w http.ResponseWriter, r *http.Request) {
	s.serveScript(w, r, "/ipxe/{mac}", r.PathValue("mac"), LoaderIPXE)
}

// serveOther carries the GRUB route (ServeMux wildcards cannot share a
// segment with "grub.cfg-") and refuses everything else.
func (s *Server) serveOther(w http.ResponseWriter, r *http.Request) {
	if mac, ok := strings.CutPrefix(r.URL.Path, "/grub.cfg-"); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.serveScript(w, r, "/grub.cfg-{mac}", mac, LoaderGRUB)
		return
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	s.refuse(w, r, http.StatusNotFound, "/"+first, "no such route", "method", r.Method)
}

// serveScript hands out a boot's script once. Anything else gets the
// "no job" script: printing it on the console tells an operator why the
// machine did not boot, and it exits to the firmware.
func (s *Server) serveScript(w http.ResponseWriter, r *http.Request, route, rawMAC, loader string) {
	script, noJob := ipxeScript, ipxeNoJob
	if loader == LoaderGRUB {
		script, noJob = grubScript, grubNoJob
	}
	hw, err := net.ParseMAC(rawMAC)
	if err != nil || len(hw) != 6 {
		s.refuse(w, r, http.StatusNotFound, route, "not a MAC address")
		return
	}
	mac := hw.String()
	now := s.clk.Now()
	s.mu.Lock()
	st := s.byMAC[mac]
	reason := ""
	var kind ConflictKind
	switch {
	case st == nil:
		reason = "no prepared boot"
	case st.aborted:
		reason = "boot aborted"
	case s.fromNode(st, r) == fromElsewhere:
		reason, kind = "asked from another address", ConflictScriptForeign
	case s.fromNode(st, r) == fromUnresolved:
		reason = unresolvedReason
	case st.b.Loader != loader:
		reason = "node boots with " + st.b.Loader
	case st.scriptServed:
		reason, kind = "script already served", ConflictScriptAgain
	case !now.Before(st.b.Expires):
		reason = "boot expired"
	default:
		st.scriptServed = true
	}
	aborted := kind != "" && s.abortLocked(st)
	s.mu.Unlock()
	if aborted {
		s.conflict(st, r, kind, route)
	}
	if reason != "" {
		attrs := []any{"route", route, "mac", mac, "reason", reason, "remote", r.RemoteAddr}
		if st != nil {
			attrs = append(attrs, "job", st.b.JobID, "boot", st.b.Boot)
		}
		s.log.Warn("no boot script", attrs...)
		writeScript(w, render(noJob, scriptData{}))
		return
	}
	b := st.b
	s.log.Info("boot script served", "job", b.JobID, "boot", b.Boot, "node", b.Node, "mac", mac, "loader", loader, "remote", r.RemoteAddr)
	writeScript(w, render(script, s.scriptData(b)))
}

func (s *Server) scriptData(b *Boot) scriptData {
	// The admin's and the job's parameters; Boot.Cmdline also lists ours.
	var user string
	if i := strings.Index(b.Cmdline, "rdinit="+initramfs.AgentPath); i >= 0 {
		user = strings.TrimSpace(b.Cmdline[:i])
	}
	return scriptData{
		URL: s.url, GRUBRoot: s.grubRoot, JobID: b.JobID, Boot: b.Boot, Node: b.Node,
		KernelToken: b.KernelToken, InitrdToken: b.InitrdToken, AgentToken: b.AgentToken,
		Cmdline: user, Init: initramfs.AgentPath,
	}
}
