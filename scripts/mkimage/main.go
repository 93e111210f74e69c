// Command mkimage builds small container images for the lab and the tests
// without Docker: each root directory becomes one layer, written as a docker
// tarball (image = "/path/x.tar") or an OCI layout (image = "oci:/path/dir").
// Several --root flags of different architectures make a multi-platform index
// (OCI layout only).
//
//	go run ./scripts/mkimage --tag lab/busybox:1 --out DIR/busybox.tar --root amd64=ROOTDIR
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type roots []string

func (r *roots) String() string     { return strings.Join(*r, ",") }
func (r *roots) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fl.SetOutput(stderr)
	tag := fl.String("tag", "lab/image:latest", "image name and tag")
	out := fl.String("out", "", "output: a .tar file (docker tarball) or a directory (OCI layout)")
	var rs roots
	fl.Var(&rs, "root", "GOARCH=DIR: a root file system for one platform (repeatable)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *out == "" || len(rs) == 0 {
		return errors.New("need --out and at least one --root")
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return err
	}
	var imgs []v1.Image
	var plats []v1.Platform
	for _, r := range rs {
		arch, dir, ok := strings.Cut(r, "=")
		if !ok {
			return fmt.Errorf("--root %q: want GOARCH=DIR", r)
		}
		img, err := image(dir, arch)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
		plats = append(plats, v1.Platform{OS: "linux", Architecture: arch})
	}
	if strings.HasSuffix(*out, ".tar") {
		if len(imgs) != 1 {
			return errors.New("a docker tarball holds one platform: write an OCI layout directory for several")
		}
		return tarball.WriteToFile(*out, ref, imgs[0])
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, img := range imgs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &plats[i],
			Annotations: map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()},
		}})
	}
	if len(imgs) == 1 {
		p, err := layout.Write(*out, empty.Index)
		if err != nil {
			return err
		}
		return p.AppendImage(imgs[0], layout.WithPlatform(plats[0]),
			layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()}))
	}
	p, err := layout.Write(*out, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()}))
}

// image makes a one-layer image of dir for arch.
func image(dir, arch string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = rel, 0, 0, "root", "root"
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}
