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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cacheview"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/podcache"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// Options configure the controllers.
type Options struct {
	// OperatorNamespace holds the SidecarSet revisions.
	OperatorNamespace string
}

// trimmer keeps of the pods both caches hold only what the controllers read, sharing
// their strings (up to 16 MiB of them) and resource lists.
var trimmer = podcache.NewTrimmer(podcache.NewInterner(16<<20, 1<<14))

// CacheOptions are the manager's cache settings the controllers rely on: revisions only
// from the operator's namespace, and only the pods Outrigger injected, trimmed to what
// the controllers read (internal/podcache). Everything else a pod's metadata can tell
// comes from a separate metadata-only cache that SetupWithManager adds.
func CacheOptions(opts Options) cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&appsv1.ControllerRevision{}: {Namespaces: map[string]cache.Config{opts.OperatorNamespace: {}}},
		&corev1.Pod{}: {
			Label:     labels.SelectorFromSet(labels.Set{sidecarsv1alpha1.InjectedLabel: sidecarsv1alpha1.InjectedLabelValue}),
			Transform: trimmer.PodTransform(),
		},
	}}
}

// SetupWithManager registers the SidecarSet controller and the pod-level controller.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	// The manager's pod cache holds injected pods only; pods the webhook missed are found
	// through a metadata-only view of every pod.
	podMetadata, err := newPodMetadataCache(mgr)
	if err != nil {
		return err
	}
	if err := setupSidecarSetReconciler(mgr, opts, podMetadata); err != nil {
		return err
	}
	return setupPodReconciler(mgr, opts, podMetadata)
}

// newPodMetadataCache is a cache of every pod's trimmed metadata, run by the manager.
func newPodMetadataCache(mgr ctrl.Manager) (cache.Cache, error) {
	podMetadata, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		DefaultTransform: trimmer.MetadataTransform(),
	})
	if err != nil {
		return nil, err
	}
	return podMetadata, mgr.Add(podMetadata)
}

// setupSidecarSetReconciler registers the SidecarSetReconciler with its views of the
// caches: injected pods indexed by recorded set, every pod's metadata by label.
func setupSidecarSetReconciler(mgr ctrl.Manager, opts Options, podMetadata cache.Cache) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, upgradingSetIndex, indexUpgradingSet); err != nil {
		return err
	}
	ctx := context.Background()
	pods, err := cacheview.New(ctx, mgr.GetCache(), &corev1.Pod{}, toolscache.Indexers{recordedSetIndex: indexRecordedSets})
	if err != nil {
		return err
	}
	podMeta := &metav1.PartialObjectMetadata{}
	podMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	podMetas, err := cacheview.New(ctx, podMetadata, podMeta, cacheview.LabelIndexers())
	if err != nil {
		return err
	}
	sets, err := cacheview.New(ctx, mgr.GetCache(), &sidecarsv1alpha1.SidecarSet{}, nil)
	if err != nil {
		return err
	}
	if err := feedSelectorKeys(ctx, mgr.GetCache(), trimmer); err != nil {
		return err
	}
	r := &SidecarSetReconciler{
		Client:            mgr.GetClient(),
		Pods:              pods,
		PodMetadata:       podMetas,
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("outrigger-sidecarset"),
		OperatorNamespace: opts.OperatorNamespace,
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sidecarsv1alpha1.SidecarSet{}).
		Owns(&appsv1.ControllerRevision{}).
		Watches(&corev1.Pod{}, injectedPodHandler(r.isRolling)).
		WatchesRawSource(source.Kind(podMetadata, podMeta,
			countOnly(setsSelecting(sets, &inject.Selectors{}), r.isRolling))).
		// Passes of different sets run side by side (one set is never reconciled twice
		// at once); writes to a shared pod carry its resourceVersion, so two sets never
		// both begin upgrading it.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Named("sidecarset").
		Complete(r)
}

// setupPodReconciler registers the PodReconciler.
func setupPodReconciler(mgr ctrl.Manager, opts Options, podMetadata cache.Cache) error {
	p := &PodReconciler{
		Client:            mgr.GetClient(),
		PodMetadata:       podMetadata,
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("outrigger-pod"),
		OperatorNamespace: opts.OperatorNamespace,
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Pod{}).
		Watches(&sidecarsv1alpha1.SidecarSet{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, obj client.Object) []reconcile.Request {
				set, ok := obj.(*sidecarsv1alpha1.SidecarSet)
				if !ok {
					return nil
				}
				return p.podsUpgradedBy(ctx, set)
			})).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, obj client.Object) []reconcile.Request {
				ns, ok := obj.(*metav1.PartialObjectMetadata)
				if !ok {
					return nil
				}
				return p.podsUpgradingIn(ctx, ns)
			})).
		// Every replica, not only the leader: a new pod's gate must not wait for a leader
		// (a failover's lease and cache sync). Its writes are idempotent and guarded (the
		// gate by the pod's resourceVersion, a release by a JSON patch testing the
		// upgrade state), so two replicas writing the same pod cost a conflict, never a
		// wrong write. Where the sidecars-ready admission policy (config/policy) runs,
		// the API server has turned the gate True before any replica sees the pod ready.
		WithOptions(controller.Options{MaxConcurrentReconciles: 2, NeedLeaderElection: new(false)}).
		Named("pod").
		Complete(p)
}

