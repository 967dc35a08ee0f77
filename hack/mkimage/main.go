// mkimage builds a single-layer container image archive (docker-archive, which `ctr images
// import` and `docker load` read) from files on this machine, without a Docker engine or a
// registry. hack/cluster.sh uses it to build the local cluster's images.
//
//	mkimage -o out.tar -tag NAME:TAG [-tag ...] [-entrypoint JSON] [-cmd JSON] [-user U[:G]]
//	        [-workdir DIR] [-env K=V ...] [-label K=V ...]
//	        [-file SRC:DST[:MODE[:UID:GID]] ...] [-dir DST[:MODE[:UID:GID]] ...] [-symlink DST:TARGET ...]
//	        [-tree SRCDIR:DSTDIR ...]
//
// Parent directories are created with mode 0755, owned by root. Every entry carries the same
// timestamp (SOURCE_DATE_EPOCH, default 0) and the config's created time is the same, so the same
// inputs give the same image digest.
//
// It is a module of its own (hack/mkimage/go.mod) so that go-containerregistry stays out of
// the chaos-agent module's dependency graph.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type entry struct {
	hdr *tar.Header
	src string // file content comes from here (regular files only)
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var tags, files, dirs, links, trees, envs, labels list
	out := flags.String("o", "", "output archive (docker-archive tar)")
	entrypoint := flags.String("entrypoint", "", "entrypoint as a JSON list")
	cmd := flags.String("cmd", "", "cmd as a JSON list")
	user := flags.String("user", "", "user[:group]")
	workdir := flags.String("workdir", "", "working directory")
	flags.Var(&tags, "tag", "image reference (repeatable)")
	flags.Var(&files, "file", "SRC:DST[:MODE[:UID:GID]] (repeatable)")
	flags.Var(&dirs, "dir", "DST[:MODE[:UID:GID]] (repeatable)")
	flags.Var(&links, "symlink", "DST:TARGET (repeatable)")
	flags.Var(&trees, "tree", "SRCDIR:DSTDIR, a directory tree with its files, directories and symlinks, owned by root (repeatable)")
	flags.Var(&envs, "env", "K=V (repeatable)")
	flags.Var(&labels, "label", "K=V (repeatable)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *out == "" || len(tags) == 0 {
		return errors.New("-o and at least one -tag are required")
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}

	epoch := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		epoch = time.Unix(n, 0).UTC()
	}

	entries := map[string]*entry{}
	add := func(e *entry) error {
		p := e.hdr.Name
		if old, ok := entries[p]; ok {
			if old.hdr.Typeflag == tar.TypeDir && e.hdr.Typeflag == tar.TypeDir {
				entries[p] = e // an explicit -dir wins over an implied parent
				return nil
			}
			return fmt.Errorf("%s given twice", p)
		}
		entries[p] = e
		return nil
	}
	for _, f := range files {
		parts := strings.Split(f, ":")
		if len(parts) < 2 {
			return fmt.Errorf("-file %q: want SRC:DST[:MODE[:UID:GID]]", f)
		}
		st, err := os.Stat(parts[0])
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("-file %s: not a regular file", parts[0])
		}
		h, err := header(parts[1], parts[2:], int64(st.Mode().Perm()), tar.TypeReg)
		if err != nil {
			return fmt.Errorf("-file %q: %w", f, err)
		}
		h.Size = st.Size()
		if err := add(&entry{hdr: h, src: parts[0]}); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		parts := strings.Split(d, ":")
		h, err := header(parts[0], parts[1:], 0o755, tar.TypeDir)
		if err != nil {
			return fmt.Errorf("-dir %q: %w", d, err)
		}
		if err := add(&entry{hdr: h}); err != nil {
			return err
		}
	}
	for _, l := range links {
		dst, target, ok := strings.Cut(l, ":")
		if !ok || target == "" {
			return fmt.Errorf("-symlink %q: want DST:TARGET", l)
		}
		h, err := header(dst, nil, 0o777, tar.TypeSymlink)
		if err != nil {
			return fmt.Errorf("-symlink %q: %w", l, err)
		}
		h.Linkname = target
		if err := add(&entry{hdr: h}); err != nil {
			return err
		}
	}
	for _, t := range trees {
		src, dst, ok := strings.Cut(t, ":")
		if !ok {
			return fmt.Errorf("-tree %q: want SRCDIR:DSTDIR", t)
		}
		if err := addTree(src, dst, add); err != nil {
			return fmt.Errorf("-tree %q: %w", t, err)
		}
	}
	// Implied parent directories.
	for p := range entries {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = &entry{hdr: &tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}}
			}
		}
	}

	layerTar, err := writeLayer(entries, epoch)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.History = []v1.History{{Created: v1.Time{Time: epoch}, CreatedBy: "hack/mkimage", Comment: "one layer"}}
	c := &cf.Config
	if *entrypoint != "" {
		if err := json.Unmarshal([]byte(*entrypoint), &c.Entrypoint); err != nil {
			return fmt.Errorf("-entrypoint: %w", err)
		}
	}
	if *cmd != "" {
		if err := json.Unmarshal([]byte(*cmd), &c.Cmd); err != nil {
			return fmt.Errorf("-cmd: %w", err)
		}
	}
	c.User, c.WorkingDir = *user, *workdir
	c.Env = append(c.Env, envs...)
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("-label %q: want K=V", l)
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}

	refs := map[name.Reference]v1.Image{}
	for _, t := range tags {
		ref, err := name.NewTag(t)
		if err != nil {
			return fmt.Errorf("-tag %q: %w", t, err)
		}
		refs[ref] = img
	}
	tmp := *out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		_ = os.Remove(tmp) // best effort: the write error is the one to report
		return err
	}
	return os.Rename(tmp, *out)
}

