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

package revision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Spec is the part of a SidecarSet that ends up in pods. A revision stores it, the
// hashes cover it, and a pod pinned to a revision is injected from it. Settings that
// steer Outrigger rather than shape the pod (selectors, priority, update strategy, the
// readiness gate) are read from the live SidecarSet instead.
type Spec struct {
	Containers       []sidecarsv1alpha1.SidecarContainer `json:"containers"`
	InitContainers   []corev1.Container                  `json:"initContainers,omitempty"`
	Volumes          []corev1.Volume                     `json:"volumes,omitempty"`
	ImagePullSecrets []corev1.LocalObjectReference       `json:"imagePullSecrets,omitempty"`
	PodMetadata      *sidecarsv1alpha1.PodMetadata       `json:"podMetadata,omitempty"`
}

// SpecOf extracts the injected spec of a SidecarSet (a deep copy).
//
// A placement equal to its mode's default is stored and hashed as unset: the API writes
// defaults into sets (so users see them), and a set stored before it did, or a pod
// injected from one, must keep its hash.
func SpecOf(set *sidecarsv1alpha1.SidecarSet) Spec {
	s := set.Spec.DeepCopy()
	for i := range s.Containers {
		if s.Containers[i].IsDefaultPlacement() {
			s.Containers[i].Placement = ""
		}
	}
	return Spec{
		Containers:       s.Containers,
		InitContainers:   s.InitContainers,
		Volumes:          s.Volumes,
		ImagePullSecrets: s.ImagePullSecrets,
		PodMetadata:      s.PodMetadata,
	}
}

// Hash covers everything in the spec. Two specs with equal hashes inject the same pods.
func Hash(spec Spec) string {
	return digest(spec)
}

// ImageFreeHash covers the spec without the sidecars' images and resources: the two
// things Kubernetes can change on a running pod. When only Hash differs between a pod's
// record and the set, the change can be applied in place.
func ImageFreeHash(spec Spec) string {
	c := spec
	c.Containers = make([]sidecarsv1alpha1.SidecarContainer, len(spec.Containers))
	for i := range spec.Containers {
		sc := *spec.Containers[i].DeepCopy()
		sc.Image = ""
		sc.Resources = corev1.ResourceRequirements{}
		sc.ResourcesPolicy = nil
		c.Containers[i] = sc
	}
	return digest(c)
}

func digest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Spec holds only API types, which always marshal.
		panic(fmt.Sprintf("marshalling a revision spec: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Name is the ControllerRevision name for a set's spec: the set's name and a short hash
// of the spec mixed with collisionCount, as Kubernetes names the revisions of its
// workloads. A collision (same name, other data) is resolved by raising collisionCount.
func Name(setName string, spec Spec, collisionCount *int32) string {
	h := fnv.New32a()
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("marshalling a revision spec: %v", err))
	}
	_, _ = h.Write(b)
	if collisionCount != nil && *collisionCount > 0 {
		_, _ = h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	suffix := rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
	// Keep the result a valid object name: 253 characters at most.
	const maxPrefix = 253 - 11
	if len(setName) > maxPrefix {
		setName = setName[:maxPrefix]
	}
	return setName + "-" + suffix
}

// NewControllerRevision returns the ControllerRevision that stores the set's current
// spec in namespace, owned by the set so it is garbage-collected with it.
func NewControllerRevision(set *sidecarsv1alpha1.SidecarSet, namespace string, revisionNumber int64) (*appsv1.ControllerRevision, error) {
	spec := SpecOf(set)
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:      Name(set.Name, spec, set.Status.CollisionCount),
			Namespace: namespace,
			Labels: map[string]string{
				sidecarsv1alpha1.RevisionSetLabel:  set.Name,
				sidecarsv1alpha1.RevisionHashLabel: Hash(spec),
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set,
				sidecarsv1alpha1.GroupVersion.WithKind("SidecarSet"))},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revisionNumber,
	}, nil
}

// SpecFromRevision decodes the spec a ControllerRevision stores.
func SpecFromRevision(cr *appsv1.ControllerRevision) (Spec, error) {
	var spec Spec
	if err := json.Unmarshal(cr.Data.Raw, &spec); err != nil {
		return Spec{}, fmt.Errorf("ControllerRevision %s/%s does not hold a SidecarSet spec: %w", cr.Namespace, cr.Name, err)
	}
	return spec, nil
}

// Stores reports whether cr holds spec. It compares decoded specs, not bytes, so a
// revision re-encoded by the API server still matches.
func Stores(cr *appsv1.ControllerRevision, spec Spec) bool {
	stored, err := SpecFromRevision(cr)
	return err == nil && Hash(stored) == Hash(spec)
}

// ErrPinNotFound is the PinError.Err of a pinned revision that does not exist.
var ErrPinNotFound = errors.New("does not exist")

// PinError says why spec.injection.revision cannot be used.
type PinError struct {
	Set, Pinned string
	// Owner is the set the revision belongs to, when it is another one.
	Owner string
	Err   error
}

func (e *PinError) Error() string {
	if e.Owner != "" {
		return fmt.Sprintf("SidecarSet %q pins spec.injection.revision %q, which belongs to SidecarSet %q", e.Set, e.Pinned, e.Owner)
	}
	return fmt.Sprintf("SidecarSet %q pins spec.injection.revision %q, which %v", e.Set, e.Pinned, e.Err)
}

func (e *PinError) Unwrap() error { return e.Err }

// Pinned resolves the revision a SidecarSet's spec.injection.revision names: cr is the
// ControllerRevision named pinned (nil when there is none). It is the one rule shared by
// the pod webhook (what new pods get), the validator (what may be pinned) and the
// controller (what running pods move to): the revision must exist, belong to the set and
// hold a spec. Errors are *PinError.
func Pinned(setName, pinned string, cr *appsv1.ControllerRevision) (Spec, error) {
	switch {
	case cr == nil:
		return Spec{}, &PinError{Set: setName, Pinned: pinned, Err: ErrPinNotFound}
	case cr.Labels[sidecarsv1alpha1.RevisionSetLabel] != setName:
		return Spec{}, &PinError{Set: setName, Pinned: cr.Name, Owner: cr.Labels[sidecarsv1alpha1.RevisionSetLabel],
			Err: errors.New("belongs to another SidecarSet")}
	}
	spec, err := SpecFromRevision(cr)
	if err != nil {
		return Spec{}, &PinError{Set: setName, Pinned: cr.Name, Err: err}
	}
	return spec, nil
}
