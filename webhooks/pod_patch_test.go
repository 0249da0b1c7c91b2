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
	"context"
	"encoding/json"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// TestPodAdmissionMatchesDefaulter checks that the pod webhook's patch makes of each
// request the object controller-runtime's defaulting webhook around the same injector
// makes, and refuses what it refuses. One difference, on purpose: a field of the
// request the API types lack stays on its container, where controller-runtime's
// positional diff moves it to whichever container now sits at that index.
func TestPodAdmissionMatchesDefaulter(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	web := func() *utiltesting.PodWrapper {
		return utiltesting.MakePod("web-1", "shop").Label("app", "web").
			Containers(corev1.Container{Name: "app", Image: "example.com/app:1",
				Env: []corev1.EnvVar{{Name: "POD_ENV", Value: "prod"}}})
	}
	cases := []struct {
		name string
		sets int
		pod  *corev1.Pod
		// edit changes the request's JSON, e.g. to add a field the API types lack.
		edit func(string) string
		// unknownOn is the container that must carry the request's unknown field.
		unknownOn string
	}{
		{name: "ten sets inject a typical pod", sets: 100, pod: benchPod()},
		{name: "one set, pod with labels, annotations and pull secrets", sets: 1,
			pod: web().Label("tier/front", "yes").Annotation("a~b/c", "x").PullSecret("regcred").Obj()},
		{name: "forged injection record is dropped", sets: 0,
			pod: web().Label(sidecarsv1alpha1.InjectedLabel, "true").
				Annotation(sidecarsv1alpha1.InjectedAnnotation, `{"evil":{}}`).Annotation("keep", "me").Obj()},
		{name: "only forged metadata: maps removed whole", sets: 0,
			pod: utiltesting.MakePod("web-1", "shop").Label(sidecarsv1alpha1.InjectedLabel, "true").
				Annotation(sidecarsv1alpha1.InjectedAnnotation, `{"evil":{}}`).
				Containers(corev1.Container{Name: "app", Image: "example.com/app:1"}).Obj()},
		{name: "opted out: nothing to patch", sets: 10, pod: web().Label(sidecarsv1alpha1.InjectLabel, "false").Obj()},
		{name: "no set selects it", sets: 0, pod: web().Obj()},
		{name: "unknown fields of the request stay on their container", sets: 10, pod: web().Obj(),
			edit: func(raw string) string {
				return strings.Replace(raw, `"name":"app",`, `"name":"app","futureField":{"x":1},`, 1)
			}, unknownOn: "app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				raw = []byte(tc.edit(string(raw)))
			}
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: admissionv1.Create, Namespace: "shop", Object: runtime.RawExtension{Raw: raw}}}
			reader := benchReader(t, tc.sets)
			ctx := context.Background()
			want := admission.WithDefaulter[*corev1.Pod](scheme,
				benchInjector(reader)).Handle(ctx, req)
			got := podHandler(scheme, benchInjector(reader)).Handle(ctx, req)
			if got.Allowed != want.Allowed || (got.PatchType == nil) != (want.PatchType == nil) {
				t.Fatalf("got allowed %v, patch type %v; controller-runtime: %v, %v", got.Allowed, got.PatchType, want.Allowed, want.PatchType)
			}
			wantObj, gotObj := apply(t, raw, want.Patch), apply(t, raw, got.Patch)
			if tc.unknownOn != "" {
				if carriers := dropUnknown(gotObj); !cmp.Equal(carriers, []string{tc.unknownOn}) {
					t.Errorf("containers carrying the unknown field: %v, want [%s]", carriers, tc.unknownOn)
				}
				dropUnknown(wantObj)
			}
			if diff := cmp.Diff(wantObj, gotObj); diff != "" {
				t.Errorf("patched object (-controller-runtime +podAdmission):\n%s", diff)
			}
		})
	}
}

// dropUnknown removes futureField from obj's containers and says which had it.
func dropUnknown(obj map[string]any) []string {
	var carriers []string
	spec, _ := obj["spec"].(map[string]any)
	for _, list := range []string{"initContainers", "containers"} {
		cs, _ := spec[list].([]any)
		for _, c := range cs {
			m, _ := c.(map[string]any)
			if _, ok := m["futureField"]; ok {
				carriers = append(carriers, m["name"].(string))
				delete(m, "futureField")
			}
		}
	}
	return carriers
}

func apply(t *testing.T, raw, patch []byte) map[string]any {
	t.Helper()
	out := raw
	if len(patch) > 0 {
		p, err := jsonpatchapply.DecodePatch(patch)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = p.Apply(raw); err != nil {
			t.Fatalf("applying %s: %v", patch, err)
		}
	}
	var obj map[string]any
	if err := json.Unmarshal(out, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestListPatch(t *testing.T) {
	cases := []struct {
		name     string
		old, new []string
		want     []jsonpatch.JsonPatchOperation
		wantOK   bool
	}{
		{name: "both empty", wantOK: true},
		{name: "from empty: added whole", new: []string{"a"}, wantOK: true,
			want: []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("add", "/l", []string{"a"})}},
		{name: "to empty: removed whole", old: []string{"a"}, wantOK: true,
			want: []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("remove", "/l", nil)}},
		{name: "inserted before, between and after", old: []string{"a", "b"}, new: []string{"x", "a", "y", "b", "z"}, wantOK: true,
			want: []jsonpatch.JsonPatchOperation{
				jsonpatch.NewOperation("add", "/l/0", "x"), jsonpatch.NewOperation("add", "/l/2", "y"), jsonpatch.NewOperation("add", "/l/4", "z")}},
		{name: "unchanged", old: []string{"a"}, new: []string{"a"}, wantOK: true},
		{name: "changed element", old: []string{"a", "b"}, new: []string{"a", "c"}},
		{name: "removed element", old: []string{"a", "b"}, new: []string{"b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := listPatch("/l", tc.old, tc.new)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("listPatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMapPatch(t *testing.T) {
	cases := []struct {
		name     string
		old, new map[string]string
		want     []jsonpatch.JsonPatchOperation
	}{
		{name: "both empty"},
		{name: "from empty: added whole", new: map[string]string{"a": "1"},
			want: []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("add", "/m", map[string]string{"a": "1"})}},
		{name: "to empty: removed whole", old: map[string]string{"a": "1"},
			want: []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("remove", "/m", nil)}},
		{name: "keys removed, changed, added and escaped",
			old: map[string]string{"gone": "1", "same": "2", "x/y": "3"},
			new: map[string]string{"same": "2", "x/y": "4", "a~b": "5"},
			want: []jsonpatch.JsonPatchOperation{
				jsonpatch.NewOperation("remove", "/m/gone", nil),
				jsonpatch.NewOperation("add", "/m/a~0b", "5"),
				jsonpatch.NewOperation("add", "/m/x~1y", "4")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, mapPatch("/m", tc.old, tc.new)); diff != "" {
				t.Errorf("mapPatch (-want +got):\n%s", diff)
			}
		})
	}
}
