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
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarsets/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;watch;create;delete,namespace=system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// RevisionReconciler stores every distinct spec of a SidecarSet as a ControllerRevision
// in the operator's namespace, owned by the set, and reports the current one in
// status.updateRevision. The pod webhook injects from these revisions when a set pins
// one (spec.injection.revision).
type RevisionReconciler struct {
	Client            client.Client
	Recorder          events.EventRecorder
	OperatorNamespace string
}

// Reconcile makes sure the revision of the set's current spec exists. It only creates:
// pruning old revisions belongs to the rollout, which knows which ones pods still use.
func (r *RevisionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if set.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}

	var existing appsv1.ControllerRevisionList
	if err := r.Client.List(ctx, &existing, client.InNamespace(r.OperatorNamespace),
		client.MatchingLabels{sidecarsv1alpha1.RevisionSetLabel: set.Name}); err != nil {
		return ctrl.Result{}, err
	}
	want, err := revision.NewControllerRevision(set, r.OperatorNamespace, nextRevisionNumber(existing.Items))
	if err != nil {
		return ctrl.Result{}, err
	}

	status := set.Status.DeepCopy()
	got := &appsv1.ControllerRevision{}
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: want.Namespace, Name: want.Name}, got)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("creating revision %s: %w", want.Name, err)
		}
		log.V(1).Info("Created revision", "revision", klog.KObj(want))
		r.Recorder.Eventf(set, nil, corev1.EventTypeNormal, "RevisionCreated", "CreateRevision",
			"Stored revision %s for the current spec", want.Name)
		status.UpdateRevision = want.Name
	case err != nil:
		return ctrl.Result{}, err
	case !ownedBy(got, set) || !revision.Stores(got, revision.SpecOf(set)):
		// Same name, other content: a hash collision. Raising collisionCount changes the
		// name; the status update brings the set back here to create it.
		status.CollisionCount = ptr.To(ptr.Deref(set.Status.CollisionCount, 0) + 1)
		log.Info("Found a revision name collision", "revision", klog.KObj(got), "collisionCount", *status.CollisionCount)
	default:
		status.UpdateRevision = want.Name
	}

	if equality.Semantic.DeepEqual(status, &set.Status) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(set.DeepCopy())
	set.Status = *status
	return ctrl.Result{}, r.Client.Status().Patch(ctx, set, patch)
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

// SetupWithManager registers the reconciler; it watches the sets and the revisions they own.
func (r *RevisionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&sidecarsv1alpha1.SidecarSet{}).
		Owns(&appsv1.ControllerRevision{}).
		Named("sidecarset-revision").
		Complete(r)
}
