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

package validation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

func TestSelectorsOverlap(t *testing.T) {
	const (
		in           = metav1.LabelSelectorOpIn
		notIn        = metav1.LabelSelectorOpNotIn
		exists       = metav1.LabelSelectorOpExists
		doesNotExist = metav1.LabelSelectorOpDoesNotExist
	)
	web := map[string]string{"app": "web"}
	tests := []struct {
		name string
		a, b *metav1.LabelSelector
		want bool
	}{
		{name: "both nil", want: true},
		{name: "nil and a selector", b: sel(web), want: true},
		{name: "empty and a selector", a: sel(nil), b: sel(web), want: true},
		{name: "same matchLabels", a: sel(web), b: sel(web), want: true},
		{name: "different values of one key", a: sel(web), b: sel(map[string]string{"app": "db"}), want: false},
		{name: "different keys", a: sel(web), b: sel(map[string]string{"tier": "front"}), want: true},
		{name: "matchLabels within In", a: sel(web), b: sel(nil, expr("app", in, "db", "web")), want: true},
		{name: "matchLabels outside In", a: sel(web), b: sel(nil, expr("app", in, "db", "cache")), want: false},
		{name: "In sets intersect", a: sel(nil, expr("app", in, "a", "b")), b: sel(nil, expr("app", in, "b", "c")), want: true},
		{name: "In sets disjoint", a: sel(nil, expr("app", in, "a", "b")), b: sel(nil, expr("app", in, "c", "d")), want: false},
		{name: "In covered by NotIn", a: sel(nil, expr("app", in, "a", "b")), b: sel(nil, expr("app", notIn, "b", "a", "c")), want: false},
		{name: "In partly covered by NotIn", a: sel(nil, expr("app", in, "a", "b")), b: sel(nil, expr("app", notIn, "a")), want: true},
		{name: "matchLabels excluded by NotIn", a: sel(web), b: sel(nil, expr("app", notIn, "web")), want: false},
		{name: "Exists and NotIn", a: sel(nil, expr("app", exists)), b: sel(nil, expr("app", notIn, "web", "db")), want: true},
		{name: "Exists and DoesNotExist", a: sel(nil, expr("app", exists)), b: sel(nil, expr("app", doesNotExist)), want: false},
		{name: "In and DoesNotExist", a: sel(nil, expr("app", in, "web")), b: sel(nil, expr("app", doesNotExist)), want: false},
		{name: "matchLabels and DoesNotExist", a: sel(web), b: sel(nil, expr("app", doesNotExist)), want: false},
		{name: "NotIn holds for an absent key", a: sel(nil, expr("app", notIn, "web")), b: sel(nil, expr("app", doesNotExist)), want: true},
		{name: "DoesNotExist on both", a: sel(nil, expr("app", doesNotExist)), b: sel(nil, expr("app", doesNotExist)), want: true},
		{name: "DoesNotExist on another key", a: sel(web), b: sel(nil, expr("tier", doesNotExist)), want: true},
		{name: "one disjoint key among several", a: sel(map[string]string{"app": "web", "tier": "front"}),
			b: sel(map[string]string{"app": "web"}, expr("tier", in, "back")), want: false},
		{name: "a selector that contradicts itself", a: sel(web, expr("app", in, "db")), want: false},
		{name: "an unknown operator is taken as overlapping", a: sel(web), b: sel(map[string]string{"app": "db"}, expr("app", "Near", "x")), want: true},
		{name: "In without values is taken as overlapping", a: sel(web), b: sel(map[string]string{"app": "db"}, expr("app", in)), want: true},
		{name: "an invalid label value is taken as overlapping", a: sel(web), b: sel(map[string]string{"app": "not valid!"}), want: true},
		{name: "Exists with values is taken as overlapping", a: sel(nil, expr("app", doesNotExist)), b: sel(nil, expr("app", exists, "x")), want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SelectorsOverlap(tc.a, tc.b); got != tc.want {
				t.Errorf("SelectorsOverlap(a, b) = %v, want %v", got, tc.want)
			}
			if got := SelectorsOverlap(tc.b, tc.a); got != tc.want {
				t.Errorf("SelectorsOverlap(b, a) = %v, want %v", got, tc.want)
			}
		})
	}
}

func deleting(s *sidecarsv1alpha1.SidecarSet) *sidecarsv1alpha1.SidecarSet {
	now := metav1.Now()
	s.DeletionTimestamp = &now
	return s
}

func setList(sets ...*sidecarsv1alpha1.SidecarSet) []sidecarsv1alpha1.SidecarSet {
	var out []sidecarsv1alpha1.SidecarSet
	for _, s := range sets {
		out = append(out, *s)
	}
	return out
}

// conflict is an expected error of ValidateConflicts: where it is in the validated set,
// and which other set and field its message must point the user to.
type conflict struct {
	errKey
	other, at string
}

