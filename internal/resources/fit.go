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
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Added is a container injection added, in injection order.
type Added struct {
	Name, Set string
	// Policy says its resources come from a resourcesPolicy, so they may be sized.
	Policy bool
}

// FitResources are the resources Outrigger sizes and checks against pod-level
// resources; the API server's pod-level resources cover these two.
var FitResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// FitPodResources makes the sidecars injection added respect the pod-level resources
// (spec.resources) of out, as the API server will check them:
//
//   - the pod's effective container requests (regular containers and sidecars summed,
//     or an init container with the sidecars started before it, whichever is larger)
//     must not exceed spec.resources.requests, or, where the pod sets only a limit,
//     spec.resources.limits (pod-level requests default to the containers' then);
//   - a regular container's limit must not exceed spec.resources.limits.
//
// A resourcesPolicy sidecar is sized within that: its request is lowered to what the
// pod-level request (or limit) leaves after every other container, down to 0, and its
// limit to the pod-level limit. Fixed resources that do not fit refuse the pod with a
// message naming the SidecarSet, the container and the numbers. A pod that does not fit
// its own pod-level resources before injection is left to the API server's message.
func FitPodResources(in, out *corev1.Pod, fitted []Added) error {
	if out.Spec.Resources == nil || len(fitted) == 0 {
		return nil
	}
	for _, r := range FitResources {
		budget, budgetField, ok := PodBudget(out.Spec.Resources, r)
		if !ok {
			continue
		}
		limit, hasLimit := out.Spec.Resources.Limits[r]
		for _, a := range fitted {
			if a.Policy {
				sizeWithin(out, a.Name, r, budget, limit, hasLimit)
			}
		}
		own := EffectiveRequests(in)[r]
		if own.Cmp(budget) > 0 {
			continue // the pod alone does not fit: the API server says so
		}
		if total := EffectiveRequests(out)[r]; total.Cmp(budget) > 0 {
			return fmt.Errorf(doesNotFit+"%s; with the pod's own containers (%s %s) the pod requests %s %s, above its %s of %s",
				describeRequests(out, fitted, r), own.String(), r, total.String(), r, budgetField, budget.String())
		}
		if !hasLimit {
			continue
		}
		for _, a := range fitted {
			c := findContainer(out.Spec.Containers, a.Name)
			if c == nil {
				continue
			}
			if l, ok := c.Resources.Limits[r]; ok && l.Cmp(limit) > 0 {
				return fmt.Errorf(doesNotFit+"SidecarSet %q container %q has a %s limit of %s, above the pod's spec.resources.limits.%s of %s",
					a.Set, a.Name, r, l.String(), r, limit.String())
			}
		}
	}
	return nil
}

const doesNotFit = "the sidecars do not fit the pod-level resources: "

// PodBudget is the most the containers may request of r together, and the field that
// says so.
func PodBudget(res *corev1.ResourceRequirements, r corev1.ResourceName) (resource.Quantity, string, bool) {
	if q, ok := res.Requests[r]; ok {
		return q, "spec.resources.requests." + string(r), true
	}
	if q, ok := res.Limits[r]; ok {
		return q, "spec.resources.limits." + string(r), true
	}
	return resource.Quantity{}, "", false
}

// sizeWithin lowers the resourcesPolicy sidecar name's request of r to what budget
// leaves after every other container, and its limit to the pod's limit.
func sizeWithin(pod *corev1.Pod, name string, r corev1.ResourceName, budget, limit resource.Quantity, hasLimit bool) {
	c := podContainer(pod, name)
	if c == nil {
		return
	}
	if l, ok := c.Resources.Limits[r]; ok && hasLimit && l.Cmp(limit) > 0 {
		c.Resources.Limits[r] = canonical(r, limit)
	}
	want, ok := effectiveRequest(c, r)
	if !ok {
		return
	}
	// Its request at 0, the others add up to what is used; a sidecar's request adds to
	// the pod's effective request at most its own amount, so the rest is safe to take.
	saved := c.Resources.DeepCopy()
	c.Resources.Requests = set(c.Resources.Requests, r, resource.Quantity{})
	used := EffectiveRequests(pod)[r]
	left := budget.DeepCopy()
	left.Sub(used)
	if left.Sign() < 0 {
		left = resource.Quantity{}
	}
	c.Resources = *saved
	if want.Cmp(left) > 0 {
		c.Resources.Requests = set(c.Resources.Requests, r, canonical(r, left))
	}
}

// EffectiveRequests are the pod's effective container requests, with each request a
// container leaves unset taken from its limit, as the API server defaults it.
func EffectiveRequests(pod *corev1.Pod) corev1.ResourceList {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: withDefaultedRequests(pod.Spec.InitContainers),
		Containers:     withDefaultedRequests(pod.Spec.Containers),
	}}
	return resourcehelper.AggregateContainerRequests(p, resourcehelper.PodResourcesOptions{})
}

func withDefaultedRequests(cs []corev1.Container) []corev1.Container {
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		out[i] = corev1.Container{Name: cs[i].Name, RestartPolicy: cs[i].RestartPolicy}
		for _, r := range FitResources {
			if q, ok := effectiveRequest(&cs[i], r); ok {
				out[i].Resources.Requests = set(out[i].Resources.Requests, r, q)
			}
		}
	}
	return out
}

func effectiveRequest(c *corev1.Container, r corev1.ResourceName) (resource.Quantity, bool) {
	if q, ok := c.Resources.Requests[r]; ok {
		return q, true
	}
	q, ok := c.Resources.Limits[r]
	return q, ok
}

func describeRequests(pod *corev1.Pod, fitted []Added, r corev1.ResourceName) string {
	var parts []string
	for _, a := range fitted {
		c := podContainer(pod, a.Name)
		if c == nil {
			continue
		}
		if q, ok := effectiveRequest(c, r); ok && !q.IsZero() {
			parts = append(parts, fmt.Sprintf("SidecarSet %q container %q requests %s %s", a.Set, a.Name, q.String(), r))
		}
	}
	return strings.Join(parts, ", ")
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	if i := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
		return &cs[i]
	}
	return nil
}

// canonical writes q as resourcesPolicy results are written: cpu in millicores, memory
// in bytes.
func canonical(r corev1.ResourceName, q resource.Quantity) resource.Quantity {
	if r == corev1.ResourceCPU {
		return *resource.NewMilliQuantity(q.MilliValue(), resource.DecimalSI)
	}
	return *resource.NewQuantity(q.Value(), resource.BinarySI)
}

// FitPolicySidecars sizes the named resourcesPolicy sidecars of pod within its
// pod-level resources (spec.resources), by the rule injection applies: each one's
// request is lowered to what the pod-level request (or limit) leaves after every other
// container, and its limit to the pod-level limit. The rollout uses it when it resizes
// those sidecars after the app was resized, so they stay within the pod level too.
func FitPolicySidecars(pod *corev1.Pod, names []string) {
	if pod.Spec.Resources == nil {
		return
	}
	for _, r := range FitResources {
		budget, _, ok := PodBudget(pod.Spec.Resources, r)
		if !ok {
			continue
		}
		limit, hasLimit := pod.Spec.Resources.Limits[r]
		for _, name := range names {
			sizeWithin(pod, name, r, budget, limit, hasLimit)
		}
	}
}
