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
)

// The label MakePod gives a pod and MakeSidecarSet selects.
const (
	appLabel = "app"
	appValue = "web"
)

// PodWrapper builds a Pod.
type PodWrapper struct{ corev1.Pod }

// MakePod starts a pod labelled app=web with one app container named "app".
func MakePod(name, namespace string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{appLabel: appValue}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
		},
	}}
}

// Obj returns a copy of the built pod.
func (w *PodWrapper) Obj() *corev1.Pod { return w.DeepCopy() }

// Labels replaces the pod's labels.
func (w *PodWrapper) Labels(l map[string]string) *PodWrapper {
	w.ObjectMeta.Labels = l
	return w
}

// Label sets one label.
func (w *PodWrapper) Label(k, v string) *PodWrapper {
	if w.ObjectMeta.Labels == nil {
		w.ObjectMeta.Labels = map[string]string{}
	}
	w.ObjectMeta.Labels[k] = v
	return w
}

// Annotation sets one annotation.
func (w *PodWrapper) Annotation(k, v string) *PodWrapper {
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[k] = v
	return w
}

// Containers replaces the pod's containers.
func (w *PodWrapper) Containers(cs ...corev1.Container) *PodWrapper {
	w.Spec.Containers = cs
	return w
}

// Container appends a container.
func (w *PodWrapper) Container(c corev1.Container) *PodWrapper {
	w.Spec.Containers = append(w.Spec.Containers, c)
	return w
}

// InitContainer appends an init container.
func (w *PodWrapper) InitContainer(c corev1.Container) *PodWrapper {
	w.Spec.InitContainers = append(w.Spec.InitContainers, c)
	return w
}

// Volume appends a volume.
func (w *PodWrapper) Volume(v corev1.Volume) *PodWrapper {
	w.Spec.Volumes = append(w.Spec.Volumes, v)
	return w
}

// PullSecret appends an image pull secret.
func (w *PodWrapper) PullSecret(name string) *PodWrapper {
	w.Spec.ImagePullSecrets = append(w.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	return w
}

// MakeNamespace returns a namespace with labels.
func MakeNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// EmptyDir is a volume backed by an emptyDir.
func EmptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}
