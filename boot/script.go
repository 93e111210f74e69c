package boot

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
)

// Loaders a node may network-boot with (node.Config.Boot).
const (
	LoaderIPXE = "ipxe"      // BIOS or UEFI iPXE: GET /boot.ipxe → /ipxe/{mac}
	LoaderGRUB = "uefi-grub" // UEFI HTTP Boot + GRUB: GET /grubaa64.efi → /grub.cfg-{mac}
)

// GRUBEFIPath is where the node listener serves Config.GrubEFI: the DHCP
// boot-file URL of UEFI HTTP Boot machines points here.
const GRUBEFIPath = "/grubaa64.efi"

// scriptData is everything a boot script shows. Every field is checked
// before rendering (validated cmdline, node-name pattern, base64url tokens,
// a checked URL), so the templates need no escaping.
type scriptData struct {
	URL         string // node-facing base URL, no trailing slash
	GRUBRoot    string // "(http,host:port)/prefix", the same URL as GRUB spells it
	JobID       uint64
	Boot        uint64
	Node        string
	KernelToken string
	InitrdToken string
	AgentToken  string
	Cmdline     string // admin's then job's parameters
	Init        string
}

// The first hop is the same for every machine: iPXE cannot know its job, so
// it asks for the per-MAC script. A failure anywhere ends in "exit" (not
// "poweroff": Debian's ipxe-qemu ROMs do not build that command in), which
// hands the machine back to the firmware; the controller's boot timeout
// then fails the boot.
var chainScript = template.Must(template.New("boot.ipxe").Parse(`#!ipxe
echo bmc: asking {{.URL}} for this machine's job
chain {{.URL}}/ipxe/${mac:hexhyp} || goto failed
:failed
echo bmc: no boot script for ${mac}
exit 1
`))

var ipxeScript = template.Must(template.New("ipxe").Parse(`#!ipxe
echo bmc: job {{.JobID}} on {{.Node}} (boot {{.Boot}})
kernel {{.URL}}/a/{{.KernelToken}}/vmlinuz initrd=initrd.img {{with .Cmdline}}{{.}} {{end}}rdinit={{.Init}} bmc.url={{.URL}} bmc.token={{.AgentToken}} || goto failed
initrd {{.URL}}/a/{{.InitrdToken}}/initrd.img || goto failed
boot || goto failed
:failed
echo bmc: boot failed
exit 1
`))

var ipxeNoJob = template.Must(template.New("ipxe-nojob").Parse(`#!ipxe
echo bmc: no job for this machine
exit 1
`))

var grubScript = template.Must(template.New("grub").Parse(`set timeout=0
echo 'bmc: job {{.JobID}} on {{.Node}} (boot {{.Boot}})'
linux {{.GRUBRoot}}/a/{{.KernelToken}}/vmlinuz {{with .Cmdline}}{{.}} {{end}}rdinit={{.Init}} bmc.url={{.URL}} bmc.token={{.AgentToken}}
initrd {{.GRUBRoot}}/a/{{.InitrdToken}}/initrd.img
boot
`))

var grubNoJob = template.Must(template.New("grub-nojob").Parse(`echo 'bmc: no job for this machine'
exit
`))

func render(t *template.Template, d scriptData) []byte {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		// The templates are constants and the data plain strings: a failure is a bug.
		panic(fmt.Sprintf("boot: render %s: %v", t.Name(), err))
	}
	return b.Bytes()
}

// safeURL is what may appear in a script unquoted: no space, "$", "#",
// quote, backslash or control character.
var safeURL = regexp.MustCompile(`^https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?$`)

// checkNodeURL returns the URL without its trailing slash and GRUB's form of it.
func checkNodeURL(s string) (string, string, error) {
	s = strings.TrimRight(s, "/")
	if !safeURL.MatchString(s) {
		return "", "", fmt.Errorf("boot: node URL %q: want http(s)://host[:port][/path] with plain characters", s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("boot: node URL %q: %v", s, err)
	}
	return s, "(" + u.Scheme + "," + u.Host + ")" + u.Path, nil
}

var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
