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

package testing

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// SidecarSetWrapper builds a SidecarSet.
type SidecarSetWrapper struct{ sidecarsv1alpha1.SidecarSet }

// MakeSidecarSet starts a SidecarSet that selects app=web and has no sidecar yet.
func MakeSidecarSet(name string) *SidecarSetWrapper {
	return &SidecarSetWrapper{sidecarsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: sidecarsv1alpha1.SidecarSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{appLabel: appValue}},
		},
	}}
}

// Obj returns a copy of the built SidecarSet.
func (w *SidecarSetWrapper) Obj() *sidecarsv1alpha1.SidecarSet { return w.DeepCopy() }

// GenerateName replaces the name by a generateName prefix.
func (w *SidecarSetWrapper) GenerateName(prefix string) *SidecarSetWrapper {
	w.Name, w.ObjectMeta.GenerateName = "", prefix
	return w
}

// Label sets a label on the SidecarSet itself.
func (w *SidecarSetWrapper) Label(key, value string) *SidecarSetWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[key] = value
	return w
}

// Selector replaces the pod selector.
func (w *SidecarSetWrapper) Selector(s *metav1.LabelSelector) *SidecarSetWrapper {
	w.Spec.Selector = s
	return w
}

// MatchLabels replaces the pod selector by one matching these labels.
func (w *SidecarSetWrapper) MatchLabels(labels map[string]string) *SidecarSetWrapper {
	return w.Selector(&metav1.LabelSelector{MatchLabels: labels})
}

// NamespaceSelector sets the namespace selector.
func (w *SidecarSetWrapper) NamespaceSelector(labels map[string]string) *SidecarSetWrapper {
	w.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: labels}
	return w
}

// Priority sets the priority.
func (w *SidecarSetWrapper) Priority(p int32) *SidecarSetWrapper {
	w.Spec.Priority = p
	return w
}

// Sidecar appends a sidecar.
func (w *SidecarSetWrapper) Sidecar(c sidecarsv1alpha1.SidecarContainer) *SidecarSetWrapper {
	w.Spec.Containers = append(w.Spec.Containers, c)
	return w
}

// InitContainer appends a run-to-completion init container.
func (w *SidecarSetWrapper) InitContainer(c corev1.Container) *SidecarSetWrapper {
	w.Spec.InitContainers = append(w.Spec.InitContainers, c)
	return w
}

// Volume appends a volume.
func (w *SidecarSetWrapper) Volume(v corev1.Volume) *SidecarSetWrapper {
	w.Spec.Volumes = append(w.Spec.Volumes, v)
	return w
}

// MaxUnavailable sets updateStrategy.maxUnavailable.
func (w *SidecarSetWrapper) MaxUnavailable(v intstr.IntOrString) *SidecarSetWrapper {
	w.Spec.UpdateStrategy.MaxUnavailable = &v
	return w
}

// Partition sets updateStrategy.partition.
func (w *SidecarSetWrapper) Partition(v intstr.IntOrString) *SidecarSetWrapper {
	w.Spec.UpdateStrategy.Partition = &v
	return w
}

// UpdateType sets updateStrategy.type.
func (w *SidecarSetWrapper) UpdateType(t sidecarsv1alpha1.UpdateStrategyType) *SidecarSetWrapper {
	w.Spec.UpdateStrategy.Type = t
	return w
}

// DrainSeconds sets updateStrategy.drain.seconds.
func (w *SidecarSetWrapper) DrainSeconds(s int32) *SidecarSetWrapper {
	w.Spec.UpdateStrategy.Drain.Seconds = &s
	return w
}

// ProgressDeadlineSeconds sets updateStrategy.progressDeadlineSeconds.
func (w *SidecarSetWrapper) ProgressDeadlineSeconds(s int32) *SidecarSetWrapper {
	w.Spec.UpdateStrategy.ProgressDeadlineSeconds = &s
	return w
}

// OnImmutableChange sets updateStrategy.onImmutableChange.
func (w *SidecarSetWrapper) OnImmutableChange(p sidecarsv1alpha1.ImmutableChangePolicy) *SidecarSetWrapper {
	w.Spec.UpdateStrategy.OnImmutableChange = p
	return w
}

