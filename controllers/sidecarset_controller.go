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
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cacheview"
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
// +kubebuilder:rbac:groups="",resources=events,verbs=list
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets/status,verbs=update

// SidecarSetReconciler keeps the pods a SidecarSet selects in step with it: it stores
// each distinct spec as a revision, plans the rollout (internal/upgrade), drives each
// pod's in-place upgrade one idempotent step at a time, and reports status once per
// pass. The readiness gate of pods not being drained belongs to PodReconciler.
type SidecarSetReconciler struct {
	// Client reads from the manager's cache (pods: only those labelled injected) and writes.
	Client client.Client
	// Pods is the store of the typed pod cache (injected pods), indexed by recorded set.
	Pods *cacheview.View[*corev1.Pod]
	// PodMetadata is the store of a metadata-only view of every pod, indexed by label,
	// to find the pods a set selects that it never injected.
	PodMetadata *cacheview.View[*metav1.PartialObjectMetadata]
	// APIReader reads past the cache: the kubelet's events about a failed upgrade, and
	// the budgets whose disruption a finished upgrade releases.
	APIReader         client.Reader
	Recorder          events.EventRecorder
	OperatorNamespace string
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// expectations count the upgrades this process began that the cache may not show.
	expectations upgrade.Expectations
	// backoff spaces out the retries of one pod's failing writes, so a pod the API
	// server keeps refusing neither holds the pass nor is hammered by it.
	backoff upgrade.Backoff
	// statusWritten is when each set's status was last written (upgrade.WhenToWrite).
	statusWritten sync.Map
	// rolling holds the sets whose last pass left pods to upgrade (upgrade.SetsToWake).
	rolling sync.Map
}

// isRolling says whether set's last pass left pods to upgrade.
func (r *SidecarSetReconciler) isRolling(set string) bool {
	_, ok := r.rolling.Load(set)
	return ok
}

// rolloutPriority is the work queue priority of a pass that moves a rollout on.
const rolloutPriority = 10

// statusInterval is the least time between two status writes of a set that change
// only its pod counts and condition messages.
const statusInterval = 2 * time.Second

