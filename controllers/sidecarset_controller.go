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
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/revision"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarsets/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;watch;create;delete,namespace=system
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=pods/resize,verbs=patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SidecarSetReconciler keeps the pods a SidecarSet selects in step with it: it stores
// each distinct spec as a revision, plans the rollout (internal/upgrade), drives each
// pod's in-place upgrade one idempotent step at a time, keeps the sidecars-ready
// readiness gate of injected pods, and reports status once per pass.
type SidecarSetReconciler struct {
	// Client reads from the manager's cache (pods: only those labelled injected) and writes.
	Client client.Client
	// PodMetadata is a metadata-only view of every pod, to find pods never injected.
	PodMetadata       client.Reader
	Recorder          events.EventRecorder
	OperatorNamespace string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// observed is one pod the set selects.
type observed struct {
	meta   *metav1.PartialObjectMetadata
	pod    *corev1.Pod // nil for a pod the set never injected
	record *sidecarsv1alpha1.InjectionRecord
	state  *upgrade.State
}

// Reconcile runs one pass: revisions, observe, plan, act, status.
func (r *SidecarSetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetSidecarSet(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if set.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	status := set.Status.DeepCopy()

	var revisions appsv1.ControllerRevisionList
	if err := r.Client.List(ctx, &revisions, client.InNamespace(r.OperatorNamespace),
		client.MatchingLabels{sidecarsv1alpha1.RevisionSetLabel: set.Name}); err != nil {
		return ctrl.Result{}, err
	}
	collided, err := r.ensureRevision(ctx, set, revisions.Items, status)
	if err != nil {
		return ctrl.Result{}, err
	}
	if collided {
		return ctrl.Result{}, r.writeStatus(ctx, set, status)
	}

	current := status.UpdateRevision // the current spec's revision, whatever the pin
	spec, err := r.targetSpec(set, revisions.Items, status)
	if err != nil {
		return ctrl.Result{}, err
	}
	target := upgrade.Target{Revision: status.UpdateRevision, Hash: revision.Hash(spec), ImageFreeHash: revision.ImageFreeHash(spec)}
	pods, err := r.observe(ctx, set)
	if err != nil {
		return ctrl.Result{}, err
	}
	plan, err := upgrade.Compute(set.Spec.UpdateStrategy, target, plannerPods(set, target, pods))
	if err != nil {
		// Only an object that bypassed validation gets here; report it, don't retry.
		log.Error(err, "Cannot plan the rollout")
		r.Recorder.Eventf(set, nil, corev1.EventTypeWarning, "InvalidUpdateStrategy", "Plan", "%v", err)
		return ctrl.Result{}, nil
	}

	a := &actor{r: r, set: set, spec: spec, target: target, now: r.now()}
	for _, key := range slices.Concat(plan.Continue, plan.Start) {
		if err := a.drive(ctx, pods[key]); err != nil {
			return ctrl.Result{}, err
		}
	}
	for _, key := range plan.Evict {
		if err := a.evict(ctx, pods[key]); err != nil {
			return ctrl.Result{}, err
		}
	}
	inUse := map[string]bool{}
	for key, o := range pods {
		if o.record != nil {
			inUse[o.record.Revision] = true
		}
		if o.pod == nil || slices.Contains(plan.Continue, key) || slices.Contains(plan.Start, key) {
			continue
		}
		if err := a.tend(ctx, o, plan.Classes[key]); err != nil {
			return ctrl.Result{}, err
		}
	}
	inUse[current], inUse[status.UpdateRevision] = true, true
	if err := r.pruneRevisions(ctx, set, revisions.Items, inUse); err != nil {
		return ctrl.Result{}, err
	}

	upgrade.SetStatus(status, set, plan, metav1.NewTime(a.now))
	recordPodMetrics(set.Name, plan)
	if err := r.writeStatus(ctx, set, status); err != nil {
		return ctrl.Result{}, err
	}
	// Events only after the status write succeeded, so a retried pass does not repeat them.
	if len(a.started) > 0 {
		r.Recorder.Eventf(set, nil, corev1.EventTypeNormal, "UpgradeStarted", "Upgrade",
			"Started the in-place upgrade of %s to revision %s: %s", podCount(len(a.started)), target.Revision, strings.Join(a.started, ", "))
	}
	if len(a.evicted) > 0 {
		r.Recorder.Eventf(set, nil, corev1.EventTypeNormal, "PodsEvicted", "Evict",
			"Evicted %s whose change cannot be applied in place: %s", podCount(len(a.evicted)), strings.Join(a.evicted, ", "))
	}
	if len(a.finished) > 0 {
		r.Recorder.Eventf(set, nil, corev1.EventTypeNormal, "UpgradeFinished", "Upgrade",
			"Finished the in-place upgrade of %s to revision %s: %s", podCount(len(a.finished)), target.Revision, strings.Join(a.finished, ", "))
	}
	return ctrl.Result{RequeueAfter: a.requeueAfter}, nil
}

// targetSpec is the spec pods are moved to: the current one, or the revision
// injection.revision pins, so a hold holds running pods too and a rollback rolls them
// back in place. status.updateRevision names it.
func (r *SidecarSetReconciler) targetSpec(set *sidecarsv1alpha1.SidecarSet,
	revisions []appsv1.ControllerRevision, status *sidecarsv1alpha1.SidecarSetStatus) (revision.Spec, error) {
	pinned := set.Spec.Injection.Revision
	if pinned == "" {
		return revision.SpecOf(set), nil
	}
	i := slices.IndexFunc(revisions, func(cr appsv1.ControllerRevision) bool { return cr.Name == pinned })
	if i < 0 {
		// The webhook refuses such a pin; one that lost its revision holds nothing back.
		r.Recorder.Eventf(set, nil, corev1.EventTypeWarning, sidecarsv1alpha1.ReasonRevisionNotFound, "Plan",
			"spec.injection.revision %s is not a revision of this SidecarSet; rolling out the current spec", pinned)
		return revision.SpecOf(set), nil
	}
	spec, err := revision.SpecFromRevision(&revisions[i])
	if err != nil {
		return revision.Spec{}, err
	}
	status.UpdateRevision = pinned
	return spec, nil
}

func podCount(n int) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

func (r *SidecarSetReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *SidecarSetReconciler) writeStatus(ctx context.Context, set *sidecarsv1alpha1.SidecarSet, status *sidecarsv1alpha1.SidecarSetStatus) error {
	if equality.Semantic.DeepEqual(status, &set.Status) {
		return nil
	}
	patch := client.MergeFrom(set.DeepCopy())
	set.Status = *status
	return r.Client.Status().Patch(ctx, set, patch)
}

// observe lists the pods the set selects: those matching its selectors in namespaces
// Outrigger may inject, that it injected, or that were created since it exists (and so
// should have been). Injected pods come whole from the cache; others as metadata.
func (r *SidecarSetReconciler) observe(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) (map[string]*observed, error) {
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, nil //nolint:nilerr // an invalid selector selects nothing; the webhook refuses new ones
	}
	metas := &metav1.PartialObjectMetadataList{}
	metas.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := r.PodMetadata.List(ctx, metas, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	namespaces := &metav1.PartialObjectMetadataList{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := r.Client.List(ctx, namespaces); err != nil {
		return nil, err
	}
	nsByName := map[string]*metav1.PartialObjectMetadata{}
	for i := range namespaces.Items {
		nsByName[namespaces.Items[i].Name] = &namespaces.Items[i]
	}

	out := map[string]*observed{}
	for i := range metas.Items {
		m := &metas.Items[i]
		ns, ok := nsByName[m.Namespace]
		if !ok {
			continue
		}
		shell := &corev1.Pod{ObjectMeta: m.ObjectMeta}
		if inject.Excluded(shell, ns, r.OperatorNamespace) != "" {
			continue
		}
		if match, err := inject.Match(shell, ns, set); err != nil || !match {
			continue
		}
		records, err := sidecarsv1alpha1.ParseInjectionRecords(m.Annotations)
		if err != nil {
			continue
		}
		o := &observed{meta: m}
		if rec, ok := records[set.Name]; ok {
			o.record = &rec
			pod := &corev1.Pod{}
			if err := r.Client.Get(ctx, client.ObjectKeyFromObject(m), pod); err != nil {
				if apierrors.IsNotFound(err) {
					continue // the pod cache lags the metadata view; the pod event brings us back
				}
				return nil, err
			}
			o.pod = pod
			if o.state, err = upgrade.ParseState(pod); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "Ignored a malformed upgrade state", "pod", klog.KObj(pod))
				o.state = nil
			}
		} else if m.CreationTimestamp.Before(&set.CreationTimestamp) {
			continue // older than the set: never meant to be injected by it
		}
		out[m.Namespace+"/"+m.Name] = o
	}
	return out, nil
}

func plannerPods(set *sidecarsv1alpha1.SidecarSet, target upgrade.Target, pods map[string]*observed) []upgrade.Pod {
	out := make([]upgrade.Pod, 0, len(pods))
	for key, o := range pods {
		p := upgrade.Pod{Key: key, Labels: o.meta.Labels, Record: o.record, Terminating: o.meta.DeletionTimestamp != nil}
		if o.pod != nil {
			p.Ready = podReady(o.pod)
		}
		if s := o.state; s != nil {
			switch {
			case s.Set != set.Name:
				p.Upgrading = s.Failed == "" // another set's upgrade holds the pod
			case s.Failed != "" && s.Revision == target.Revision:
				p.Failed = true
			case s.Failed == "":
				p.Upgrading = true
			}
		}
		out = append(out, p)
	}
	return out
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func recordPodMetrics(set string, plan upgrade.Plan) {
	c := plan.Counts
	for state, n := range map[string]int{
		"updated":        c.UpToDate,
		"pending":        c.InPlace - len(plan.Continue),
		"upgrading":      len(plan.Continue),
		"not_upgradable": c.NotUpgradable + c.Failed,
		"missing":        c.Missing,
	} {
		metrics.SidecarSetPods.WithLabelValues(set, state).Set(float64(max(0, n)))
	}
}

// actor applies one pass's decisions to pods and remembers what to report.
type actor struct {
	r      *SidecarSetReconciler
	set    *sidecarsv1alpha1.SidecarSet
	spec   revision.Spec
	target upgrade.Target
	now    time.Time

	requeueAfter               time.Duration
	started, finished, evicted []string
}

// wrote notes a write to a pod. The pass's status was computed before it, from the
// cache, and a write that changed nothing on the server brings no event: look again
// shortly, so status always catches up with what this pass did.
func (a *actor) wrote() { a.requeue(time.Second) }

func (a *actor) requeue(d time.Duration) {
	if a.requeueAfter == 0 || d < a.requeueAfter {
		a.requeueAfter = d
	}
}

// drive moves one pod's upgrade forward as far as it can go now. Each step is decided
// from the pod as the API server returned it after the previous write.
func (a *actor) drive(ctx context.Context, o *observed) error {
	if o == nil || o.pod == nil {
		return nil
	}
	pod, state := o.pod, o.state
	if state != nil && state.Set != a.set.Name {
		return nil // another SidecarSet is upgrading this pod; it comes back when that one is done
	}
	log := ctrl.LoggerFrom(ctx).WithValues("pod", klog.KObj(pod))
	for range 6 {
		step := upgrade.Next(upgrade.Input{
			Pod: pod, State: state, Set: a.set.Name, Spec: a.spec, Target: a.target,
			DrainSeconds: a.set.Spec.UpdateStrategy.Drain.EffectiveSeconds(), Now: a.now,
		})
		var err error
		switch step.Action {
		case upgrade.ActionBegin:
			// Optimistic lock: two SidecarSets must not both claim the pod.
			orig := pod.DeepCopy()
			setAnnotation(pod, sidecarsv1alpha1.UpgradeAnnotation, step.State.String())
			err = a.r.Client.Patch(ctx, pod, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
			if err == nil {
				a.wrote()
				state = step.State
				a.started = append(a.started, klog.KObj(pod).String())
				metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeStarted).Inc()
				log.V(1).Info("Began the in-place upgrade", "revision", step.State.Revision, "drain", step.State.Drain)
			}
		case upgrade.ActionDrain:
			err = a.setSidecarsReady(ctx, pod, false, "Upgrading",
				fmt.Sprintf("SidecarSet %s is replacing sidecars; the pod left its Services first.", a.set.Name))
		case upgrade.ActionWait:
			a.requeue(step.After)
			return nil
		case upgrade.ActionSwap:
			err = a.swap(ctx, pod, step.State)
			if err == nil {
				state = step.State
			}
		case upgrade.ActionAwait:
			if err := a.ensureResized(ctx, pod, state); err != nil {
				return err
			}
			log.V(2).Info("Waiting for the kubelet", "reason", step.Reason)
			a.requeue(5 * time.Second)
			return nil
		case upgrade.ActionFinish:
			err = a.finish(ctx, pod, step.State)
			if err == nil {
				a.finished = append(a.finished, klog.KObj(pod).String())
				metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeFinished).Inc()
				return a.markReadyIfSidecarsReady(ctx, pod)
			}
		case upgrade.ActionFail:
			err = a.patchMeta(ctx, pod, func(p *corev1.Pod) { setAnnotation(p, sidecarsv1alpha1.UpgradeAnnotation, step.State.String()) })
			if err == nil {
				metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeFailed).Inc()
				a.r.Recorder.Eventf(pod, a.set, corev1.EventTypeWarning, "UpgradeFailed", "Upgrade",
					"The in-place upgrade by SidecarSet %s failed: %s", a.set.Name, step.Reason)
				a.r.Recorder.Eventf(a.set, pod, corev1.EventTypeWarning, "UpgradeFailed", "Upgrade",
					"The in-place upgrade of pod %s failed: %s", klog.KObj(pod), step.Reason)
				return a.markReadyIfSidecarsReady(ctx, pod)
			}
		default:
			return nil
		}
		if err != nil {
			if apierrors.IsNotFound(err) {
				return nil // the pod is gone
			}
			return err
		}
	}
	return nil
}

