package job

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/robfig/cron/v3"
)

// Limits on free-text fields.
const (
	MaxNameLen    = 200
	MaxCmdlineLen = 1024 // Linux allows 2048 on x86; the controller appends its own arguments
	MaxPathLen    = 4096
	MinNice       = -10000
	MaxNice       = 10000
)

// The patterns compile on first use: bmcsubmit starts once per job, and
// compiling all four at start cost it 0.6 ms of a few-millisecond run.
var (
	// identRE covers features, accounts, partitions and catalog names.
	identRE = lazyRE(`^[A-Za-z0-9._-]{1,64}$`)
	envRE   = lazyRE(`^[A-Za-z_][A-Za-z0-9_]*$`)
	userRE  = lazyRE(`^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})$`)
	tagRE   = lazyRE(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// lazyRE is a regexp compiled the first time it is matched.
type lazyRE string

var compiled sync.Map // lazyRE → *regexp.Regexp

// MatchString reports whether s matches the pattern.
func (l lazyRE) MatchString(s string) bool {
	if re, ok := compiled.Load(l); ok {
		return re.(*regexp.Regexp).MatchString(s)
	}
	re, _ := compiled.LoadOrStore(l, regexp.MustCompile(string(l)))
	return re.(*regexp.Regexp).MatchString(s)
}

// Architectures a job may ask for.
const (
	ArchX86 = "x86_64"
	ArchARM = "aarch64"
	ArchAny = "any"
)

// NormalizeArch maps the names users write (including Go's amd64 and arm64)
// to the ones nodes use. The empty string stays empty (= any).
func NormalizeArch(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "x86_64", "amd64", "x86-64":
		return ArchX86, nil
	case "aarch64", "arm64":
		return ArchARM, nil
	case "any":
		return ArchAny, nil
	}
	return "", fmt.Errorf("%q is not an architecture (x86_64, aarch64 or any)", s)
}

// cronParser is the standard five-field syntax plus descriptors (@daily, @every 1h).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate checks what can be checked without the file: required fields,
// ranges and syntax. bmcsubmit calls it after its flags override fields;
// Parse calls it and adds line numbers. Errors name the TOML key in Field and
// come as a *Error (one problem) or an ErrorList (several).
func (s *Spec) Validate() error {
	var errs []*Error
	bad := func(field string, err error) {
		e := &Error{Field: field, Msg: err.Error()}
		var inner *Error
		if !errors.As(err, &inner) {
			e.Cause = err
		}
		errs = append(errs, e)
	}
	check := func(field string, err error) {
		if err != nil {
			bad(field, err)
		}
	}
	// Order follows a typical job file so that errors without a line still
	// read top to bottom.
	check("name", checkName(s.Name))
	if s.Image == "" {
		bad("image", errors.New("is required"))
	} else {
		check("image", CheckImage(s.Image))
	}
	if s.Kernel != "" {
		check("kernel", checkArtifact(s.Kernel))
	}
	if s.Initrd != "" {
		check("initrd", checkArtifact(s.Initrd))
	}
	check("cmdline", checkCmdline(s.Cmdline))
	check("command", checkCommand(s.Command))
	switch s.Arch {
	case "", ArchX86, ArchARM, ArchAny:
	default:
		if a, err := NormalizeArch(s.Arch); err == nil {
			bad("arch", fmt.Errorf("write %q as %q", s.Arch, a))
		} else {
			bad("arch", err)
		}
	}
	for _, f := range s.Features {
		if !identRE.MatchString(f) {
			bad("features", fmt.Errorf("%q is not a feature name (letters, digits, '.', '_', '-')", f))
			break
		}
	}
	if s.Cores < 0 {
		bad("cores", fmt.Errorf("%d is negative", s.Cores))
	}
	if s.Memory < 0 {
		bad("memory", fmt.Errorf("%d bytes is negative", s.Memory))
	}
	switch {
	case s.Nodes < 0:
		bad("nodes", errors.New("must be at least 1"))
	case s.Nodes > 1:
		bad("nodes", errors.New("multi-node jobs are not supported yet"))
	}
	switch {
	case s.TimeLimit < 0:
		bad("time_limit", fmt.Errorf("%s must be positive", s.TimeLimit))
	case Duration(MaxDuration) < s.TimeLimit:
		bad("time_limit", fmt.Errorf("%s is longer than %s", s.TimeLimit, Duration(MaxDuration)))
	}
	for _, f := range []struct{ field, v string }{{"account", s.Account}, {"partition", s.Partition}} {
		if f.v != "" && !identRE.MatchString(f.v) {
			bad(f.field, fmt.Errorf("%q is not a name (letters, digits, '.', '_', '-')", f.v))
		}
	}
	if s.Nice < MinNice || s.Nice > MaxNice {
		bad("nice", fmt.Errorf("%d is outside %d..%d", s.Nice, MinNice, MaxNice))
	}
	check("output", checkPath(s.Output))
	check("error", checkPath(s.Error))
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		if !envRE.MatchString(k) {
			bad("environment."+k, fmt.Errorf("%q is not a variable name", k))
		} else if err := checkText(s.Environment[k]); err != nil {
			bad("environment."+k, err)
		}
	}
	if s.RunAs != "" && !userRE.MatchString(s.RunAs) {
		bad("user", fmt.Errorf("%q is not a user name or uid", s.RunAs))
	}
	if s.Array != nil {
		check("array", checkArray(s.Array))
	}
	for _, d := range s.DependsOn {
		if err := checkDependency(d); err != nil {
			bad("depends_on", err)
			break
		}
	}
	if s.Schedule != "" {
		if hasControl(s.Schedule) {
			bad("schedule", fmt.Errorf("%q must not contain control characters", s.Schedule))
		} else if _, err := cronParser.Parse(s.Schedule); err != nil {
			bad("schedule", fmt.Errorf("%q is not a cron expression: %v", s.Schedule, err))
		}
	}
	if s.Sim != nil {
		switch {
		case s.Sim.Runtime < 0 || Duration(MaxDuration) < s.Sim.Runtime:
			bad("sim.runtime", fmt.Errorf("%s is outside 0..%s", s.Sim.Runtime, Duration(MaxDuration)))
		}
		if !(s.Sim.Load >= 0 && s.Sim.Load <= 1) { // also catches NaN
			bad("sim.load", fmt.Errorf("%v is outside 0..1", s.Sim.Load))
		}
		if s.Sim.ExitCode < 0 || s.Sim.ExitCode > 255 {
			bad("sim.exit_code", fmt.Errorf("%d is outside 0..255", s.Sim.ExitCode))
		}
	}
	return errorOf(errs)
}