// Reconcile runs one pass: fetch → revisions → target → observe → plan → act → status.
// Errors about one pod are that pod's: reported and retried with backoff while the pass
// goes on; only errors that make the whole pass meaningless are returned.
func (r *SidecarSetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetSidecarSet(req.Name)
			r.expectations.ForgetSet(req.Name)
			r.backoff.ForgetSet(req.Name)
			r.statusWritten.Delete(req.Name)
			r.rolling.Delete(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if set.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	status := set.Status.DeepCopy()
	rep := &report{}

	var revisions appsv1.ControllerRevisionList
	if err := r.Client.List(ctx, &revisions, client.InNamespace(r.OperatorNamespace),
		client.MatchingLabels{sidecarsv1alpha1.RevisionSetLabel: set.Name}); err != nil {
		return ctrl.Result{}, err
	}
	collided, err := r.ensureRevision(ctx, set, revisions.Items, status, rep)
	if err != nil {
		return ctrl.Result{}, err
	}
	if collided {
		_, err := r.writeStatusThenReport(ctx, set, status, rep)
		return ctrl.Result{}, err
	}

	current := status.UpdateRevision // the current spec's revision, whatever the pin
	spec := r.resolveTarget(set, revisions.Items, status, rep)
	target := upgrade.Target{Revision: status.UpdateRevision, Hash: revision.Hash(spec), ImageFreeHash: revision.ImageFreeHash(spec)}
	pods := r.observe(ctx, set)
	planned, awaitingCache := r.plannerPods(set, target, spec, pods)
	plan, err := upgrade.Compute(set.Spec.UpdateStrategy, target, planned)
	if err != nil {
		// Only an object that bypassed validation gets here; report it, don't retry.
		ctrl.LoggerFrom(ctx).Error(err, "Cannot plan the rollout")
		rep.warn("InvalidUpdateStrategy", "Plan", "%v", err)
		_, err := r.writeStatusThenReport(ctx, set, status, rep)
		return ctrl.Result{}, err
	}

	a := &actor{r: r, set: set, spec: spec, target: target, now: r.now(), report: rep, awaitingCache: awaitingCache}
	a.act(ctx, plan, pods)

	inUse := map[string]bool{current: true, status.UpdateRevision: true}
	for _, o := range pods {
		if o.Record != nil {
			inUse[o.Record.Revision] = true
		}
	}
	if err := r.pruneRevisions(ctx, set, revisions.Items, inUse); err != nil {
		return ctrl.Result{}, err
	}

	if len(plan.Continue) > 0 || plan.Counts.Waiting > 0 {
		r.rolling.Store(set.Name, true)
	} else {
		r.rolling.Delete(set.Name)
	}
	upgrade.SetStatus(status, set, plan, a.outcome, metav1.NewTime(a.now))
	recordPodMetrics(set.Name, plan)
	a.reportPass()
	held, err := r.writeStatusThenReport(ctx, set, status, rep)
	if err != nil {
		return ctrl.Result{}, err
	}
	if held > 0 {
		a.requeue(held)
	}
	res := ctrl.Result{RequeueAfter: a.requeueAfter}
	if len(plan.Continue) > 0 || len(plan.Start) > 0 {
		// A rollout's next step (a drain that ended, a batch to start) goes ahead of the
		// count-only passes its pods' events bring to the other sets.
		res.Priority = new(rolloutPriority)
	}
	return res, nil
}

// resolveTarget is the spec pods are moved to: the current one, or the revision
// injection.revision pins, so a hold holds running pods too and a rollback rolls them
// back in place. status.updateRevision names it.
func (r *SidecarSetReconciler) resolveTarget(set *sidecarsv1alpha1.SidecarSet,
	revisions []appsv1.ControllerRevision, status *sidecarsv1alpha1.SidecarSetStatus, rep *report) revision.Spec {
	pinned := set.Spec.Injection.Revision
	if pinned == "" {
		return revision.SpecOf(set)
	}
	var cr *appsv1.ControllerRevision
	if i := slices.IndexFunc(revisions, func(cr appsv1.ControllerRevision) bool { return cr.Name == pinned }); i >= 0 {
		cr = &revisions[i]
	}
	spec, err := revision.Pinned(set.Name, pinned, cr)
	if err != nil {
		// The validator refuses such a pin; one that lost its revision holds nothing back.
		rep.warn(sidecarsv1alpha1.ReasonRevisionNotFound, "Plan", "%v; rolling out the current spec", err)
		return revision.SpecOf(set)
	}
	status.UpdateRevision = pinned
	return spec
}

func (r *SidecarSetReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// writeStatusThenReport writes status when it changed (counts alone at most once per
// statusInterval: held says when to write them) and, once that succeeded, emits the
// pass's events: a pass retried after a failed write does not repeat them.
func (r *SidecarSetReconciler) writeStatusThenReport(ctx context.Context, set *sidecarsv1alpha1.SidecarSet,
	status *sidecarsv1alpha1.SidecarSetStatus, rep *report) (held time.Duration, err error) {
	var last time.Time
	if t, ok := r.statusWritten.Load(set.Name); ok {
		last = t.(time.Time)
	}
	now := r.now()
	switch when := upgrade.WhenToWrite(&set.Status, status, last, now, statusInterval); {
	case when.Now:
		patch := client.MergeFrom(set.DeepCopy())
		set.Status = *status
		if err := r.Client.Status().Patch(ctx, set, patch); err != nil {
			return 0, err
		}
		r.statusWritten.Store(set.Name, now)
	default:
		held = when.After
	}
	rep.emit(r.Recorder, set)
	return held, nil
}

// observe lists the pods the set selects: those matching its selectors in namespaces
// Outrigger may inject, that it injected, or that were created since it exists (and so
// should have been). Injected pods come from the typed cache, others as metadata. A
// pod that cannot be read is left for the next pass, not the whole pass.
//
// The pods are the cache's own objects, not copies: a pass reads thousands of pods and
// writes to a few, so whoever writes copies first (actor).
func (r *SidecarSetReconciler) observe(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) map[string]upgrade.Observed {
	log := ctrl.LoggerFrom(ctx)
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil // an invalid selector selects nothing; the webhook refuses new ones
	}
	// Parsed once per pass, not once per pod: parsing validates every key and value.
	setSelector, err := inject.NewSelector(set)
	if err != nil {
		return nil
	}
	metas, err := r.PodMetadata.Selecting(sel)
	if err != nil {
		log.Error(err, "Cannot list pods")
		return nil
	}
	nsByName, err := namespacesByName(ctx, r.Client)
	if err != nil {
		log.Error(err, "Cannot list namespaces")
		return nil
	}
	recorded, err := r.Pods.ByIndex(recordedSetIndex, set.Name)
	if err != nil {
		log.Error(err, "Cannot list the pods the set injected")
		return nil
	}
	injected := make(map[types.NamespacedName]*corev1.Pod, len(recorded))
	for _, pod := range recorded {
		injected[client.ObjectKeyFromObject(pod)] = pod
	}

	out := map[string]upgrade.Observed{}
	for _, m := range metas {
		ns, ok := nsByName[m.Namespace]
		if !ok || !selects(setSelector, &corev1.Pod{ObjectMeta: m.ObjectMeta}, ns, r.OperatorNamespace) {
			continue
		}
		o, ok := r.observePod(ctx, set, m, injected[client.ObjectKeyFromObject(m)])
		if !ok {
			continue
		}
		out[m.Namespace+"/"+m.Name] = o
	}
	return out
}

// observePod is what the pass knows of one selected pod; cached is the cached pod
// when the set's record is on it. The metadata view keeps no annotations of injected
// pods: an injected pod the set did not record is read from the typed cache (another
// set's, or one the cache shows late). ok false leaves the pod out of the pass.
func (r *SidecarSetReconciler) observePod(ctx context.Context, set *sidecarsv1alpha1.SidecarSet,
	m *metav1.PartialObjectMetadata, cached *corev1.Pod) (upgrade.Observed, bool) {
	o := upgrade.Observed{Meta: &m.ObjectMeta}
	annotations := m.Annotations
	pod := cached
	if pod == nil && m.Labels[sidecarsv1alpha1.InjectedLabel] == sidecarsv1alpha1.InjectedLabelValue {
		var found bool
		if pod, found = r.Pods.Get(m.Namespace + "/" + m.Name); !found {
			return o, false // the pod cache lags the metadata view; the pod event brings us back
		}
	}
	if pod != nil {
		annotations = pod.Annotations
	}
	recorded, err := injectionRecords.of(annotations[sidecarsv1alpha1.InjectedAnnotation])
	if err != nil {
		return o, false
	}
	rec, ok := recorded[set.Name]
	switch {
	case ok && pod == nil:
		return o, false // a record on a pod without the injected label: the pod left Outrigger
	case ok:
		o.Record = &rec
		o.Pod, o.Meta = pod, &pod.ObjectMeta
		if o.State, err = upgrade.ParseState(pod); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Ignored a malformed upgrade state", "pod", klog.KObj(pod))
			o.State = nil
		}
	case m.CreationTimestamp.Before(&set.CreationTimestamp):
		return o, false // older than the set: never meant to be injected by it
	}
	return o, true
}

