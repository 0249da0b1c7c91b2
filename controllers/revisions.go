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
	"cmp"
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// ensureRevision reads the set's revisions and makes sure the one of its current spec
// exists, recorded in status.updateRevision. On a name collision it raises
// collisionCount instead and ends the pass: the status write brings the set back to
// try the next name.
func (r *SidecarSetReconciler) ensureRevision(ctx context.Context, p *pass) (collided bool, err error) {
	var revisions appsv1.ControllerRevisionList
	if err := r.Client.List(ctx, &revisions, client.InNamespace(r.OperatorNamespace),
		client.MatchingLabels{sidecarsv1alpha1.RevisionSetLabel: p.set.Name}); err != nil {
		return false, err
	}
	p.revisions = revisions.Items
	set, status := p.set, p.status
	want, err := revision.NewControllerRevision(set, r.OperatorNamespace, nextRevisionNumber(p.revisions))
	if err != nil {
		return false, err
	}
	got := &appsv1.ControllerRevision{}
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: want.Namespace, Name: want.Name}, got)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("creating revision %s: %w", want.Name, err)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Created revision", "revision", klog.KObj(want))
		p.report.normal("RevisionCreated", "CreateRevision", "Stored revision %s for the current spec", want.Name)
	case err != nil:
		return false, err
	case !ownedBy(got, set) || !revision.Stores(got, revision.SpecOf(set)):
		status.CollisionCount = new(ptr.Deref(set.Status.CollisionCount, 0) + 1)
		ctrl.LoggerFrom(ctx).Info("Found a revision name collision", "revision", klog.KObj(got),
			"collisionCount", *status.CollisionCount)
		return true, nil
	}
	status.UpdateRevision = want.Name
	return false, nil
}

// pruneRevisions deletes the oldest revisions beyond revisionHistoryLimit, never one
// pods run, the current spec's, the update revision, nor the one injection pins.
func (r *SidecarSetReconciler) pruneRevisions(ctx context.Context, p *pass) (bool, error) {
	set := p.set
	keep := map[string]bool{p.current: true, p.status.UpdateRevision: true}
	for _, o := range p.pods {
		if o.Record != nil {
			keep[o.Record.Revision] = true
		}
	}
	var old []appsv1.ControllerRevision
	for _, cr := range p.revisions {
		if cr.Name == set.Spec.Injection.Revision || keep[cr.Name] || cr.DeletionTimestamp != nil {
			continue
		}
		old = append(old, cr)
	}
	limit := int(set.Spec.EffectiveRevisionHistoryLimit())
	if len(old) <= limit {
		return false, nil
	}
	sortByRevision(old)
	for _, cr := range old[:len(old)-limit] {
		if err := r.Client.Delete(ctx, &cr, client.Preconditions{UID: &cr.UID}); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("pruning revision %s: %w", cr.Name, err)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Pruned revision", "revision", klog.KObj(&cr))
	}
	return false, nil
}

func ownedBy(cr *appsv1.ControllerRevision, set *sidecarsv1alpha1.SidecarSet) bool {
	for _, ref := range cr.OwnerReferences {
		if ref.UID == set.UID {
			return true
		}
	}
	return false
}

func nextRevisionNumber(revisions []appsv1.ControllerRevision) int64 {
	var highest int64
	for _, r := range revisions {
		highest = max(highest, r.Revision)
	}
	return highest + 1
}

func sortByRevision(revisions []appsv1.ControllerRevision) {
	slices.SortFunc(revisions, func(a, b appsv1.ControllerRevision) int { return cmp.Compare(a.Revision, b.Revision) })
}