// swap patches the images and records the swap in one write, then resizes.
func (a *actor) swap(ctx context.Context, pod *corev1.Pod, state *upgrade.State) error {
	orig := pod.DeepCopy()
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if image, ok := state.Images[list[i].Name]; ok {
				list[i].Image = image
			}
		}
	}
	setAnnotation(pod, sidecarsv1alpha1.UpgradeAnnotation, state.String())
	if err := a.r.Client.Patch(ctx, pod, client.StrategicMergeFrom(orig)); err != nil {
		return err
	}
	a.wrote()
	return a.ensureResized(ctx, pod, state)
}

// ensureResized asks for the state's resources through the pods/resize subresource,
// unless the pod's spec already has them; so a resize lost to a crash is sent again.
func (a *actor) ensureResized(ctx context.Context, pod *corev1.Pod, state *upgrade.State) error {
	if state == nil || len(state.Resources) == 0 {
		return nil
	}
	orig := pod.DeepCopy()
	changed := false
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			want, ok := state.Resources[list[i].Name]
			if !ok || sameResources(want, list[i].Resources) {
				continue
			}
			list[i].Resources.Requests, list[i].Resources.Limits = want.Requests, want.Limits
			changed = true
		}
	}
	if !changed {
		return nil
	}
	a.wrote()
	return a.r.Client.SubResource("resize").Patch(ctx, pod, client.StrategicMergeFrom(orig))
}

