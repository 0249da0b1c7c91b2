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

package admissionpolicy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

func source(w *utiltesting.SidecarSetWrapper) inject.Source { return inject.SourceOf(w.Obj()) }

func set(name string) *utiltesting.SidecarSetWrapper {
	return utiltesting.MakeSidecarSet(name).MatchLabels(map[string]string{"app": name}).
		Sidecar(utiltesting.MakeSidecar("agent", "example.com/agent:1").Obj())
}

func TestCompileLeavesOut(t *testing.T) {
	deleting := set("deleting").Obj()
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		name            string
		sources         []inject.Source
		wantUnsupported map[string]string
		wantIn, wantOut []string
	}{{
		name:    "a paused set injects nothing and is not unsupported",
		sources: []inject.Source{source(set("live")), source(set("paused").InjectionPaused())},
		wantIn:  []string{"live"}, wantOut: []string{"paused"},
	}, {
		name:    "a set being deleted injects nothing",
		sources: []inject.Source{source(set("live")), inject.SourceOf(deleting)},
		wantIn:  []string{"live"}, wantOut: []string{"deleting"},
	}, {
		name: "a selector the webhook cannot parse is unsupported, with the parser's reason",
		sources: []inject.Source{source(set("live")), source(set("bad").Selector(&metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}))},
		wantUnsupported: map[string]string{"bad": `selector: "Near" is not a valid label selector operator`},
		wantIn:          []string{"live"}, wantOut: []string{"bad"},
	}, {
		name:    "a namespaceSelector that does not parse is unsupported",
		sources: []inject.Source{source(set("badns").NamespaceSelector(map[string]string{"not a key!": "x"}))},
		wantOut: []string{"badns"},
		wantUnsupported: map[string]string{"badns": `namespaceSelector: key: Invalid value: "not a key!": name part must consist of alphanumeric characters, ` +
			`'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', ` +
			`regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := Compile(tc.sources, Options{})
			if diff := cmp.Diff(tc.wantUnsupported, got.Unsupported, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Unsupported (-want +got):\n%s", diff)
			}
			text := policyText(got)
			for _, n := range tc.wantIn {
				if !strings.Contains(text, `\"`+n+`\"`) {
					t.Errorf("the policy does not record %s", n)
				}
			}
			for _, n := range tc.wantOut {
				if strings.Contains(text, `\"`+n+`\"`) {
					t.Errorf("the policy records %s", n)
				}
			}
		})
	}
}

// policyText is every expression of the policy, as the record heads quote set names.
func policyText(c Compiled) string {
	var b strings.Builder
	for _, v := range c.Policy.Spec.Variables {
		b.WriteString(v.Expression)
		b.WriteByte('\n')
	}
	b.WriteString(c.Policy.Spec.Mutations[0].JSONPatch.Expression)
	return b.String()
}

func TestCompileIsDeterministic(t *testing.T) {
	var sources []inject.Source
	for i := range 30 {
		w := set(fmt.Sprintf("s%02d", i)).Priority(int32(i%4)).Volume(utiltesting.EmptyDir("shared")).
			PodMetadata(map[string]string{"k": fmt.Sprint(i)}, nil)
		sources = append(sources, source(w))
	}
	want := Compile(sources, Options{})
	shuffled := slices.Clone(sources)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got := Compile(shuffled, Options{})
	if diff := cmp.Diff(want.Policy, got.Policy); diff != "" {
		t.Errorf("the order of the sources changed the policy (-first +shuffled):\n%s", diff)
	}
}

func TestCompileKeepsTheFirstSetsWithinTheBudget(t *testing.T) {
	var sources []inject.Source
	for i := range 40 {
		sources = append(sources, source(set(fmt.Sprintf("s%02d", i)).Priority(int32(100-i))))
	}
	all := Compile(sources, Options{})
	if len(all.Unsupported) != 0 {
		t.Fatalf("Unsupported = %v with the default budget", all.Unsupported)
	}
	budget := size(all.Policy) / 2
	got := Compile(sources, Options{MaxBytes: budget})
	if size(got.Policy) > budget {
		t.Errorf("policy of %d bytes, budget %d", size(got.Policy), budget)
	}
	if len(got.Unsupported) == 0 || len(got.Unsupported) == len(sources) {
		t.Fatalf("%d of %d sets cut, want some", len(got.Unsupported), len(sources))
	}
	// Injection order is by priority: s00 first. The cut is a suffix of it.
	kept := len(sources) - len(got.Unsupported)
	for i, src := range sources {
		_, cut := got.Unsupported[src.Set.Name]
		if cut != (i >= kept) {
			t.Errorf("set %s (position %d in injection order) cut = %v, want the last %d cut", src.Set.Name, i, cut, len(got.Unsupported))
		}
	}
	if why := got.Unsupported[sources[len(sources)-1].Set.Name]; !strings.Contains(why, fmt.Sprintf("the first %d of 40", kept)) {
		t.Errorf("reason %q does not say how many fit", why)
	}
}

