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
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/validation"
)

// +kubebuilder:webhook:path=/validate-sidecars-outrigger-dev-v1alpha1-sidecarset,mutating=false,failurePolicy=fail,sideEffects=None,groups=sidecars.outrigger.dev,resources=sidecarsets,verbs=create;update,versions=v1alpha1,name=validate.sidecarsets.sidecars.outrigger.dev,admissionReviewVersions=v1,timeoutSeconds=5

// SidecarSetValidator refuses what the CRD schema cannot: invalid selectors and
// metadata, and conflicts with the other SidecarSets that can select the same pods.
type SidecarSetValidator struct {
	Reader client.Reader
	// OperatorNamespace holds the revisions spec.injection.revision may name.
	OperatorNamespace string
}

var _ admission.Validator[*sidecarsv1alpha1.SidecarSet] = (*SidecarSetValidator)(nil)

// ValidateCreate validates a new SidecarSet.
func (v *SidecarSetValidator) ValidateCreate(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) (admission.Warnings, error) {
	return v.validate(ctx, set, nil)
}

// ValidateUpdate validates a changed SidecarSet.
func (v *SidecarSetValidator) ValidateUpdate(ctx context.Context, old, set *sidecarsv1alpha1.SidecarSet) (admission.Warnings, error) {
	return v.validate(ctx, set, old)
}

// ValidateDelete allows every deletion: pods keep what they were injected with.
func (v *SidecarSetValidator) ValidateDelete(context.Context, *sidecarsv1alpha1.SidecarSet) (admission.Warnings, error) {
	return nil, nil
}

func (v *SidecarSetValidator) validate(ctx context.Context, set, old *sidecarsv1alpha1.SidecarSet) (admission.Warnings, error) {
	errs, warnings := validation.ValidateSidecarSet(set, old)

	var others sidecarsv1alpha1.SidecarSetList
	if err := v.Reader.List(ctx, &others); err != nil {
		return warnings, fmt.Errorf("listing SidecarSets to check for conflicts: %w", err)
	}
	errs = append(errs, validation.ValidateConflicts(set, old, others.Items)...)

	if pinned := set.Spec.Injection.Revision; pinned != "" && (old == nil || old.Spec.Injection.Revision != pinned) {
		errs = append(errs, v.validatePinnedRevision(ctx, set.Name, pinned)...)
	}
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(sidecarsv1alpha1.GroupVersion.WithKind("SidecarSet").GroupKind(), set.Name, errs)
	}
	return warnings, nil
}

func (v *SidecarSetValidator) validatePinnedRevision(ctx context.Context, setName, pinned string) field.ErrorList {
	path := field.NewPath("spec", "injection", "revision")
	cr := &appsv1.ControllerRevision{}
	err := v.Reader.Get(ctx, types.NamespacedName{Namespace: v.OperatorNamespace, Name: pinned}, cr)
	switch {
	case apierrors.IsNotFound(err):
		return field.ErrorList{field.NotFound(path, pinned)}
	case err != nil:
		return field.ErrorList{field.InternalError(path, err)}
	case cr.Labels[sidecarsv1alpha1.RevisionSetLabel] != setName:
		return field.ErrorList{field.Invalid(path, pinned, fmt.Sprintf("revision belongs to SidecarSet %q", cr.Labels[sidecarsv1alpha1.RevisionSetLabel]))}
	}
	return nil
}
