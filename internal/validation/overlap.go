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
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// SelectorsOverlap reports whether some label set could satisfy both selectors. A nil
// selector matches everything here, as an absent namespaceSelector does. It answers false
// only when the selectors are provably disjoint, and true for an invalid selector: a
// wrong "disjoint" would let a conflict through, a wrong "overlap" only asks the user to
// look twice.
func SelectorsOverlap(a, b *metav1.LabelSelector) bool {
	if !usable(a) || !usable(b) {
		return true
	}
	keys := map[string]*keyConstraint{}
	for _, s := range []*metav1.LabelSelector{a, b} {
		if s == nil {
			continue
		}
		for k, v := range s.MatchLabels {
			constraintFor(keys, k).in(v)
		}
		for _, r := range s.MatchExpressions {
			c := constraintFor(keys, r.Key)
			switch r.Operator {
			case metav1.LabelSelectorOpIn:
				c.in(r.Values...)
			case metav1.LabelSelectorOpNotIn:
				c.notIn.Insert(r.Values...)
			case metav1.LabelSelectorOpExists:
				c.exists = true
			case metav1.LabelSelectorOpDoesNotExist:
				c.absent = true
			}
		}
	}
	for _, c := range keys {
		if !c.satisfiable() {
			return false
		}
	}
	return true
}

// usable is whether s has an agreed meaning. apimachinery's own conversion is the
// reference, so this package never reasons about a selector the rest of Outrigger would
// refuse to evaluate.
func usable(s *metav1.LabelSelector) bool {
	if s == nil {
		return true
	}
	_, err := metav1.LabelSelectorAsSelector(s)
	return err == nil
}

// keyConstraint is everything both selectors demand of one label key.
type keyConstraint struct {
	// allowed is the intersection of every In set (matchLabels count as In of one
	// value); nil while no In applies.
	allowed sets.Set[string]
	notIn   sets.Set[string]
	exists  bool
	absent  bool
}

func constraintFor(keys map[string]*keyConstraint, k string) *keyConstraint {
	c, ok := keys[k]
	if !ok {
		c = &keyConstraint{notIn: sets.New[string]()}
		keys[k] = c
	}
	return c
}

func (c *keyConstraint) in(values ...string) {
	if c.allowed == nil {
		c.allowed = sets.New(values...)
		return
	}
	c.allowed = c.allowed.Intersection(sets.New(values...))
}

// satisfiable leaves NotIn alone unless In pins the value: a key that only has to exist
// can take one of infinitely many other values, and NotIn also holds when the key is
// absent.
func (c *keyConstraint) satisfiable() bool {
	if c.absent {
		return !c.exists && c.allowed == nil
	}
	return c.allowed == nil || c.allowed.Difference(c.notIn).Len() > 0
}

// ValidateConflicts checks set against the other SidecarSets that can select the same
// pods: a container, volume or pod label/annotation both declare differently would leave
// one of them silently dropped from such pods, depending on priority. others may include
// set itself (it is skipped by name) and sets being deleted (skipped: they inject nothing
// new).
//
// old is the stored set on update, nil on create. Conflicts ratchet: one old already had
// (same field, same other set and field) is not refused again, so a set that came to
// overlap another (the other set changed, or both were stored before this check) can
// still be paused, fixed or otherwise updated; only conflicts the update introduces are.
func ValidateConflicts(set, old *sidecarsv1alpha1.SidecarSet, others []sidecarsv1alpha1.SidecarSet) field.ErrorList {
	errs := conflicts(set, others)
	if old == nil || len(errs) == 0 {
		return errs
	}
	return Ratchet(errs, conflicts(old, others))
}

