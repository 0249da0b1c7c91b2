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

package inject

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// TestExcluded: what no set injects, Required or not (Excluded), and what only Optional
// sets skip (OptedOut, Applies).
func TestExcluded(t *testing.T) {
	optOut := map[string]string{sidecarsv1alpha1.InjectLabel: "false"}
	cases := map[string]struct {
		pod                *corev1.Pod
		ns                 *corev1.Namespace
		excluded, optedOut bool
	}{
		"an ordinary pod":           {pod: pod().Obj(), ns: utiltesting.MakeNamespace("shop", nil)},
		"kube-system":               {pod: pod().Obj(), ns: utiltesting.MakeNamespace("kube-system", nil), excluded: true},
		"kube-node-lease":           {pod: pod().Obj(), ns: utiltesting.MakeNamespace("kube-node-lease", nil), excluded: true},
		"the operator's namespace":  {pod: pod().Obj(), ns: utiltesting.MakeNamespace("outrigger-system", nil), excluded: true},
		"an opted-out namespace":    {pod: pod().Obj(), ns: utiltesting.MakeNamespace("shop", optOut), optedOut: true},
		"an opted-out pod":          {pod: pod().Label(sidecarsv1alpha1.InjectLabel, "false").Obj(), ns: utiltesting.MakeNamespace("shop", nil), optedOut: true},
		"inject=true is no opt-out": {pod: pod().Label(sidecarsv1alpha1.InjectLabel, "true").Obj(), ns: utiltesting.MakeNamespace("shop", nil)},
		"kube-public is not exempt": {pod: pod().Obj(), ns: utiltesting.MakeNamespace("kube-public", nil)},
		"an opt-out value other than false is ignored": {
			pod: pod().Label(sidecarsv1alpha1.InjectLabel, "no").Obj(), ns: utiltesting.MakeNamespace("shop", nil),
		},
	}
	optional, required := set("optional").Obj(), set("required").Required().Obj()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			why := Excluded(tc.ns, "outrigger-system")
			if got := why != ""; got != tc.excluded {
				t.Errorf("Excluded = %q, want excluded %v", why, tc.excluded)
			}
			out := OptedOut(tc.pod, tc.ns)
			if got := out != ""; got != tc.optedOut {
				t.Errorf("OptedOut = %q, want opted out %v", out, tc.optedOut)
			}
			if got := Applies(optional, out); got == tc.optedOut {
				t.Errorf("Applies(Optional) = %v for opted out %v", got, tc.optedOut)
			}
			if !Applies(required, out) {
				t.Errorf("Applies(Required) = false: a Required set ignores the opt-out")
			}
		})
	}
}

func TestMatch(t *testing.T) {
	cases := map[string]struct {
		set     *sidecarsv1alpha1.SidecarSet
		pod     *corev1.Pod
		ns      *corev1.Namespace
		want    bool
		wantErr bool
	}{
		"selector matches, no namespace selector": {
			set: set("s").Obj(), pod: pod().Obj(), ns: utiltesting.MakeNamespace("shop", nil), want: true,
		},
		"selector does not match": {
			set: set("s").MatchLabels(map[string]string{"app": "db"}).Obj(), pod: pod().Obj(), ns: utiltesting.MakeNamespace("shop", nil),
		},
		"namespace selector matches": {
			set: set("s").NamespaceSelector(map[string]string{"team": "web"}).Obj(), pod: pod().Obj(),
			ns: utiltesting.MakeNamespace("shop", map[string]string{"team": "web"}), want: true,
		},
		"namespace selector does not match": {
			set: set("s").NamespaceSelector(map[string]string{"team": "web"}).Obj(), pod: pod().Obj(),
			ns: utiltesting.MakeNamespace("shop", map[string]string{"team": "data"}),
		},
		"match expressions": {
			set: set("s").Selector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api"}},
				{Key: "canary", Operator: metav1.LabelSelectorOpDoesNotExist}}}).Obj(),
			pod: pod().Obj(), ns: utiltesting.MakeNamespace("shop", nil), want: true,
		},
		"an invalid selector is an error, not a match": {
			set: set("s").Selector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: "Near"}}}).Obj(),
			pod: pod().Obj(), ns: utiltesting.MakeNamespace("shop", nil), wantErr: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Match(tc.pod, tc.ns, tc.set)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Match error = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}
