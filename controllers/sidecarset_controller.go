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

	// memory is what this process remembers of its writes to pods: the upgrades it began
	// and the versions it replaced, which the cache may not show yet, and the pods whose
	// writes fail, retried with backoff.
	memory memory
	// statusWritten is when each set's status was last written (upgrade.WhenToWrite).
	statusWritten sync.Map
	// rolling holds the sets whose last pass left pods to upgrade (upgrade.SetsToWake).
	rolling sync.Map
}

// memory is what the reconciler remembers of its own writes (upgrade.Memory).
type memory struct {
	expectations
	backoff
}

// ForgetSet drops what was remembered of a deleted set.
func (m *memory) ForgetSet(set string) {
	m.expectations.ForgetSet(set)
	m.backoff.ForgetSet(set)
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

// pass is one reconcile of one SidecarSet: what its phases read and decide. The
// phases change status and report; the pass writes status once, at its end, and
// emits the report's events after that write.
type pass struct {
	set    *sidecarsv1alpha1.SidecarSet
	status *sidecarsv1alpha1.SidecarSetStatus
	report *report
	now    time.Time

	revisions []appsv1.ControllerRevision
	current   string // the current spec's revision, whatever the pin
	spec      revision.Spec
	target    upgrade.Target
	pods      map[string]upgrade.Observed
	plan      upgrade.Plan
	actor     *actor
}

// phase is one step of a pass. done ends the pass early; its status is still written.
// An error makes the whole pass meaningless: nothing is written, and it is retried.
type phase func(ctx context.Context, p *pass) (done bool, err error)

// Reconcile runs one pass: revisions → target → observe → plan → act → prune →
// summarise, then one status write and the pass's events. Errors about one pod are
// that pod's: reported and retried with backoff while the pass goes on.
func (r *SidecarSetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if set.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	p := &pass{set: set, status: set.Status.DeepCopy(), report: &report{}, now: r.now()}
	for _, phase := range []phase{r.ensureRevision, r.resolveTarget, r.observe, r.plan, r.act, r.pruneRevisions, r.summarise} {
		done, err := phase(ctx, p)
		if err != nil {
			return ctrl.Result{}, err
		}
		if done {
			break
		}
	}
	return r.writeStatus(ctx, p)
}

// forget drops what the reconciler and its metrics hold of a deleted set.
func (r *SidecarSetReconciler) forget(set string) {
	metrics.ForgetSidecarSet(set)
	r.memory.ForgetSet(set)
	r.statusWritten.Delete(set)
	r.rolling.Delete(set)
}

// resolveTarget is the spec pods are moved to: the current one, or the revision
// injection.revision pins, so a hold holds running pods too and a rollback rolls them
// back in place. status.updateRevision names it. A pin that lost its revision holds
// nothing back: the current spec rolls out (the validator refuses such a pin).
func (r *SidecarSetReconciler) resolveTarget(_ context.Context, p *pass) (bool, error) {
	p.current = p.status.UpdateRevision
	src, err := inject.Resolve(p.set, inject.InRevisions(p.revisions))
	if err != nil {
		p.report.warn(sidecarsv1alpha1.ReasonRevisionNotFound, "Plan", "%v; rolling out the current spec", err)
		src = inject.SourceOf(p.set)
	} else if p.set.Spec.Injection.Revision != "" {
		p.status.UpdateRevision = src.Revision
	}
	p.spec = src.Spec
	p.target = upgrade.Target{Revision: p.status.UpdateRevision, Hash: src.Hash, ImageFreeHash: src.ImageFreeHash}
	return false, nil
}

// plan decides what the pass does (internal/upgrade.Compute). A strategy the planner
// cannot follow got past validation: it is reported, not retried.
func (r *SidecarSetReconciler) plan(ctx context.Context, p *pass) (bool, error) {
	planned, awaitingCache := upgrade.PlannerPods(p.set.Name, p.target, p.spec, p.pods, &r.memory, p.now)
	plan, err := upgrade.Compute(p.set.Spec.UpdateStrategy, p.target, planned)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Cannot plan the rollout")
		p.report.warn("InvalidUpdateStrategy", "Plan", "%v", err)
		return true, nil
	}
	p.plan = plan
	p.actor = &actor{r: r, set: p.set, spec: p.spec, target: p.target, now: p.now, report: p.report, awaitingCache: awaitingCache}
	for _, pod := range planned {
		if pod.BackingOff {
			// Nothing else may bring the pass back when its wait ends (a budget that
			// allows a disruption again sends no pod event): come back by then.
			p.actor.requeue(r.memory.Wait(p.set.Name, pod.Key))
		}
	}
	return false, nil
}

