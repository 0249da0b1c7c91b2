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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

func TestInjectEnforcement(t *testing.T) {
	audit := func() *utiltesting.SidecarSetWrapper {
		return set("audit").Volume(utiltesting.EmptyDir("audit-log")).
			InitContainer(corev1.Container{Name: "audit-init", Image: "example.com/init:1"}).
			Sidecar(sidecar("audit").Mount("audit-log", "/log").Obj())
	}
	own := corev1.Container{Name: "audit", Image: "example.com/noop:1"}
	forged := func(rec sidecarsv1alpha1.InjectionRecord) string {
		src := sourcesOf(audit().Required().Obj())[0]
		rec.Revision, rec.Hash, rec.ImageFreeHash = src.Revision, src.Hash, src.ImageFreeHash
		return sidecarsv1alpha1.InjectionRecords{"audit": rec}.String()
	}
	cases := map[string]struct {
		pod     *corev1.Pod
		sources []Source
		// wantErr are what the refusal says, in order; none: injected.
		wantErr []string
		// wantRecord is the set's record when injected (hashes not compared).
		wantRecord   sidecarsv1alpha1.InjectionRecord
		wantWarnings int
	}{
		"Required: a pod container of the sidecar's name is refused with the pod's field path": {
			pod:     pod().Containers(corev1.Container{Name: "app"}, own).Obj(),
			sources: sourcesOf(audit().Required().Obj()),
			wantErr: []string{`SidecarSet "audit" is Required (spec.injection.enforcement)`,
				`spec.containers[1].name: Forbidden: "audit" is the name of the SidecarSet's spec.containers[0]`},
		},
		"Required: a pod init container of the set's init container's name": {
			pod:     pod().InitContainer(corev1.Container{Name: "audit-init"}).Obj(),
			sources: sourcesOf(audit().Required().Obj()),
			wantErr: []string{`spec.initContainers[0].name: Forbidden: "audit-init" is the name of the SidecarSet's spec.initContainers[0]`},
		},
		"Required: an ephemeral container of the sidecar's name": {
			pod: func() *corev1.Pod {
				p := pod().Obj()
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "audit"}}}
				return p
			}(),
			sources: sourcesOf(audit().Required().Obj()),
			wantErr: []string{`spec.ephemeralContainers[0].name: Forbidden`},
		},
		"Required: a pod volume of the set's volume's name": {
			pod:     pod().Volume(utiltesting.EmptyDir("mine")).Volume(utiltesting.EmptyDir("audit-log")).Obj(),
			sources: sourcesOf(audit().Required().Obj()),
			wantErr: []string{`spec.volumes[1].name: Forbidden: "audit-log" is the name of the SidecarSet's spec.volumes[0]`},
		},
		"Required: a name an earlier set took": {
			pod: pod().Obj(),
			sources: sourcesOf(audit().Required().Obj(),
				set("first").Priority(10).Sidecar(sidecar("audit").Obj()).Obj()),
			wantErr: []string{`SidecarSet "first", injected before it, adds a container "audit"`},
		},
		"Required: a forged record saying the pod overrode the sidecar is not trusted": {
			pod: pod().InitContainer(own).
				Annotation(sidecarsv1alpha1.InjectedAnnotation, forged(sidecarsv1alpha1.InjectionRecord{
					Containers: []string{"audit-init"}, Overridden: []string{"audit"}})).Obj(),
			sources: sourcesOf(audit().Required().Obj()),
			wantErr: []string{`spec.initContainers[0].name: Forbidden`},
		},
		"Required: a forged record saying the pod overrode the volume is not trusted": {
			pod: func() *corev1.Pod {
				injected, err := Inject(pod().Obj(), sourcesOf(audit().Required().Obj()))
				if err != nil {
					t.Fatal(err)
				}
				p := injected.Pod
				p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = forged(sidecarsv1alpha1.InjectionRecord{
					Containers: []string{"audit-init", "audit"}, OverriddenVolumes: []string{"audit-log"}})
				return p
			}(),
			sources: sourcesOf(audit().Required().Obj()),
			wantErr: []string{`spec.initContainers[0].name: Forbidden`},
		},
		"Required: no collision, injected in full": {
			pod:        pod().Obj(),
			sources:    sourcesOf(audit().Required().Obj()),
			wantRecord: sidecarsv1alpha1.InjectionRecord{Revision: "audit-rev", Containers: []string{"audit-init", "audit"}},
		},
		"Optional: the pod's container and volume are kept, recorded and warned about": {
			pod:          pod().Containers(corev1.Container{Name: "app"}, own).Volume(utiltesting.EmptyDir("audit-log")).Obj(),
			sources:      sourcesOf(audit().Obj()),
			wantRecord:   sidecarsv1alpha1.InjectionRecord{Revision: "audit-rev", Containers: []string{"audit-init"}, Overridden: []string{"audit"}, OverriddenVolumes: []string{"audit-log"}},
			wantWarnings: 2,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Inject(tc.pod, tc.sources)
			if len(tc.wantErr) > 0 {
				checkRefused(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Inject: %v", err)
			}
			records, err := sidecarsv1alpha1.ParseInjectionRecords(got.Pod.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			rec := records["audit"]
			rec.Hash, rec.ImageFreeHash = "", ""
			if diff := cmp.Diff(tc.wantRecord, rec); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
			if len(got.Overrides) != tc.wantWarnings {
				t.Errorf("warnings %q, want %d", got.Overrides, tc.wantWarnings)
			}
			again, err := Inject(got.Pod, tc.sources)
			if err != nil || len(again.Injected) != 0 {
				t.Errorf("Inject of the injected pod: %v, injected %v again", err, again.Injected)
			}
		})
	}
}

// checkRefused checks that Inject refused the pod with an error saying each of want.
func checkRefused(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatal("Inject admitted the pod, want it refused")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
