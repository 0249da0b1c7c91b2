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

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/webhooks"
)

const injectExample = `  # What the webhook would make of a Deployment, with the SidecarSets of the cluster
  kubectl outrigger inject -f deploy.yaml

  # Only what injection adds, as a diff
  kubectl outrigger inject -f deploy.yaml --diff

  # With no cluster at all (CI, GitOps review): sets and namespace labels from files
  kubectl outrigger inject -f deploy.yaml --sidecarsets config/samples/ --namespace-labels team=payments

  # From standard input
  helm template ./chart | kubectl outrigger inject -f -`

// injectOptions are inject's flags.
type injectOptions struct {
	files           []string
	setsFile        string
	namespaceLabels string
	diff            bool
	output          string
}

func newInjectCommand(o *Options) *cobra.Command {
	opts := &injectOptions{}
	cmd := &cobra.Command{
		Use:   "inject -f FILE|-",
		Short: "Print manifests as the pod webhook would inject them",
		Long: `Print manifests as Outrigger's pod webhook would inject them: Pods, and the pod
templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs.
Other objects are printed as they are. Nothing is written to the cluster.

The injection is the webhook's own code: the result is what the webhook stores.
SidecarSets, their revisions and namespace labels come from the cluster, or with
--sidecarsets (and --namespace-labels) from files, with no cluster at all.`,
		Example: injectExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInject(cmd.Context(), o, opts)
		},
	}
	cmd.Flags().StringSliceVarP(&opts.files, "filename", "f", nil, "Manifests to inject (files, directories, or - for standard input).")
	cmd.Flags().StringVar(&opts.setsFile, "sidecarsets", "",
		"Read the SidecarSets (and the ControllerRevisions they pin) from this file or directory instead of the cluster.")
	cmd.Flags().StringVar(&opts.namespaceLabels, "namespace-labels", "",
		"Labels of the pods' namespaces, instead of the cluster's: key=value,... for every namespace, or a file of Namespace manifests.")
	cmd.Flags().BoolVar(&opts.diff, "diff", false, "Print only what injection adds, as a unified diff of each changed object.")
	outputFlag(cmd, &opts.output, "yaml (default), json")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// document is one object of the input, as JSON.
type document struct {
	raw  []byte
	kind string
	name string
	ns   string
}

func runInject(ctx context.Context, o *Options, opts *injectOptions) error {
	switch opts.output {
	case "", formatYAML, formatJSON:
	default:
		return unknownOutput(opts.output, "yaml, json")
	}
	docs, err := readDocuments(opts.files, o.Streams.In)
	if err != nil {
		return err
	}
	injector, err := o.injector(ctx, opts.setsFile, opts.namespaceLabels)
	if err != nil {
		return err
	}
	defaultNS, err := o.namespace()
	if err != nil {
		return err
	}
	for i, doc := range docs {
		ns := doc.ns
		if ns == "" {
			ns = defaultNS
		}
		out, err := injectDocument(ctx, injector, ns, doc)
		if err != nil {
			return fmt.Errorf("%s %q: %w", doc.kind, doc.name, err)
		}
		if err := printDocument(o.Streams.Out, opts, i, doc, out); err != nil {
			return err
		}
	}
	return nil
}

// templatePaths are where the pod template sits in each workload kind.
var templatePaths = map[string][]string{
	"Deployment":            {fieldSpec, fieldTemplate},
	"StatefulSet":           {fieldSpec, fieldTemplate},
	"DaemonSet":             {fieldSpec, fieldTemplate},
	"ReplicaSet":            {fieldSpec, fieldTemplate},
	"ReplicationController": {fieldSpec, fieldTemplate},
	"Job":                   {fieldSpec, fieldTemplate},
	"CronJob":               {fieldSpec, "jobTemplate", fieldSpec, fieldTemplate},
}

// injectDocument is doc as the webhook would inject it (or its pod template) in ns.
func injectDocument(ctx context.Context, injector *webhooks.PodInjector, ns string, doc document) ([]byte, error) {
	if doc.kind == kindPod {
		return injectPod(ctx, injector, ns, doc.raw)
	}
	path, ok := templatePaths[doc.kind]
	if !ok {
		return doc.raw, nil
	}
	obj := map[string]any{}
	if err := unmarshalJSON(doc.raw, &obj); err != nil {
		return nil, err
	}
	parent := obj
	for _, k := range path[:len(path)-1] {
		next, ok := parent[k].(map[string]any)
		if !ok {
			return doc.raw, nil // no template: nothing the webhook would see
		}
		parent = next
	}
	tmpl, ok := parent[path[len(path)-1]].(map[string]any)
	if !ok {
		return doc.raw, nil
	}
	// The pod a controller creates from the template: the template's metadata and spec.
	meta, hadMeta := tmpl["metadata"].(map[string]any)
	if !hadMeta {
		meta = map[string]any{}
	}
	pod, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": kindPod, "metadata": meta, fieldSpec: tmpl[fieldSpec]})
	if err != nil {
		return nil, err
	}
	injected, err := injectPod(ctx, injector, ns, pod)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := unmarshalJSON(injected, &out); err != nil {
		return nil, err
	}
	if m, _ := out["metadata"].(map[string]any); hadMeta || len(m) > 0 {
		tmpl["metadata"] = m
	}
	tmpl[fieldSpec] = out[fieldSpec]
	return json.Marshal(obj)
}