// addTree adds the files, directories and symlinks under src as dst/..., owned by root.
func addTree(src, dst string, add func(*entry) error) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		var h *tar.Header
		switch {
		case d.IsDir():
			h, err = header(target, nil, int64(info.Mode().Perm()), tar.TypeDir)
		case d.Type()&fs.ModeSymlink != 0:
			var link string
			if link, err = os.Readlink(p); err == nil {
				h, err = header(target, nil, 0o777, tar.TypeSymlink)
				if err == nil {
					h.Linkname = link
				}
			}
		case d.Type().IsRegular():
			h, err = header(target, nil, int64(info.Mode().Perm()), tar.TypeReg)
			if err == nil {
				h.Size = info.Size()
			}
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, d.Type())
		}
		if err != nil {
			return err
		}
		e := &entry{hdr: h}
		if h.Typeflag == tar.TypeReg {
			e.src = p
		}
		return add(e)
	})
}

// header parses [MODE[:UID:GID]] for the entry DST.
func header(dst string, rest []string, mode int64, typ byte) (*tar.Header, error) {
	if !strings.HasPrefix(dst, "/") || path.Clean(dst) != dst || dst == "/" {
		return nil, fmt.Errorf("destination %q must be a clean absolute path", dst)
	}
	h := &tar.Header{Name: strings.TrimPrefix(dst, "/"), Typeflag: typ, Mode: mode}
	if len(rest) > 0 && rest[0] != "" {
		m, err := strconv.ParseInt(rest[0], 8, 64)
		if err != nil {
			return nil, fmt.Errorf("mode %q: %w", rest[0], err)
		}
		h.Mode = m
	}
	if len(rest) == 3 {
		var err error
		if h.Uid, err = strconv.Atoi(rest[1]); err != nil {
			return nil, fmt.Errorf("uid %q: %w", rest[1], err)
		}
		if h.Gid, err = strconv.Atoi(rest[2]); err != nil {
			return nil, fmt.Errorf("gid %q: %w", rest[2], err)
		}
	} else if len(rest) > 1 {
		return nil, errors.New("want MODE or MODE:UID:GID")
	}
	return h, nil
}

// writeLayer writes the entries sorted by path (parents before children) as an uncompressed tar.
func writeLayer(entries map[string]*entry, epoch time.Time) ([]byte, error) {
	names := make([]string, 0, len(entries))
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		e := entries[p]
		h := *e.hdr
		h.ModTime, h.Format = epoch, tar.FormatPAX
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if e.src != "" {
			f, err := os.Open(e.src)
			if err != nil {
				return nil, err
			}
			n, err := io.Copy(tw, f)
			_ = f.Close() // read side: nothing to lose
			if err != nil {
				return nil, err
			}
			if n != h.Size {
				return nil, fmt.Errorf("%s changed while being read", e.src)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
