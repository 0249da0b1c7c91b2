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
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cacheview"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
	"github.com/outrigger-dev/outrigger/internal/validation"
)

// +kubebuilder:webhook:path=/validate-sidecars-outrigger-dev-v1alpha1-sidecarset,mutating=false,failurePolicy=fail,sideEffects=None,groups=sidecars.outrigger.dev,resources=sidecarsets,verbs=create;update,versions=v1alpha1,name=validate.sidecarsets.sidecars.outrigger.dev,admissionReviewVersions=v1,timeoutSeconds=5

// +kubebuilder:rbac:groups="",resources=pods,verbs=create,namespace=system

// SidecarSetValidator refuses what the CRD schema cannot: invalid selectors and
// metadata, conflicts with the other SidecarSets that can select the same pods, and
// containers that would make the pods it is injected into invalid.
type SidecarSetValidator struct {
	Reader client.Reader
	// Client creates the probe pods (dryRun=All, nothing is stored) through which the API
	// server validates the pods a SidecarSet produces.
	Client client.Client
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

	podErrs, podWarnings := v.validatePods(ctx, set, old)
	errs = append(errs, podErrs...)
	warnings = append(warnings, podWarnings...)

	if pinned := set.Spec.Injection.Revision; pinned != "" && (old == nil || old.Spec.Injection.Revision != pinned) {
		errs = append(errs, v.validatePinnedRevision(ctx, set)...)
	}
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(sidecarsv1alpha1.GroupVersion.WithKind("SidecarSet").GroupKind(), set.Name, errs)
	}
	return warnings, nil
}

func (v *SidecarSetValidator) validatePinnedRevision(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) field.ErrorList {
	path := field.NewPath("spec", "injection", "revision")
	pinned := set.Spec.Injection.Revision
	_, err := inject.Resolve(set, cacheview.Revisions(ctx, v.Reader, v.OperatorNamespace))
	var pinErr *revision.PinError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, revision.ErrPinNotFound):
		return field.ErrorList{field.NotFound(path, pinned)}
	case errors.As(err, &pinErr) && pinErr.Owner != "":
		return field.ErrorList{field.Invalid(path, pinned, fmt.Sprintf("revision belongs to SidecarSet %q", pinErr.Owner))}
	case errors.As(err, &pinErr):
		return field.ErrorList{field.Invalid(path, pinned, pinErr.Err.Error())}
	default:
		return field.ErrorList{field.InternalError(path, err)}
	}
}

// validatePods has the API server validate a pod injected with set: a server-side
// dry-run create of validation.ProbePod in the operator's namespace. Its field errors
// come back on the set's fields; those the stored set had too are not refused again
// (ratcheting). A refusal that is no validation (a quota, a policy on the operator's
// namespace, the API server unreachable) is a warning: it says nothing about the set.
func (v *SidecarSetValidator) validatePods(ctx context.Context, set, old *sidecarsv1alpha1.SidecarSet) (field.ErrorList, admission.Warnings) {
	errs, warning := v.dryRun(ctx, set)
	if warning != "" {
		return nil, admission.Warnings{warning}
	}
	if len(errs) == 0 || old == nil {
		return errs, nil
	}
	oldErrs, _ := v.dryRun(ctx, old)
	return validation.Ratchet(errs, oldErrs), nil
}

func (v *SidecarSetValidator) dryRun(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) (field.ErrorList, string) {
	probe, err := validation.ProbePod(set, v.OperatorNamespace)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("spec"), set.Name, err.Error())}, ""
	}
	sent := probe.DeepCopy()
	err = v.Client.Create(ctx, sent, client.DryRunAll)
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil, ""
	case apierrors.IsInvalid(err) && errors.As(err, &status) && status.Status().Details != nil:
		return validation.PodErrors(set, probe, status.Status().Details.Causes), ""
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"):
		// The operator's namespace enforces Pod Security restricted (config/default), which
		// a sidecar may well not meet: that is the namespaces the set selects' business.
		// Validating admission runs after the pod's field validation, so a pod that
		// reached Pod Security has valid fields.
		return nil, ""
	}
	ctrl.LoggerFrom(ctx).Info("Could not validate the pods of a SidecarSet", "sidecarset", klog.KObj(set), "error", err.Error())
	return nil, fmt.Sprintf("the pods this SidecarSet produces were not validated: a dry-run create of a pod in namespace %s failed: %v",
		v.OperatorNamespace, err)
}