// act applies the plan to the pods (actor).
func (r *SidecarSetReconciler) act(ctx context.Context, p *pass) (bool, error) {
	p.actor.act(ctx, p.plan, p.pods)
	return false, nil
}

// summarise turns the pass into status, metrics and events, and remembers whether the
// set is rolling.
func (r *SidecarSetReconciler) summarise(_ context.Context, p *pass) (bool, error) {
	if len(p.plan.Continue) > 0 || p.plan.Counts.Waiting > 0 {
		r.rolling.Store(p.set.Name, true)
	} else {
		r.rolling.Delete(p.set.Name)
	}
	upgrade.SetStatus(p.status, p.set, p.plan, p.actor.outcome, metav1.NewTime(p.now))
	recordPodMetrics(p.set.Name, p.plan)
	p.actor.reportPass()
	return false, nil
}

func (r *SidecarSetReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// writeStatus ends a pass: it writes status when it changed (counts alone at most once
// per statusInterval), then emits the pass's events (a pass retried after a failed
// write does not repeat them), and says when to come back.
func (r *SidecarSetReconciler) writeStatus(ctx context.Context, p *pass) (ctrl.Result, error) {
	var last time.Time
	if t, ok := r.statusWritten.Load(p.set.Name); ok {
		last = t.(time.Time)
	}
	when := upgrade.WhenToWrite(&p.set.Status, p.status, last, p.now, statusInterval)
	if when.Now {
		if err := applyStatus(ctx, r.Client, p.set, p.status); err != nil {
			return ctrl.Result{}, err
		}
		r.statusWritten.Store(p.set.Name, p.now)
	}
	p.report.emit(r.Recorder, p.set)
	if p.actor == nil {
		return ctrl.Result{}, nil
	}
	if when.After > 0 {
		p.actor.requeue(when.After)
	}
	res := ctrl.Result{RequeueAfter: p.actor.requeueAfter}
	if len(p.plan.Continue) > 0 || len(p.plan.Start) > 0 {
		// A rollout's next step (a drain that ended, a batch to start) goes ahead of the
		// count-only passes its pods' events bring to the other sets.
		res.Priority = new(rolloutPriority)
	}
	return res, nil
}

// observe lists the pods the set selects: those matching its selectors in namespaces
// Outrigger may inject, that it injected, or that were created since it exists (and so
// should have been). Injected pods come from the typed cache, others as metadata. A
// pod that cannot be read is left for the next pass, not the whole pass.
//
// The pods are the cache's own objects, not copies: a pass reads thousands of pods and
// writes to a few, so whoever writes copies first (actor).
func (r *SidecarSetReconciler) observe(ctx context.Context, p *pass) (bool, error) {
	p.pods = r.selectedPods(ctx, p.set)
	return false, nil
}

// selectedPods are the pods set selects, by namespace/name.
func (r *SidecarSetReconciler) selectedPods(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) map[string]upgrade.Observed {
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
		if !ok || !selects(set, setSelector, &corev1.Pod{ObjectMeta: m.ObjectMeta}, ns, r.OperatorNamespace) {
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
		o.Record, o.Records = &rec, recorded
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

// selects says whether a set's selectors select pod in ns, excluded namespaces and
// opt-outs (which a Required set ignores) included.
func selects(set *sidecarsv1alpha1.SidecarSet, sel inject.Selector, pod *corev1.Pod, ns *metav1.PartialObjectMetadata,
	operatorNamespace string) bool {
	if inject.Excluded(ns, operatorNamespace) != "" || !inject.Applies(set, inject.OptedOut(pod, ns)) {
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
