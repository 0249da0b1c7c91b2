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

package upgrade

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// guardedAnnotations are the pod's Outrigger metadata: a write decided from one version
// of them must not land on another (a record another set wrote since, a state cleared).
var guardedAnnotations = []string{sidecarsv1alpha1.InjectedAnnotation, sidecarsv1alpha1.UpgradeAnnotation}

type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// GuardedStatusPatch is a JSON patch of the pod's status subresource taking orig to
// mutated, where they differ only in annotations and status conditions. Instead of the
// whole pod's resourceVersion, it is guarded by what the write was decided on: "test"
// operations on the exact values of the Outrigger annotations, and on the type of each
// condition it replaces at its index. The kubelet's status reports in between (new
// container statuses, other conditions appended) no longer refuse it with a conflict,
// while a change to Outrigger's own metadata still does (422: a failed test).
//
// ok is false where such a guard cannot be built — an Outrigger annotation absent from
// orig (JSON patch cannot test absence), any other field changed, a condition added or
// removed — and the caller writes with the resourceVersion instead.
func GuardedStatusPatch(orig, mutated *corev1.Pod) (patch []byte, ok bool) {
	for _, key := range guardedAnnotations {
		if _, present := orig.Annotations[key]; !present {
			return nil, false
		}
	}
	rest := mutated.DeepCopy()
	rest.Annotations, rest.Status.Conditions = orig.Annotations, orig.Status.Conditions
	if !equality.Semantic.DeepEqual(rest, orig) {
		return nil, false
	}
	var ops []jsonPatchOp
	for _, key := range guardedAnnotations {
		ops = append(ops, jsonPatchOp{Op: "test", Path: annotationPath(key), Value: orig.Annotations[key]})
	}
	for _, key := range slices.Sorted(maps.Keys(orig.Annotations)) {
		if _, kept := mutated.Annotations[key]; !kept {
			ops = append(ops, jsonPatchOp{Op: "remove", Path: annotationPath(key)})
		}
	}
	for _, key := range slices.Sorted(maps.Keys(mutated.Annotations)) {
		value := mutated.Annotations[key]
		if old, present := orig.Annotations[key]; !present {
			ops = append(ops, jsonPatchOp{Op: "add", Path: annotationPath(key), Value: value})
		} else if old != value {
			ops = append(ops, jsonPatchOp{Op: "replace", Path: annotationPath(key), Value: value})
		}
	}
	condOps, ok := conditionOps(orig.Status.Conditions, mutated.Status.Conditions)
	if !ok {
		return nil, false
	}
	ops = append(ops, condOps...)
	patch, err := json.Marshal(ops)
	return patch, err == nil
}

// conditionOps replaces the conditions mutated changed, each at its index in orig and
// guarded by its type there. Adding or removing one cannot be guarded (a concurrent
// writer could add the same type): not ok.
func conditionOps(orig, mutated []corev1.PodCondition) ([]jsonPatchOp, bool) {
	if len(orig) != len(mutated) {
		return nil, false
	}
	var ops []jsonPatchOp
	for _, c := range mutated {
		i := slices.IndexFunc(orig, func(o corev1.PodCondition) bool { return o.Type == c.Type })
		switch {
		case i < 0:
			return nil, false
		case !equality.Semantic.DeepEqual(orig[i], c):
			at := "/status/conditions/" + strconv.Itoa(i)
			ops = append(ops,
				jsonPatchOp{Op: "test", Path: at + "/type", Value: string(c.Type)},
				jsonPatchOp{Op: "replace", Path: at, Value: c})
		}
	}
	return ops, true
}

// annotationPath is the JSON pointer (RFC 6901) of an annotation.
func annotationPath(key string) string {
	return "/metadata/annotations/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