// hasControl reports whether s holds a control character (C0, DEL or C1,
// or bytes that are not UTF-8 and a terminal might read as C1); such bytes
// would break the one-line messages, iPXE scripts, file names and
// terminal lines they end up in, or forge lines of their own.
func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl)
}

// checkText is for multi-line text (a shell command, environment values):
// newline and tab are fine, every other control character is refused.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("control character %U at byte %d is not allowed (only newline and tab are)", r, i)
	}
	return nil
}

func checkName(n string) error {
	switch {
	case len(n) > MaxNameLen:
		return fmt.Errorf("longer than %d bytes", MaxNameLen)
	case hasControl(n) || strings.Contains(n, "/"):
		return fmt.Errorf("%q must not contain '/' or control characters", n)
	}
	return nil
}

// CheckImage reports whether ref is an image reference bmc can fetch:
// "oci:/dir" or "oci:/dir:tag" (an OCI layout directory), a path ending in
// .tar or .tar.gz (docker save or OCI tarball), or a registry reference such
// as "docker.io/library/busybox:1.36".
func CheckImage(ref string) error {
	if hasControl(ref) || strings.TrimSpace(ref) != ref {
		return fmt.Errorf("%q must not contain control characters or surrounding spaces", ref)
	}
	if dir, ok := strings.CutPrefix(ref, "oci:"); ok {
		dir, tag := splitOCITag(dir)
		if !strings.HasPrefix(dir, "/") {
			return fmt.Errorf("%q needs an absolute directory, as in oci:/var/lib/bmc/images/busybox", ref)
		}
		if tag != "" && !tagRE.MatchString(tag) {
			return fmt.Errorf("%q: %q is not a valid tag", ref, tag)
		}
		return nil
	}
	if strings.HasSuffix(ref, ".tar") || strings.HasSuffix(ref, ".tar.gz") {
		return nil
	}
	// go-containerregistry reads "/dir" and "http://x/y" as odd but valid
	// references; refuse paths and URLs before asking it.
	if strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") {
		return fmt.Errorf("%q: a path must be an OCI layout (oci:/dir) or end in .tar or .tar.gz", ref)
	}
	if _, err := name.ParseReference(ref); err != nil || strings.Contains(ref, "://") {
		return fmt.Errorf("%q is not an image reference (registry/repo:tag, oci:/dir[:tag] or a .tar file)", ref)
	}
	return nil
}

