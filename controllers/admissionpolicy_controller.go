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
	"maps"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	"github.com/outrigger-dev/outrigger/internal/cacheview"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Both engines watch the generated policy and binding, and the webhook engine deletes
// them: every install may read and delete those two objects, by name, and nothing else
// of the kind (a MutatingAdmissionPolicy can mutate any object in the cluster). Writing
// them is the policy engine's alone: config/admission-policy's ClusterRole grants create,
// patch and update of the same names, and only that overlay binds it.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingadmissionpolicies;mutatingadmissionpolicybindings,resourceNames=inject.sidecars.outrigger.dev,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarsets/status,verbs=get;patch

// Engine says what injects the sidecars into new pods.
type Engine string

const (
	// EngineWebhook is the pod webhook (the default).
	EngineWebhook Engine = "Webhook"
	// EngineAdmissionPolicy is a MutatingAdmissionPolicy the operator generates from the
	// SidecarSets: the API server injects, without calling the operator.
	EngineAdmissionPolicy Engine = "AdmissionPolicy"
)

// WithAdmissionPolicyCache adds to the manager's cache options what the
// AdmissionPolicyReconciler's watches need: only the generated policy and binding, by a
// metadata.name field selector, which the API server authorizes against the RBAC rules
// naming them (resourceNames). opts' other settings are kept.
func WithAdmissionPolicyCache(opts cache.Options) cache.Options {
	opts.ByObject = maps.Clone(opts.ByObject)
	if opts.ByObject == nil {
		opts.ByObject = map[client.Object]cache.ByObject{}
	}
	generated := fields.OneTermEqualSelector("metadata.name", admissionpolicy.Name)
	opts.ByObject[&admissionregistrationv1.MutatingAdmissionPolicy{}] = cache.ByObject{Field: generated}
	opts.ByObject[&admissionregistrationv1.MutatingAdmissionPolicyBinding{}] = cache.ByObject{Field: generated}
	return opts
}

// ParseEngine reads the --injection-engine flag.
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(s); e {
	case EngineWebhook, EngineAdmissionPolicy:
		return e, nil
	}
	return "", fmt.Errorf("injection engine %q is neither %s nor %s", s, EngineWebhook, EngineAdmissionPolicy)
}

// policyKey is the one request of the AdmissionPolicyReconciler: every SidecarSet goes
// into the same policy, so every change recompiles it.
var policyKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: admissionpolicy.Name}}

// AdmissionPolicyReconciler keeps the generated MutatingAdmissionPolicy and its binding
// in step with the SidecarSets (engine AdmissionPolicy), or removes them (engine
// Webhook), and reports on each set whether the policy injects it.
type AdmissionPolicyReconciler struct {
	Client            client.Client
	OperatorNamespace string
	Engine            Engine
	// MaxPolicyBytes bounds the policy's size; 0 is admissionpolicy.MaxPolicyBytes.
	MaxPolicyBytes int
}

// SetupAdmissionPolicyWithManager registers the AdmissionPolicyReconciler.
func SetupAdmissionPolicyWithManager(mgr ctrl.Manager, opts Options, engine Engine) error {
	r := &AdmissionPolicyReconciler{Client: mgr.GetClient(), OperatorNamespace: opts.OperatorNamespace, Engine: engine}
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{policyKey}
	})
	generated := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == admissionpolicy.Name }))
	b := ctrl.NewControllerManagedBy(mgr).
		Named("admissionpolicy").
		// Somebody else's change of what the operator generates is put back (engine
		// AdmissionPolicy) or removed (engine Webhook).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicy{}, all, generated).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, all, generated)
	if engine != EngineAdmissionPolicy {
		// With the webhook engine the sets matter only while one still reports the policy
		// of an earlier run: nothing else reconciles, and nothing is written.
		return b.Watches(&sidecarsv1alpha1.SidecarSet{}, all, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			set, ok := o.(*sidecarsv1alpha1.SidecarSet)
			return !ok || meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy) != nil
		}))).Complete(r)
	}
	return b.
		// A set's status (its condition) is written here: a status-only change does not
		// change the policy.
		Watches(&sidecarsv1alpha1.SidecarSet{}, all, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, collisionCountChanged()))).
		// A pinned revision's content.
		Watches(&appsv1.ControllerRevision{}, all).
		Complete(r)
}

