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

package controllers

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// SidecarSet status has two writers, each the owner of its own fields, written by
// server-side apply under its own field manager: the API server merges conditions by
// type, so neither writer can drop what the other wrote, whatever its cache shows.
const (
	// sidecarSetOwner writes everything in status but the AdmissionPolicy condition.
	sidecarSetOwner = "outrigger-sidecarset"
	// admissionPolicyOwner writes the AdmissionPolicy condition.
	admissionPolicyOwner = "outrigger-admissionpolicy"
)

// ownedBySidecarSetController says whether the SidecarSet reconciler writes the
// condition of type t.
func ownedBySidecarSetController(t string) bool {
	return t != sidecarsv1alpha1.ConditionAdmissionPolicy
}

// applyStatus writes the SidecarSet reconciler's part of status: every field but the
// conditions another controller owns. A field it stops setting is removed.
func applyStatus(ctx context.Context, c client.Client, set *sidecarsv1alpha1.SidecarSet, status *sidecarsv1alpha1.SidecarSetStatus) error {
	owned := status.DeepCopy()
	owned.Conditions = slices.DeleteFunc(owned.Conditions, func(c metav1.Condition) bool { return !ownedBySidecarSetController(c.Type) })
	if err := applyStatusAs(ctx, c, set, owned, sidecarSetOwner); err != nil {
		return err
	}
	set.Status = *status
	return nil
}

// applyCondition writes one condition the AdmissionPolicy reconciler owns.
func applyCondition(ctx context.Context, c client.Client, set *sidecarsv1alpha1.SidecarSet, cond metav1.Condition) error {
	return applyStatusAs(ctx, c, set, &sidecarsv1alpha1.SidecarSetStatus{Conditions: []metav1.Condition{cond}}, admissionPolicyOwner)
}

// applyStatusAs applies status as the fields owner writes, with the set's UID as a
// precondition: a set deleted and created again under its name is not written to.
func applyStatusAs(ctx context.Context, c client.Client, set *sidecarsv1alpha1.SidecarSet,
	status *sidecarsv1alpha1.SidecarSetStatus, owner string) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(status)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": content}}
	u.SetGroupVersionKind(sidecarsv1alpha1.GroupVersion.WithKind("SidecarSet"))
	u.SetName(set.Name)
	u.SetUID(set.UID)
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(owner), client.ForceOwnership)
}
