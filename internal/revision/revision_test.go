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

package revision

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

func base() *utiltesting.SidecarSetWrapper {
	return utiltesting.MakeSidecarSet("mesh").
		Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Env("LOG", "info").Obj()).
		Volume(utiltesting.EmptyDir("certs"))
}

func TestHashes(t *testing.T) {
	cpu := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	cases := map[string]struct {
		change              func(*sidecarsv1alpha1.SidecarSet)
		wantHashChanged     bool
		wantImageFreeChange bool
	}{
		"nothing changed": {
			change: func(*sidecarsv1alpha1.SidecarSet) {},
		},
		"an image change is in-place: only the full hash moves": {
			change:          func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Containers[0].Image = "example.com/proxy:2" },
			wantHashChanged: true,
		},
		"a resources change is in-place": {
			change:          func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Containers[0].Resources.Requests = cpu },
			wantHashChanged: true,
		},
		"a resourcesPolicy change is in-place": {
			change: func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].ResourcesPolicy = &sidecarsv1alpha1.ResourcesPolicy{CPU: &sidecarsv1alpha1.ResourceRule{Percent: 5}}
			},
			wantHashChanged: true,
		},
		"an env change is not in-place": {
			change:              func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Containers[0].Env[0].Value = "debug" },
			wantHashChanged:     true,
			wantImageFreeChange: true,
		},
		"a new sidecar is not in-place": {
			change: func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers = append(s.Spec.Containers, utiltesting.MakeSidecar("agent", "a").Obj())
			},
			wantHashChanged:     true,
			wantImageFreeChange: true,
		},
		"a volume change is not in-place": {
			change:              func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Volumes[0].Name = "keys" },
			wantHashChanged:     true,
			wantImageFreeChange: true,
		},
		"writing the default placement keeps the hash": {
			change: func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.DefaultPlacements(nil) },
		},
		"a placement other than the default is not in-place": {
			change: func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].Placement = sidecarsv1alpha1.PlacementAfterInit
			},
			wantHashChanged:     true,
			wantImageFreeChange: true,
		},
		"settings that steer Outrigger are outside the spec": {
			change: func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Priority = 7
				s.Spec.UpdateStrategy.Paused = true
				s.Spec.UpdateStrategy.Drain.ReadinessGate = new(false)
				s.Spec.Injection.Paused = true
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := SpecOf(base().Obj())
			changed := base().Obj()
			tc.change(changed)
			after := SpecOf(changed)
			if got := Hash(before) != Hash(after); got != tc.wantHashChanged {
				t.Errorf("Hash changed = %v, want %v", got, tc.wantHashChanged)
			}
			if got := ImageFreeHash(before) != ImageFreeHash(after); got != tc.wantImageFreeChange {
				t.Errorf("ImageFreeHash changed = %v, want %v", got, tc.wantImageFreeChange)
			}
			if got := Name("mesh", before, nil) != Name("mesh", after, nil); got != tc.wantHashChanged {
				t.Errorf("Name changed = %v, want %v", got, tc.wantHashChanged)
			}
		})
	}
}

func TestName(t *testing.T) {
	spec := SpecOf(base().Obj())
	if Name("mesh", spec, nil) != Name("mesh", SpecOf(base().Obj()), nil) {
		t.Fatal("Name is not deterministic")
	}
	if Name("mesh", spec, nil) != Name("mesh", spec, ptr.To[int32](0)) {
		t.Error("an unset collisionCount and 0 give different names")
	}
	if Name("mesh", spec, nil) == Name("mesh", spec, ptr.To[int32](1)) {
		t.Error("collisionCount does not change the name")
	}
	if !strings.HasPrefix(Name("mesh", spec, nil), "mesh-") {
		t.Errorf("Name = %q, want the set's name as prefix", Name("mesh", spec, nil))
	}
	long := Name(strings.Repeat("a", 253), spec, nil)
	if errs := validation.IsDNS1123Subdomain(long); len(errs) > 0 {
		t.Errorf("Name of a 253-character set is not a valid object name: %v", errs)
	}
}

func TestControllerRevisionRoundTrip(t *testing.T) {
	set := base().Obj()
	set.UID = "uid-1"
	cr, err := NewControllerRevision(set, "outrigger-system", 3)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Namespace != "outrigger-system" || cr.Revision != 3 || cr.Name != Name(set.Name, SpecOf(set), nil) {
		t.Errorf("revision %s/%s #%d does not have the expected identity", cr.Namespace, cr.Name, cr.Revision)
	}
	if cr.Labels[sidecarsv1alpha1.RevisionSetLabel] != "mesh" || cr.Labels[sidecarsv1alpha1.RevisionHashLabel] != Hash(SpecOf(set)) {
		t.Errorf("labels = %v", cr.Labels)
	}
	if len(cr.OwnerReferences) != 1 || cr.OwnerReferences[0].UID != "uid-1" || !ptr.Deref(cr.OwnerReferences[0].Controller, false) {
		t.Errorf("owner references = %+v, want the set as controller", cr.OwnerReferences)
	}
	got, err := SpecFromRevision(cr)
	if err != nil {
		t.Fatal(err)
	}
	if Hash(got) != Hash(SpecOf(set)) || !Stores(cr, SpecOf(set)) {
		t.Error("the stored spec does not round-trip")
	}
	other := base().Obj()
	other.Spec.Containers[0].Image = "example.com/proxy:9"
	if Stores(cr, SpecOf(other)) {
		t.Error("Stores matched another spec")
	}
	cr.Data.Raw = []byte("{broken")
	if _, err := SpecFromRevision(cr); err == nil {
		t.Error("SpecFromRevision accepted broken data")
	}
}

func TestPinned(t *testing.T) {
	set := base().Obj()
	own, err := NewControllerRevision(set, "outrigger-system", 1)
	if err != nil {
		t.Fatal(err)
	}
	foreign := own.DeepCopy()
	foreign.Labels[sidecarsv1alpha1.RevisionSetLabel] = "logging"
	garbled := own.DeepCopy()
	garbled.Data.Raw = []byte(`{"containers":`)

	cases := map[string]struct {
		cr       *appsv1.ControllerRevision
		wantErr  string
		notFound bool
	}{
		"the set's own revision": {cr: own},
		"none of that name": {
			wantErr:  `SidecarSet "mesh" pins spec.injection.revision "mesh-old", which does not exist`,
			notFound: true,
		},
		"another set's revision": {
			cr:      foreign,
			wantErr: `SidecarSet "mesh" pins spec.injection.revision "mesh-old", which belongs to SidecarSet "logging"`,
		},
		"a revision that holds no spec": {cr: garbled, wantErr: "does not hold a SidecarSet spec"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.cr != nil {
				tc.cr.Name = "mesh-old"
			}
			spec, err := Pinned("mesh", "mesh-old", tc.cr)
			if tc.wantErr == "" {
				if err != nil || Hash(spec) != Hash(SpecOf(set)) {
					t.Fatalf("Pinned = %v, %v; want the stored spec", Hash(spec), err)
				}
				return
			}
			var pinErr *PinError
			if !errors.As(err, &pinErr) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Pinned error = %v, want a *PinError containing %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrPinNotFound) != tc.notFound {
				t.Errorf("errors.Is(ErrPinNotFound) = %v, want %v", !tc.notFound, tc.notFound)
			}
		})
	}
}