// sameResources says whether two containers' requests and limits are the same,
// quantities compared by value.
func sameResources(a, b corev1.ResourceRequirements) bool {
	return equality.Semantic.DeepEqual(a.Requests, b.Requests) && equality.Semantic.DeepEqual(a.Limits, b.Limits)
}

// finish records the new revision on the pod and clears the upgrade state, in one write.
func (a *actor) finish(ctx context.Context, pod *corev1.Pod, state *upgrade.State) error {
	return a.patchMeta(ctx, pod, func(p *corev1.Pod) {
		records, _ := sidecarsv1alpha1.ParseInjectionRecords(p.Annotations)
		rec := records[a.set.Name]
		rec.Revision, rec.Hash, rec.ImageFreeHash = state.Revision, state.Hash, state.ImageFreeHash
		records[a.set.Name] = rec
		setAnnotation(p, sidecarsv1alpha1.InjectedAnnotation, records.String())
		delete(p.Annotations, sidecarsv1alpha1.UpgradeAnnotation)
	})
}

// evict evicts a pod through the Eviction API, so PodDisruptionBudgets decide.
func (a *actor) evict(ctx context.Context, o *observed) error {
	if o == nil || o.pod == nil {
		return nil
	}
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: o.pod.Name, Namespace: o.pod.Namespace}}
	err := a.r.Client.SubResource("eviction").Create(ctx, o.pod, eviction)
	switch {
	case err == nil:
		a.wrote()
		a.evicted = append(a.evicted, klog.KObj(o.pod).String())
		metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeEvicted).Inc()
		return nil
	case apierrors.IsTooManyRequests(err):
		// A PodDisruptionBudget forbids it now; try again later.
		a.r.Recorder.Eventf(a.set, o.pod, corev1.EventTypeNormal, "EvictionBlocked", "Evict",
			"Pod %s cannot be evicted now: %v", klog.KObj(o.pod), err)
		a.requeue(10 * time.Second)
		return nil
	case apierrors.IsNotFound(err):
		return nil
	default:
		return err
	}
}

