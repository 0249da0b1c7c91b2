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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/revision"
)

// pinnedSpec reads the revision a SidecarSet's spec.injection.revision names from the
// operator's namespace and resolves it with revision.Pinned, the rule the controller
// applies to running pods too. A *revision.PinError says the pin is unusable; any other
// error, that the revision could not be read.
func pinnedSpec(ctx context.Context, r client.Reader, namespace, setName, pinned string) (revision.Spec, error) {
	cr := &appsv1.ControllerRevision{}
	err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: pinned}, cr)
	switch {
	case apierrors.IsNotFound(err):
		cr = nil
	case err != nil:
		return revision.Spec{}, fmt.Errorf("reading revision %s of SidecarSet %q: %w", pinned, setName, err)
	}
	return revision.Pinned(setName, pinned, cr)
}