// splitOCITag splits "/dir:tag"; a colon before the last slash belongs to the
// directory.
func splitOCITag(s string) (dir, tag string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i < strings.LastIndexByte(s, '/') {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// checkArtifact accepts what kernel and initrd may name: an http(s) URL, an
// absolute path on the controller, or a catalog name. Only syntax is checked.
func checkArtifact(s string) error {
	if hasControl(s) || strings.ContainsAny(s, " \t") {
		return fmt.Errorf("%q must not contain spaces or control characters", s)
	}
	switch {
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a valid URL", s)
		}
		return nil
	case strings.HasPrefix(s, "/"):
		return nil
	case identRE.MatchString(s) && strings.Trim(s, ".") != "":
		return nil
	}
	return fmt.Errorf("%q is not an http(s) URL, an absolute path or a catalog name", s)
}

func checkCmdline(s string) error {
	if hasControl(s) {
		return fmt.Errorf("%q must not contain control characters", s)
	}
	return ValidateCmdline(s)
}

func checkCommand(c Command) error {
	switch {
	case len(c.Argv) == 0:
		return errors.New("is required")
	case c.Shell && len(c.Argv) != 1:
		return errors.New("a shell command is a single string")
	case strings.TrimSpace(c.Argv[0]) == "":
		return errors.New("must not be empty")
	}
	for i, a := range c.Argv {
		if err := checkText(a); err != nil {
			if len(c.Argv) > 1 {
				return fmt.Errorf("argument %d: %w", i+1, err)
			}
			return err
		}
	}
	return nil
}

func checkPath(p string) error {
	switch {
	case p == "":
		return nil
	case len(p) > MaxPathLen:
		return fmt.Errorf("longer than %d bytes", MaxPathLen)
	case hasControl(p):
		return fmt.Errorf("%q must not contain control characters", p)
	}
	return checkPattern(p)
}

func checkArray(a *ArraySpec) error {
	switch {
	case len(a.Tasks) == 0:
		return fmt.Errorf("%q has no tasks", a.Text)
	case len(a.Tasks) > MaxArrayTasks:
		return fmt.Errorf("%q has more than %d tasks", a.Text, MaxArrayTasks)
	case a.MaxParallel < 0:
		return fmt.Errorf("%q: the %%N task limit is negative", a.Text)
	case !slices.IsSorted(a.Tasks) || len(slices.Compact(slices.Clone(a.Tasks))) != len(a.Tasks):
		return fmt.Errorf("%q: tasks must be sorted and unique", a.Text)
	case a.Tasks[0] < 0 || a.Tasks[len(a.Tasks)-1] > MaxArrayTaskID:
		return fmt.Errorf("%q: task ids must be within 0..%d", a.Text, MaxArrayTaskID)
	}
	return nil
}

func checkDependency(d Dependency) error {
	switch d.Type {
	case Singleton:
		if d.JobID != 0 {
			return errors.New("singleton takes no job id")
		}
	case AfterOK, AfterAny, AfterNotOK, After:
		if d.JobID == 0 {
			return fmt.Errorf("%s needs a job id", d.Type)
		}
	default:
		return fmt.Errorf("unknown type %q", d.Type)
	}
	return nil
}
