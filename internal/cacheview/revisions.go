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

package cacheview

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Revisions looks up the ControllerRevisions of namespace through r one by one: nil
// and no error for one that does not exist. (It serves inject.Resolve.)
func Revisions(ctx context.Context, r client.Reader, namespace string) func(name string) (*appsv1.ControllerRevision, error) {
	return func(name string) (*appsv1.ControllerRevision, error) {
		cr := &appsv1.ControllerRevision{}
		err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cr)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return cr, err
	}
}