// tend keeps a pod that is not being upgraded in order: its readiness gate True once its
// sidecars are ready, and its upgradable condition telling whether the set can reach it.
func (a *actor) tend(ctx context.Context, o *observed, class upgrade.Class) error {
	pod := o.pod
	if o.state == nil || o.state.Failed != "" {
		if err := a.markReadyIfSidecarsReady(ctx, pod); err != nil {
			return err
		}
	}
	switch {
	case class == upgrade.ClassNotUpgradable:
		evicting := ""
		if a.set.Spec.UpdateStrategy.EffectiveOnImmutableChange() == sidecarsv1alpha1.ImmutableChangeEvict {
			evicting = " (onImmutableChange: Evict)"
		}
		msg := fmt.Sprintf("SidecarSet %s changed more than images and resources (revision %s); the pod gets it when it is recreated%s.",
			a.set.Name, a.target.Revision, evicting)
		changed, err := a.setCondition(ctx, pod, sidecarsv1alpha1.UpgradableCondition, false, "ImmutableChange", msg)
		if err == nil && changed {
			a.r.Recorder.Eventf(pod, a.set, corev1.EventTypeWarning, "NotUpgradable", "Upgrade", "%s", msg)
		}
		return err
	case hasCondition(pod, sidecarsv1alpha1.UpgradableCondition, corev1.ConditionFalse):
		_, err := a.setCondition(ctx, pod, sidecarsv1alpha1.UpgradableCondition, true, "AsExpected", "")
		return err
	}
	return nil
}