// feedSelectorKeys tells the trimmer which label keys the SidecarSets' selectors read:
// all that a pod whose labels are past podcache.MaxLabelBytes keeps of them.
func feedSelectorKeys(ctx context.Context, c cache.Cache, t *podcache.Trimmer) error {
	inf, err := c.GetInformer(ctx, &sidecarsv1alpha1.SidecarSet{})
	if err != nil {
		return err
	}
	add := func(obj any) {
		if set, ok := obj.(*sidecarsv1alpha1.SidecarSet); ok {
			t.AddSelectorKeys(inject.LabelKeys(set)...)
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(_, obj any) { add(obj) },
	})
	if err != nil {
		return err
	}
	t.SyncSelectorKeys(reg.HasSynced)
	return nil
}

// countDelay is how long a pass woken only to count pods waits: the pod creations and
// deletions of a mass restart, or a Deployment scaled, come together into one pass per
// set instead of one pass per pod, each walking all of the set's pods. Counts alone are
// written at most every statusInterval anyway.
const countDelay = statusInterval

// wake enqueues the sets named: at once for a set whose rollout is under way (a pod
// event may move it on, or free its budget), after countDelay for the others, whose
// pass only counts (the queue keeps one pending pass per set).
func wake(q workqueue.TypedRateLimitingInterface[reconcile.Request], rolling func(set string) bool, reqs ...reconcile.Request) {
	for _, req := range reqs {
		if rolling(req.Name) {
			q.Add(req)
		} else {
			q.AddAfter(req, countDelay)
		}
	}
}

// countOnly enqueues the sets mapped from a pod that no set injected (they count it as
// missing) as wake does.
func countOnly[T client.Object](mapped func(context.Context, T) []reconcile.Request,
	rolling func(set string) bool) handler.TypedEventHandler[T, reconcile.Request] {
	return handler.TypedFuncs[T, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[T], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(q, rolling, mapped(ctx, e.Object)...)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[T], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(q, rolling, mapped(ctx, e.ObjectOld)...)
			wake(q, rolling, mapped(ctx, e.ObjectNew)...)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[T], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(q, rolling, mapped(ctx, e.Object)...)
		},
		GenericFunc: func(ctx context.Context, e event.TypedGenericEvent[T], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			wake(q, rolling, mapped(ctx, e.Object)...)
		},
	}
}

// injectedPodHandler wakes, for an injected pod's creation or deletion, every set
// recorded on it or upgrading it; for an update, only the sets it concerns
// (upgrade.SetsToWake). Sets that are not rolling out wake after countDelay (wake).
func injectedPodHandler(rolling func(set string) bool) handler.Funcs {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], names []string) {
		for _, name := range names {
			wake(q, rolling, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
		}
	}
	all := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], obj client.Object) {
		wake(q, rolling, setsOfInjectedPod(context.Background(), obj)...)
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			all(q, e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldPod, okOld := e.ObjectOld.(*corev1.Pod)
			newPod, okNew := e.ObjectNew.(*corev1.Pod)
			if !okOld || !okNew {
				all(q, e.ObjectNew)
				return
			}
			oldRecords, _ := injectionRecords.of(oldPod.Annotations[sidecarsv1alpha1.InjectedAnnotation])
			newRecords, _ := injectionRecords.of(newPod.Annotations[sidecarsv1alpha1.InjectedAnnotation])
			enqueue(q, upgrade.SetsToWake(oldPod, newPod, oldRecords, newRecords, rolling))
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			all(q, e.Object)
		},
		GenericFunc: func(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			all(q, e.Object)
		},
	}
}

// setsOfInjectedPod maps an injected pod to the sets recorded on it or upgrading it.
func setsOfInjectedPod(_ context.Context, obj client.Object) []reconcile.Request {
	records, _ := injectionRecords.of(obj.GetAnnotations()[sidecarsv1alpha1.InjectedAnnotation])
	var reqs []reconcile.Request
	for name := range records {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		if s, err := upgrade.ParseState(pod); err == nil && s != nil {
			if _, recorded := records[s.Set]; !recorded {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: s.Set}})
			}
		}
	}
	return reqs
}

// setsSelecting maps a pod that no set injected to the sets that select it, which
// count it as missing. Every such pod event matches every set: selectors keeps them
// parsed (docs/benchmarks.md).
func setsSelecting(sets *cacheview.View[*sidecarsv1alpha1.SidecarSet],
	selectors *inject.Selectors) func(context.Context, *metav1.PartialObjectMetadata) []reconcile.Request {
	return func(_ context.Context, pod *metav1.PartialObjectMetadata) []reconcile.Request {
		if pod.Labels[sidecarsv1alpha1.InjectedLabel] == sidecarsv1alpha1.InjectedLabelValue {
			return nil // the typed pod watch has it
		}
		all := sets.List()
		selectors.Retain(all)
		var reqs []reconcile.Request
		for _, set := range all {
			sel, err := selectors.Of(set)
			if err != nil {
				continue
			}
			// The pod selector only: the pass checks the namespace.
			if sel.MatchesLabels(pod.Labels) {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: set.Name}})
			}
		}
		return reqs
	}
}
