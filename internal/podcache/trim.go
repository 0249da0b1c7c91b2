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

package podcache

import (
	"maps"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Trim returns the part of pod the controllers read: its metadata (without
// managedFields), and of its containers their names, images, resources, resize and
// restart policies; the pod-level resources, overhead and readiness gates; its phase,
// conditions and container statuses (without mounts, users and allocated resources).
// Everything else (env, probes, volumes, scheduling...) is dropped.
//
// What is kept is shared through in: cached pods must be read only (controller-runtime
// deep-copies what Get and List return), and writes must patch named fields (strategic
// merge by container name), never replace lists built from a trimmed copy.
func Trim(pod *corev1.Pod, in *Interner) *corev1.Pod {
	out := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: trimMeta(pod.ObjectMeta, in)}
	out.Spec = corev1.PodSpec{
		InitContainers: trimContainers(pod.Spec.InitContainers, in),
		Containers:     trimContainers(pod.Spec.Containers, in),
		ReadinessGates: pod.Spec.ReadinessGates,
		RestartPolicy:  pod.Spec.RestartPolicy,
		Overhead:       in.resources(pod.Spec.Overhead),
		NodeName:       in.String(pod.Spec.NodeName),
	}
	if r := pod.Spec.Resources; r != nil {
		out.Spec.Resources = &corev1.ResourceRequirements{Requests: in.resources(r.Requests), Limits: in.resources(r.Limits)}
	}
	out.Status = corev1.PodStatus{
		Phase:                 pod.Status.Phase,
		Conditions:            trimConditions(pod.Status.Conditions, in),
		InitContainerStatuses: trimStatuses(pod.Status.InitContainerStatuses, in),
		ContainerStatuses:     trimStatuses(pod.Status.ContainerStatuses, in),
	}
	return out
}

// TrimMetadata is what the metadata-only cache of every pod keeps: no managedFields,
// and no annotations on pods labelled injected, which the typed cache holds whole
// (their records are read there).
func TrimMetadata(meta *metav1.PartialObjectMetadata, injectedLabel, injectedValue string, in *Interner) *metav1.PartialObjectMetadata {
	out := &metav1.PartialObjectMetadata{TypeMeta: meta.TypeMeta, ObjectMeta: trimMeta(meta.ObjectMeta, in)}
	if meta.Labels[injectedLabel] == injectedValue {
		out.Annotations = nil
	}
	return out
}

func trimMeta(m metav1.ObjectMeta, in *Interner) metav1.ObjectMeta {
	m.ManagedFields = nil
	m.Namespace = in.String(m.Namespace)
	m.GenerateName = in.String(m.GenerateName)
	m.Labels = in.stringMap(m.Labels)
	m.Annotations = in.stringMap(m.Annotations)
	if len(m.OwnerReferences) > 0 {
		refs := make([]metav1.OwnerReference, len(m.OwnerReferences))
		for i, r := range m.OwnerReferences {
			r.APIVersion, r.Kind, r.Name = in.String(r.APIVersion), in.String(r.Kind), in.String(r.Name)
			refs[i] = r
		}
		m.OwnerReferences = refs
	}
	return m
}

func trimContainers(cs []corev1.Container, in *Interner) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		c := &cs[i]
		out[i] = corev1.Container{
			Name:          in.String(c.Name),
			Image:         in.String(c.Image),
			Resources:     corev1.ResourceRequirements{Requests: in.resources(c.Resources.Requests), Limits: in.resources(c.Resources.Limits)},
			ResizePolicy:  c.ResizePolicy,
			RestartPolicy: c.RestartPolicy,
		}
	}
	return out
}

func trimConditions(cs []corev1.PodCondition, in *Interner) []corev1.PodCondition {
	if cs == nil {
		return nil
	}
	out := slices.Clone(cs)
	for i := range out {
		out[i].Type = corev1.PodConditionType(in.String(string(out[i].Type)))
		out[i].Reason, out[i].Message = in.String(out[i].Reason), in.String(out[i].Message)
	}
	return out
}

func trimStatuses(ss []corev1.ContainerStatus, in *Interner) []corev1.ContainerStatus {
	if ss == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i := range ss {
		s := &ss[i]
		out[i] = corev1.ContainerStatus{
			Name:                 in.String(s.Name),
			State:                s.State,
			LastTerminationState: s.LastTerminationState,
			Ready:                s.Ready,
			RestartCount:         s.RestartCount,
			Image:                in.String(s.Image),
			ImageID:              in.String(s.ImageID),
			ContainerID:          s.ContainerID,
			Started:              s.Started,
		}
		if r := s.Resources; r != nil {
			out[i].Resources = &corev1.ResourceRequirements{Requests: in.resources(r.Requests), Limits: in.resources(r.Limits)}
		}
	}
	return out
}

// Interner shares equal strings and resource lists between the pods it trims: ten
// thousand pods carry a few dozen distinct images, injection records and resource
// lists. It forgets everything once it holds max entries of a kind, so it stays
// bounded whatever the cluster holds; what was shared stays valid.
type Interner struct {
	mu      sync.Mutex
	max     int
	strs    map[string]string
	lists   map[string]corev1.ResourceList
	scratch strings.Builder
}

// NewInterner returns an Interner that holds up to max strings and max resource lists.
func NewInterner(max int) *Interner {
	return &Interner{max: max, strs: map[string]string{}, lists: map[string]corev1.ResourceList{}}
}

// String returns the shared copy of s.
func (in *Interner) String(s string) string {
	if s == "" || in == nil {
		return s
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stringLocked(s)
}

func (in *Interner) stringLocked(s string) string {
	if v, ok := in.strs[s]; ok {
		return v
	}
	if len(in.strs) >= in.max {
		clear(in.strs)
	}
	in.strs[s] = s
	return s
}

func (in *Interner) stringMap(m map[string]string) map[string]string {
	if m == nil || in == nil {
		return m
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[in.stringLocked(k)] = in.stringLocked(v)
	}
	return out
}

// resources returns the shared copy of l (equal names and quantities, by value).
func (in *Interner) resources(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 || in == nil {
		return l
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.scratch.Reset()
	for _, name := range slices.Sorted(maps.Keys(l)) {
		q := l[name]
		in.scratch.WriteString(string(name))
		in.scratch.WriteByte('=')
		in.scratch.WriteString(q.String())
		in.scratch.WriteByte(',')
	}
	key := in.scratch.String()
	if v, ok := in.lists[key]; ok {
		return v
	}
	if len(in.lists) >= in.max {
		clear(in.lists)
	}
	in.lists[key] = l
	return l
}

// PodTransform is a cache transform (client-go's TransformFunc) for the typed pod cache:
// pods are trimmed, anything else (a tombstone) is left as it is.
func PodTransform(in *Interner) func(any) (any, error) {
	return func(obj any) (any, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			return Trim(pod, in), nil
		}
		return obj, nil
	}
}

// MetadataTransform is the cache transform of a metadata-only cache of pods.
func MetadataTransform(in *Interner, injectedLabel, injectedValue string) func(any) (any, error) {
	return func(obj any) (any, error) {
		if meta, ok := obj.(*metav1.PartialObjectMetadata); ok {
			return TrimMetadata(meta, injectedLabel, injectedValue, in), nil
		}
		return obj, nil
	}
}
