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

// Package images builds the e2e test images: small static Go programs, each wrapped as an
// OCI image archive that "ctr images import" loads into the e2e cluster's containerd
// (nothing can be pulled on the test machines). Pods use them with imagePullPolicy Never
// or IfNotPresent.
//
// hack/cluster.sh builds and imports them on "up" through ./build; tests use the names.
package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
// architecture) from the module at moduleRoot and writes its OCI archive into outDir.
// It returns the archives' paths, in the order of imgs (All when empty).
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

	var paths []string
	for _, img := range imgs {
		bin := filepath.Join(work, filepath.Base(img.Entrypoint)+"-"+img.Version)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X main.version="+img.Version, "-o", bin, img.Package)
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building %s for %s: %w", img.Package, img.Ref, err)
		}
		path := filepath.Join(outDir, img.Tarball())
		if err := writeArchiveFile(path, img, bin); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeArchiveFile(path string, img Image, bin string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = WriteOCIArchive(f, img.Ref, runtime.GOARCH, img.Entrypoint, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
