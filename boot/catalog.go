package boot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/bmc-sched/bmc/internal/tomlpos"
)

// Kernel is one admin-provided kernel a job may name.
type Kernel struct {
	Name        string `toml:"name" json:"name"`
	Kernel      string `toml:"kernel" json:"kernel"`           // absolute path or http(s) URL
	Initrd      string `toml:"initrd" json:"initrd,omitempty"` // same; empty = agent-only initramfs
	Cmdline     string `toml:"cmdline" json:"cmdline,omitempty"`
	Arch        string `toml:"arch" json:"arch,omitempty"` // "x86_64", "aarch64"; empty = any
	Description string `toml:"description" json:"description,omitempty"`
}

// Catalog is the kernels file: [[kernel]] tables, looked up by name.
type Catalog struct {
	kernels []Kernel
}

// List returns the kernels in file order (for `bmcq kernels`).
func (c Catalog) List() []Kernel { return slices.Clone(c.kernels) }

// Lookup finds a kernel by name.
func (c Catalog) Lookup(name string) (Kernel, bool) {
	for _, k := range c.kernels {
		if k.Name == name {
			return k, true
		}
	}
	return Kernel{}, false
}

var kernelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// LoadCatalog reads the kernels file. Relative kernel and initrd paths are
// taken from the file's directory.
func LoadCatalog(path string) (Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Catalog{}, fmt.Errorf("kernel catalog: %w", err)
	}
	c, err := ParseCatalog(data, filepath.Dir(path))
	if err != nil {
		return Catalog{}, fmt.Errorf("%s:%w", path, err)
	}
	return c, nil
}

// ParseCatalog parses a kernels file; errors read "line N: field: message".
func ParseCatalog(data []byte, baseDir string) (Catalog, error) {
	var doc struct {
		Kernel []Kernel `toml:"kernel"`
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var de *toml.DecodeError
		var se *toml.StrictMissingError
		switch {
		case errors.As(err, &de):
			line, _ := de.Position()
			return Catalog{}, errors.New(tomlpos.Format("", line, "", strings.TrimPrefix(de.Error(), "toml: ")))
		case errors.As(err, &se) && len(se.Errors) > 0:
			line, _ := se.Errors[0].Position()
			return Catalog{}, errors.New(tomlpos.Format("", line, strings.Join(se.Errors[0].Key(), "."), "unknown key"))
		}
		return Catalog{}, errors.New(tomlpos.OneLine(err.Error()))
	}
	ix, _ := tomlpos.New(data) // decoding succeeded, so the document parses
	fail := func(i int, field, msg string) error {
		return errors.New(tomlpos.Format("", ix.Line("kernel", strconv.Itoa(i), field), "kernel."+field, msg))
	}
	seen := map[string]bool{}
	for i := range doc.Kernel {
		k := &doc.Kernel[i]
		if !kernelName.MatchString(k.Name) {
			return Catalog{}, fail(i, "name", fmt.Sprintf("%q: want 1-64 of letters, digits and ._+- (not a path)", k.Name))
		}
		if seen[k.Name] {
			return Catalog{}, fail(i, "name", fmt.Sprintf("%q defined twice", k.Name))
		}
		seen[k.Name] = true
		if k.Kernel == "" {
			return Catalog{}, fail(i, "kernel", "missing")
		}
		for _, f := range []struct {
			field string
			v     *string
		}{{"kernel", &k.Kernel}, {"initrd", &k.Initrd}} {
			if *f.v == "" || isURL(*f.v) {
				continue
			}
			if strings.ContainsAny(*f.v, "\x00\n") {
				return Catalog{}, fail(i, f.field, "bad path")
			}
			if !filepath.IsAbs(*f.v) {
				*f.v = filepath.Join(baseDir, *f.v)
			}
			*f.v = filepath.Clean(*f.v)
		}
		switch k.Arch {
		case "", "x86_64", "aarch64":
		default:
			return Catalog{}, fail(i, "arch", fmt.Sprintf("%q: want x86_64 or aarch64", k.Arch))
		}
		if err := ValidateCmdline(k.Cmdline); err != nil {
			return Catalog{}, fail(i, "cmdline", err.Error())
		}
	}
	return Catalog{kernels: doc.Kernel}, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
