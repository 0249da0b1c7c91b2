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
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The kustomize install's namespace and name prefix (config/default).
const (
	installNamespace = "outrigger-system"
	installPrefix    = "outrigger-"
)

// restoredConditions are the values that switch a restored object off, by its name in
// the kustomize install.
var restoredConditions = map[string]string{
	"outrigger-cert-rotator-role":                     selfCerts,
	"outrigger-cert-rotator-rolebinding":              selfCerts,
	"outrigger-pod-metadata.sidecars.outrigger.dev":   podMetadataOn,
	"outrigger-sidecars-ready.sidecars.outrigger.dev": ".Values.policies.sidecarsReady.enabled",
}

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func (o object) key() string { return o.Kind + "/" + o.Metadata.Name }

// documents splits a multi-document YAML stream.
func documents(stream []byte) []string {
	var docs []string
	for d := range strings.SplitSeq(string(stream), "\n---\n") {
		if strings.TrimSpace(strings.TrimPrefix(d, "---\n")) != "" {
			docs = append(docs, strings.TrimPrefix(d, "---\n"))
		}
	}
	return docs
}

func keys(stream []byte) (map[string]string, error) {
	m := map[string]string{}
	for _, d := range documents(stream) {
		var o object
		if err := yaml.Unmarshal([]byte(d), &o); err != nil {
			return nil, err
		}
		if o.Kind != "" {
			m[o.key()] = d
		}
	}
	return m, nil
}

// missing are the kustomize install's objects that the chart, rendered with its default
// values as release "outrigger" in the install's namespace, lacks (the Namespace aside:
// helm install --create-namespace makes it).
func missing(chart, helm string, install []byte) (map[string]string, error) {
	want, err := keys(install)
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "outrigger-helm-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(home) }()
	if err := os.Setenv("HELM_CACHE_HOME", filepath.Join(home, "cache")); err != nil {
		return nil, err
	}
	_ = os.Setenv("HELM_CONFIG_HOME", filepath.Join(home, "config"))
	_ = os.Setenv("HELM_DATA_HOME", filepath.Join(home, "data"))
	rendered, err := command(chart, helm, "template", "outrigger", ".", "--namespace", installNamespace)
	if err != nil {
		return nil, err
	}
	got, err := keys(rendered)
	if err != nil {
		return nil, err
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return nil, fmt.Errorf("the chart renders %s, which config/default does not install", k)
		}
	}
	out := map[string]string{}
	for k, d := range want {
		if _, ok := got[k]; !ok && !strings.HasPrefix(k, "Namespace/") {
			out[k] = d
		}
	}
	return out, nil
}

// restore writes the objects the plugin dropped as templates: it writes one file per
// object name, so of two kinds with one name (kustomize's cert-rotator-role is a Role
// and a ClusterRole; an admission policy and its binding share their name) one is lost.
// Their names and namespace become the release's.
func restore(chart string, lost map[string]string) error {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range lost {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range names {
		var o object
		if err := yaml.Unmarshal([]byte(lost[k]), &o); err != nil {
			return err
		}
		text := templated(lost[k])
		header := "# " + o.Kind + " " + o.Metadata.Name + " of config/default, which kubebuilder's helm plugin drops\n" +
			"# (another kind has its name); written by hack/chart.\n"
		if c, ok := restoredConditions[o.Metadata.Name]; ok {
			text = "{{- if " + c + " }}\n" + header + strings.TrimSuffix(text, "\n") + "\n{{- end }}\n"
		} else {
			text = header + text
		}
		file := fmt.Sprintf("templates/restored/%s-%s.yaml", strings.ToLower(o.Kind),
			strings.TrimPrefix(o.Metadata.Name, installPrefix))
		if err := write(chart, file, text); err != nil {
			return err
		}
	}
	return nil
}

// templated turns the install's names into the release's, as the plugin does.
func templated(doc string) string {
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " -")
		indent := l[:len(l)-len(trimmed)]
		if strings.HasSuffix(indent, "- ") && strings.HasPrefix(trimmed, installPrefix) {
			// A list of names, such as resourceNames.
			lines[i] = indent + `{{ include "outrigger.resourceName" (dict "suffix" "` + strings.TrimPrefix(trimmed, installPrefix) + `" "context" $) }}`
			continue
		}
		for _, field := range []string{"name: ", "policyName: ", "namespace: "} {
			v, ok := strings.CutPrefix(trimmed, field)
			if !ok {
				continue
			}
			switch {
			case field == "namespace: " && v == installNamespace:
				lines[i] = indent + field + "{{ .Release.Namespace }}"
			case v == installPrefix+"controller-manager":
				// In the kinds restored, only a ServiceAccount has this name.
				lines[i] = indent + field + serviceAccount
			case strings.HasPrefix(v, installPrefix):
				base, domain, _ := strings.Cut(strings.TrimPrefix(v, installPrefix), ".")
				if domain != "" {
					domain = "." + domain
				}
				lines[i] = indent + field + `{{ include "outrigger.resourceName" (dict "suffix" "` + base + `" "context" $) }}` + domain
			}
		}
	}
	return strings.Join(lines, "\n")
}
