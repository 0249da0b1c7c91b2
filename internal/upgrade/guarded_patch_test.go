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

package upgrade

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

func guardedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", ResourceVersion: "7", Annotations: map[string]string{
			sidecarsv1alpha1.InjectedAnnotation: `{"mesh":{"revision":"mesh-1"}}`,
			sidecarsv1alpha1.UpgradeAnnotation:  `{"set":"mesh","revision":"mesh-2"}`,
			"team/owner~x":                      "web",
		}},
		Status: corev1.PodStatus{
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionFalse},
				{Type: sidecarsv1alpha1.SidecarsReadyCondition, Status: corev1.ConditionFalse, Reason: "Upgrading"},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", Ready: false, RestartCount: 1}},
		},
	}
}

// finishUpgrade is what finish makes of guardedPod: record replaced, state removed, gate True.
func finishUpgrade(p *corev1.Pod) {
	p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = `{"mesh":{"revision":"mesh-2"}}`
	delete(p.Annotations, sidecarsv1alpha1.UpgradeAnnotation)
	p.Status.Conditions[1] = corev1.PodCondition{Type: sidecarsv1alpha1.SidecarsReadyCondition, Status: corev1.ConditionTrue, Reason: "SidecarsReady"}
}

func applyJSONPatch(t *testing.T, pod *corev1.Pod, patch []byte) (*corev1.Pod, error) {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("the patch does not decode: %v\n%s", err, patch)
	}
	out, err := p.Apply(raw)
	if err != nil {
		return nil, err
	}
	got := &corev1.Pod{}
	if err := json.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	return got, nil
}

// TestGuardedStatusPatch: the patch takes the pod it was computed from to the mutated
// pod; on the server's newer version it still applies over the kubelet's reports and
// keeps them, and fails where Outrigger's metadata or the condition's place changed.
func TestGuardedStatusPatch(t *testing.T) {
	orig := guardedPod()
	mutated := orig.DeepCopy()
	finishUpgrade(mutated)
	patch, ok := GuardedStatusPatch(orig, mutated)
	if !ok {
		t.Fatal("GuardedStatusPatch refused a finish")
	}
	got, err := applyJSONPatch(t, orig, patch)
	if err != nil {
		t.Fatalf("the patch does not apply to the pod it was computed from: %v", err)
	}
	if diff := cmp.Diff(mutated, got); diff != "" {
		t.Errorf("patched pod (-want +got):\n%s", diff)
	}

	cases := []struct {
		name    string
		server  func(p *corev1.Pod) // the server's version, changed since orig was read
		wantErr bool
		want    func(p *corev1.Pod) // what the patched server version is, when it applies
	}{
		{name: "the kubelet reported the container ready and appended a condition",
			server: func(p *corev1.Pod) {
				p.ResourceVersion = "8"
				p.Status.ContainerStatuses[0].Ready = true
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue})
			},
			want: func(p *corev1.Pod) {
				p.ResourceVersion = "8"
				p.Status.ContainerStatuses[0].Ready = true
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue})
				finishUpgrade(p)
			}},
		{name: "another set rewrote the record", wantErr: true, server: func(p *corev1.Pod) {
			p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = `{"mesh":{"revision":"mesh-1"},"audit":{"revision":"audit-2"}}`
		}},
		{name: "the state was cleared (the pod was released)", wantErr: true, server: func(p *corev1.Pod) {
			delete(p.Annotations, sidecarsv1alpha1.UpgradeAnnotation)
		}},
		{name: "the state moved to another target", wantErr: true, server: func(p *corev1.Pod) {
			p.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = `{"set":"mesh","revision":"mesh-3"}`
		}},
		{name: "the gate is no longer where it was", wantErr: true, server: func(p *corev1.Pod) {
			p.Status.Conditions[0], p.Status.Conditions[1] = p.Status.Conditions[1], p.Status.Conditions[0]
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := guardedPod()
			tc.server(server)
			got, err := applyJSONPatch(t, server, patch)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("the patch applied over a change it must guard against: %+v", got.Annotations)
				}
				return
			}
			if err != nil {
				t.Fatalf("the patch failed over a change it must not guard against: %v", err)
			}
			want := guardedPod()
			tc.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("patched server pod (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGuardedStatusPatchRefuses: where no guard can be built, the caller falls back to
// the resourceVersion.
func TestGuardedStatusPatchRefuses(t *testing.T) {
	cases := []struct {
		name   string
		orig   func(p *corev1.Pod)
		mutate func(p *corev1.Pod)
	}{
		{name: "no upgrade state to test (a begin)", orig: func(p *corev1.Pod) {
			delete(p.Annotations, sidecarsv1alpha1.UpgradeAnnotation)
		}, mutate: func(p *corev1.Pod) { p.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = "{}" }},
		{name: "no record to test", orig: func(p *corev1.Pod) {
			delete(p.Annotations, sidecarsv1alpha1.InjectedAnnotation)
		}, mutate: finishUpgrade},
		{name: "a condition added", mutate: func(p *corev1.Pod) {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: sidecarsv1alpha1.UpgradableCondition})
		}},
		{name: "a condition removed", mutate: func(p *corev1.Pod) { p.Status.Conditions = p.Status.Conditions[:1] }},
		{name: "another field changed", mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses[0].Ready = true }},
		{name: "a label changed", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"x": "y"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := guardedPod()
			if tc.orig != nil {
				tc.orig(orig)
			}
			mutated := orig.DeepCopy()
			tc.mutate(mutated)
			if patch, ok := GuardedStatusPatch(orig, mutated); ok {
				t.Errorf("GuardedStatusPatch built %s, want none", patch)
			}
		})
	}
}
