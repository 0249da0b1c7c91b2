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

package resources

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// ForPolicies computes the resources of policies, resourcesPolicy sidecars of pod,
// from app, the pod's app containers, as they run: the resources the kubelet reports as
// enacted (containerStatuses[].resources) where it reports them, else the spec's. An
// app resize the kubelet has not applied (Deferred, Infeasible) is not followed until
// it is. The results are then fitted within the pod-level resources (FitPolicySidecars).
func ForPolicies(pod *corev1.Pod, app []corev1.Container, policies []sidecarsv1alpha1.SidecarContainer) map[string]corev1.ResourceRequirements {
	for _, st := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		if i := slices.IndexFunc(app, func(c corev1.Container) bool { return c.Name == st.Name }); i >= 0 && st.Resources != nil {
			app[i].Resources = *st.Resources.DeepCopy()
		}
	}
	fitted := pod.DeepCopy()
	names := make([]string, 0, len(policies))
	for _, sc := range policies {
		podContainer(fitted, sc.Name).Resources = Compute(sc.ResourcesPolicy, app)
		names = append(names, sc.Name)
	}
	FitPolicySidecars(fitted, names)
	out := make(map[string]corev1.ResourceRequirements, len(names))
	for _, name := range names {
		out[name] = podContainer(fitted, name).Resources
	}
	return out
}

// podContainer is the container of pod named name: an init container or a regular one.
func podContainer(pod *corev1.Pod, name string) *corev1.Container {
	if c := findContainer(pod.Spec.InitContainers, name); c != nil {
		return c
	}
	return findContainer(pod.Spec.Containers, name)
}

// Resize hysteresis: a resourcesPolicy sidecar follows its app only when one of its
// computed requests or limits moves by more than ResizeStepPercent of its current value
// and by more than the resource's floor, so an app resized often, or by a little, does
// not resize its sidecars each time.
const ResizeStepPercent = 10

var resizeFloor = map[corev1.ResourceName]resource.Quantity{
	corev1.ResourceCPU:    resource.MustParse("5m"),
	corev1.ResourceMemory: resource.MustParse("4Mi"),
}

// BeyondStep says whether want moved past the hysteresis from have: by more than
// ResizeStepPercent of a current request or limit and by more than its floor, or a
// request or limit appears or goes.
func BeyondStep(have, want corev1.ResourceRequirements) bool {
	for _, lists := range [][2]corev1.ResourceList{{have.Requests, want.Requests}, {have.Limits, want.Limits}} {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			h, hok := lists[0][r]
			w, wok := lists[1][r]
			switch {
			case hok != wok:
				return true // a request or limit appears or goes
			case !hok:
				continue
			}
			delta := w.DeepCopy()
			delta.Sub(h)
			if delta.Sign() < 0 {
				delta.Neg()
			}
			floor := resizeFloor[r]
			if delta.Cmp(floor) > 0 && delta.MilliValue()*100 > h.MilliValue()*ResizeStepPercent {
				return true
			}
		}
	}
	return false
}

// Same says whether two containers' requests and limits are the same: claims, which a
// resize cannot change, and empty lists aside; quantities compared by value.
func Same(a, b corev1.ResourceRequirements) bool {
	return equality.Semantic.DeepEqual(normalize(a), normalize(b))
}

// normalize drops what only differs in form: empty lists, and claims.
func normalize(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{}
	if len(r.Requests) > 0 {
		out.Requests = r.Requests
	}
	if len(r.Limits) > 0 {
		out.Limits = r.Limits
	}
	return out
}

// ResizeRestarts says whether the kubelet restarts a container to apply res: a resource
// that changes and whose resizePolicy is RestartContainer (unset means NotRequired).
func ResizeRestarts(pod *corev1.Pod, res map[string]corev1.ResourceRequirements) bool {
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		want, ok := res[c.Name]
		if !ok {
			continue
		}
		for _, p := range c.ResizePolicy {
			if p.RestartPolicy != corev1.RestartContainer {
				continue
			}
			if !c.Resources.Requests.Name(p.ResourceName, resource.DecimalSI).Equal(*want.Requests.Name(p.ResourceName, resource.DecimalSI)) ||
				!c.Resources.Limits.Name(p.ResourceName, resource.DecimalSI).Equal(*want.Limits.Name(p.ResourceName, resource.DecimalSI)) {
				return true
			}
		}
	}
	return false
}
