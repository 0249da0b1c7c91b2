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
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// upgradingSetIndex indexes cached pods by the SidecarSet named in their upgrade state,
// and by anyUpgrade for every pod that has one.
const (
	upgradingSetIndex = "outrigger.upgradingSet"
	anyUpgrade        = "*"
)

// PodReconciler owns, pod by pod, what must not wait for any SidecarSet's pass: the
// sidecars-ready readiness gate goes True as soon as a pod's sidecars are ready, and a
// pod that leaves the set upgrading it — set deleted, selectors or labels changed, pod
// or namespace opted out, injected label removed — is let go at once: its upgrade state
// is cleared and its gate set True. No finalizer is needed: a deleted set's pods are
// found through the index of upgrade states, whichever step they were at.
//
// It runs on every replica, not only the leader (SetupWithManager), and where
// config/policy's sidecars-ready MutatingAdmissionPolicy runs it finds a new pod's gate
// True already: the API server set it in the kubelet's status write
// (docs/design/ready-without-operator.md).
type PodReconciler struct {
	// Client reads from the manager's cache (pods: only those labelled injected) and writes.
	Client client.Client
	// PodMetadata is the metadata-only view of every pod; APIReader reads past the cache
	// a pod that left it (its injected label removed) while it has an upgrade state.
	PodMetadata       client.Reader
	APIReader         client.Reader
	Recorder          events.EventRecorder
	OperatorNamespace string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Reconcile keeps one pod's gate and releases it from a set it left.
func (r *PodReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod, err := r.getPod(ctx, req.NamespacedName)
	if pod == nil || err != nil {
		return ctrl.Result{}, err
	}
	state, err := upgrade.ParseState(pod)
	if err != nil {
		// Only Outrigger writes the state; one that does not parse belongs to no set.
		ctrl.LoggerFrom(ctx).Error(err, "Found a malformed upgrade state; clearing it", "pod", klog.KObj(pod))
		state = &upgrade.State{}
	}
	var member upgrade.Membership
	if state != nil {
		if member, err = r.membership(ctx, pod, state.Set); err != nil {
			return ctrl.Result{}, err
		}
	}
	up := upgrade.KeepPod(pod, state, member)
	if !up.ClearState && !up.GateTrue {
		return ctrl.Result{}, nil
	}
	// One write of the status subresource (which takes metadata too): the state cleared
	// and the gate True together, so the pod never shows one without the other.
	err = patchPodStatus(ctx, r.Client, pod, func(p *corev1.Pod) {
		if up.ClearState {
			delete(p.Annotations, sidecarsv1alpha1.UpgradeAnnotation)
		}
		if up.GateTrue {
			upgrade.SetPodCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, true, up.Reason, up.Message, r.now())
		}
	})
	if err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if up.ClearState {
		metrics.ReleasedPodsTotal.WithLabelValues(state.Set).Inc()
		r.Recorder.Eventf(pod, nil, corev1.EventTypeNormal, sidecarsv1alpha1.ReasonLeftSidecarSet, "Release", "%s", up.Message)
	}
	return ctrl.Result{}, nil
}

// getPod reads the pod from the cache or, when it left the cache but still carries an
// upgrade state, from the API server; nil when there is nothing to keep.
func (r *PodReconciler) getPod(ctx context.Context, key types.NamespacedName) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	err := r.Client.Get(ctx, key, pod)
	if err == nil || !apierrors.IsNotFound(err) {
		return pod, err
	}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	if err := r.PodMetadata.Get(ctx, key, meta); err != nil || meta.Annotations[sidecarsv1alpha1.UpgradeAnnotation] == "" {
		return nil, client.IgnoreNotFound(err)
	}
	if err := r.APIReader.Get(ctx, key, pod); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return pod, nil
}

// membership says whether the set named set still exists and selects pod.
func (r *PodReconciler) membership(ctx context.Context, pod *corev1.Pod, setName string) (upgrade.Membership, error) {
	set := &sidecarsv1alpha1.SidecarSet{}
	if setName == "" {
		return upgrade.Membership{}, nil
	}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: setName}, set); err != nil {
		return upgrade.Membership{}, client.IgnoreNotFound(err)
	}
	if set.DeletionTimestamp != nil {
		return upgrade.Membership{}, nil
	}
	records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if _, recorded := records[setName]; err != nil || !recorded || pod.Labels[sidecarsv1alpha1.InjectedLabel] != sidecarsv1alpha1.InjectedLabelValue {
		return upgrade.Membership{SetExists: true}, nil
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.Client.Get(ctx, types.NamespacedName{Name: pod.Namespace}, ns); err != nil {
		return upgrade.Membership{}, err
	}
	sel, err := inject.NewSelector(set)
	if err != nil {
		return upgrade.Membership{SetExists: true}, nil // a selector that does not parse selects nothing
	}
	return upgrade.Membership{SetExists: true, Selected: selects(set, sel, pod, ns, r.OperatorNamespace)}, nil
}

func (r *PodReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// recordedSetIndex indexes cached pods by the SidecarSets recorded on them, so a pass
// reads its set's pods without a copy of each.
const recordedSetIndex = "outrigger.recordedSet"

// indexRecordedSets is the recordedSetIndex of a cached pod.
func indexRecordedSets(obj any) ([]string, error) {
	pod, ok := obj.(client.Object)
	if !ok {
		return nil, nil
	}
	recorded, err := injectionRecords.of(pod.GetAnnotations()[sidecarsv1alpha1.InjectedAnnotation])
	if err != nil {
		return nil, nil // a record that does not parse records no set
	}
	return slices.Sorted(maps.Keys(recorded)), nil
}

// indexUpgradingSet is the upgradingSetIndex of a cached pod.
func indexUpgradingSet(obj client.Object) []string {
	raw := obj.GetAnnotations()[sidecarsv1alpha1.UpgradeAnnotation]
	if raw == "" {
		return nil
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	s, err := upgrade.ParseState(pod)
	if err != nil || s == nil {
		return []string{anyUpgrade}
	}
	return []string{s.Set, anyUpgrade}
}

// podsUpgradedBy maps a SidecarSet event (any change, deletion included) to the pods it
// is upgrading, which may have left it.
func (r *PodReconciler) podsUpgradedBy(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) []reconcile.Request {
	return r.podsIndexed(ctx, client.MatchingFields{upgradingSetIndex: set.Name})
}

// podsUpgradingIn maps a namespace event (an opt-out label) to the pods in it that are
// being upgraded.
func (r *PodReconciler) podsUpgradingIn(ctx context.Context, ns *metav1.PartialObjectMetadata) []reconcile.Request {
	return r.podsIndexed(ctx, client.InNamespace(ns.Name), client.MatchingFields{upgradingSetIndex: anyUpgrade})
}

func (r *PodReconciler) podsIndexed(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Cannot list the pods being upgraded")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(pods.Items))
	for i := range pods.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
	}
	return reqs
}