func TestValidateConflicts(t *testing.T) {
	invalid := field.ErrorTypeInvalid
	set := func(name string) *testingutil.SidecarSetWrapper { return testingutil.MakeSidecarSet(name) }
	agent := func() sidecarsv1alpha1.SidecarContainer {
		return testingutil.MakeSidecar("agent", "example/agent:1").Obj()
	}
	tests := []struct {
		name   string
		set    *sidecarsv1alpha1.SidecarSet
		old    *sidecarsv1alpha1.SidecarSet
		others []sidecarsv1alpha1.SidecarSet
		want   []conflict
	}{
		{
			name:   "an update keeping a conflict the stored set had is accepted",
			old:    set("mesh").Sidecar(proxy().Obj()).Obj(),
			set:    set("mesh").Sidecar(proxy().Obj()).InjectionPaused().Obj(),
			others: setList(set("other").Sidecar(proxy().Obj()).Obj()),
		},
		{
			name:   "an update adding a conflict to one the stored set had refuses only the new one",
			old:    set("mesh").Sidecar(proxy().Obj()).Obj(),
			set:    set("mesh").Sidecar(proxy().Obj()).Volume(emptyDir("certs")).Obj(),
			others: setList(set("other").Sidecar(proxy().Obj()).Volume(configMapVolume("certs", "ca")).Obj()),
			want:   []conflict{{errKey{invalid, "spec.volumes[0].name"}, "other", "spec.volumes[0]"}},
		},
		{
			name:   "an update that moves into an overlap is refused",
			old:    set("mesh").MatchLabels(map[string]string{"app": "api"}).Sidecar(proxy().Obj()).Obj(),
			set:    set("mesh").Sidecar(proxy().Obj()).Obj(),
			others: setList(set("other").Sidecar(proxy().Obj()).Obj()),
			want:   []conflict{{errKey{invalid, "spec.containers[0].name"}, "other", "spec.containers[0].name"}},
		},
		{
			name: "no other set",
			set:  set("mesh").Sidecar(proxy().Obj()).Obj(),
		},
		{
			name:   "the set itself in the list is skipped",
			set:    set("mesh").Sidecar(proxy().Obj()).Volume(emptyDir("certs")).Obj(),
			others: setList(set("mesh").Sidecar(proxy().Obj()).Volume(configMapVolume("certs", "old")).Obj()),
		},
		{
			name:   "a set being deleted is skipped",
			set:    set("mesh").Sidecar(proxy().Obj()).Obj(),
			others: setList(deleting(set("old-mesh").Sidecar(proxy().Obj()).Obj())),
		},
		{
			name:   "disjoint pod selectors",
			set:    set("mesh").MatchLabels(map[string]string{"app": "web"}).Sidecar(proxy().Obj()).Obj(),
			others: setList(set("db-mesh").MatchLabels(map[string]string{"app": "db"}).Sidecar(proxy().Obj()).Obj()),
		},
		{
			name: "disjoint namespace selectors",
			set:  set("mesh").NamespaceSelector(map[string]string{"env": "prod"}).Sidecar(proxy().Obj()).Obj(),
			others: setList(set("staging-mesh").NamespaceSelector(map[string]string{"env": "staging"}).
				Sidecar(proxy().Obj()).Obj()),
		},
		{
			name:   "an absent namespace selector overlaps any",
			set:    set("mesh").NamespaceSelector(map[string]string{"env": "prod"}).Sidecar(proxy().Obj()).Obj(),
			others: setList(set("global").Sidecar(proxy().Obj()).Obj()),
			want:   []conflict{{errKey{invalid, "spec.containers[0].name"}, "global", "spec.containers[0].name"}},
		},
		{
			name:   "same sidecar name",
			set:    set("mesh").Sidecar(agent()).Sidecar(proxy().Obj()).Obj(),
			others: setList(set("other").Sidecar(testingutil.MakeSidecar("logs", "example/logs:1").Obj()).Sidecar(proxy().Obj()).Obj()),
			want:   []conflict{{errKey{invalid, "spec.containers[1].name"}, "other", "spec.containers[1].name"}},
		},
		{
			name:   "a sidecar named like the other's init container",
			set:    set("mesh").Sidecar(proxy().Obj()).Obj(),
			others: setList(set("other").Sidecar(agent()).InitContainer(initContainer("proxy")).Obj()),
			want:   []conflict{{errKey{invalid, "spec.containers[0].name"}, "other", "spec.initContainers[0].name"}},
		},
		{
			name:   "an init container named like the other's sidecar",
			set:    set("mesh").Sidecar(proxy().Obj()).InitContainer(initContainer("agent")).Obj(),
			others: setList(set("other").Sidecar(agent()).Obj()),
			want:   []conflict{{errKey{invalid, "spec.initContainers[0].name"}, "other", "spec.containers[0].name"}},
		},
		{
			name:   "the same volume with the same source",
			set:    set("mesh").Sidecar(proxy().Obj()).Volume(emptyDir("socket")).Obj(),
			others: setList(set("other").Sidecar(agent()).Volume(emptyDir("socket")).Obj()),
		},
		{
			name: "the same volume with a different source",
			set:  set("mesh").Sidecar(proxy().Obj()).Volume(emptyDir("socket")).Volume(configMapVolume("config", "mesh")).Obj(),
			others: setList(set("other").Sidecar(agent()).
				Volume(emptyDir("cache")).Volume(configMapVolume("config", "other")).Obj()),
			want: []conflict{{errKey{invalid, "spec.volumes[1].name"}, "other", "spec.volumes[1]"}},
		},
		{
			name: "pod labels and annotations with the same values",
			set: withPodMetadata(set("mesh").Sidecar(proxy().Obj()).Obj(),
				map[string]string{"mesh": "on"}, map[string]string{"example.com/owner": "platform"}),
			others: setList(withPodMetadata(set("other").Sidecar(agent()).Obj(),
				map[string]string{"mesh": "on"}, map[string]string{"example.com/owner": "platform"})),
		},
		{
			name: "pod labels and annotations with different values",
			set: withPodMetadata(set("mesh").Sidecar(proxy().Obj()).Obj(),
				map[string]string{"mesh": "on", "tier": "front"}, map[string]string{"example.com/owner": "platform"}),
			others: setList(withPodMetadata(set("other").Sidecar(agent()).Obj(),
				map[string]string{"mesh": "off", "tier": "front"}, map[string]string{"example.com/owner": "security"})),
			want: []conflict{
				{errKey{invalid, "spec.podMetadata.labels[mesh]"}, "other", "spec.podMetadata.labels[mesh]"},
				{errKey{invalid, "spec.podMetadata.annotations[example.com/owner]"}, "other", "spec.podMetadata.annotations[example.com/owner]"},
			},
		},
		{
			name: "a label key does not clash with an annotation key",
			set:  withPodMetadata(set("mesh").Sidecar(proxy().Obj()).Obj(), map[string]string{"mesh": "on"}, nil),
			others: setList(withPodMetadata(set("other").Sidecar(agent()).Obj(),
				nil, map[string]string{"mesh": "off"})),
		},
		{
			name: "conflicts with several sets, ordered by name",
			set:  set("mesh").Sidecar(proxy().Obj()).Volume(emptyDir("socket")).Obj(),
			others: setList(
				set("zeta").Sidecar(proxy().Obj()).Obj(),
				set("alpha").Sidecar(agent()).Volume(configMapVolume("socket", "alpha")).Obj(),
				set("beta").MatchLabels(map[string]string{"app": "db"}).Sidecar(proxy().Obj()).Obj(),
			),
			want: []conflict{
				{errKey{invalid, "spec.volumes[0].name"}, "alpha", "spec.volumes[0]"},
				{errKey{invalid, "spec.containers[0].name"}, "zeta", "spec.containers[0].name"},
			},
		},
		{
			name: "selectors overlapping through expressions",
			set: set("mesh").Selector(sel(nil, expr("app", metav1.LabelSelectorOpIn, "web", "api"))).
				Sidecar(proxy().Obj()).Obj(),
			others: setList(set("other").Selector(sel(nil, expr("app", metav1.LabelSelectorOpNotIn, "web"))).
				Sidecar(proxy().Obj()).Obj()),
			want: []conflict{{errKey{invalid, "spec.containers[0].name"}, "other", "spec.containers[0].name"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateConflicts(tc.set, tc.old, tc.others)
			var wantKeys []errKey
			for _, w := range tc.want {
				wantKeys = append(wantKeys, w.errKey)
			}
			if diff := cmp.Diff(wantKeys, keysOf(errs)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s\nall: %v", diff, errs)
			}
			for i, w := range tc.want {
				if d := errs[i].Detail; !strings.Contains(d, `SidecarSet "`+w.other+`"`) || !strings.Contains(d, "(at "+w.at) {
					t.Errorf("error %d: detail %q does not name SidecarSet %q and its field %s", i, d, w.other, w.at)
				}
			}
		})
	}
}

// The webhook hands over the cached list, which must not be reordered under other readers.
func TestValidateConflictsLeavesOthersAlone(t *testing.T) {
	others := setList(
		testingutil.MakeSidecarSet("b").Sidecar(proxy().Obj()).Obj(),
		testingutil.MakeSidecarSet("a").Sidecar(proxy().Obj()).Obj(),
	)
	before := make([]sidecarsv1alpha1.SidecarSet, len(others))
	for i := range others {
		others[i].DeepCopyInto(&before[i])
	}
	ValidateConflicts(testingutil.MakeSidecarSet("mesh").Sidecar(proxy().Obj()).Obj(), nil, others)
	if diff := cmp.Diff(before, others); diff != "" {
		t.Errorf("others changed (-before +after):\n%s", diff)
	}
}
