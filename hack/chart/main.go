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

// Command chart is what `make helm` runs: it regenerates the Helm chart in
// charts/outrigger from config/default with kubebuilder's own helm plugin
// (helm/v2-alpha, pinned in hack/kubebuilder/go.mod), then applies the patches of
// patches.go for what the plugin cannot express, and adds the alerting rules and the
// dashboard (config/prometheus, config/grafana) as chart files.
//
// The plugin runs in a scratch directory on a copy of PROJECT (it would add targets to
// the Makefile and its own entry to PROJECT otherwise), on `kustomize build
// config/default`. Every patch must apply exactly once: a plugin whose output changed
// fails the generation instead of being patched somewhere else. The chart is written
// afresh each time, so `make verify` sees any drift.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	out := flag.String("out", "charts/outrigger", "Directory the chart is written to (replaced).")
	helm := flag.String("helm", "helm", "The helm binary (hack/helm.sh), to render the chart and compare it with config/default.")
	flag.Parse()
	if err := run(*out, *helm); err != nil {
		fmt.Fprintf(os.Stderr, "make helm: %v\n", err)
		os.Exit(1)
	}
}

func run(out, helm string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "outrigger-chart-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	install, err := command(root, "go", "tool", "kustomize", "build", "config/default")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "install.yaml"), install, 0o644); err != nil {
		return err
	}
	project, err := os.ReadFile(filepath.Join(root, "PROJECT"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "PROJECT"), project, 0o644); err != nil {
		return err
	}
	kubebuilder := filepath.Join(tmp, "kubebuilder")
	if _, err := command(filepath.Join(root, "hack/kubebuilder"), "go", "build", "-o", kubebuilder, "sigs.k8s.io/kubebuilder/v4"); err != nil {
		return err
	}
	if _, err := command(tmp, kubebuilder, "edit", "--plugins=helm/v2-alpha", "--manifests=install.yaml", "--output-dir=out"); err != nil {
		return err
	}
	chart := filepath.Join(tmp, "out", "chart")
	if err := patch(chart); err != nil {
		return err
	}
	for src, dst := range chartFiles {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			return fmt.Errorf("%w (run make monitoring)", err)
		}
		if err := write(chart, dst, string(b)); err != nil {
			return err
		}
	}
	lost, err := missing(chart, helm, install)
	if err != nil {
		return err
	}
	if err := restore(chart, lost); err != nil {
		return err
	}
	if lost, err = missing(chart, helm, install); err != nil {
		return err
	} else if len(lost) > 0 {
		return fmt.Errorf("the chart still lacks %d objects of config/default: %v", len(lost), slices.Collect(maps.Keys(lost)))
	}
	if _, err := command(chart, helm, "lint", "--strict", "."); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	return copyTree(chart, out)
}

// command runs name with args in dir and returns its standard output.
func command(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// write writes content to the chart's file rel, creating its directory.
func write(chart, rel, content string) error {
	p := filepath.Join(chart, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
