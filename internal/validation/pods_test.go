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
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

func probeSet() *sidecarsv1alpha1.SidecarSet {
	return testingutil.MakeSidecarSet("mesh").
		InitContainer(corev1.Container{Name: "setup", Image: "example/setup"}).
		Sidecar(testingutil.MakeSidecar("app", "example/proxy").Mount("certs", "/certs").Mount("from-pod", "/p").Obj()).
		Sidecar(testingutil.MakeSidecar("log", "example/log").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).
		Volume(testingutil.EmptyDir("certs")).
		Obj()
}

func TestProbePod(t *testing.T) {
	probe, err := ProbePod(probeSet(), "outrigger-system")
	if err != nil {
		t.Fatal(err)
	}
	names := func(cs []corev1.Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	var volumes []string
	for _, v := range probe.Spec.Volumes {
		volumes = append(volumes, v.Name)
	}
	got := map[string][]string{
		"init": names(probe.Spec.InitContainers), "containers": names(probe.Spec.Containers), "volumes": volumes,
	}
	want := map[string][]string{
		// The app container steps aside from the set's "app"; the undeclared volume is provided.
		"init": {"setup", "app"}, "containers": {"log", "app-0"}, "volumes": {"from-pod", "certs"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("probe pod (-want +got):\n%s", diff)
	}
	if probe.Namespace != "outrigger-system" || probe.Labels[sidecarsv1alpha1.InjectLabel] != "false" {
		t.Errorf("probe pod in %q with labels %v, want the operator's namespace, opted out", probe.Namespace, probe.Labels)
	}
	if _, ok := probe.Annotations[sidecarsv1alpha1.InjectedAnnotation]; ok {
		t.Error("the probe pod carries an injection record")
	}
}

func TestPodErrors(t *testing.T) {
	set := probeSet()
	probe, err := ProbePod(set, "ns")
	if err != nil {
		t.Fatal(err)
	}
	causes := []metav1.StatusCause{
		{Type: metav1.CauseTypeFieldValueRequired, Field: "spec.initContainers[0].image", Message: "Required value"},
		{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.initContainers[1].ports[0].containerPort",
			Message: "Invalid value: 70000: must be between 1 and 65535, inclusive"},
		{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.containers[0].env[0].name", Message: `Invalid value: "1 bad": a valid name`},
		{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.volumes[1].emptyDir.sizeLimit", Message: "Invalid value: -1: bad"},
		{Type: metav1.CauseTypeFieldValueInvalid, Field: "metadata.labels", Message: `Invalid value: "x": bad`},
		{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec.containers[1].image", Message: "Invalid value: the app's"},
	}
	var got []string
	for _, e := range PodErrors(set, probe, causes) {
		got = append(got, e.Error())
	}
	want := []string{
		"spec.initContainers[0].image: Required value",
		"spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
		`spec.containers[1].env[0].name: Invalid value: "1 bad": a valid name`,
		"spec.volumes[0].emptyDir.sizeLimit: Invalid value: -1: bad",
		`spec.podMetadata.labels: Invalid value: "x": bad`,
		"spec: Invalid value: a pod this SidecarSet is injected into would be invalid: spec.containers[1].image: Invalid value: the app's",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mapped errors (-want +got):\n%s", diff)
	}
}

func TestRatchet(t *testing.T) {
	set := probeSet()
	probe, _ := ProbePod(set, "ns")
	cause := func(f, msg string) metav1.StatusCause {
		return metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: f, Message: "Invalid value: " + msg}
	}
	old := PodErrors(set, probe, []metav1.StatusCause{cause("spec.initContainers[0].image", "a")})
	errs := PodErrors(set, probe, []metav1.StatusCause{cause("spec.initContainers[0].image", "a"), cause("spec.initContainers[0].image", "b")})
	got := Ratchet(errs, old)
	if len(got) != 1 || got[0].Detail != "b" {
		t.Errorf("Ratchet = %v, want only the new error", got)
	}
}
