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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cacheview"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/metrics"
)

// +kubebuilder:webhook:path=/mutate--v1-pod,mutating=true,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=inject.sidecars.outrigger.dev,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=5

// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarsets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;watch,namespace=system

// PodInjector injects the sidecars of the matching SidecarSets into pods being created.
// It reads SidecarSets, namespaces and revisions from the manager's cache only: the
// admission hot path makes no API calls.
type PodInjector struct {
	// Reader reads namespaces and revisions.
	Reader client.Reader
	// APIReader reads a namespace the cache does not hold yet, once, before a pod in it
	// is refused.
	APIReader client.Reader
	// Sets lists the SidecarSets: the cache's store, with no copy per request.
	Sets SetLister
	// OperatorNamespace holds the revisions and is never injected.
	OperatorNamespace string

	sources   inject.PerSet[inject.Source]
	selectors inject.Selectors
}

var _ admission.Defaulter[*corev1.Pod] = (*PodInjector)(nil)

// SetLister lists SidecarSets. What it returns is shared: read only.
type SetLister interface {
	List() []*sidecarsv1alpha1.SidecarSet
}

var _ SetLister = (*cacheview.View[*sidecarsv1alpha1.SidecarSet])(nil)

// Default injects pod in place. An error refuses the pod with its message.
func (p *PodInjector) Default(ctx context.Context, pod *corev1.Pod) error {
	_, err := p.inject(ctx, pod)
	return err
}

// inject injects pod in place and returns the warnings for the admission response: the
// containers and volumes of Optional sets the pod replaced with its own.
func (p *PodInjector) inject(ctx context.Context, pod *corev1.Pod) (warnings []string, err error) {
	start := time.Now()
	log := ctrl.LoggerFrom(ctx)

	// The pod in a CREATE request may not carry its namespace yet; the request does.
	namespace := pod.Namespace
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Namespace != "" {
		namespace = req.Namespace
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := p.namespace(ctx, namespace, ns); err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	if why := inject.Excluded(ns, p.OperatorNamespace); why != "" {
		log.V(2).Info("Skipped injection", "reason", why)
		return nil, nil
	}
	optedOut := inject.OptedOut(pod, ns)

	sources, names, err := p.selected(ctx, pod, ns, optedOut, start)
	if err != nil {
		return nil, err
	}
	if optedOut != "" && len(sources) == 0 {
		// The API server no longer skips opted-out pods (a Required set ignores the
		// opt-out), but what Outrigger does not inject it leaves as the request has it.
		log.V(2).Info("Skipped injection", "reason", optedOut)
		return nil, nil
	}

	// Even with no set to inject: Inject also drops the Outrigger metadata the request
	// carries that Outrigger did not write.
	res, err := inject.Inject(pod, sources)
	if err != nil {
		metrics.ObserveInjection(start, names, metrics.ResultError)
		return nil, err
	}
	*pod = *res.Pod
	if len(sources) > 0 {
		metrics.ObserveInjection(start, res.Injected, metrics.ResultInjected)
	}
	if len(res.Injected) > 0 {
		log.V(1).Info("Injected sidecars", "pod", klog.KRef(namespace, podName(pod)), "sidecarsets", res.Injected)
	}
	return res.Overrides, nil
}

// selected are the sources of the sets that inject pod in ns, and their names: of an
// opted-out pod, the Required sets only. A set whose source cannot be resolved refuses
// the pod: it would miss its sidecars.
func (p *PodInjector) selected(ctx context.Context, pod *corev1.Pod, ns *metav1.PartialObjectMetadata, optedOut string,
	start time.Time) (sources []inject.Source, names []string, err error) {
	sets := p.Sets.List()
	p.sources.Retain(sets, start)
	p.selectors.Retain(sets)
	for _, set := range sets {
		if !inject.Injecting(set) || !inject.Applies(set, optedOut) {
			continue
		}
		sel, err := p.selectors.Of(set)
		ok := false
		if err == nil {
			ok, err = sel.Matches(pod, ns)
		}
		if err != nil {
			// The validating webhook refuses bad selectors; one stored before it existed
			// must not block every pod in the cluster.
			ctrl.LoggerFrom(ctx).Error(err, "Skipped a SidecarSet with an invalid selector", "sidecarset", klog.KObj(set))
			continue
		}
		if !ok {
			continue
		}
		src, err := p.source(ctx, set)
		if err != nil {
			metrics.ObserveInjection(start, []string{set.Name}, metrics.ResultError)
			return nil, nil, err
		}
		sources = append(sources, src)
		names = append(names, set.Name)
	}
	return sources, names, nil
}

// namespace reads the namespace of a pod from the cache. Tools that create a namespace
// and its first pods together (kubectl apply of one file, Helm) may get there before the
// cache has the namespace: it is then read once from the API server. (The API server's
// NamespaceLifecycle admission has refused pods of namespaces that do not exist, so this
// costs one read per such namespace's first pods, nothing a tenant can repeat at will.)
func (p *PodInjector) namespace(ctx context.Context, name string, ns *metav1.PartialObjectMetadata) error {
	key := types.NamespacedName{Name: name}
	err := p.Reader.Get(ctx, key, ns)
	if !apierrors.IsNotFound(err) || p.APIReader == nil {
		return err
	}
	return p.APIReader.Get(ctx, key, ns)
}

// source is what to inject for set: its current spec, or the revision it pins. A
// revision's content never changes, so a Source stays valid for the set's generation.
func (p *PodInjector) source(ctx context.Context, set *sidecarsv1alpha1.SidecarSet) (inject.Source, error) {
	src, err := p.sources.Of(set, func() (inject.Source, error) {
		return inject.Resolve(set, cacheview.Revisions(ctx, p.Reader, p.OperatorNamespace))
	})
	src.Set = set // the memo's may be an older copy of the same version
	return src, err
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "<generated>"
}
