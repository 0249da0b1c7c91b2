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

package webhooks

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// The memo holds one entry per live set: a new generation replaces its set's entry, and
// a deleted set's entry goes on the first pod a sweep interval later.
func TestPodInjectorMemoIsBounded(t *testing.T) {
	r := benchReader(nil, 20)
	injector := benchInjector(r)
	admit := func() {
		t.Helper()
		if err := injector.Default(t.Context(), benchPod()); err != nil {
			t.Fatal(err)
		}
	}

	admit()
	// Sets 0 and 10 select the pod.
	if got := injector.sources.Len(); got != 2 {
		t.Fatalf("memo entries after one pod = %d, want 2", got)
	}
	for gen := int64(2); gen < 5; gen++ {
		r.sets[0].Generation = gen
		admit()
	}
	if got := injector.sources.Len(); got != 2 {
		t.Errorf("memo entries after three new generations = %d, want 2", got)
	}
	if src, err := injector.sources.Of(&r.sets[0], func() (inject.Source, error) {
		return inject.Source{}, errors.New("not memoized")
	}); err != nil || src.Hash == "" {
		t.Errorf("the latest generation of set %s is not memoized: %v", r.sets[0].Name, err)
	}

	r.sets = r.sets[1:]
	admit()
	if got := injector.sources.Len(); got != 2 {
		t.Errorf("memo entries right after a set was deleted = %d, want 2 (swept at most every %v)", got, inject.SweepInterval)
	}
	live := make([]*sidecarsv1alpha1.SidecarSet, len(r.sets))
	for i := range r.sets {
		live[i] = &r.sets[i]
	}
	injector.sources.Retain(live, time.Now().Add(inject.SweepInterval)) // as the first pod a sweep interval later
	admit()
	if got := injector.sources.Len(); got != 1 {
		t.Errorf("memo entries a sweep interval after a set was deleted = %d, want 1", got)
	}
}

// A namespace created together with its first pod may not be in the cache yet: the
// injector reads it once from the API server instead of refusing the pod.
func TestPodInjectorReadsANamespaceTheCacheLacks(t *testing.T) {
	api := benchReader(t, 20)
	cached := &memoryReader{namespaces: map[string]*corev1.Namespace{}, sets: api.sets}
	for name, tc := range map[string]struct {
		apiReader    *memoryReader
		wantInjected bool
	}{
		"read from the API server":               {apiReader: api, wantInjected: true},
		"nowhere: refused, naming the namespace": {apiReader: cached},
	} {
		t.Run(name, func(t *testing.T) {
			p := &PodInjector{Reader: cached, APIReader: tc.apiReader, Sets: memorySets{api}, OperatorNamespace: "outrigger-system"}
			pod := benchPod()
			err := p.Default(t.Context(), pod)
			switch {
			case tc.wantInjected && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantInjected && len(pod.Spec.InitContainers)+len(pod.Spec.Containers) <= len(benchPod().Spec.Containers):
				t.Error("the pod got no sidecars")
			case !tc.wantInjected && (err == nil || !strings.Contains(err.Error(), "namespace shop")):
				t.Errorf("error = %v, want a refusal naming namespace shop", err)
			}
		})
	}
}
