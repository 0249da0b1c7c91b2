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
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Trimmer trims the objects the manager's caches keep to what the controllers read.
// Whatever a tenant writes into a pod beyond that (annotations of their own, many or
// large labels, finalizers, env, volumes...) costs the manager nothing once the informer
// has handed the pod over.
type Trimmer struct {
	in *Interner

	mu sync.Mutex // serialises AddSelectorKeys
	// selectorKeys are the label keys some SidecarSet selector reads: all a pod over
	// the label budget keeps, besides Outrigger's own.
	selectorKeys atomic.Pointer[map[string]struct{}]
	// keysSynced reports whether selectorKeys has every stored set's keys yet.
	keysSynced atomic.Pointer[func() bool]
}

// keysWait bounds how long a pod over the label budget waits for the SidecarSets'
// selector keys: past it the pod is cached with the keys known so far.
const keysWait = time.Minute

// SyncSelectorKeys makes a pod over MaxLabelBytes wait, when it is trimmed, until
// synced reports that AddSelectorKeys has seen every stored SidecarSet (at most
// a minute): at start the pods' informer may list before the sets' one.
func (t *Trimmer) SyncSelectorKeys(synced func() bool) {
	t.keysSynced.Store(&synced)
}

func (t *Trimmer) waitForSelectorKeys() {
	synced := t.keysSynced.Load()
	if synced == nil {
		return
	}
	for deadline := time.Now().Add(keysWait); !(*synced)() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}

// NewTrimmer returns a Trimmer sharing what it keeps through in.
func NewTrimmer(in *Interner) *Trimmer {
	return &Trimmer{in: in}
}

// MaxLabelBytes is the size (keys and values) of the labels a cached pod keeps in
// full. Pods carry a few hundred bytes of labels; one past this keeps only the keys
// that selectors read (AddSelectorKeys) and Outrigger's own, so many labels cost the
// manager no more than a few.
const MaxLabelBytes = 4 << 10

// keptAnnotations are the only annotations the caches keep: Outrigger's records.
var keptAnnotations = []string{sidecarsv1alpha1.InjectedAnnotation, sidecarsv1alpha1.UpgradeAnnotation}

// keptLabels are Outrigger's own labels, and the pod-template-hash that names a pod's
// Deployment for its rollout budget (upgrade.Workload), kept whatever a pod's labels weigh.
var keptLabels = []string{sidecarsv1alpha1.InjectedLabel, sidecarsv1alpha1.InjectLabel, appsv1.DefaultDeploymentUniqueLabelKey}

// AddSelectorKeys records label keys a selector reads. Keys are only ever added: a pod
// over MaxLabelBytes cached before a selector came to read a key shows that label from
// its next update on (docs/operations.md, "Multi-tenant clusters").
func (t *Trimmer) AddSelectorKeys(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	known := t.keys()
	var next map[string]struct{}
	for _, k := range keys {
		if _, ok := known[k]; ok {
			continue
		}
		if next == nil {
			next = maps.Clone(known)
			if next == nil {
				next = map[string]struct{}{}
			}
		}
		next[t.in.String(k)] = struct{}{}
	}
	if next != nil {
		t.selectorKeys.Store(&next)
	}
}

// keys are the selector keys recorded so far; nil for none (read only).
func (t *Trimmer) keys() map[string]struct{} {
	if p := t.selectorKeys.Load(); p != nil {
		return *p
	}
	return nil
}

// Trim is Trimmer.Pod with a Trimmer of its own: for tests and one-off copies.
func Trim(pod *corev1.Pod, in *Interner) *corev1.Pod {
	return NewTrimmer(in).Pod(pod)
}

// Pod returns the part of pod the controllers read: its metadata (Outrigger's
// annotations only, labels within MaxLabelBytes), and of its containers their names,
// images, resources, resize and restart policies; the pod-level resources, overhead and
// readiness gates; its phase, conditions and container statuses (without mounts, users
// and allocated resources). Everything else (env, probes, volumes, scheduling...) is
// dropped.
//
// What is kept is shared through the Interner: cached pods must be read only
// (controller-runtime deep-copies what Get and List return), and writes must patch
// named fields (strategic merge by container name), never replace lists or maps built
// from a trimmed copy.
func (t *Trimmer) Pod(pod *corev1.Pod) *corev1.Pod {
	in := t.in
	out := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: t.meta(pod.ObjectMeta)}
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

