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
	"k8s.io/apimachinery/pkg/api/resource"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

func TestInjectOverrides(t *testing.T) {
	res := sidecarsv1alpha1.OverrideResources
	env := sidecarsv1alpha1.OverrideEnv
	cpu := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
	mesh := func(fields ...sidecarsv1alpha1.OverridableField) []Source {
		return sourcesOf(set("mesh").Sidecar(sidecar("proxy").Env("MODE", "strict").Env("LEVEL", "info").
			Resources(cpu("100m"), cpu("200m")).Overrides(fields...).Obj()).Obj())
	}
	key := func(container string, f sidecarsv1alpha1.OverridableField) string {
		return sidecarsv1alpha1.OverrideAnnotation("mesh", container, f)
	}
	cases := map[string]struct {
		pod     *corev1.Pod
		sources []Source
		wantErr []string
		// want is the proxy as injected (name, image, env, resources).
		wantEnv       []corev1.EnvVar
		wantResources corev1.ResourceRequirements
		wantRecord    map[string]sidecarsv1alpha1.ContainerOverrides
	}{
		"no annotation: the set's": {
			pod: pod().Obj(), sources: mesh(res, env),
			wantEnv:       []corev1.EnvVar{{Name: "MODE", Value: "strict"}, {Name: "LEVEL", Value: "info"}},
			wantResources: corev1.ResourceRequirements{Requests: cpu("100m"), Limits: cpu("200m")},
		},
		"allowed resources: per resource over the set's, recorded": {
			pod:           pod().Annotation(key("proxy", res), `{"requests":{"cpu":"50m","memory":"32Mi"}}`).Obj(),
			sources:       mesh(res),
			wantEnv:       []corev1.EnvVar{{Name: "MODE", Value: "strict"}, {Name: "LEVEL", Value: "info"}},
			wantResources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")}, Limits: cpu("200m")},
			wantRecord: map[string]sidecarsv1alpha1.ContainerOverrides{"proxy": {Resources: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")}}}},
		},
		"allowed env: by name over the sidecar's, new ones added": {
			pod:           pod().Annotation(key("proxy", env), `[{"name":"LEVEL","value":"debug"},{"name":"EXTRA","value":"1"}]`).Obj(),
			sources:       mesh(env),
			wantEnv:       []corev1.EnvVar{{Name: "MODE", Value: "strict"}, {Name: "LEVEL", Value: "debug"}, {Name: "EXTRA", Value: "1"}},
			wantResources: corev1.ResourceRequirements{Requests: cpu("100m"), Limits: cpu("200m")},
			wantRecord: map[string]sidecarsv1alpha1.ContainerOverrides{"proxy": {Env: []corev1.EnvVar{
				{Name: "LEVEL", Value: "debug"}, {Name: "EXTRA", Value: "1"}}}},
		},
		"a field the set does not allow: refused, naming the annotation": {
			pod:     pod().Annotation(key("proxy", env), `[]`).Obj(),
			sources: mesh(res),
			wantErr: []string{`metadata.annotations[sidecars.outrigger.dev/mesh.proxy.env]: Forbidden`, `lets pods override [resources] of sidecar "proxy"`},
		},
		"a set that allows nothing": {
			pod:     pod().Annotation(key("proxy", res), `{}`).Obj(),
			sources: mesh(),
			wantErr: []string{`lets pods override nothing of sidecar "proxy" (spec.containers[0].overrides)`},
		},
		"an unknown field name": {
			pod:     pod().Annotation(key("proxy", "image"), `"evil"`).Obj(),
			sources: mesh(res, env),
			wantErr: []string{`sidecars.outrigger.dev/mesh.proxy.image`, `not "image"`},
		},
		"a container the set does not have": {
			pod:     pod().Annotation(key("app", res), `{}`).Obj(),
			sources: mesh(res),
			wantErr: []string{`metadata.annotations[sidecars.outrigger.dev/mesh.app.resources]: Forbidden`, `has no sidecar "app"`},
		},
		"malformed JSON": {
			pod:     pod().Annotation(key("proxy", res), `{"requests":`).Obj(),
			sources: mesh(res),
			wantErr: []string{`metadata.annotations[sidecars.outrigger.dev/mesh.proxy.resources]: Invalid value`, `must be a JSON ResourceRequirements`},
		},
		"an unknown JSON field": {
			pod:     pod().Annotation(key("proxy", res), `{"request":{"cpu":"1"}}`).Obj(),
			sources: mesh(res),
			wantErr: []string{`unknown field "request"`},
		},
		"resource claims are not overridable": {
			pod:     pod().Annotation(key("proxy", res), `{"claims":[{"name":"gpu"}]}`).Obj(),
			sources: mesh(res),
			wantErr: []string{`only requests and limits may be overridden`},
		},
		"another set's annotation, one whose name goes on with a dot, is not this set's": {
			pod:           pod().Annotation(sidecarsv1alpha1.Prefix+"mesh.v2.proxy.env", `garbage`).Obj(),
			sources:       mesh(),
			wantEnv:       []corev1.EnvVar{{Name: "MODE", Value: "strict"}, {Name: "LEVEL", Value: "info"}},
			wantResources: corev1.ResourceRequirements{Requests: cpu("100m"), Limits: cpu("200m")},
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
			proxy := got.Pod.Spec.InitContainers[0]
			if diff := cmp.Diff(tc.wantEnv, proxy.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantResources, proxy.Resources, quantities); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			records, err := sidecarsv1alpha1.ParseInjectionRecords(got.Pod.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantRecord, records["mesh"].Overrides, quantities); diff != "" {
				t.Errorf("recorded overrides (-want +got):\n%s", diff)
			}

			// A copy is trusted while its annotations say what the record does.
			again, err := Inject(got.Pod, tc.sources)
			if err != nil || len(again.Injected) != 0 {
				t.Fatalf("Inject of the injected pod: %v, injected %v again", err, again.Injected)
			}
			if len(tc.wantRecord) > 0 {
				changed := got.Pod.DeepCopy()
				for k := range changed.Annotations {
					if strings.HasPrefix(k, sidecarsv1alpha1.Prefix+"mesh.proxy.") {
						delete(changed.Annotations, k)
					}
				}
				again, err := Inject(changed, tc.sources)
				if err != nil || len(again.Injected) != 1 {
					t.Errorf("a copy without the override annotation: %v, injected %v, want mesh injected afresh", err, again.Injected)
				}
			}
		})
	}
}

var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })
