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

package webhooks

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// podAdmission serves the pod webhook. It answers as controller-runtime's defaulting
// webhook around PodInjector does, but builds the JSON patch from what Inject changed
// — sidecars, volumes and pull secrets inserted, readiness gates, labels and
// annotations — instead of marshalling the whole pod and diffing it against the
// request, which cost more than the injection itself (docs/benchmarks.md). A change
// of any other kind goes through controller-runtime's defaulter, unchanged.
type podAdmission struct {
	injector *PodInjector
	decoder  admission.Decoder
	scheme   *runtime.Scheme
}

var _ admission.Handler = (*podAdmission)(nil)

// Handle injects the pod of a CREATE request and answers with the patch.
func (h *podAdmission) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation == admissionv1.Delete {
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
			Allowed: true, Result: &metav1.Status{Code: http.StatusOK}}}
	}
	ctx = admission.NewContextWithRequest(ctx, req)
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	original := pod.DeepCopy()
	warnings, err := h.injector.inject(ctx, pod)
	if err != nil {
		var apiStatus apierrors.APIStatus
		if errors.As(err, &apiStatus) {
			status := apiStatus.Status()
			return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
		}
		return admission.Denied(err.Error())
	}
	if reflect.DeepEqual(original, pod) {
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}}
	}
	ops, ok := podPatch(original, pod)
	if !ok {
		// Not a change podPatch describes: controller-runtime's defaulter, given the
		// result, computes its patch as it always did.
		resp := admission.WithDefaulter[*corev1.Pod](h.scheme, injected{pod}).Handle(ctx, req)
		resp.Warnings = append(resp.Warnings, warnings...)
		return resp
	}
	pt := admissionv1.PatchTypeJSONPatch
	return admission.Response{Patches: ops, AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt, Warnings: warnings}}
}

// injected is a Defaulter whose result is already known.
type injected struct{ pod *corev1.Pod }

func (d injected) Default(_ context.Context, pod *corev1.Pod) error {
	*pod = *d.pod.DeepCopy()
	return nil
}

// podPatch is the JSON patch (RFC 6902) taking old to new, when new differs from old
// only in metadata labels and annotations and in spec lists into which elements were
// inserted (or which were emptied). ok is false for any other difference. Elements
// already in old are never rewritten, so fields of the request this version of the API
// types does not know survive, as they do with controller-runtime's patch.
func podPatch(old, new *corev1.Pod) (ops []jsonpatch.JsonPatchOperation, ok bool) {
	rest := old.DeepCopy()
	rest.Labels, rest.Annotations = new.Labels, new.Annotations
	rest.Spec.InitContainers, rest.Spec.Containers = new.Spec.InitContainers, new.Spec.Containers
	rest.Spec.Volumes, rest.Spec.ImagePullSecrets = new.Spec.Volumes, new.Spec.ImagePullSecrets
	rest.Spec.ReadinessGates = new.Spec.ReadinessGates
	if !equality.Semantic.DeepEqual(rest, new) {
		return nil, false
	}
	ops = append(ops, mapPatch("/metadata/labels", old.Labels, new.Labels)...)
	ops = append(ops, mapPatch("/metadata/annotations", old.Annotations, new.Annotations)...)
	for _, add := range []func() ([]jsonpatch.JsonPatchOperation, bool){
		func() ([]jsonpatch.JsonPatchOperation, bool) {
			return listPatch("/spec/initContainers", old.Spec.InitContainers, new.Spec.InitContainers)
		},
		func() ([]jsonpatch.JsonPatchOperation, bool) {
			return listPatch("/spec/containers", old.Spec.Containers, new.Spec.Containers)
		},
		func() ([]jsonpatch.JsonPatchOperation, bool) {
			return listPatch("/spec/volumes", old.Spec.Volumes, new.Spec.Volumes)
		},
		func() ([]jsonpatch.JsonPatchOperation, bool) {
			return listPatch("/spec/imagePullSecrets", old.Spec.ImagePullSecrets, new.Spec.ImagePullSecrets)
		},
		func() ([]jsonpatch.JsonPatchOperation, bool) {
			return listPatch("/spec/readinessGates", old.Spec.ReadinessGates, new.Spec.ReadinessGates)
		},
	} {
		listOps, ok := add()
		if !ok {
			return nil, false
		}
		ops = append(ops, listOps...)
	}
	return ops, true
}

// mapPatch turns old into new key by key; a map that was empty is added whole (it may
// be absent from the request), one that becomes empty is removed whole.
func mapPatch(path string, old, new map[string]string) []jsonpatch.JsonPatchOperation {
	switch {
	case len(old) == 0 && len(new) == 0:
		return nil
	case len(old) == 0:
		return []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("add", path, new)}
	case len(new) == 0:
		return []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("remove", path, nil)}
	}
	var ops []jsonpatch.JsonPatchOperation
	for _, k := range slices.Sorted(mapKeys(old)) {
		if _, kept := new[k]; !kept {
			ops = append(ops, jsonpatch.NewOperation("remove", path+"/"+escape(k), nil))
		}
	}
	for _, k := range slices.Sorted(mapKeys(new)) {
		if v, had := old[k]; !had || v != new[k] {
			// add replaces a member that exists.
			ops = append(ops, jsonpatch.NewOperation("add", path+"/"+escape(k), new[k]))
		}
	}
	return ops
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// listPatch turns old into new when new is old with elements inserted (each added at
// its index, in order) or new is empty (the list removed); ok is false otherwise.
func listPatch[T any](path string, old, new []T) ([]jsonpatch.JsonPatchOperation, bool) {
	switch {
	case len(old) == 0 && len(new) == 0:
		return nil, true
	case len(old) == 0:
		return []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("add", path, new)}, true
	case len(new) == 0:
		return []jsonpatch.JsonPatchOperation{jsonpatch.NewOperation("remove", path, nil)}, true
	}
	var ops []jsonpatch.JsonPatchOperation
	i := 0 // next element of old to find in new
	for j := range new {
		if i < len(old) && equality.Semantic.DeepEqual(old[i], new[j]) {
			i++
			continue
		}
		ops = append(ops, jsonpatch.NewOperation("add", path+"/"+strconv.Itoa(j), new[j]))
	}
	if i < len(old) {
		return nil, false // an element of old was changed or removed
	}
	return ops, true
}

// escape makes a map key one JSON Pointer reference token (RFC 6901).
func escape(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
