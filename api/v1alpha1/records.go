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

package v1alpha1

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// InjectionRecord is what one SidecarSet injected into a pod, as recorded in the pod's
// InjectedAnnotation. The controller relies on it to know what a pod runs without
// re-deriving it from the pod spec.
// +kubebuilder:object:generate=false
type InjectionRecord struct {
	// Revision is the name of the ControllerRevision the pod was injected from.
	Revision string `json:"revision"`
	// Hash covers everything the set puts into pods.
	Hash string `json:"hash"`
	// ImageFreeHash is Hash without images and resources: when only Hash differs, the
	// change can be applied to a running pod in place.
	ImageFreeHash string `json:"imageFreeHash"`
	// Containers are the names of the containers the set added (sidecars and init
	// containers).
	Containers []string `json:"containers"`
	// Overridden are the names of the set's containers the pod already declared itself,
	// so the pod's own were kept.
	Overridden []string `json:"overridden,omitempty"`
	// OverriddenVolumes are the names of the set's volumes the pod already declared
	// itself, so the pod's own were kept.
	OverriddenVolumes []string `json:"overriddenVolumes,omitempty"`
	// Overrides are what the pod set for itself of the set's sidecars, by container name,
	// as its override annotations said when it was created (spec.containers[].overrides).
	Overrides map[string]ContainerOverrides `json:"overrides,omitempty"`
	// Resized are the resources the rollout last gave the set's containers in place, by
	// container name: a resourcesPolicy sidecar following its app's resizes, or a
	// resources change of the set. Injection sizes containers in the pod's spec and
	// records none.
	Resized map[string]corev1.ResourceRequirements `json:"resized,omitempty"`
}

// ContainerOverrides is what a pod set for itself of one sidecar.
// +kubebuilder:object:generate=false
type ContainerOverrides struct {
	// Resources are requests and limits, per resource, over the sidecar's.
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Env are variables, by name, over the sidecar's.
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// OverrideAnnotation is the annotation a pod sets field of container of set with.
func OverrideAnnotation(set, container string, field OverridableField) string {
	return Prefix + set + "." + container + "." + string(field)
}

// InjectionRecords maps a SidecarSet name to what it injected.
// +kubebuilder:object:generate=false
type InjectionRecords map[string]InjectionRecord

// ParseInjectionRecords reads the InjectedAnnotation of a pod; absent means none.
func ParseInjectionRecords(annotations map[string]string) (InjectionRecords, error) {
	raw, ok := annotations[InjectedAnnotation]
	if !ok || raw == "" {
		return InjectionRecords{}, nil
	}
	records := InjectionRecords{}
	if err := json.Unmarshal([]byte(raw), &records); err != nil {
		return nil, fmt.Errorf("annotation %s is not a valid injection record: %w", InjectedAnnotation, err)
	}
	if records == nil {
		// JSON null unmarshals to a nil map: as good as no record, and callers write to it.
		records = InjectionRecords{}
	}
	return records, nil
}

// String is the annotation value: JSON with sorted keys, so equal records give equal text.
func (r InjectionRecords) String() string {
	b, err := json.Marshal(r)
	if err != nil {
		// Plain strings and resource lists always marshal.
		panic(err)
	}
	return string(b)
}
