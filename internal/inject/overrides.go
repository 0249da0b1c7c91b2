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
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// podOverrides reads what pod sets for itself of src's sidecars: the annotations
// sidecars.outrigger.dev/<set>.<container>.<field>. An annotation of the set that names
// a container the set does not have, a field the container does not list in
// overrides, or a value that does not parse refuses the pod. (A key with more dots
// after the set's name belongs to a set whose name goes on with a dot.)
func podOverrides(pod *corev1.Pod, src Source) (map[string]sidecarsv1alpha1.ContainerOverrides, error) {
	prefix := sidecarsv1alpha1.Prefix + src.Set.Name + "."
	var out map[string]sidecarsv1alpha1.ContainerOverrides
	var errs field.ErrorList
	annotations := field.NewPath("metadata", "annotations")
	for _, key := range slices.Sorted(maps.Keys(pod.Annotations)) {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok || strings.Count(rest, ".") != 1 {
			continue
		}
		name, what, _ := strings.Cut(rest, ".")
		path, value := annotations.Key(key), pod.Annotations[key]
		i := slices.IndexFunc(src.Spec.Containers, func(sc sidecarsv1alpha1.SidecarContainer) bool { return sc.Name == name })
		if i < 0 {
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("SidecarSet %q has no sidecar %q to override", src.Set.Name, name)))
			continue
		}
		sc := &src.Spec.Containers[i]
		f := sidecarsv1alpha1.OverridableField(what)
		if !slices.Contains(sc.Overrides, f) {
			allowed := "nothing"
			if len(sc.Overrides) > 0 {
				allowed = fmt.Sprint(sc.Overrides)
			}
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("SidecarSet %q lets pods override %s of sidecar %q (spec.containers[%d].overrides), not %q",
				src.Set.Name, allowed, name, i, what)))
			continue
		}
		o := out[name]
		switch f {
		case sidecarsv1alpha1.OverrideResources:
			r := &corev1.ResourceRequirements{}
			if err := strictJSON(value, r); err != nil {
				errs = append(errs, field.Invalid(path, value,
					`must be a JSON ResourceRequirements, e.g. {"requests":{"cpu":"50m"},"limits":{"memory":"64Mi"}}: `+err.Error()))
				continue
			}
			if len(r.Claims) > 0 {
				errs = append(errs, field.Forbidden(path, "only requests and limits may be overridden"))
				continue
			}
			o.Resources = r
		case sidecarsv1alpha1.OverrideEnv:
			var env []corev1.EnvVar
			if err := strictJSON(value, &env); err != nil {
				errs = append(errs, field.Invalid(path, value, `must be a JSON list of EnvVar, e.g. [{"name":"LOG_LEVEL","value":"debug"}]: `+err.Error()))
				continue
			}
			o.Env = env
		}
		if out == nil {
			out = map[string]sidecarsv1alpha1.ContainerOverrides{}
		}
		out[name] = o
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("the pod's overrides of SidecarSet %q: %w", src.Set.Name, errs.ToAggregate())
	}
	return out, nil
}

// strictJSON decodes value into v, refusing unknown fields and trailing data.
func strictJSON(value string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(value)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// ApplyOverrides sets what a pod overrode on its sidecar c: each resource's request and
// limit it names, and each variable by name (added when the sidecar lacks it).
func ApplyOverrides(c *corev1.Container, o sidecarsv1alpha1.ContainerOverrides) {
	if o.Resources != nil {
		c.Resources = OverriddenResources(c.Resources, o.Resources)
	}
	for _, e := range o.Env {
		if i := slices.IndexFunc(c.Env, func(have corev1.EnvVar) bool { return have.Name == e.Name }); i >= 0 {
			c.Env[i] = *e.DeepCopy()
		} else {
			c.Env = append(c.Env, *e.DeepCopy())
		}
	}
}

// OverriddenResources is r with the requests and limits override names replaced, per
// resource; nil override is r.
func OverriddenResources(r corev1.ResourceRequirements, override *corev1.ResourceRequirements) corev1.ResourceRequirements {
	if override == nil {
		return r
	}
	out := *r.DeepCopy()
	for name, q := range override.Requests {
		if out.Requests == nil {
			out.Requests = corev1.ResourceList{}
		}
		out.Requests[name] = q.DeepCopy()
	}
	for name, q := range override.Limits {
		if out.Limits == nil {
			out.Limits = corev1.ResourceList{}
		}
		out.Limits[name] = q.DeepCopy()
	}
	return out
}
