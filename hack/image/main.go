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

// Command image builds the Outrigger manager image without a container engine:
// ko (github.com/google/ko/pkg/build) compiles the static binary for each platform and
// lays it on a distroless-style base that this program makes from nothing with
// go-containerregistry — no base is pulled, so the build works offline and its digest
// depends only on the sources and the Go toolchain.
//
//	cd hack/image && go run . -module-root ../.. -out ../../bin/image/outrigger -version 0.1.0
//
// It writes an OCI image layout holding one multi-platform index and prints the index's
// digest. Its subcommands (assemble.go) build the other images of the project the same
// way: OLM's from prebuilt binaries, the OLM bundle and the catalog. It lives in a module of its own so that ko's dependencies never reach the
// project's go.mod (nor golangci-lint's, in hack/tools).
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/ko/pkg/build"
)

// The non-root user of distroless's :nonroot images, which config/manager's
// securityContext (runAsNonRoot) and Pod Security "restricted" expect.
const (
	nonrootUID  = 65532
	nonrootUser = "65532:65532"
	// baseName names the base in the image's org.opencontainers.image.base.name
	// annotation; it is never pulled.
	baseName = "outrigger.local/base:nonroot"
	// importPath is the manager's main package.
	importPath = "github.com/outrigger-dev/outrigger"
)

func main() {
	if len(os.Args) > 1 {
		if sub, ok := subcommands[os.Args[1]]; ok {
			digest, err := sub(os.Args[2:])
			if err != nil {
				fmt.Fprintf(os.Stderr, "image %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			fmt.Println(digest)
			return
		}
	}
	root := flag.String("module-root", "../..", "Root of the outrigger module (the manager's main package).")
	out := flag.String("out", "../../bin/image/outrigger", "OCI image layout directory to write (replaced).")
	version := flag.String("version", "0.0.0-dev", "Value of the org.opencontainers.image.version label.")
	source := flag.String("source", "https://github.com/outrigger-dev/outrigger", "Value of the org.opencontainers.image.source label.")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "Comma-separated platforms to build.")
	tag := flag.String("tag", "outrigger:dev", "Name recorded in the layout (org.opencontainers.image.ref.name).")
	flag.Parse()

	start := time.Now()
	digest, err := run(context.Background(), *root, *out, *version, *source, *tag, strings.Split(*platforms, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "image: %s in %s (%s)\n", *out, time.Since(start).Round(time.Second), *platforms)
	fmt.Println(digest)
}

func run(ctx context.Context, root, out, version, source, tag string, platforms []string) (v1.Hash, error) {
	base, err := baseIndex(platforms)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("making the base: %w", err)
	}
	baseRef, err := name.ParseReference(baseName)
	if err != nil {
		return v1.Hash{}, err
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return v1.Hash{}, err
	}
	builder, err := build.NewGo(ctx, absRoot,
		build.WithBaseImages(func(context.Context, string) (name.Reference, build.Result, error) {
			return baseRef, base, nil
		}),
		build.WithPlatforms(platforms...),
		// Creation times stay at the epoch (ko's default) and no SBOM is generated: both
		// would make two builds of the same sources differ.
		build.WithDisabledSBOM(),
		build.WithTrimpath(true),
		build.WithDefaultLdflags([]string{"-s", "-w"}),
		build.WithUser(nonrootUser),
		build.WithLabel("org.opencontainers.image.source", source),
		build.WithLabel("org.opencontainers.image.version", version),
		build.WithLabel("org.opencontainers.image.licenses", "Apache-2.0"),
		build.WithLabel("org.opencontainers.image.title", "outrigger"),
		build.WithLabel("org.opencontainers.image.description", "Outrigger: sidecar injection and in-place sidecar upgrades for Kubernetes"),
		// One platform at a time: each go build already uses every core.
		build.WithJobs(1),
	)
	if err != nil {
		return v1.Hash{}, err
	}
	ref, err := builder.QualifyImport(importPath)
	if err != nil {
		return v1.Hash{}, err
	}
	result, err := builder.Build(ctx, ref)
	if err != nil {
		return v1.Hash{}, err
	}
	idx, ok := result.(v1.ImageIndex)
	if !ok {
		return v1.Hash{}, fmt.Errorf("ko built a %T, not an image index", result)
	}
	if err := checkImages(idx, len(platforms)); err != nil {
		return v1.Hash{}, err
	}

	if err := writeLayout(out, tag, func(p layout.Path, name layout.Option) error {
		return p.AppendIndex(idx, name)
	}); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}

// appPath is where ko puts the binary of importPath (and its entrypoint).
const appPath = "ko-app/outrigger"

// checkImages fails unless idx has one image per platform, each running appPath as
// nonroot, appPath being a static executable for the image's architecture: a cgo
// dependency sneaking in would otherwise only show as a pod failing to start.
func checkImages(idx v1.ImageIndex, platforms int) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != platforms {
		return fmt.Errorf("the index has %d images, want %d", len(m.Manifests), platforms)
	}
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		if cf.Config.User != nonrootUser || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/"+appPath {
			return fmt.Errorf("%s: user %q, entrypoint %q; want %s, /%s", desc.Platform, cf.Config.User, cf.Config.Entrypoint, nonrootUser, appPath)
		}
		bin, err := fileOf(img, appPath)
		if err != nil {
			return fmt.Errorf("%s: %w", desc.Platform, err)
		}
		f, err := elf.NewFile(bytes.NewReader(bin))
		if err != nil {
			return fmt.Errorf("%s: /%s: %w", desc.Platform, appPath, err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[desc.Platform.Architecture]
		if f.Machine != want {
			return fmt.Errorf("%s: /%s is for %s", desc.Platform, appPath, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				return fmt.Errorf("%s: /%s is dynamically linked", desc.Platform, appPath)
			}
		}
	}
	return nil
}

// fileOf reads one regular file of an image's layers (the last layer holding it).
func fileOf(img v1.Image, path string) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var data []byte
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = rc.Close()
				return nil, err
			}
			if strings.TrimPrefix(h.Name, "/") == path && h.Typeflag == tar.TypeReg {
				if data, err = io.ReadAll(tr); err != nil {
					_ = rc.Close()
					return nil, err
				}
			}
		}
		_ = rc.Close()
	}
	if data == nil {
		return nil, fmt.Errorf("no /%s in the image", path)
	}
	return data, nil
}

// baseIndex is a distroless-style base from nothing: one layer with /etc/passwd and
// /etc/group naming root and nonroot (65532), nonroot's home and a world-writable /tmp,
// the default user nonroot; one image per platform, identical but for the platform.
func baseIndex(platforms []string) (v1.ImageIndex, error) {
	layer, err := baseLayer()
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, s := range platforms {
		platform, err := v1.ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		if platform.OS != "linux" {
			return nil, fmt.Errorf("platform %s: only linux is supported", s)
		}
		img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
		cf.Config.User = nonrootUser
		cf.Config.WorkingDir = "/"
		cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot"}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: platform},
		})
	}
	return idx, nil
}

func baseLayer() (v1.Layer, error) {
	type entry struct {
		name     string
		mode     int64
		uid, gid int
		data     string
		dir      bool
	}
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonrootUID)},
		{name: "etc/passwd", mode: 0o644, data: fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonrootUID, nonrootUID)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID, gid: nonrootUID, dir: true},
		{name: "root/", mode: 0o700, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, Format: tar.FormatPAX,
			ModTime: time.Unix(0, 0).UTC(), Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if len(data) == 0 {
		return nil, errors.New("empty base layer")
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
