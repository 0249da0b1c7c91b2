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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

func TestInjectWithPodLevelResources(t *testing.T) {
	cpu := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
	appPod := func(podRes corev1.ResourceRequirements, appRequest string) *corev1.Pod {
		p := pod().Obj()
		p.Spec.Containers[0].Resources.Requests = cpu(appRequest)
		p.Spec.Resources = &podRes
		return p
	}
	policy := sidecarsv1alpha1.ResourcesPolicy{CPU: &sidecarsv1alpha1.ResourceRule{Percent: 1000, Min: new(resource.MustParse("10m"))}}
	cases := map[string]struct {
		pod     *corev1.Pod
		sidecar sidecarsv1alpha1.SidecarContainer
		// want is the sidecar's cpu request and limit ("" for unset).
		wantRequest, wantLimit string
		wantErr                []string
	}{
		"without pod-level resources a policy sidecar gets what its policy says": {
			pod:     func() *corev1.Pod { p := pod().Obj(); p.Spec.Containers[0].Resources.Requests = cpu("50m"); return p }(),
			sidecar: sidecar("proxy").ResourcesPolicy(policy).Obj(), wantRequest: "500m",
		},
		"a policy sidecar's request is lowered to what the pod-level limit leaves": {
			pod:     appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "50m"),
			sidecar: sidecar("proxy").ResourcesPolicy(policy).Obj(), wantRequest: "150m",
		},
		"a pod-level request bounds the containers' requests before the limit does": {
			pod:     appPod(corev1.ResourceRequirements{Requests: cpu("100m"), Limits: cpu("1")}, "50m"),
			sidecar: sidecar("proxy").ResourcesPolicy(policy).Obj(), wantRequest: "50m",
		},
		"a policy sidecar's request goes down to 0 when the app takes it all": {
			pod:     appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "200m"),
			sidecar: sidecar("proxy").ResourcesPolicy(policy).Obj(), wantRequest: "0",
		},
		"a policy sidecar's limit is lowered to the pod-level limit": {
			pod: func() *corev1.Pod {
				p := appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "50m")
				p.Spec.Containers[0].Resources.Limits = cpu("100m")
				return p
			}(),
			sidecar: sidecar("proxy").ResourcesPolicy(policy).Obj(), wantRequest: "150m", wantLimit: "200m",
		},
		"fixed resources that fit are kept": {
			pod:     appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "50m"),
			sidecar: sidecar("proxy").Resources(cpu("150m"), nil).Obj(), wantRequest: "150m",
		},
		"fixed requests that overflow refuse the pod, naming the set, the container and the numbers": {
			pod:     appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "50m"),
			sidecar: sidecar("proxy").Resources(cpu("300m"), nil).Obj(),
			wantErr: []string{`SidecarSet "mesh" container "proxy" requests 300m cpu`, "own containers (50m cpu)",
				"the pod requests 350m cpu", "spec.resources.limits.cpu of 200m"},
		},
		"a fixed limit given as the only value counts as the request": {
			pod:     appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "50m"),
			sidecar: sidecar("proxy").Resources(nil, cpu("300m")).Obj(),
			wantErr: []string{`SidecarSet "mesh" container "proxy" requests 300m cpu`},
		},
		"a regular sidecar's limit above the pod-level limit refuses the pod": {
			pod:     appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "50m"),
			sidecar: sidecar("proxy").Mode(sidecarsv1alpha1.SidecarModeContainer).Resources(cpu("10m"), cpu("1")).Obj(),
			wantErr: []string{`SidecarSet "mesh" container "proxy" has a cpu limit of 1, above the pod's spec.resources.limits.cpu of 200m`},
		},
		"a pod that does not fit on its own is left to the API server": {
			pod:     appPod(corev1.ResourceRequirements{Limits: cpu("200m")}, "300m"),
			sidecar: sidecar("proxy").Resources(cpu("100m"), nil).Obj(), wantRequest: "100m",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Inject(tc.pod, sourcesOf(set("mesh").Sidecar(tc.sidecar).Obj()))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Inject succeeded, want an error containing %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Inject: %v", err)
			}
			c := findContainer(append(got.Pod.Spec.InitContainers, got.Pod.Spec.Containers...), "proxy")
			str := func(l corev1.ResourceList) string {
				if q, ok := l[corev1.ResourceCPU]; ok {
					return q.String()
				}
				return ""
			}
			if diff := cmp.Diff([]string{tc.wantRequest, tc.wantLimit}, []string{str(c.Resources.Requests), str(c.Resources.Limits)}); diff != "" {
				t.Errorf("sidecar cpu request, limit (-want +got):\n%s", diff)
			}
		})
	}
}

// findContainer is the container of cs named name, nil when there is none.
func findContainer(cs []corev1.Container, name string) *corev1.Container {
	if i := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
		return &cs[i]
	}
	return nil
}