func conflicts(set *sidecarsv1alpha1.SidecarSet, others []sidecarsv1alpha1.SidecarSet) field.ErrorList {
	var overlapping []*sidecarsv1alpha1.SidecarSet
	for i := range others {
		o := &others[i]
		if o.Name == set.Name || o.DeletionTimestamp != nil {
			continue
		}
		if SelectorsOverlap(set.Spec.Selector, o.Spec.Selector) &&
			SelectorsOverlap(set.Spec.NamespaceSelector, o.Spec.NamespaceSelector) {
			overlapping = append(overlapping, o)
		}
	}
	slices.SortFunc(overlapping, func(a, b *sidecarsv1alpha1.SidecarSet) int { return strings.Compare(a.Name, b.Name) })

	var errs field.ErrorList
	for _, o := range overlapping {
		errs = append(errs, containerConflicts(&set.Spec, o)...)
		errs = append(errs, volumeConflicts(&set.Spec, o)...)
		errs = append(errs, metadataConflicts(&set.Spec, o)...)
	}
	return errs
}

// containerNames maps each container name of spec, sidecar or init, to the path of its
// name: the two lists share one namespace in the pod.
func containerNames(spec *sidecarsv1alpha1.SidecarSetSpec) (names []string, paths map[string]*field.Path) {
	paths = map[string]*field.Path{}
	for i := range spec.Containers {
		names = append(names, spec.Containers[i].Name)
		paths[spec.Containers[i].Name] = specPath.Child("containers").Index(i).Child("name")
	}
	for i := range spec.InitContainers {
		names = append(names, spec.InitContainers[i].Name)
		paths[spec.InitContainers[i].Name] = specPath.Child("initContainers").Index(i).Child("name")
	}
	return names, paths
}

func containerConflicts(spec *sidecarsv1alpha1.SidecarSetSpec, other *sidecarsv1alpha1.SidecarSet) field.ErrorList {
	names, paths := containerNames(spec)
	_, otherPaths := containerNames(&other.Spec)
	var errs field.ErrorList
	for _, name := range names {
		if op, ok := otherPaths[name]; ok {
			errs = append(errs, field.Invalid(paths[name], name, fmt.Sprintf(
				"SidecarSet %q, which can select the same pods, also declares a container named %q (at %s)", other.Name, name, op)))
		}
	}
	return errs
}

// volumeConflicts accepts the same volume declared twice with the same source: sets that
// share, say, an emptyDir for a socket are meant to agree on it.
func volumeConflicts(spec *sidecarsv1alpha1.SidecarSetSpec, other *sidecarsv1alpha1.SidecarSet) field.ErrorList {
	otherVolumes := map[string]int{}
	for j, v := range other.Spec.Volumes {
		otherVolumes[v.Name] = j
	}
	var errs field.ErrorList
	for i, v := range spec.Volumes {
		j, ok := otherVolumes[v.Name]
		if !ok || equality.Semantic.DeepEqual(v.VolumeSource, other.Spec.Volumes[j].VolumeSource) {
			continue
		}
		errs = append(errs, field.Invalid(specPath.Child("volumes").Index(i).Child("name"), v.Name, fmt.Sprintf(
			"SidecarSet %q, which can select the same pods, declares a volume named %q with a different source (at %s); a pod can hold only one of them",
			other.Name, v.Name, specPath.Child("volumes").Index(j))))
	}
	return errs
}

func metadataConflicts(spec *sidecarsv1alpha1.SidecarSetSpec, other *sidecarsv1alpha1.SidecarSet) field.ErrorList {
	if spec.PodMetadata == nil || other.Spec.PodMetadata == nil {
		return nil
	}
	md, omd := spec.PodMetadata, other.Spec.PodMetadata
	var errs field.ErrorList
	errs = append(errs, mapConflicts(md.Labels, omd.Labels, specPath.Child("podMetadata", "labels"), "label", other.Name)...)
	errs = append(errs, mapConflicts(md.Annotations, omd.Annotations, specPath.Child("podMetadata", "annotations"), "annotation", other.Name)...)
	return errs
}

func mapConflicts(mine, theirs map[string]string, p *field.Path, kind, otherName string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(mine)) {
		theirValue, ok := theirs[k]
		if !ok || theirValue == mine[k] {
			continue
		}
		errs = append(errs, field.Invalid(p.Key(k), mine[k], fmt.Sprintf(
			"SidecarSet %q, which can select the same pods, sets the pod %s %q to %q (at %s)", otherName, kind, k, theirValue, p.Key(k))))
	}
	return errs
}
