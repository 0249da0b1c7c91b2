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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

func TestParseEngine(t *testing.T) {
	for in, want := range map[string]Engine{"Webhook": EngineWebhook, "AdmissionPolicy": EngineAdmissionPolicy, "webhook": "", "": ""} {
		got, err := ParseEngine(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("ParseEngine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// writes counts the writes a fake client receives.
type writes struct{ policy, binding, status, deletes int }

func fakeClient(t *testing.T, w *writes, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := sidecarsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	count := func(obj client.Object) {
		switch obj.(type) {
		case *admissionregistrationv1.MutatingAdmissionPolicy:
			w.policy++
		case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
			w.binding++
		}
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&sidecarsv1alpha1.SidecarSet{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				count(obj)
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				count(obj)
				return c.Update(ctx, obj, opts...)
			},
			// The reconciler creates by server-side apply (RBAC can then name the object).
			Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
				if u, ok := obj.(interface{ GetKind() string }); ok {
					switch u.GetKind() {
					case "MutatingAdmissionPolicy":
						w.policy++
					case "MutatingAdmissionPolicyBinding":
						w.binding++
					}
				}
				return c.Apply(ctx, obj, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				w.deletes++
				return c.Delete(ctx, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				w.status++
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
			// The condition is written by server-side apply (controllers/status.go).
			SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
				w.status++
				return c.SubResource(sub).Apply(ctx, obj, opts...)
			},
		}).Build()
}

func condition(t *testing.T, c client.Client, name string) *metav1.Condition {
	t.Helper()
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: name}, set); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
}

func TestAdmissionPolicyReconcilerWritesOncePerChangeAndReportsWhatItLeavesOut(t *testing.T) {
	ctx := context.Background()
	var objs []client.Object
	for i := range 12 {
		objs = append(objs, utiltesting.MakeSidecarSet(fmt.Sprintf("s%02d", i)).Priority(int32(100-i)).
			MatchLabels(map[string]string{"app": fmt.Sprint(i)}).Sidecar(utiltesting.MakeSidecar("agent", "example.com/a:1").Obj()).Obj())
	}
	w := &writes{}
	c := fakeClient(t, w, objs...)
	// A budget that holds some of the sets, not all.
	r := &AdmissionPolicyReconciler{Client: c, OperatorNamespace: "outrigger-system", Engine: EngineAdmissionPolicy, MaxPolicyBytes: 10_000}

	if _, err := r.Reconcile(ctx, policyKey); err != nil {
		t.Fatal(err)
	}
	if w.policy != 1 || w.binding != 1 || w.status != 12 {
		t.Errorf("first pass wrote policy %d, binding %d, conditions %d times; want 1, 1, 12", w.policy, w.binding, w.status)
	}
	first, last := condition(t, c, "s00"), condition(t, c, "s11")
	if first == nil || first.Status != metav1.ConditionTrue || first.Reason != sidecarsv1alpha1.ReasonInPolicy {
		t.Errorf("s00 condition %+v, want True/InPolicy", first)
	}
	if last == nil || last.Status != metav1.ConditionFalse || last.Reason != sidecarsv1alpha1.ReasonNotExpressible {
		t.Errorf("s11 condition %+v, want False/NotExpressible (beyond the size budget)", last)
	}
	if last != nil && !strings.Contains(last.Message, "pods the policy injects for another set") {
		t.Errorf("s11 condition message %q does not say which pods go without the set", last.Message)
	}

	*w = writes{}
	if _, err := r.Reconcile(ctx, policyKey); err != nil {
		t.Fatal(err)
	}
	if *w != (writes{}) {
		t.Errorf("a pass with nothing changed wrote %+v", *w)
	}

	// Somebody else's edit of the policy is put back, with one write.
	p := &admissionregistrationv1.MutatingAdmissionPolicy{}
	if err := c.Get(ctx, types.NamespacedName{Name: admissionpolicy.Name}, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Variables = p.Spec.Variables[:1]
	if err := c.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	*w = writes{}
	if _, err := r.Reconcile(ctx, policyKey); err != nil {
		t.Fatal(err)
	}
	if w.policy != 1 || w.binding != 0 || w.status != 0 {
		t.Errorf("putting the policy back wrote %+v, want the policy once", *w)
	}
}

func TestAdmissionPolicyReconcilerWithTheWebhookEngineRemovesThePolicy(t *testing.T) {
	ctx := context.Background()
	reported := utiltesting.MakeSidecarSet("reported").Sidecar(utiltesting.MakeSidecar("agent", "example.com/a:1").Obj()).Obj()
	meta.SetStatusCondition(&reported.Status.Conditions, metav1.Condition{Type: sidecarsv1alpha1.ConditionAdmissionPolicy,
		Status: metav1.ConditionTrue, Reason: sidecarsv1alpha1.ReasonInPolicy, Message: "left by an earlier run"})
	other := utiltesting.MakeSidecarSet("other").Sidecar(utiltesting.MakeSidecar("agent", "example.com/a:1").Obj()).Obj()
	w := &writes{}
	c := fakeClient(t, w,
		&admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: admissionpolicy.Name}},
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: admissionpolicy.Name}},
		reported, other)
	r := &AdmissionPolicyReconciler{Client: c, Engine: EngineWebhook}
	if _, err := r.Reconcile(ctx, policyKey); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{&admissionregistrationv1.MutatingAdmissionPolicy{}, &admissionregistrationv1.MutatingAdmissionPolicyBinding{}} {
		if err := c.Get(ctx, types.NamespacedName{Name: admissionpolicy.Name}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T still there (%v)", obj, err)
		}
	}
	if cond := condition(t, c, "reported"); cond != nil {
		t.Errorf("the webhook engine left the condition %+v", *cond)
	}
	if w.deletes != 2 || w.status != 1 {
		t.Errorf("the first pass deleted %d objects and wrote %d statuses, want 2 and 1", w.deletes, w.status)
	}
	// Nothing left: the next passes write nothing, not even a delete the API server
	// answers 404.
	*w = writes{}
	for range 3 {
		if _, err := r.Reconcile(ctx, policyKey); err != nil {
			t.Fatal(err)
		}
	}
	if *w != (writes{}) {
		t.Errorf("passes with nothing to remove wrote %+v, want nothing", *w)
	}
}

// The manager's RBAC lets it list and watch the generated policy and binding by name
// only: the cache must ask for them so, and leave the other settings alone.
func TestWithAdmissionPolicyCacheWatchesTheGeneratedObjectsByName(t *testing.T) {
	pods := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{"a": "b"})}
	in := cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: pods}}
	got := WithAdmissionPolicyCache(in)
	if len(in.ByObject) != 1 {
		t.Errorf("the options passed in were changed: %v", in.ByObject)
	}
	kinds := map[string]string{}
	for obj, by := range got.ByObject {
		field := ""
		if by.Field != nil {
			field = by.Field.String()
		}
		kinds[fmt.Sprintf("%T", obj)] = field
	}
	want := map[string]string{
		"*v1.Pod":                            "",
		"*v1.MutatingAdmissionPolicy":        "metadata.name=" + admissionpolicy.Name,
		"*v1.MutatingAdmissionPolicyBinding": "metadata.name=" + admissionpolicy.Name,
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("cache field selectors by kind (-want +got):\n%s", diff)
	}
	if got := WithAdmissionPolicyCache(cache.Options{}); len(got.ByObject) != 2 {
		t.Errorf("from empty options: %d objects, want 2", len(got.ByObject))
	}
}
