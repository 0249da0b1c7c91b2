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
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Applies says whether set injects a pod that its selectors select: a pod or namespace
// opted out (OptedOut) skips Optional sets only. The system namespaces and the
// operator's (Excluded) are never injected, whatever the set.
func Applies(set *sidecarsv1alpha1.SidecarSet, optedOut string) bool {
	return optedOut == "" || set.Spec.Injection.IsRequired()
}

// RequiredError refuses a pod that would lack a Required set's sidecars or volumes.
type RequiredError struct {
	Set  string
	Errs field.ErrorList
}

func (e *RequiredError) Error() string {
	return fmt.Sprintf("SidecarSet %q is Required (spec.injection.enforcement), its sidecars and volumes cannot be "+
		"replaced or skipped: %s", e.Set, e.Errs.ToAggregate().Error())
}

// requiredConflicts refuses, for a Required src, the pod's own containers and volumes of
// the set's names (field paths of the pod) and names an earlier set already took
// (owner: added container -> its set; volumeOwner: added volume -> its set, in out)
// with something else than src's.
func requiredConflicts(pod, out *corev1.Pod, src Source, owner, volumeOwner map[string]string) error {
	sidecarPath := map[string]string{}
	var ordered []string
	for i, ic := range src.Spec.InitContainers {
		sidecarPath[ic.Name] = fmt.Sprintf("spec.initContainers[%d]", i)
		ordered = append(ordered, ic.Name)
	}
	for i, sc := range src.Spec.Containers {
		sidecarPath[sc.Name] = fmt.Sprintf("spec.containers[%d]", i)
		ordered = append(ordered, sc.Name)
	}
	var errs field.ErrorList
	podContainers := func(path *field.Path, names []string) {
		for i, name := range names {
			if p, ok := sidecarPath[name]; ok {
				errs = append(errs, field.Forbidden(path.Index(i).Child("name"),
					fmt.Sprintf("%q is the name of the SidecarSet's %s", name, p)))
			}
		}
	}
	spec := field.NewPath("spec")
	podContainers(spec.Child("initContainers"), namesOf(pod.Spec.InitContainers))
	podContainers(spec.Child("containers"), namesOf(pod.Spec.Containers))
	ephemeral := make([]string, 0, len(pod.Spec.EphemeralContainers))
	for _, c := range pod.Spec.EphemeralContainers {
		ephemeral = append(ephemeral, c.Name)
	}
	podContainers(spec.Child("ephemeralContainers"), ephemeral)
	for _, name := range ordered {
		if other, ok := owner[name]; ok {
			p := sidecarPath[name]
			errs = append(errs, field.Forbidden(spec,
				fmt.Sprintf("SidecarSet %q, injected before it, adds a container %q, the name of the SidecarSet's %s", other, name, p)))
		}
	}
	volumes := map[string]int{}
	for i, v := range src.Spec.Volumes {
		volumes[v.Name] = i
		other, ok := volumeOwner[v.Name]
		if !ok {
			continue
		}
		if j := slices.IndexFunc(out.Spec.Volumes, func(p corev1.Volume) bool { return p.Name == v.Name }); j >= 0 &&
			!equality.Semantic.DeepEqual(out.Spec.Volumes[j], v) {
			errs = append(errs, field.Forbidden(spec,
				fmt.Sprintf("SidecarSet %q, injected before it, adds another volume %q, the name of the SidecarSet's spec.volumes[%d]", other, v.Name, i)))
		}
	}
	for i, v := range pod.Spec.Volumes {
		if j, ok := volumes[v.Name]; ok {
			errs = append(errs, field.Forbidden(spec.Child("volumes").Index(i).Child("name"),
				fmt.Sprintf("%q is the name of the SidecarSet's spec.volumes[%d]", v.Name, j)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &RequiredError{Set: src.Set.Name, Errs: errs}
}

func namesOf(cs []corev1.Container) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// overrideWarnings say what of an Optional set the pod replaced with its own.
func overrideWarnings(set string, containers, volumes []string) []string {
	var out []string
	for _, name := range containers {
		out = append(out, fmt.Sprintf("SidecarSet %q: the pod's own container %q replaces the SidecarSet's (recorded as overridden)", set, name))
	}
	for _, name := range volumes {
		out = append(out, fmt.Sprintf("SidecarSet %q: the pod's own volume %q replaces the SidecarSet's (recorded as overridden)", set, name))
	}
	return out
}