// ReadinessGate sets updateStrategy.drain.readinessGate.
func (w *SidecarSetWrapper) ReadinessGate(on bool) *SidecarSetWrapper {
	w.Spec.UpdateStrategy.Drain.ReadinessGate = &on
	return w
}

// PullSecret appends an image pull secret.
func (w *SidecarSetWrapper) PullSecret(name string) *SidecarSetWrapper {
	w.Spec.ImagePullSecrets = append(w.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	return w
}

// PodMetadata sets the labels and annotations added to pods.
func (w *SidecarSetWrapper) PodMetadata(labels, annotations map[string]string) *SidecarSetWrapper {
	w.Spec.PodMetadata = &sidecarsv1alpha1.PodMetadata{Labels: labels, Annotations: annotations}
	return w
}

// Required sets injection.enforcement Required.
func (w *SidecarSetWrapper) Required() *SidecarSetWrapper {
	w.Spec.Injection.Enforcement = sidecarsv1alpha1.EnforcementRequired
	return w
}

// InjectionPaused sets injection.paused.
func (w *SidecarSetWrapper) InjectionPaused() *SidecarSetWrapper {
	w.Spec.Injection.Paused = true
	return w
}

// RevisionHistoryLimit sets revisionHistoryLimit.
func (w *SidecarSetWrapper) RevisionHistoryLimit(n int32) *SidecarSetWrapper {
	w.Spec.RevisionHistoryLimit = &n
	return w
}

// SidecarWrapper builds a SidecarContainer.
type SidecarWrapper struct {
	sidecarsv1alpha1.SidecarContainer
}

// MakeSidecar starts a sidecar with a name and an image and nothing else.
func MakeSidecar(name, image string) *SidecarWrapper {
	return &SidecarWrapper{sidecarsv1alpha1.SidecarContainer{
		Container: corev1.Container{Name: name, Image: image},
	}}
}

// Obj returns a copy of the built sidecar.
func (w *SidecarWrapper) Obj() sidecarsv1alpha1.SidecarContainer { return *w.DeepCopy() }

// Overrides sets what pods may override of the sidecar.
func (w *SidecarWrapper) Overrides(fields ...sidecarsv1alpha1.OverridableField) *SidecarWrapper {
	w.SidecarContainer.Overrides = fields
	return w
}

// Mode sets the mode.
func (w *SidecarWrapper) Mode(m sidecarsv1alpha1.SidecarMode) *SidecarWrapper {
	w.SidecarContainer.Mode = m
	return w
}

// Placement sets the placement.
func (w *SidecarWrapper) Placement(p sidecarsv1alpha1.Placement) *SidecarWrapper {
	w.SidecarContainer.Placement = p
	return w
}

// Resources sets requests and limits.
func (w *SidecarWrapper) Resources(requests, limits corev1.ResourceList) *SidecarWrapper {
	w.SidecarContainer.Resources = corev1.ResourceRequirements{Requests: requests, Limits: limits}
	return w
}

// ResourcesPolicy sets the resources policy.
func (w *SidecarWrapper) ResourcesPolicy(p sidecarsv1alpha1.ResourcesPolicy) *SidecarWrapper {
	w.SidecarContainer.ResourcesPolicy = &p
	return w
}

// ShareVolumes sets shareVolumes.
func (w *SidecarWrapper) ShareVolumes() *SidecarWrapper {
	w.SidecarContainer.ShareVolumes = true
	return w
}

// Mount appends a volume mount.
func (w *SidecarWrapper) Mount(volume, path string) *SidecarWrapper {
	w.VolumeMounts = append(w.VolumeMounts, corev1.VolumeMount{Name: volume, MountPath: path})
	return w
}

// Env appends a plain environment variable.
func (w *SidecarWrapper) Env(name, value string) *SidecarWrapper {
	w.SidecarContainer.Env = append(w.SidecarContainer.Env, corev1.EnvVar{Name: name, Value: value})
	return w
}

// TransferEnv appends a transferEnv entry.
func (w *SidecarWrapper) TransferEnv(source string, names ...string) *SidecarWrapper {
	w.SidecarContainer.TransferEnv = append(w.SidecarContainer.TransferEnv,
		sidecarsv1alpha1.TransferEnvVar{SourceContainer: source, Names: names})
	return w
}
