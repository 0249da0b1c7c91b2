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

package cacheview

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
)

func pod(name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: lbls}}
}

func names(pods []*corev1.Pod) []string {
	out := make([]string, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func TestSelecting(t *testing.T) {
	pods := []*corev1.Pod{
		pod("web-a", map[string]string{"app": "web", "tier": "front"}),
		pod("web-b", map[string]string{"app": "web", "tier": "back"}),
		pod("db", map[string]string{"app": "db", "tier": "back"}),
		pod("bare", nil),
	}
	cases := []struct {
		name     string
		selector string
		want     []string
	}{
		{name: "equality", selector: "app=web", want: []string{"web-a", "web-b"}},
		{name: "two equalities", selector: "app=web,tier=back", want: []string{"web-b"}},
		{name: "set", selector: "app in (web,db)", want: []string{"db", "web-a", "web-b"}},
		{name: "equality and not-in", selector: "tier=back,app notin (db)", want: []string{"web-b"}},
		{name: "exists only: every object tested", selector: "tier", want: []string{"db", "web-a", "web-b"}},
		{name: "does not exist only", selector: "!app", want: []string{"bare"}},
		{name: "no match", selector: "app=cache", want: []string{}},
		{name: "everything", selector: "", want: []string{"bare", "db", "web-a", "web-b"}},
	}
	for _, indexed := range []bool{true, false} {
		indexers := toolscache.Indexers{}
		if indexed {
			indexers = LabelIndexers()
		}
		indexer := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, indexers)
		for _, p := range pods {
			if err := indexer.Add(p); err != nil {
				t.Fatal(err)
			}
		}
		view := Of[*corev1.Pod](indexer)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				sel, err := labels.Parse(tc.selector)
				if err != nil {
					t.Fatal(err)
				}
				got, err := view.Selecting(sel)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, names(got)); diff != "" {
					t.Errorf("indexed=%v: Selecting(%q) (-want +got):\n%s", indexed, tc.selector, diff)
				}
			})
		}
	}
	if got, _ := Of[*corev1.Pod](toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, LabelIndexers())).Selecting(labels.Nothing()); len(got) != 0 {
		t.Errorf("Selecting(Nothing) = %v, want none", names(got))
	}
}

func TestGetAndByIndex(t *testing.T) {
	indexer := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, LabelIndexers())
	a := pod("a", map[string]string{"app": "web"})
	if err := indexer.Add(a); err != nil {
		t.Fatal(err)
	}
	view := Of[*corev1.Pod](indexer)
	if got, ok := view.Get("ns/a"); !ok || got != a {
		t.Errorf("Get(ns/a) = %v, %v; want the stored object", got, ok)
	}
	if _, ok := view.Get("ns/missing"); ok {
		t.Error("Get(ns/missing) found an object")
	}
	got, err := view.ByIndex(LabelIndex, "app=web")
	if err != nil || len(got) != 1 || got[0] != a {
		t.Errorf("ByIndex(app=web) = %v, %v; want the stored object", names(got), err)
	}
	if _, err := view.ByIndex("no-such-index", "x"); err == nil {
		t.Error("ByIndex of an unknown index returned no error")
	}
	// A store of another type yields nothing rather than a panic.
	if got := Of[*corev1.Namespace](indexer).List(); len(got) != 0 {
		t.Errorf("List of a mistyped view = %v, want none", got)
	}
}
