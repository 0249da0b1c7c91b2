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
	"encoding/json"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// +kubebuilder:webhook:path=/mutate-sidecars-outrigger-dev-v1alpha1-sidecarset,mutating=true,failurePolicy=fail,sideEffects=None,groups=sidecars.outrigger.dev,resources=sidecarsets,verbs=create;update,versions=v1alpha1,name=default.sidecarsets.sidecars.outrigger.dev,admissionReviewVersions=v1,timeoutSeconds=5

// SidecarSetDefaulter writes the defaults the schema cannot express, because they depend
// on another field: each sidecar's placement, from its mode.
type SidecarSetDefaulter struct{}

var _ admission.Defaulter[*sidecarsv1alpha1.SidecarSet] = (*SidecarSetDefaulter)(nil)

// Default fills in set's defaults in place.
func (SidecarSetDefaulter) Default(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) error {
	var old *sidecarsv1alpha1.SidecarSetSpec
	if req, err := admission.RequestFromContext(ctx); err == nil && len(req.OldObject.Raw) > 0 {
		stored := &sidecarsv1alpha1.SidecarSet{}
		if err := json.Unmarshal(req.OldObject.Raw, stored); err != nil {
			return fmt.Errorf("decoding the stored SidecarSet: %w", err)
		}
		old = &stored.Spec
	}
	set.Spec.DefaultPlacements(old)
	return nil
}
