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
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

var specPath = field.NewPath("spec")

// ValidateSidecarSet checks set on its own; old is the stored object on update and nil
// on create. It returns the errors that refuse the object and warnings for references it
// cannot resolve without the pods.
func ValidateSidecarSet(set, old *sidecarsv1alpha1.SidecarSet) (field.ErrorList, []string) {
	var oldSelector, oldNamespaceSelector, oldUpdateSelector *metav1.LabelSelector
	if old != nil {
		oldSelector = old.Spec.Selector
		oldNamespaceSelector = old.Spec.NamespaceSelector
		oldUpdateSelector = old.Spec.UpdateStrategy.Selector
	}
	spec := &set.Spec

	var errs field.ErrorList
	errs = append(errs, validateSelector(spec.Selector, oldSelector, specPath.Child("selector"))...)
	errs = append(errs, validateSelector(spec.NamespaceSelector, oldNamespaceSelector, specPath.Child("namespaceSelector"))...)
	errs = append(errs, validateSelector(spec.UpdateStrategy.Selector, oldUpdateSelector, specPath.Child("updateStrategy", "selector"))...)
	errs = append(errs, validatePodMetadata(spec.PodMetadata, specPath.Child("podMetadata"))...)
	errs = append(errs, validateContainerRefs(spec)...)
	return errs, volumeWarnings(spec)
}

// validateSelector ratchets label values as Kubernetes does for workload selectors: an
// object stored while the webhook was unavailable may hold values that are invalid today,
// and it must stay updatable (to fix it, or to remove a finalizer), so a selector that
// already held one is not checked for them again. Keys and operators are always checked.
func validateSelector(sel, old *metav1.LabelSelector, p *field.Path) field.ErrorList {
	opts := metav1validation.LabelSelectorValidationOptions{
		AllowInvalidLabelValueInSelector: metav1validation.LabelSelectorHasInvalidLabelValue(old),
	}
	return sortErrors(metav1validation.ValidateLabelSelector(sel, opts, p))
}

// validatePodMetadata checks key by key, in key order, so each error points at its key
// and the webhook's message is the same on every call.
func validatePodMetadata(md *sidecarsv1alpha1.PodMetadata, p *field.Path) field.ErrorList {
	if md == nil {
		return nil
	}
	var errs field.ErrorList
	labels := p.Child("labels")
	for _, k := range slices.Sorted(maps.Keys(md.Labels)) {
		kp := labels.Key(k)
		errs = append(errs, metav1validation.ValidateLabels(map[string]string{k: md.Labels[k]}, kp)...)
		errs = append(errs, forbidOwnedKey(k, kp)...)
	}
	annotations := p.Child("annotations")
	for _, k := range slices.Sorted(maps.Keys(md.Annotations)) {
		kp := annotations.Key(k)
		// Only the key: the size limit applies to all annotations together, below.
		errs = append(errs, apivalidation.ValidateAnnotations(map[string]string{k: ""}, kp)...)
		errs = append(errs, forbidOwnedKey(k, kp)...)
	}
	// The pod's own annotations add to these, so this is a lower bound of what the pod
	// will carry; refusing here beats refusing every pod at injection.
	if apivalidation.ValidateAnnotationsSize(md.Annotations) != nil {
		errs = append(errs, field.TooLong(annotations, "", apivalidation.TotalAnnotationSizeLimitB))
	}
	return errs
}

// forbidOwnedKey keeps users off Outrigger's keys: the controller trusts what it finds
// under them (what was injected, upgrade state, opt-outs). Case is folded because
// annotation keys are validated case-insensitively, and a differently-cased key in our
// domain would mislead whoever reads the pod.
func forbidOwnedKey(key string, p *field.Path) field.ErrorList {
	if !strings.HasPrefix(strings.ToLower(key), sidecarsv1alpha1.Prefix) {
		return nil
	}
	return field.ErrorList{field.Forbidden(p, fmt.Sprintf("keys with the prefix %q are owned by Outrigger", sidecarsv1alpha1.Prefix))}
}

// validateContainerRefs refuses references to the set's own containers where an app
// container is meant: in the pod those names belong to the sidecars, so the reference
// would read a sidecar's env or resources instead of the app's.
func validateContainerRefs(spec *sidecarsv1alpha1.SidecarSetSpec) field.ErrorList {
	own := map[string]*field.Path{}
	for i := range spec.Containers {
		own[spec.Containers[i].Name] = specPath.Child("containers").Index(i)
	}
	for i := range spec.InitContainers {
		own[spec.InitContainers[i].Name] = specPath.Child("initContainers").Index(i)
	}

	var errs field.ErrorList
	for i := range spec.Containers {
		c := &spec.Containers[i]
		cp := specPath.Child("containers").Index(i)
		for k, t := range c.TransferEnv {
			if where, ok := own[t.SourceContainer]; ok {
				errs = append(errs, field.Invalid(cp.Child("transferEnv").Index(k).Child("sourceContainer"), t.SourceContainer,
					fmt.Sprintf("names a container of this SidecarSet (%s); environment is copied from the pod's app containers", where)))
			}
		}
		if c.ResourcesPolicy == nil {
			continue
		}
		for k, name := range c.ResourcesPolicy.TargetContainers {
			if where, ok := own[name]; ok {
				errs = append(errs, field.Invalid(cp.Child("resourcesPolicy", "targetContainers").Index(k), name,
					fmt.Sprintf("names a container of this SidecarSet (%s); resources derive from the pod's app containers", where)))
			}
		}
	}
	return errs
}

// volumeWarnings reports mounts of volumes the set does not declare. They are not errors:
// such a mount may rely on a volume every selected pod brings, which only the injector
// can see.
func volumeWarnings(spec *sidecarsv1alpha1.SidecarSetSpec) []string {
	declared := make(map[string]bool, len(spec.Volumes))
	for _, v := range spec.Volumes {
		declared[v.Name] = true
	}
	var warnings []string
	check := func(p *field.Path, c *corev1.Container) {
		for j, m := range c.VolumeMounts {
			if !declared[m.Name] {
				warnings = append(warnings, undeclaredVolume(p.Child("volumeMounts").Index(j), m.Name))
			}
		}
		for j, d := range c.VolumeDevices {
			if !declared[d.Name] {
				warnings = append(warnings, undeclaredVolume(p.Child("volumeDevices").Index(j), d.Name))
			}
		}
	}
	for i := range spec.Containers {
		check(specPath.Child("containers").Index(i), &spec.Containers[i].Container)
	}
	for i := range spec.InitContainers {
		check(specPath.Child("initContainers").Index(i), &spec.InitContainers[i])
	}
	return warnings
}

func undeclaredVolume(p *field.Path, name string) string {
	return fmt.Sprintf("%s: volume %q is not declared in spec.volumes; pods without such a volume will be refused at injection", p, name)
}

// sortErrors orders errors from validators that range over maps, so the same object
// always yields the same message.
func sortErrors(errs field.ErrorList) field.ErrorList {
	slices.SortStableFunc(errs, func(a, b *field.Error) int {
		return cmp.Or(
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(fmt.Sprint(a.BadValue), fmt.Sprint(b.BadValue)),
			cmp.Compare(a.Detail, b.Detail),
		)
	})
	return errs
}
