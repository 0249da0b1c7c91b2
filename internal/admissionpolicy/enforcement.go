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

package admissionpolicy

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// A Required set (injection.enforcement) refuses a pod that declares a container or a
// volume of its names, as inject.Inject does. A MutatingAdmissionPolicy has no way to
// deny a request but failing it (failurePolicy Fail): the policy's patch is then one
// operation that cannot apply, removing a member of a member the pod does not have,
// whose path is the refusal. The API server answers with it:
//
//	policy 'inject.sidecars.outrigger.dev' with binding 'inject.sidecars.outrigger.dev'
//	denied request: JSON Patch: remove operation does not apply: doc is missing path:
//	"/refused: SidecarSet "audit" is Required ...: spec.containers[0].name: Forbidden: ...
//	/-": missing value
//
// The message holds no '/' nor '~' (JSON Pointer would split or decode them): set,
// container and volume names are DNS labels and subdomains.

// refusalPrefix starts the path of the failing operation, so the refusal reads as one.
const refusalPrefix = "refused: "

// refusalOp is the failing operation, its path the first refusal.
const refusalOp = "[JSONPatch{op: 'remove', path: '/' + variables.refusals[0] + '/-'}]"

// refusalsVar defines the variable refusals, the messages of the pod's conflicts with
// the Required sets the policy would inject, and returns CEL saying there is one.
func (c *compiler) refusalsVar() string {
	var elems []string
	for i, s := range c.sets {
		if !s.src.Set.Spec.Injection.IsRequired() {
			continue
		}
		head := quote(fmt.Sprintf("%sSidecarSet %q is Required (spec.injection.enforcement), its sidecars and volumes cannot be "+
			"replaced or skipped: ", refusalPrefix, s.src.Set.Name))
		for k, name := range names(s.src) {
			setPath := fmt.Sprintf("spec.containers[%d]", k-len(s.src.Spec.InitContainers))
			if k < len(s.src.Spec.InitContainers) {
				setPath = fmt.Sprintf("spec.initContainers[%d]", k)
			}
			forbidden := quote(fmt.Sprintf("].name: Forbidden: %q is the name of the SidecarSet's %s", name, setPath))
			for _, where := range []struct{ field, names string }{
				{"initContainers", "variables.initNames"}, {"containers", "variables.appNames"}, {"ephemeralContainers", "variables.ephemeralNames"},
			} {
				msg := fmt.Sprintf("%s + %s + string(%s.indexOf(%s)) + %s", head, quote("spec."+where.field+"["), where.names, quote(name), forbidden)
				elems = append(elems, fmt.Sprintf("?(variables.%s && %s in %s ? optional.of(%s) : optional.none())", s.inject, quote(name), where.names, msg))
			}
			if earlier := c.claimedBefore("container/"+name, i, func(o compiledSet) bool { return slices.Contains(names(o.src), name) }); earlier != "" {
				msg := head + " + " + quote(fmt.Sprintf("spec: Forbidden: a SidecarSet injected before it adds a container %q, "+
					"the name of the SidecarSet's %s", name, setPath))
				elems = append(elems, fmt.Sprintf("?(variables.%s && %s ? optional.of(%s) : optional.none())", s.inject, earlier, msg))
			}
		}
		for j, v := range s.src.Spec.Volumes {
			forbidden := quote(fmt.Sprintf("].name: Forbidden: %q is the name of the SidecarSet's spec.volumes[%d]", v.Name, j))
			msg := fmt.Sprintf("%s + 'spec.volumes[' + string(variables.volumeNames.indexOf(%s)) + %s", head, quote(v.Name), forbidden)
			elems = append(elems, fmt.Sprintf("?(variables.%s && %s in variables.volumeNames ? optional.of(%s) : optional.none())",
				s.inject, quote(v.Name), msg))
		}
	}
	if len(elems) == 0 {
		c.variable("refusals", "[]")
		return celFalse
	}
	c.variable("refusals", c.listVariable("refusalList", elems))
	return "size(variables.refusals) > 0"
}

// keptVolumes is CEL for the list of the i-th set's volumes it does not add, when the
// policy injects it: those the pod declares itself, and those a set before it adds
// with another source (validation refuses such sets). Recorded as overriddenVolumes,
// as inject.Inject records them.
func (c *compiler) keptVolumes(i int) string {
	s := c.sets[i]
	var elems []string
	for _, v := range s.volumes {
		cond := fmt.Sprintf("%s in variables.volumeNames", quote(v.Name))
		differs := func(o compiledSet) bool {
			j := slices.IndexFunc(o.src.Spec.Volumes, func(ov corev1.Volume) bool { return ov.Name == v.Name })
			return j >= 0 && !equality.Semantic.DeepEqual(o.src.Spec.Volumes[j], v)
		}
		if other := c.claimedBefore(fmt.Sprintf("volume-other/%s/%d", v.Name, i), i, differs); other != "" {
			cond = "(" + cond + " || " + other + ")"
		}
		elems = append(elems, fmt.Sprintf("?(variables.%s && %s ? optional.of(%s) : optional.none())", s.inject, cond, quote(v.Name)))
	}
	return list(elems)
}

// overridesExpr says why src cannot be expressed when it lets pods override its
// sidecars: reading, validating and merging the pods' override annotations (JSON in a
// string) is beyond CEL. Such a set is injected by the pod webhook.
func overridesExpr(src inject.Source) string {
	for i, sc := range src.Spec.Containers {
		if len(sc.Overrides) > 0 {
			return fmt.Sprintf("spec.containers[%d].overrides: per-pod overrides (annotations %s%s.%s.<field>) are applied by the pod webhook only",
				i, sidecarsv1alpha1.Prefix, src.Set.Name, sc.Name)
		}
	}
	return ""
}
