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
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestBaseIndex(t *testing.T) {
	platforms := []string{"linux/amd64", "linux/arm64"}
	idx, err := baseIndex(platforms)
	if err != nil {
		t.Fatal(err)
	}
	again, err := baseIndex(platforms)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := again.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("two bases differ: %s, %s", d1, d2)
	}

	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", m.MediaType)
	}
	if len(m.Manifests) != len(platforms) {
		t.Fatalf("%d manifests, want %d", len(m.Manifests), len(platforms))
	}
	for i, desc := range m.Manifests {
		if got := desc.Platform.String(); got != platforms[i] {
			t.Errorf("manifest %d: platform %s, want %s", i, got, platforms[i])
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("%s: user %q, want 65532:65532", platforms[i], cf.Config.User)
		}
		if cf.OS+"/"+cf.Architecture != platforms[i] {
			t.Errorf("config platform %s/%s, want %s", cf.OS, cf.Architecture, platforms[i])
		}
		if !cf.Created.IsZero() {
			t.Errorf("created %s: not reproducible", cf.Created)
		}
		files := layerFiles(t, img)
		if !strings.Contains(files["etc/passwd"].data, "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd has no nonroot 65532: %q", files["etc/passwd"].data)
		}
		if !strings.Contains(files["etc/group"].data, "nonroot:x:65532:") {
			t.Errorf("/etc/group has no nonroot 65532: %q", files["etc/group"].data)
		}
		if h := files["home/nonroot/"].hdr; h == nil || h.Uid != 65532 || h.Mode != 0o700 {
			t.Errorf("/home/nonroot: %+v, want a 0700 directory of 65532", h)
		}
		if h := files["tmp/"].hdr; h == nil || h.Mode != 0o1777 {
			t.Errorf("/tmp: %+v, want mode 1777", h)
		}
		for name, f := range files {
			if f.hdr.ModTime.Unix() != 0 {
				t.Errorf("%s: mtime %s, want the epoch", name, f.hdr.ModTime)
			}
		}
	}
}

func TestBaseIndexRefusesOtherOSes(t *testing.T) {
	if _, err := baseIndex([]string{"windows/amd64"}); err == nil {
		t.Error("a windows base was made")
	}
}

type file struct {
	hdr  *tar.Header
	data string
}

// layerFiles is allFiles of an image that must have one OCI layer.
func layerFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	if mt, err := layers[0].MediaType(); err != nil || mt != types.OCILayer {
		t.Errorf("layer media type %s (%v), want %s", mt, err, types.OCILayer)
	}
	return allFiles(t, img)
}