func (a *actor) markReadyIfSidecarsReady(ctx context.Context, pod *corev1.Pod) error {
	if !upgrade.HasReadinessGate(pod) || !upgrade.SidecarsReady(pod) {
		return nil
	}
	return a.setSidecarsReady(ctx, pod, true, "SidecarsReady", "")
}

func (a *actor) setSidecarsReady(ctx context.Context, pod *corev1.Pod, ready bool, reason, msg string) error {
	_, err := a.setCondition(ctx, pod, sidecarsv1alpha1.SidecarsReadyCondition, ready, reason, msg)
	return err
}

// setCondition sets a pod condition through the status subresource when it differs, and
// says whether it wrote.
func (a *actor) setCondition(ctx context.Context, pod *corev1.Pod, t string, ok bool, reason, msg string) (bool, error) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	if hasCondition(pod, t, status) {
		return false, nil
	}
	orig := pod.DeepCopy()
	cond := corev1.PodCondition{Type: corev1.PodConditionType(t), Status: status, Reason: reason, Message: msg,
		LastTransitionTime: metav1.NewTime(a.now), LastProbeTime: metav1.NewTime(a.now)}
	if i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return string(c.Type) == t }); i >= 0 {
		pod.Status.Conditions[i] = cond
	} else {
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
	}
	if err := a.r.Client.Status().Patch(ctx, pod, client.StrategicMergeFrom(orig)); err != nil {
		return false, err
	}
	a.wrote()
	return true, nil
}

func (a *actor) patchMeta(ctx context.Context, pod *corev1.Pod, mutate func(*corev1.Pod)) error {
	orig := pod.DeepCopy()
	mutate(pod)
	if err := a.r.Client.Patch(ctx, pod, client.MergeFrom(orig)); err != nil {
		return err
	}
	a.wrote()
	return nil
}

func setAnnotation(pod *corev1.Pod, key, value string) {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[key] = value
}

func hasCondition(pod *corev1.Pod, t string, status corev1.ConditionStatus) bool {
	for _, c := range pod.Status.Conditions {
		if string(c.Type) == t {
			return c.Status == status
		}
	}
	return false
}