// injectPod applies the webhook's answer for the pod raw in ns to raw.
func injectPod(ctx context.Context, injector *webhooks.PodInjector, ns string, raw []byte) ([]byte, error) {
	resp := webhooks.Preview(ctx, injector, Scheme, ns, raw)
	if !resp.Allowed {
		msg := "refused"
		if resp.Result != nil && resp.Result.Message != "" {
			msg = resp.Result.Message
		}
		return nil, fmt.Errorf("the webhook would refuse it: %s", msg)
	}
	if len(resp.Patches) == 0 {
		return raw, nil
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		return nil, err
	}
	return patch.ApplyWithOptions(raw, &jsonpatch.ApplyOptions{EnsurePathExistsOnAdd: true})
}

func printDocument(w io.Writer, opts *injectOptions, i int, doc document, out []byte) error {
	if opts.diff {
		if bytes.Equal(doc.raw, out) {
			return nil
		}
		before, err := yaml.JSONToYAML(doc.raw)
		if err != nil {
			return err
		}
		after, err := yaml.JSONToYAML(out)
		if err != nil {
			return err
		}
		id := doc.kind + "/" + doc.name
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(strings.TrimSuffix(string(before), "\n")), B: difflib.SplitLines(strings.TrimSuffix(string(after), "\n")),
			FromFile: id + " (as written)", ToFile: id + " (injected)", Context: 3,
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(w, text)
		return err
	}
	if opts.output == formatJSON {
		var buf bytes.Buffer
		if err := json.Indent(&buf, out, "", "    "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	b, err := yaml.JSONToYAML(out)
	if err != nil {
		return err
	}
	if i > 0 {
		if _, err := fmt.Fprint(w, "---\n"); err != nil {
			return err
		}
	}
	_, err = w.Write(b)
	return err
}

// unmarshalJSON keeps numbers as they were written.
func unmarshalJSON(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

// readDocuments reads every object of files (- is in), in order; Lists are expanded.
func readDocuments(files []string, in io.Reader) ([]document, error) {
	var docs []document
	for _, f := range files {
		readers, err := open(f, in)
		if err != nil {
			return nil, err
		}
		for _, r := range readers {
			d, err := decodeAll(r.Reader, r.name, r.inDir)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

type namedReader struct {
	io.Reader
	name string
	// inDir says the file was found in a directory: a file there that is no manifest
	// (a kustomization.yaml) is skipped, as kubectl apply -f DIR skips it.
	inDir bool
}

// open is f's content: standard input, a file, or the YAML and JSON files of a directory.
func open(f string, in io.Reader) ([]namedReader, error) {
	if f == "-" {
		return []namedReader{{in, "<stdin>", false}}, nil
	}
	st, err := os.Stat(f)
	if err != nil {
		return nil, err
	}
	names := []string{f}
	if st.IsDir() {
		entries, err := os.ReadDir(f)
		if err != nil {
			return nil, err
		}
		names = nil
		for _, e := range entries {
			if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".json")) {
				names = append(names, f+"/"+n)
			}
		}
	}
	var out []namedReader
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, namedReader{bytes.NewReader(b), n, st.IsDir()})
	}
	return out, nil
}

func decodeAll(r io.Reader, name string, lenient bool) ([]document, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var docs []document
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var head struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
			Items    []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if strings.HasSuffix(head.Kind, "List") && head.Items != nil {
			for _, item := range head.Items {
				d, err := decodeAll(bytes.NewReader(item), name, lenient)
				if err != nil {
					return nil, err
				}
				docs = append(docs, d...)
			}
			continue
		}
		if head.Kind == "" && lenient {
			continue
		}
		if head.Kind == "" {
			return nil, fmt.Errorf("reading %s: an object has no kind", name)
		}
		name := head.Metadata.Name
		if name == "" {
			name = head.Metadata.GenerateName
		}
		docs = append(docs, document{raw: raw, kind: head.Kind, name: name, ns: head.Metadata.Namespace})
	}
}

// injector is the webhook's PodInjector over the sets of the cluster, or of setsFile.
func (o *Options) injector(ctx context.Context, setsFile, nsLabels string) (*webhooks.PodInjector, error) {
	namespaces, err := namespaceOverride(nsLabels)
	if err != nil {
		return nil, err
	}
	if setsFile != "" {
		docs, err := readDocuments([]string{setsFile}, nil)
		if err != nil {
			return nil, err
		}
		r := &fileReader{namespaces: namespaces}
		var sets []*sidecarsv1alpha1.SidecarSet
		for _, d := range docs {
			switch d.kind {
			case "SidecarSet":
				set := &sidecarsv1alpha1.SidecarSet{}
				if err := json.Unmarshal(d.raw, set); err != nil {
					return nil, fmt.Errorf("SidecarSet %q: %w", d.name, err)
				}
				defaultLikeServer(set)
				sets = append(sets, set)
			case "ControllerRevision":
				cr := appsv1.ControllerRevision{}
				if err := json.Unmarshal(d.raw, &cr); err != nil {
					return nil, fmt.Errorf("ControllerRevision %q: %w", d.name, err)
				}
				r.revisions = append(r.revisions, cr)
			}
		}
		return &webhooks.PodInjector{Reader: r, Sets: staticSets(sets), OperatorNamespace: o.OperatorNamespace}, nil
	}
	c, err := o.NewClient()
	if err != nil {
		return nil, err
	}
	list := &sidecarsv1alpha1.SidecarSetList{}
	if err := c.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing SidecarSets (or give them with --sidecarsets): %w", err)
	}
	sets := make([]*sidecarsv1alpha1.SidecarSet, len(list.Items))
	for i := range list.Items {
		sets[i] = &list.Items[i]
	}
	var r client.Reader = c
	if namespaces != nil {
		r = &fileReader{namespaces: namespaces, next: c}
	}
	return &webhooks.PodInjector{Reader: r, Sets: staticSets(sets), OperatorNamespace: o.OperatorNamespace}, nil
}