// collisionCountChanged passes status updates that change the revision name new pods get.
func collisionCountChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*sidecarsv1alpha1.SidecarSet)
		n, ok2 := e.ObjectNew.(*sidecarsv1alpha1.SidecarSet)
		return !ok1 || !ok2 || !equality.Semantic.DeepEqual(o.Status.CollisionCount, n.Status.CollisionCount)
	}}
}

// Reconcile compiles every SidecarSet into the policy, writes the policy and binding
// where they differ, and then each set's AdmissionPolicy condition where it changed.
func (r *AdmissionPolicyReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (ctrl.Result, error) {
	if r.Engine != EngineAdmissionPolicy {
		return ctrl.Result{}, r.remove(ctx)
	}
	var sets sidecarsv1alpha1.SidecarSetList
	if err := r.Client.List(ctx, &sets); err != nil {
		return ctrl.Result{}, err
	}
	sources, unsupported := r.sources(ctx, sets.Items)
	compiled := admissionpolicy.Compile(sources, admissionpolicy.Options{OperatorNamespace: r.OperatorNamespace, MaxBytes: r.MaxPolicyBytes})
	maps.Copy(unsupported, compiled.Unsupported)
	if err := r.apply(ctx, compiled.Policy, func(got, want client.Object) bool {
		return equality.Semantic.DeepEqual(got.(*admissionregistrationv1.MutatingAdmissionPolicy).Spec,
			want.(*admissionregistrationv1.MutatingAdmissionPolicy).Spec)
	}, func(got, want client.Object) {
		got.(*admissionregistrationv1.MutatingAdmissionPolicy).Spec = want.(*admissionregistrationv1.MutatingAdmissionPolicy).Spec
	}); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.apply(ctx, compiled.Binding, func(got, want client.Object) bool {
		return equality.Semantic.DeepEqual(got.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec,
			want.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec)
	}, func(got, want client.Object) {
		got.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec = want.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec
	}); err != nil {
		return ctrl.Result{}, err
	}
	// Conditions only once the policy holds what they report.
	for i := range sets.Items {
		if err := r.report(ctx, &sets.Items[i], unsupported); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// sources are what to inject for each set, as the pod webhook resolves them, and the
// sets whose pinned revision cannot be read or used, with the reason.
func (r *AdmissionPolicyReconciler) sources(ctx context.Context, sets []sidecarsv1alpha1.SidecarSet) ([]inject.Source, map[string]string) {
	var out []inject.Source
	unsupported := map[string]string{}
	lookup := cacheview.Revisions(ctx, r.Client, r.OperatorNamespace)
	for i := range sets {
		src, err := inject.Resolve(&sets[i], lookup)
		if err != nil {
			unsupported[sets[i].Name] = err.Error()
			continue
		}
		out = append(out, src)
	}
	return out, unsupported
}

// apply creates want, or updates the stored object when same says it differs: one write
// per change, none when nothing changed.
func (r *AdmissionPolicyReconciler) apply(ctx context.Context, want client.Object, same func(got, want client.Object) bool,
	copySpec func(got, want client.Object)) error {
	want.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "outrigger"})
	got := want.DeepCopyObject().(client.Object)
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), got)
	switch {
	case apierrors.IsNotFound(err):
		// Created by server-side apply, not POST: the API server authorizes a create
		// through apply with the object's name, so RBAC can grant it for this name only.
		if err := r.create(ctx, want); err != nil {
			return fmt.Errorf("creating %T %s: %w", want, want.GetName(), err)
		}
		ctrl.LoggerFrom(ctx).Info("Created the admission policy object", "kind", fmt.Sprintf("%T", want), "name", want.GetName())
		return nil
	case err != nil:
		return err
	case same(got, want):
		return nil
	}
	copySpec(got, want)
	if err := r.Client.Update(ctx, got); err != nil {
		return fmt.Errorf("updating %T %s: %w", want, want.GetName(), err)
	}
	ctrl.LoggerFrom(ctx).Info("Updated the admission policy object", "kind", fmt.Sprintf("%T", want), "name", want.GetName())
	return nil
}