// selects says whether a set's selectors select pod in ns, opt-outs and excluded
// namespaces included.
func selects(sel inject.Selector, pod *corev1.Pod, ns *metav1.PartialObjectMetadata, operatorNamespace string) bool {
	if inject.Excluded(pod, ns, operatorNamespace) != "" {
		return false
	}
	match, err := sel.Matches(pod, ns)
	return err == nil && match
}

func namespacesByName(ctx context.Context, c client.Reader) (map[string]*metav1.PartialObjectMetadata, error) {
	namespaces := &metav1.PartialObjectMetadataList{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := c.List(ctx, namespaces); err != nil {
		return nil, err
	}
	out := make(map[string]*metav1.PartialObjectMetadata, len(namespaces.Items))
	for i := range namespaces.Items {
		out[namespaces.Items[i].Name] = &namespaces.Items[i]
	}
	return out, nil
}

// plannerPods is what the planner needs of each pod; awaitingCache holds the pods whose
// cached copy predates this process's last write to them (it would only conflict):
// not driven now. Those whose upgrade began and the cache does not show yet are also
// counted as upgrading.
func (r *SidecarSetReconciler) plannerPods(set *sidecarsv1alpha1.SidecarSet, target upgrade.Target, spec revision.Spec,
	pods map[string]upgrade.Observed) (out []upgrade.Pod, awaitingCache map[string]bool) {
	now := r.now()
	out = make([]upgrade.Pod, 0, len(pods))
	awaitingCache = map[string]bool{}
	for key, o := range pods {
		cacheShows := o.State != nil && o.State.Set == set.Name || upgrade.Classify(o.Record, target) == upgrade.ClassUpToDate
		pending := r.expectations.Pending(set.Name, key, cacheShows, now)
		if pending || o.Pod != nil && r.expectations.Stale(set.Name, key, o.Pod.ResourceVersion, now) {
			awaitingCache[key] = true
		}
		out = append(out, upgrade.PlannerPod(set.Name, target, spec, o, pending, r.backoff.Waiting(set.Name, key, now)))
	}
	return out, awaitingCache
}

func recordPodMetrics(set string, plan upgrade.Plan) {
	c := plan.Counts
	for state, n := range map[string]int{
		"updated":        c.UpToDate,
		"pending":        c.Waiting,
		"upgrading":      len(plan.Continue),
		"failed":         c.Failed,
		"not_upgradable": c.NotUpgradable,
		"missing":        c.Missing,
	} {
		metrics.SidecarSetPods.WithLabelValues(set, state).Set(float64(max(0, n)))
	}
}
