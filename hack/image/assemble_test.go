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
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const bundleDockerfile = `# a comment
FROM scratch

LABEL operators.operatorframework.io.bundle.mediatype.v1=registry+v1
LABEL a="two words" b=plain
COPY bundle/manifests /manifests/
COPY bundle/metadata /metadata/
`

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// allFiles is every entry of every layer of img, by path.
func allFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(files, tarFiles(t, rc))
		_ = rc.Close()
	}
	return files
}

// tarFiles is every entry of a tar stream, by path.
func tarFiles(t *testing.T, r io.Reader) map[string]file {
	t.Helper()
	files := map[string]file{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = file{hdr: h, data: string(data)}
	}
}

func TestDockerfileImage(t *testing.T) {
	ctx := writeTree(t, map[string]string{
		"bundle/manifests/csv.yaml":         "kind: ClusterServiceVersion\n",
		"bundle/metadata/annotations.yaml":  "annotations: {}\n",
		"bundle/not-copied/stray-file.yaml": "x\n",
	})
	img, err := dockerfileImage(bundleDockerfile, ctx, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	again, err := dockerfileImage(bundleDockerfile, ctx, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds differ: %s, %s", d1, d2)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"operators.operatorframework.io.bundle.mediatype.v1": "registry+v1", "a": "two words", "b": "plain"}
	for k, v := range want {
		if cf.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
		}
	}
	if len(cf.Config.Labels) != len(want) {
		t.Errorf("labels %v, want %v", cf.Config.Labels, want)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	files := allFiles(t, img)
	if f := files["manifests/csv.yaml"]; f.data != "kind: ClusterServiceVersion\n" || f.hdr.Mode != 0o644 || f.hdr.Uid != 0 {
		t.Errorf("/manifests/csv.yaml: %+v", f)
	}
	if _, ok := files["metadata/annotations.yaml"]; !ok {
		t.Error("no /metadata/annotations.yaml")
	}
	for name := range files {
		if strings.Contains(name, "stray") {
			t.Errorf("%s was copied", name)
		}
	}
}

func TestDockerfileImageRefusesWhatItCannotBuild(t *testing.T) {
	ctx := writeTree(t, map[string]string{"a/f": "x"})
	for name, df := range map[string]string{
		"a base":     "FROM quay.io/operator-framework/opm:latest\nCOPY a /a\n",
		"a RUN":      "FROM scratch\nRUN [\"/bin/true\"]\n",
		"no FROM":    "LABEL a=b\n",
		"bad LABEL":  "FROM scratch\nLABEL novalue\n",
		"COPY flags": "FROM scratch\nCOPY --chown=1 a /a\n",
	} {
		if _, err := dockerfileImage(df, ctx, "linux/amd64"); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}

func TestFilesImage(t *testing.T) {
	dir := writeTree(t, map[string]string{"olm": "binary"})
	img, err := filesImage("linux/amd64", []string{"/bin/olm=" + filepath.Join(dir, "olm")}, []string{"/bin/cp=/bin/busybox"},
		"/bin/olm", "", []string{"org.opencontainers.image.version=v0.40.0"})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/bin/olm" || cf.Config.User != nonrootUser {
		t.Errorf("entrypoint %q, user %q", cf.Config.Entrypoint, cf.Config.User)
	}
	if cf.Config.Labels["org.opencontainers.image.version"] != "v0.40.0" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	files := allFiles(t, img)
	if f := files["bin/olm"]; f.data != "binary" || f.hdr.Mode != 0o755 {
		t.Errorf("/bin/olm: %+v", f.hdr)
	}
	if f := files["bin/cp"]; f.hdr == nil || f.hdr.Typeflag != tar.TypeSymlink || f.hdr.Linkname != "/bin/busybox" {
		t.Errorf("/bin/cp: %+v", f.hdr)
	}
	if _, ok := files["etc/passwd"]; !ok {
		t.Error("not on the base: no /etc/passwd")
	}
	if _, err := filesImage("linux/amd64", nil, nil, "/bin/olm", "", nil); err == nil {
		t.Error("an image whose entrypoint is missing was built")
	}
}

// TestFilesArchive is the e2e images' path (test/e2e/images): run as root, written as
// an archive that ctr imports under the tag.
func TestFilesArchive(t *testing.T) {
	dir := writeTree(t, map[string]string{"app": "binary"})
	img, err := filesImage("linux/amd64", []string{"/app=" + filepath.Join(dir, "app")}, nil, "/app", "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cf, err := img.ConfigFile(); err != nil || cf.Config.User != "0" {
		t.Fatalf("user: %v, %v", cf, err)
	}
	out := t.TempDir()
	layoutDir, archive := filepath.Join(out, "layout"), filepath.Join(out, "app.tar")
	if _, err := writeImage(layoutDir, "outrigger.test/app:v1", img); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := writeArchive(layoutDir, archive); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	names := tarFiles(t, f)
	for name, entry := range names {
		if !entry.hdr.ModTime.Equal(time.Unix(0, 0)) || entry.hdr.Uid != 0 {
			t.Errorf("%s: time %s, uid %d", name, entry.hdr.ModTime, entry.hdr.Uid)
		}
	}
	var index v1.IndexManifest
	if err := json.Unmarshal([]byte(names["index.json"].data), &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != "outrigger.test/app:v1" ||
		index.Manifests[0].Platform == nil || index.Manifests[0].Platform.Architecture != "amd64" {
		t.Errorf("index.json names no linux/amd64 image for containerd: %s", names["index.json"].data)
	}
	for _, want := range []string{"oci-layout", "index.json", "blobs/sha256/"} {
		if _, ok := names[want]; !ok {
			t.Errorf("the archive holds no %s: %v", want, names)
		}
	}
}

func TestCatalogImage(t *testing.T) {
	dir := writeTree(t, map[string]string{"opm": "opm"})
	base, err := filesImage("linux/amd64", []string{"/bin/opm=" + filepath.Join(dir, "opm")}, nil, "/bin/opm", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	configs := writeTree(t, map[string]string{"outrigger/index.yaml": "schema: olm.package\n"})
	cache := writeTree(t, map[string]string{"pogreb.v1/digest": "1234"})
	img, err := catalogImage(base, configs, cache)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.Labels[configsLabel] != "/configs" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	if strings.Join(cf.Config.Entrypoint, " ") != "/bin/opm" || strings.Join(cf.Config.Cmd, " ") != "serve /configs --cache-dir=/tmp/cache" {
		t.Errorf("entrypoint %q cmd %q", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	files := allFiles(t, img)
	if files["configs/outrigger/index.yaml"].data != "schema: olm.package\n" {
		t.Errorf("/configs/outrigger/index.yaml: %+v", files["configs/outrigger/index.yaml"])
	}
	if _, ok := files["bin/opm"]; !ok {
		t.Error("the base's /bin/opm is gone")
	}
	if f := files["tmp/cache/pogreb.v1/digest"]; f.data != "1234" || f.hdr.Mode != 0o666 {
		t.Errorf("/tmp/cache/pogreb.v1/digest: %+v", files["tmp/cache/pogreb.v1/digest"])
	}
	if h := files["tmp/cache/pogreb.v1/"].hdr; h == nil || h.Mode != 0o777 {
		t.Errorf("/tmp/cache/pogreb.v1: %+v, want mode 777: opm writes its lock there", h)
	}
	if h := files["tmp/"].hdr; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v, want mode 1777 still", h)
	}
	if _, err := catalogImage(base, t.TempDir(), cache); err == nil {
		t.Error("an empty catalog was built")
	}
}
