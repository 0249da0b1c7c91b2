/*
Copyright 2026 The Outrigger Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"archive/tar"
	"bufio"
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
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The images of the OLM install (hack/olm.sh) and of the release path (make
// bundle-build, make catalog-build), assembled the same way as the manager's: nothing
// pulled, times at the epoch, files owned by root, so the same inputs give the same
// digest. Each subcommand writes an OCI layout holding one image and prints its digest.
//
//	files       prebuilt static binaries on the base from nothing (OLM, opm)
//	dockerfile  a FROM scratch Dockerfile of LABEL and COPY lines (bundle.Dockerfile)
//	catalog     a file-based catalog on the opm image, as `opm generate dockerfile` lays it out

// configsLabel is where a file-based catalog image keeps its catalog
// (operator-registry's containertools.ConfigsLocationLabel).
const configsLabel = "operators.operatorframework.io.index.configs.v1"

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// subcommands are the image kinds besides the manager's (the default command).
var subcommands = map[string]func(args []string) (v1.Hash, error){
	"files":      filesCommand,
	"dockerfile": dockerfileCommand,
	"catalog":    catalogCommand,
}

func filesCommand(args []string) (v1.Hash, error) {
	fl := flag.NewFlagSet("files", flag.ExitOnError)
	out := fl.String("out", "", "OCI image layout directory to write (replaced).")
	tag := fl.String("tag", "", "Name recorded in the layout.")
	platform := fl.String("platform", "linux/amd64", "The image's platform (that of the binaries).")
	entrypoint := fl.String("entrypoint", "", "The image's entrypoint (a path in the image).")
	user := fl.String("user", "", "The image's user (e.g. 0 for root); empty: the base's, nonroot.")
	archive := fl.String("archive", "", "Also write the layout as this tar archive (what `ctr images import` loads).")
	var files, links, labels listFlag
	fl.Var(&files, "file", "IMAGE_PATH=HOST_PATH: an executable to put in the image (repeatable).")
	fl.Var(&links, "link", "IMAGE_PATH=TARGET: a symbolic link to put in the image (repeatable).")
	fl.Var(&labels, "label", "KEY=VALUE: an image label (repeatable).")
	_ = fl.Parse(args)
	img, err := filesImage(*platform, files, links, *entrypoint, *user, labels)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := writeImage(*out, *tag, img)
	if err != nil || *archive == "" {
		return digest, err
	}
	return digest, writeArchive(*out, *archive)
}

func dockerfileCommand(args []string) (v1.Hash, error) {
	fl := flag.NewFlagSet("dockerfile", flag.ExitOnError)
	out := fl.String("out", "", "OCI image layout directory to write (replaced).")
	tag := fl.String("tag", "", "Name recorded in the layout.")
	platform := fl.String("platform", "linux/amd64", "The platform recorded in the image's config.")
	file := fl.String("f", "bundle.Dockerfile", "The Dockerfile: FROM scratch, then LABEL and COPY lines only.")
	buildContext := fl.String("context", ".", "The build context COPY sources are relative to.")
	_ = fl.Parse(args)
	df, err := os.ReadFile(*file)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := dockerfileImage(string(df), *buildContext, *platform)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("%s: %w", *file, err)
	}
	return writeImage(*out, *tag, img)
}

func catalogCommand(args []string) (v1.Hash, error) {
	fl := flag.NewFlagSet("catalog", flag.ExitOnError)
	out := fl.String("out", "", "OCI image layout directory to write (replaced).")
	tag := fl.String("tag", "", "Name recorded in the layout.")
	base := fl.String("base", "", "OCI image layout of the opm image (/bin/opm, /bin/grpc_health_probe).")
	configs := fl.String("configs", "", "Directory of the file-based catalog, copied to /configs.")
	cache := fl.String("cache", "", "opm serve's cache of that catalog (opm serve --cache-only), copied to /tmp/cache.")
	_ = fl.Parse(args)
	baseImg, err := layoutImage(*base)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("the base %s: %w", *base, err)
	}
	img, err := catalogImage(baseImg, *configs, *cache)
	if err != nil {
		return v1.Hash{}, err
	}
	return writeImage(*out, *tag, img)
}

// filesImage puts executables and links on the base from nothing. The base's user
// (nonroot) stays unless user is set: OLM's pods run these images as any user.
func filesImage(platform string, files, links []string, entrypoint, user string, labels []string) (v1.Image, error) {
	idx, err := baseIndex([]string{platform})
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	base, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, err
	}
	var entries []tarEntry
	for _, f := range files {
		dst, src, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("-file %q: want IMAGE_PATH=HOST_PATH", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		entries = append(entries, tarEntry{name: dst, mode: 0o755, data: data})
	}
	for _, l := range links {
		dst, target, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("-link %q: want IMAGE_PATH=TARGET", l)
		}
		entries = append(entries, tarEntry{name: dst, link: target})
	}
	if entrypoint != "" && !slices.ContainsFunc(entries, func(e tarEntry) bool { return e.name == entrypoint }) {
		return nil, fmt.Errorf("the entrypoint %s is none of the image's files", entrypoint)
	}
	img, err := appendEntries(base, entries)
	if err != nil {
		return nil, err
	}
	return editConfig(img, func(c *v1.Config) error {
		if entrypoint != "" {
			c.Entrypoint = []string{entrypoint}
		}
		if user != "" {
			c.User = user
		}
		return addLabels(c, labels)
	})
}

// dockerfileImage builds what a container engine would from a Dockerfile that starts
// FROM scratch and then only sets labels and copies files; anything else is refused,
// so the Dockerfile stays the one description of the image.
func dockerfileImage(dockerfile, buildContext, platform string) (v1.Image, error) {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	cfg := v1.Config{}
	sawFrom := false
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			if rest != "scratch" || sawFrom {
				return nil, fmt.Errorf("line %d: only one FROM scratch is supported", n)
			}
			sawFrom = true
		case "LABEL":
			if err := parseLabels(&cfg, rest); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
		case "COPY":
			fields := strings.Fields(rest)
			if len(fields) != 2 {
				return nil, fmt.Errorf("line %d: COPY SRC DST only", n)
			}
			entries, err := dirEntries(filepath.Join(buildContext, fields[0]), fields[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			if img, err = appendEntries(img, entries); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("line %d: %s is not supported (FROM scratch, LABEL and COPY only)", n, instr)
		}
		if !sawFrom {
			return nil, fmt.Errorf("line %d: %s before FROM", n, instr)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !sawFrom {
		return nil, errors.New("no FROM")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// catalogImage is the image `opm generate dockerfile` describes: the catalog at
// /configs on the opm image, served by `opm serve`, and the serve cache that its RUN
// step builds (here built beforehand, by `opm serve --cache-only`) at /tmp/cache: opm
// refuses to serve from a cache directory without a valid cache.
func catalogImage(base v1.Image, configs, cache string) (v1.Image, error) {
	entries, err := dirEntries(configs, "/configs")
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(entries, func(e tarEntry) bool { return !e.dir }) {
		return nil, fmt.Errorf("the catalog %s has no files", configs)
	}
	cached, err := dirEntries(cache, "/tmp/cache")
	if err != nil {
		return nil, fmt.Errorf("the serve cache: %w", err)
	}
	// opm opens its cache read-write (a lock file, the database), as whichever user
	// OLM runs the catalog pod as (1001 with --set-workload-user-id, else the image's):
	// the cache is writable by all, as /tmp is, which keeps its sticky bit.
	for i := range cached {
		cached[i].mode = map[bool]int64{true: 0o777, false: 0o666}[cached[i].dir]
	}
	entries = append(append(entries, tarEntry{name: "/tmp", mode: 0o1777, dir: true}), cached...)
	img, err := appendEntries(base, entries)
	if err != nil {
		return nil, err
	}
	return editConfig(img, func(c *v1.Config) error {
		c.Entrypoint = []string{"/bin/opm"}
		c.Cmd = []string{"serve", "/configs", "--cache-dir=/tmp/cache"}
		return addLabels(c, []string{configsLabel + "=/configs"})
	})
}

// parseLabels reads a LABEL instruction's KEY=VALUE pairs (values plain or quoted).
func parseLabels(c *v1.Config, s string) error {
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			return fmt.Errorf("LABEL %q: want KEY=VALUE", s)
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return fmt.Errorf("LABEL %s: %w", key, err)
			}
			if value, err = strconv.Unquote(q); err != nil {
				return err
			}
			rest = rest[len(q):]
		} else {
			value, rest, _ = strings.Cut(rest, " ")
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[strings.Trim(key, `"`)] = value
		s = strings.TrimSpace(rest)
	}
	return nil
}

func addLabels(c *v1.Config, labels []string) error {
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("label %q: want KEY=VALUE", l)
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	return nil
}

func editConfig(img v1.Image, edit func(*v1.Config) error) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if err := edit(&cf.Config); err != nil {
		return nil, err
	}
	return mutate.ConfigFile(img, cf)
}

// tarEntry is one file, directory or symbolic link of a layer.
type tarEntry struct {
	name string // absolute path in the image
	mode int64
	data []byte
	dir  bool
	link string // the target of a symbolic link
}

// dirEntries is every file under src, placed under dst, sorted; modes are normalised
// (0755 directories and executables, 0644 other files) so that the host's umask does
// not reach the digest.
func dirEntries(src, dst string) ([]tarEntry, error) {
	var entries []tarEntry
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(dst, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			entries = append(entries, tarEntry{name: name, mode: 0o755, dir: true})
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			entries = append(entries, tarEntry{name: name, mode: mode, data: data})
		default:
			return fmt.Errorf("%s: only directories and regular files are copied", p)
		}
		return nil
	})
	return entries, err
}

// appendEntries adds one layer holding entries, and the directories leading to them.
func appendEntries(img v1.Image, entries []tarEntry) (v1.Image, error) {
	seen := map[string]bool{}
	var all []tarEntry
	for _, e := range entries {
		for dir := path.Dir(e.name); dir != "/" && !seen[dir]; dir = path.Dir(dir) {
			seen[dir] = true
			all = append(all, tarEntry{name: dir, mode: 0o755, dir: true})
		}
		if !seen[e.name] {
			seen[e.name] = true
			all = append(all, e)
		}
	}
	slices.SortFunc(all, func(a, b tarEntry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range all {
		h := &tar.Header{Name: strings.TrimPrefix(e.name, "/"), Mode: e.mode, Format: tar.FormatPAX,
			ModTime: time.Unix(0, 0).UTC(), Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		switch {
		case e.dir:
			h.Name += "/"
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Mode, h.Size = tar.TypeSymlink, e.link, 0o777, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, layer)
}

// writeLayout replaces out with an OCI image layout holding what add appends with the
// option name: tag as org.opencontainers.image.ref.name and io.containerd.image.name
// (containerd's import names the image after the latter). Every image of this command
// is written through it.
func writeLayout(out, tag string, add func(p layout.Path, name layout.Option) error) error {
	if out == "" || tag == "" {
		return errors.New("-out and -tag are required")
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	return add(p, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag,
		"io.containerd.image.name":          tag,
	}))
}

// writeImage writes img as the one image of an OCI layout at out and returns its digest.
func writeImage(out, tag string, img v1.Image) (v1.Hash, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	// The platform on the index's entry too, so that an importer filtering by platform
	// need not read the config.
	platform := layout.WithPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
	if err := writeLayout(out, tag, func(p layout.Path, name layout.Option) error {
		return p.AppendImage(img, platform, name)
	}); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// writeArchive writes the OCI layout at dir as a tar archive, reproducibly as `make
// image` archives the manager's (sorted, times at the epoch, owned by root): `ctr images
// import` loads it, naming the image after its io.containerd.image.name annotation.
func writeArchive(dir, archive string) (err error) {
	tmp := archive + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, archive)
		} else {
			_ = os.Remove(tmp)
		}
	}()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// layoutImage is the one image of an OCI layout written by writeImage.
func layoutImage(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsImage() {
		raw, _ := json.Marshal(m.Manifests)
		return nil, fmt.Errorf("want one image in the layout, have %s", raw)
	}
	return idx.Image(m.Manifests[0].Digest)
}