// fieldOwner is the manager's name in the managedFields of what it applies.
const fieldOwner = "outrigger"

// create applies want as the whole object, which the API server creates.
func (r *AdmissionPolicyReconciler) create(ctx context.Context, want client.Object) error {
	gvk, err := apiutil.GVKForObject(want, r.Client.Scheme())
	if err != nil {
		return err
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(want)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	return r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership)
}

// report sets the set's AdmissionPolicy condition, writing only a change.
func (r *AdmissionPolicyReconciler) report(ctx context.Context, set *sidecarsv1alpha1.SidecarSet, unsupported map[string]string) error {
	cond := metav1.Condition{Type: sidecarsv1alpha1.ConditionAdmissionPolicy, Status: metav1.ConditionTrue,
		Reason: sidecarsv1alpha1.ReasonInPolicy, Message: "The generated MutatingAdmissionPolicy " + admissionpolicy.Name + " injects this set",
		ObservedGeneration: set.Generation}
	if why, ok := unsupported[set.Name]; ok {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, sidecarsv1alpha1.ReasonNotExpressible,
			"The generated MutatingAdmissionPolicy cannot inject this set: "+why
	}
	if set.Spec.Injection.Paused {
		cond.Message = "Injection is paused: the generated MutatingAdmissionPolicy leaves this set out"
	}
	if c := meta.FindStatusCondition(set.Status.Conditions, cond.Type); c != nil &&
		c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message && c.ObservedGeneration == cond.ObservedGeneration {
		return nil
	}
	// The condition as SetStatusCondition keeps it: its transition time stays while its
	// status does.
	conditions := slices.Clone(set.Status.Conditions)
	meta.SetStatusCondition(&conditions, cond)
	if err := applyCondition(ctx, r.Client, set, *meta.FindStatusCondition(conditions, cond.Type)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("writing the %s condition of SidecarSet %s: %w", cond.Type, set.Name, err)
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Reported the admission policy", "sidecarset", klog.KObj(set), "status", cond.Status, "reason", cond.Reason)
	return nil
}

// remove deletes the generated policy and binding where they exist, and the
// AdmissionPolicy condition where a set still carries it: with the webhook engine
// nothing else may inject, and no set may say otherwise. It writes nothing when
// nothing is left, so a reconcile of nothing costs no request.
func (r *AdmissionPolicyReconciler) remove(ctx context.Context) error {
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{},
		&admissionregistrationv1.MutatingAdmissionPolicy{},
	} {
		err := r.Client.Get(ctx, types.NamespacedName{Name: admissionpolicy.Name}, obj)
		if apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		uid := obj.GetUID()
		if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted the admission policy object: the injection engine is the webhook", "kind", fmt.Sprintf("%T", obj))
	}
	var sets sidecarsv1alpha1.SidecarSetList
	if err := r.Client.List(ctx, &sets); err != nil {
		return err
	}
	for i := range sets.Items {
		set := &sets.Items[i]
		if meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy) == nil {
			continue
		}
		patch := client.MergeFromWithOptions(set.DeepCopy(), client.MergeFromWithOptimisticLock{})
		meta.RemoveStatusCondition(&set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
		if err := r.Client.Status().Patch(ctx, set, patch); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("removing the %s condition of SidecarSet %s: %w", sidecarsv1alpha1.ConditionAdmissionPolicy, set.Name, err)
		}
	}
	return nil
}
