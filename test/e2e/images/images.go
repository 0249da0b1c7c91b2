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

// Package images builds the e2e test images: small static Go programs, each alone on
// hack/image's base (go-containerregistry, as the manager's and OLM's images: nothing
// pulled, same inputs same digest), run as root, written as an OCI image archive that
// "ctr images import" loads into the e2e cluster's containerd (nothing can be pulled on
// the test machines). Pods use them with imagePullPolicy Never or IfNotPresent.
//
// hack/cluster.sh builds and imports them on "up" through ./build; tests use the names.
package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// The images' names, as pods refer to them.
const (
	// App serves HTTP on :8080, records its start time, exits 1s after SIGTERM; with the
	// argument "routes" it prints the pod's routing table and exits.
	App = "outrigger.test/app:v1"
	// SidecarV1 and SidecarV2 are the same sidecar in two versions: HTTP on :8081 with
	// /ready (ready after $READY_DELAY), /version, exits 1s after SIGTERM.
	SidecarV1 = "outrigger.test/sidecar:v1"
	SidecarV2 = "outrigger.test/sidecar:v2"
	// Pause is the pod sandbox image of the e2e cluster's containerd.
	Pause = "outrigger.test/pause:3.10"
)

// Image is one test image: a Go program of this module built static, alone in its image.
type Image struct {
	Ref        string // the image name, e.g. outrigger.test/app:v1
	Package    string // the program, relative to the module root
	Version    string // set as main.version at link time
	Entrypoint string // where the binary sits in the image
}

// All lists every test image.
var All = []Image{
	{Ref: App, Package: "./test/e2e/images/app", Version: "v1", Entrypoint: "/app"},
	{Ref: SidecarV1, Package: "./test/e2e/images/sidecar", Version: "v1", Entrypoint: "/sidecar"},
	{Ref: SidecarV2, Package: "./test/e2e/images/sidecar", Version: "v2", Entrypoint: "/sidecar"},
	{Ref: Pause, Package: "./test/e2e/images/pause", Version: "3.10", Entrypoint: "/pause"},
}

// Tarball is the file name of the image's archive, e.g. app-v1.tar.
func (i Image) Tarball() string {
	name, tag := splitRef(i.Ref)
	return filepath.Base(name) + "-" + tag + ".tar"
}

// Build compiles each image's program (CGO_ENABLED=0, for linux and this machine's
// architecture) from the module at moduleRoot and writes its OCI archive into outDir
// with hack/image's files command. It returns the archives' paths, in the order of imgs
// (All when empty).
func Build(ctx context.Context, moduleRoot, outDir string, imgs ...Image) ([]string, error) {
	if len(imgs) == 0 {
		imgs = All
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "outrigger-images-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(work) }()
	// hack/image is a module of its own (go-containerregistry and ko stay out of this
	// one's go.mod): built once, run once per image.
	assembler := filepath.Join(work, "image")
	if err := goBuild(ctx, filepath.Join(moduleRoot, "hack", "image"), nil, "-o", assembler, "."); err != nil {
		return nil, fmt.Errorf("building hack/image: %w", err)
	}
	var paths []string
	for _, img := range imgs {
		bin := filepath.Join(work, filepath.Base(img.Entrypoint)+"-"+img.Version)
		err := goBuild(ctx, moduleRoot, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + runtime.GOARCH},
			"-trimpath", "-buildvcs=false", "-ldflags", "-s -w -X main.version="+img.Version, "-o", bin, img.Package)
		if err != nil {
			return nil, fmt.Errorf("building %s for %s: %w", img.Package, img.Ref, err)
		}
		path := filepath.Join(outDir, img.Tarball())
		cmd := exec.CommandContext(ctx, assembler, "files",
			"-out", filepath.Join(work, "layout-"+filepath.Base(path)), "-archive", path, "-tag", img.Ref,
			"-platform", "linux/"+runtime.GOARCH, "-user", "0",
			"-entrypoint", img.Entrypoint, "-file", img.Entrypoint+"="+bin,
			"-label", "org.opencontainers.image.version="+img.Version)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// goBuild runs go build in dir with env added to this process's.
func goBuild(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// splitRef splits "outrigger.test/app:v1" into "outrigger.test/app" and "v1".
func splitRef(ref string) (name, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}