// Metadata is what the metadata-only cache of every pod keeps: Pod's metadata, and no
// annotations at all on pods labelled injected, which the typed cache holds (their
// records are read there).
func (t *Trimmer) Metadata(meta *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
	out := &metav1.PartialObjectMetadata{TypeMeta: meta.TypeMeta, ObjectMeta: t.meta(meta.ObjectMeta)}
	if meta.Labels[sidecarsv1alpha1.InjectedLabel] == sidecarsv1alpha1.InjectedLabelValue {
		out.Annotations = nil
	}
	return out
}

// meta keeps of m what the controllers read, nothing a tenant can grow without bound:
// no managedFields, finalizers or foreign annotations, labels within MaxLabelBytes.
func (t *Trimmer) meta(m metav1.ObjectMeta) metav1.ObjectMeta {
	in := t.in
	out := metav1.ObjectMeta{
		Name:                       m.Name,
		GenerateName:               in.String(m.GenerateName),
		Namespace:                  in.String(m.Namespace),
		UID:                        m.UID,
		ResourceVersion:            m.ResourceVersion,
		Generation:                 m.Generation,
		CreationTimestamp:          m.CreationTimestamp,
		DeletionTimestamp:          m.DeletionTimestamp,
		DeletionGracePeriodSeconds: m.DeletionGracePeriodSeconds,
		Labels:                     in.stringMap(t.labels(m.Labels)),
	}
	for _, key := range keptAnnotations {
		if v, ok := m.Annotations[key]; ok {
			if out.Annotations == nil {
				out.Annotations = make(map[string]string, len(keptAnnotations))
			}
			out.Annotations[in.String(key)] = in.String(v)
		}
	}
	if len(m.OwnerReferences) > 0 {
		refs := make([]metav1.OwnerReference, len(m.OwnerReferences))
		for i, r := range m.OwnerReferences {
			r.APIVersion, r.Kind, r.Name = in.String(r.APIVersion), in.String(r.Kind), in.String(r.Name)
			refs[i] = r
		}
		out.OwnerReferences = refs
	}
	return out
}

// labels returns l when it fits MaxLabelBytes, otherwise only the labels selectors
// read and Outrigger's own.
func (t *Trimmer) labels(l map[string]string) map[string]string {
	size := 0
	for k, v := range l {
		size += len(k) + len(v)
	}
	if size <= MaxLabelBytes {
		return l
	}
	t.waitForSelectorKeys()
	keys := t.keys()
	out := map[string]string{}
	for k, v := range l {
		if _, read := keys[k]; read || slices.Contains(keptLabels, k) {
			out[k] = v
		}
	}
	return out
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
			Image:         in.image(c.Image),
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
			Image:                in.image(s.Image),
			ImageID:              in.image(s.ImageID),
			ContainerID:          s.ContainerID,
			Started:              s.Started,
		}
		if r := s.Resources; r != nil {
			out[i].Resources = &corev1.ResourceRequirements{Requests: in.resources(r.Requests), Limits: in.resources(r.Limits)}
		}
	}
	return out
}

// PodTransform is a cache transform (client-go's TransformFunc) for the typed pod cache:
// pods are trimmed, anything else (a tombstone) is left as it is.
func (t *Trimmer) PodTransform() func(any) (any, error) {
	return func(obj any) (any, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			return t.Pod(pod), nil
		}
		return obj, nil
	}
}

// MetadataTransform is the cache transform of a metadata-only cache of pods.
func (t *Trimmer) MetadataTransform() func(any) (any, error) {
	return func(obj any) (any, error) {
		if meta, ok := obj.(*metav1.PartialObjectMetadata); ok {
			return t.Metadata(meta), nil
		}
		return obj, nil
	}
}