// TestCompileBindsAsTheWebhookConfigurationExcludes: the system namespaces and the
// operator's only; opted-out pods and namespaces are matched, for Required sets.
func TestCompileBindsAsTheWebhookConfigurationExcludes(t *testing.T) {
	got := Compile(nil, Options{OperatorNamespace: "outrigger-system"}).Binding.Spec.MatchResources
	want := []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "kube-node-lease", "outrigger-system"}},
	}
	if diff := cmp.Diff(want, got.NamespaceSelector.MatchExpressions); diff != "" {
		t.Errorf("namespaceSelector (-want +got):\n%s", diff)
	}
	if got.ObjectSelector != nil {
		t.Errorf("objectSelector %v: Required sets would miss opted-out pods", got.ObjectSelector)
	}
}

func TestCompileWithoutSetsStillStripsForgedMetadata(t *testing.T) {
	text := policyText(Compile(nil, Options{}))
	for _, want := range []string{"/metadata/annotations/sidecars.outrigger.dev~1injected", "/metadata/annotations/sidecars.outrigger.dev~1upgrade",
		"/metadata/labels/sidecars.outrigger.dev~1injected", "'remove'"} {
		if !strings.Contains(text, want) {
			t.Errorf("the policy without sets lacks %s", want)
		}
	}
}

func TestSelectorExpr(t *testing.T) {
	for _, tc := range []struct {
		name string
		sel  *metav1.LabelSelector
		want string
	}{
		{"nil selects nothing", nil, "false"},
		{"empty selects everything", &metav1.LabelSelector{}, "true"},
		{"matchLabels, sorted", &metav1.LabelSelector{MatchLabels: map[string]string{"b": "2", "a": "1"}},
			`l[?"a"] == optional.of("1") && l[?"b"] == optional.of("2")`},
		{"every operator", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "in", Operator: metav1.LabelSelectorOpIn, Values: []string{"x", "y"}},
			{Key: "notin", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"z"}},
			{Key: "ex", Operator: metav1.LabelSelectorOpExists},
			{Key: "dne", Operator: metav1.LabelSelectorOpDoesNotExist},
		}}, `("in" in l && l["in"] in ["x", "y"]) && (!("notin" in l) || !(l["notin"] in ["z"])) && ("ex" in l) && !("dne" in l)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectorExpr(tc.sel, "l")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("selectorExpr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"a map of strings needs no dyn", map[string]any{"b": "2", "a": "1"}, `{"a": "1", "b": "2"}`},
		{"a mixed map wraps every value", map[string]any{"n": "x", "l": []any{"a"}}, `{"l": dyn(["a"]), "n": dyn("x")}`},
		{"a list holding CEL wraps every element", []any{map[string]any{"a": "1"}, expr("variables.x")}, `[dyn({"a": "1"}), dyn(variables.x)]`},
		{"quotes are escaped", "say \"hi\"\n", `"say \"hi\"\n"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := literal(tc.in); got != tc.want {
				t.Errorf("literal = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestCompileLeavesOutSetsWithOverrides: per-pod overrides make a set NotExpressible,
// with the field in the reason.
func TestCompileLeavesOutSetsWithOverrides(t *testing.T) {
	with := utiltesting.MakeSidecarSet("mesh").Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").
		Overrides(sidecarsv1alpha1.OverrideResources).Obj()).Obj()
	without := utiltesting.MakeSidecarSet("logs").Sidecar(utiltesting.MakeSidecar("shipper", "example.com/shipper:1").Obj()).Obj()
	got := Compile([]inject.Source{inject.SourceOf(with), inject.SourceOf(without)}, Options{})
	if why := got.Unsupported["mesh"]; !strings.Contains(why, "spec.containers[0].overrides") {
		t.Errorf("reason for mesh %q, want it to name spec.containers[0].overrides", why)
	}
	if _, ok := got.Unsupported["logs"]; ok {
		t.Errorf("logs left out: %s", got.Unsupported["logs"])
	}
}
