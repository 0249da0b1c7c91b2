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
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

func TestSelectorsOf(t *testing.T) {
	web := func(gen int64, app string) *sidecarsv1alpha1.SidecarSet {
		s := utiltesting.MakeSidecarSet("proxy").MatchLabels(map[string]string{"app": app}).Obj()
		s.UID, s.Generation = "uid-1", gen
		return s
	}
	pod := utiltesting.MakePod("p", "shop").Label("app", "web").Obj()
	ns := utiltesting.MakeNamespace("shop", nil)
	var c Selectors
	steps := []struct {
		name string
		set  *sidecarsv1alpha1.SidecarSet
		want bool
	}{
		{name: "first generation parsed", set: web(1, "web"), want: true},
		{name: "same generation reused, even if the object says otherwise", set: web(1, "db"), want: true},
		{name: "new generation parsed again", set: web(2, "db"), want: false},
	}
	for _, s := range steps {
		sel, err := c.Of(s.set)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got, _ := sel.Matches(pod, ns); got != s.want {
			t.Errorf("%s: Matches = %v, want %v", s.name, got, s.want)
		}
	}
	if c.memo.Len() != 1 {
		t.Errorf("entries = %d, want 1 per set", c.memo.Len())
	}
	other := web(1, "web")
	other.UID = types.UID("uid-2")
	if _, err := c.Of(other); err != nil {
		t.Fatal(err)
	}
	c.Retain([]*sidecarsv1alpha1.SidecarSet{other})
	if _, ok := c.memo.entries.Load(types.UID("uid-1")); ok || c.memo.Len() != 1 {
		t.Errorf("Retain kept a deleted set: %d entries", c.memo.Len())
	}

	// A selector that does not parse is kept as such for its generation: the error
	// comes back without parsing again, even if the object now says otherwise.
	invalid := web(1, "web")
	invalid.UID = types.UID("uid-3")
	invalid.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}
	if _, err := c.Of(invalid); err == nil {
		t.Fatal("an invalid selector parsed")
	}
	if _, err := c.Of(web(1, "web")); err != nil {
		t.Fatal(err)
	}
	sameGeneration := web(1, "web")
	sameGeneration.UID = invalid.UID
	if _, err := c.Of(sameGeneration); err == nil {
		t.Error("the invalid selector's error was not kept for its generation")
	}
}

// TestSelectorMatches pins what a parsed Selector answers, errors included: an invalid
// namespaceSelector is reported only for pods the selector matches.
func TestSelectorMatches(t *testing.T) {
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}
	cases := []struct {
		name    string
		set     *sidecarsv1alpha1.SidecarSet
		want    bool
		wantErr bool
	}{
		{name: "no selector", set: utiltesting.MakeSidecarSet("s").Selector(nil).Obj()},
		{name: "matching selector", set: utiltesting.MakeSidecarSet("s").MatchLabels(map[string]string{"app": "web"}).Obj(), want: true},
		{name: "other selector", set: utiltesting.MakeSidecarSet("s").MatchLabels(map[string]string{"app": "db"}).Obj()},
		{name: "namespace selector matching", set: utiltesting.MakeSidecarSet("s").MatchLabels(map[string]string{"app": "web"}).
			NamespaceSelector(map[string]string{"team": "shop"}).Obj(), want: true},
		{name: "namespace selector not matching", set: utiltesting.MakeSidecarSet("s").MatchLabels(map[string]string{"app": "web"}).
			NamespaceSelector(map[string]string{"team": "other"}).Obj()},
		{name: "invalid selector", set: utiltesting.MakeSidecarSet("s").Selector(bad).Obj(), wantErr: true},
		{name: "invalid namespace selector, pod matching", set: func() *sidecarsv1alpha1.SidecarSet {
			s := utiltesting.MakeSidecarSet("s").MatchLabels(map[string]string{"app": "web"}).Obj()
			s.Spec.NamespaceSelector = bad
			return s
		}(), wantErr: true},
		{name: "invalid namespace selector, pod not matching", set: func() *sidecarsv1alpha1.SidecarSet {
			s := utiltesting.MakeSidecarSet("s").MatchLabels(map[string]string{"app": "db"}).Obj()
			s.Spec.NamespaceSelector = bad
			return s
		}()},
	}
	pod := utiltesting.MakePod("p", "shop").Label("app", "web").Obj()
	ns := utiltesting.MakeNamespace("shop", map[string]string{"team": "shop"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := NewSelector(tc.set)
			got := false
			if err == nil {
				got, err = sel.Matches(pod, ns)
			}
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
			if m, mErr := Match(pod, ns, tc.set); m != got || (mErr != nil) != (err != nil) {
				t.Errorf("Match: %v, %v; Selector: %v, %v", m, mErr, got, err)
			}
		})
	}
}

func TestLabelKeys(t *testing.T) {
	for name, tc := range map[string]struct {
		set  *sidecarsv1alpha1.SidecarSet
		want []string
	}{
		"matchLabels and matchExpressions of the selector": {
			set: utiltesting.MakeSidecarSet("mesh").Selector(&metav1.LabelSelector{
				MatchLabels:      map[string]string{"app": "web"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}},
			}).Obj(),
			want: []string{"app", "tier"},
		},
		"the update strategy's selector too, not the namespace selector": {
			set: func() *sidecarsv1alpha1.SidecarSet {
				set := utiltesting.MakeSidecarSet("mesh").MatchLabels(map[string]string{"app": "web"}).
					NamespaceSelector(map[string]string{"team": "shop"}).Obj()
				set.Spec.UpdateStrategy.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"canary": "true"}}
				return set
			}(),
			want: []string{"app", "canary"},
		},
		"no selector": {set: &sidecarsv1alpha1.SidecarSet{}},
	} {
		t.Run(name, func(t *testing.T) {
			got := LabelKeys(tc.set)
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("LabelKeys (-want +got):\n%s", diff)
			}
		})
	}
}