type staticSets []*sidecarsv1alpha1.SidecarSet

func (s staticSets) List() []*sidecarsv1alpha1.SidecarSet { return s }

// namespaceOverride reads --namespace-labels: nil when not given.
func namespaceOverride(v string) (func(name string) (map[string]string, bool), error) {
	if v == "" {
		return nil, nil
	}
	if _, err := os.Stat(v); err == nil {
		docs, err := readDocuments([]string{v}, nil)
		if err != nil {
			return nil, err
		}
		byName := map[string]map[string]string{}
		for _, d := range docs {
			if d.kind != "Namespace" {
				continue
			}
			ns := &corev1.Namespace{}
			if err := json.Unmarshal(d.raw, ns); err != nil {
				return nil, err
			}
			byName[ns.Name] = ns.Labels
		}
		return func(name string) (map[string]string, bool) {
			l, ok := byName[name]
			return l, ok
		}, nil
	}
	set, err := labels.ConvertSelectorToLabelsMap(v)
	if err != nil {
		return nil, fmt.Errorf("--namespace-labels: neither a file nor key=value,...: %w", err)
	}
	return func(string) (map[string]string, bool) { return set, true }, nil
}

// fileReader serves the webhook's reads from files: namespaces as --namespace-labels
// says, revisions from --sidecarsets; what it does not hold, from next (the cluster).
type fileReader struct {
	namespaces func(name string) (map[string]string, bool)
	revisions  []appsv1.ControllerRevision
	next       client.Reader
}

func (r *fileReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		if l, ok := r.lookupNamespace(key.Name); ok {
			o.Name, o.Labels = key.Name, l
			return nil
		}
	case *appsv1.ControllerRevision:
		for i := range r.revisions {
			if r.revisions[i].Name == key.Name {
				r.revisions[i].DeepCopyInto(o)
				return nil
			}
		}
	}
	if r.next != nil {
		return r.next.Get(ctx, key, obj, opts...)
	}
	if _, ok := obj.(*metav1.PartialObjectMetadata); ok {
		// No cluster and no labels given: a namespace without labels.
		obj.SetName(key.Name)
		return nil
	}
	return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", obj)}, key.Name)
}

func (r *fileReader) lookupNamespace(name string) (map[string]string, bool) {
	if r.namespaces == nil {
		return nil, false
	}
	return r.namespaces(name)
}

func (r *fileReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if r.next != nil {
		return r.next.List(ctx, list, opts...)
	}
	return fmt.Errorf("listing %T: not available without a cluster", list)
}

// defaultLikeServer fills what the API server's schema defaults and the defaulting
// webhook write into a SidecarSet before storing it, so that a set read from a file
// injects, and hashes, as the stored one would.
func defaultLikeServer(set *sidecarsv1alpha1.SidecarSet) {
	for i := range set.Spec.Containers {
		c := &set.Spec.Containers[i]
		if c.Mode == "" {
			c.Mode = sidecarsv1alpha1.SidecarModeNative
		}
		for j := range c.Ports {
			if c.Ports[j].Protocol == "" {
				c.Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
		if c.ResourcesPolicy != nil && c.ResourcesPolicy.Aggregate == "" {
			c.ResourcesPolicy.Aggregate = sidecarsv1alpha1.AggregateSum
		}
	}
	set.Spec.DefaultPlacements(nil)
}
