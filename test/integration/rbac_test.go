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

package integration

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/controllers"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/webhooks"
)

// access is one question kubectl auth can-i asks: may the subject do verb on the
// resource (named, or any when name is empty) in namespace?
type access struct{ verb, group, resource, subresource, namespace, name string }

func (a access) String() string {
	s := a.verb + " " + a.resource
	if a.group != "" {
		s += "." + a.group
	}
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	if a.name != "" {
		s += " " + a.name
	}
	if a.namespace != "" {
		s += " -n " + a.namespace
	}
	return s
}

// accesses is every verb on one resource.
func accesses(group, resource, namespace, name string, verbs ...string) []access {
	out := make([]access, len(verbs))
	for i, v := range verbs {
		out[i] = access{verb: v, group: group, resource: resource, namespace: namespace, name: name}
	}
	return out
}

// What config/ grants the manager's ServiceAccount, asked of the real API server as
// `kubectl auth can-i --as=system:serviceaccount:...` asks it (a SubjectAccessReview),
// then used as that ServiceAccount by the parts whose access is by name: the certificate
// rotator, which lists and watches its Secret and webhook configurations through a
// metadata.name field selector, and the admission policy reconciler under both engines.
var _ = Describe("The manager's RBAC as config/ renders it, on the real API server", Serial, Ordered, func() {
	const (
		saName           = "outrigger-controller-manager"
		certSecret       = "outrigger-webhook-cert"
		mutatingConfig   = "outrigger-mutating-webhook-configuration"
		validatingConfig = "outrigger-validating-webhook-configuration"
		admissionGroup   = admissionregistrationv1.GroupName
		// Somebody else's objects, which the manager must not touch.
		otherPolicy  = "other-team.example.com"
		otherWebhook = "other-team-webhook"
		otherSecret  = "other-team-credentials"
	)
	var (
		saUser   = "system:serviceaccount:" + operatorNamespace + ":" + saName
		saGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"}
		// saConfig talks to the API server as the manager's ServiceAccount.
		saConfig *rest.Config
		saClient client.Client
	)

	// rbacOf is what config/<dir> renders of the ServiceAccount and its RBAC.
	rbacOf := func(dir string) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, u := range renderKustomization(filepath.Join(projectRoot(), "config", dir)) {
			switch u.GetKind() {
			case "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
				out = append(out, u)
			}
		}
		Expect(out).NotTo(BeEmpty())
		return out
	}
	key := func(u *unstructured.Unstructured) string {
		return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
	}
	create := func(objs []*unstructured.Unstructured) {
		GinkgoHelper()
		for _, u := range objs {
			u = u.DeepCopy()
			Expect(k8sClient.Create(ctx, u)).To(Succeed(), key(u))
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, u))).To(Succeed()) })
		}
	}
	// policyEngineRBAC is what config/admission-policy adds to config/default's RBAC.
	policyEngineRBAC := func() []*unstructured.Unstructured {
		GinkgoHelper()
		base := map[string]bool{}
		for _, u := range rbacOf("default") {
			base[key(u)] = true
		}
		extra := slices.DeleteFunc(rbacOf("admission-policy"), func(u *unstructured.Unstructured) bool { return base[key(u)] })
		Expect(extra).To(HaveLen(2), "config/admission-policy adds a ClusterRole and its binding")
		return extra
	}

	can := func(a access) bool {
		GinkgoHelper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: saUser, Groups: saGroups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: a.namespace, Verb: a.verb,
				Group: a.group, Resource: a.resource, Subresource: a.subresource, Name: a.name},
		}}
		Expect(k8sClient.Create(ctx, sar)).To(Succeed())
		return sar.Status.Allowed
	}
	// expectAccess checks every question and reports all the wrong answers at once.
	expectAccess := func(may, mayNot []access) {
		GinkgoHelper()
		var wrong []string
		for _, a := range may {
			if !can(a) {
				wrong = append(wrong, "may not, but uses: "+a.String())
			}
		}
		for _, a := range mayNot {
			if can(a) {
				wrong = append(wrong, "may: "+a.String())
			}
		}
		Expect(wrong).To(BeEmpty(), "kubectl auth can-i --as=%s", saUser)
	}

	BeforeAll(func() {
		create(rbacOf("default"))
		saConfig = rest.CopyConfig(cfg)
		saConfig.Impersonate = rest.ImpersonationConfig{UserName: saUser, Groups: saGroups}
		var err error
		saClient, err = client.New(saConfig, client.Options{Scheme: scheme.Scheme})
		Expect(err).NotTo(HaveOccurred())
	})

	It("names the objects beyond Outrigger's own it may touch: its certificate Secret, its webhook configurations, the generated policy", func() {
		admission := func(resource, name string, verbs ...string) []access {
			return accesses(admissionGroup, resource, "", name, verbs...)
		}
		var may, mayNot []access
		for _, res := range []string{"mutatingadmissionpolicies", "mutatingadmissionpolicybindings"} {
			// The webhook engine watches and removes the generated objects.
			may = append(may, admission(res, admissionpolicy.Name, "get", "list", "watch", "delete")...)
			// Writing them is config/admission-policy's; anybody else's, never.
			mayNot = append(mayNot, admission(res, admissionpolicy.Name, "create", "patch", "update")...)
			mayNot = append(mayNot, admission(res, "", "create", "list", "watch", "deletecollection")...)
			mayNot = append(mayNot, admission(res, otherPolicy, "create", "get", "patch", "update", "delete")...)
		}
		may = append(may, admission("mutatingwebhookconfigurations", mutatingConfig, "list", "watch", "update")...)
		may = append(may, admission("validatingwebhookconfigurations", validatingConfig, "list", "watch", "update")...)
		for _, res := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} {
			mayNot = append(mayNot, admission(res, otherWebhook, "get", "update", "patch", "delete")...)
			mayNot = append(mayNot, admission(res, "", "list", "watch", "create")...)
		}
		may = append(may, accesses("", "secrets", operatorNamespace, certSecret, "list", "watch", "update")...)
		mayNot = append(mayNot, accesses("", "secrets", operatorNamespace, otherSecret, "get", "list", "watch", "update")...)
		mayNot = append(mayNot, accesses("", "secrets", operatorNamespace, "", "list", "watch", "create")...)
		mayNot = append(mayNot, accesses("", "secrets", "default", certSecret, "get", "list", "watch")...)

		// And what it uses on everyone's pods and its own objects.
		may = append(may, accesses("", "pods", "default", "", "get", "list", "watch", "patch")...)
		may = append(may,
			access{verb: "patch", resource: "pods", subresource: "status", namespace: "default"},
			access{verb: "patch", resource: "pods", subresource: "resize", namespace: "default"},
			access{verb: "create", resource: "pods", subresource: "eviction", namespace: "default"},
			access{verb: "list", resource: "namespaces"},
			access{verb: "list", group: sidecarsv1alpha1.GroupVersion.Group, resource: "sidecarsets"},
			access{verb: "patch", group: sidecarsv1alpha1.GroupVersion.Group, resource: "sidecarsets", subresource: "status"},
			access{verb: "create", group: "apps", resource: "controllerrevisions", namespace: operatorNamespace},
			access{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: operatorNamespace},
			access{verb: "create", group: "events.k8s.io", resource: "events", namespace: "default"},
		)
		mayNot = append(mayNot,
			access{verb: "create", group: "apps", resource: "controllerrevisions", namespace: "default"},
			access{verb: "delete", resource: "pods", namespace: "default"},
			access{verb: "update", group: sidecarsv1alpha1.GroupVersion.Group, resource: "sidecarsets"},
		)
		expectAccess(may, mayNot)
	})

	It("rotates its certificate as that ServiceAccount, and cannot change another webhook configuration or read another Secret", func() {
		url := "https://localhost:1/never-called"
		never := &metav1.LabelSelector{MatchLabels: map[string]string{"rbac-test": "never-matches"}}
		mutating := func(name string) *admissionregistrationv1.MutatingWebhookConfiguration {
			return &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{
					Name: "mutate.rbac-test.outrigger.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
					SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
					ObjectSelector: never,
				}}}
		}
		validating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validatingConfig},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "validate.rbac-test.outrigger.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
				SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
				ObjectSelector: never,
			}}}
		secretKey := types.NamespacedName{Namespace: operatorNamespace, Name: certSecret}
		By("config/default's objects, as the rotator finds them, and somebody else's beside them")
		for _, obj := range []client.Object{
			mutating(mutatingConfig), validating, mutating(otherWebhook),
			// Empty, as config/default ships it: the manager fills it.
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: certSecret}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: otherSecret},
				StringData: map[string]string{"token": "not the manager's"}},
		} {
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed()) })
		}

		By("a manager running as the ServiceAccount, rotating as main.go sets it up")
		mgr, err := ctrl.NewManager(saConfig, ctrl.Options{
			Scheme:                 scheme.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			// A cache the ServiceAccount may not fill fails the start, not the timeout below.
			Controller: config.Controller{SkipNameValidation: new(true), CacheSyncTimeout: 30 * time.Second},
		})
		Expect(err).NotTo(HaveOccurred())
		certDir := GinkgoT().TempDir()
		certsReady := make(chan struct{})
		Expect(webhooks.AddCertRotator(mgr, webhooks.CertOptions{
			Secret: secretKey, CertDir: certDir, DNSName: "localhost",
			MutatingWebhookConfiguration: mutatingConfig, ValidatingWebhookConfiguration: validatingConfig,
			// The certificates spec runs a rotator of the default name in this process.
			ControllerName: "cert-rotator-rbac",
		}, certsReady)).To(Succeed())
		stop := runManager(mgr)
		DeferCleanup(stop)
		// The kubelet's part: the Secret's content in the pod's volume.
		go localcluster.SecretVolumeStandIn(ctx, k8sClient, secretKey, certDir, func(err error) { GinkgoWriter.Println(err) })

		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, secretKey, s)).To(Succeed())
			g.Expect(s.Data).To(HaveKey("tls.crt"))
			g.Expect(s.Data).To(HaveKey("ca.crt"))
			m, v := &admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: mutatingConfig}, m)).To(Succeed())
			g.Expect(m.Webhooks[0].ClientConfig.CABundle).To(Equal(s.Data["ca.crt"]))
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: validatingConfig}, v)).To(Succeed())
			g.Expect(v.Webhooks[0].ClientConfig.CABundle).To(Equal(s.Data["ca.crt"]))
		}).WithTimeout(time.Minute).Should(Succeed(), "the rotator wrote the certificate and both CA bundles as the ServiceAccount")
		Eventually(certsReady).WithTimeout(time.Minute).Should(BeClosed())

		By("as the ServiceAccount: somebody else's webhook configuration and Secret are out of reach")
		other := &admissionregistrationv1.MutatingWebhookConfiguration{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: otherWebhook}, other)).To(Succeed())
		other.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
		Expect(saClient.Update(ctx, other)).To(Satisfy(apierrors.IsForbidden), "update of %s", otherWebhook)
		Expect(saClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: otherSecret}, &corev1.Secret{})).
			To(Satisfy(apierrors.IsForbidden), "get of Secret %s", otherSecret)
		Expect(saClient.List(ctx, &corev1.SecretList{}, client.InNamespace(operatorNamespace))).
			To(Satisfy(apierrors.IsForbidden), "list of the namespace's Secrets")
		Expect(saClient.List(ctx, &admissionregistrationv1.MutatingWebhookConfigurationList{})).
			To(Satisfy(apierrors.IsForbidden), "list of every mutating webhook configuration")
		var own corev1.SecretList
		Expect(saClient.List(ctx, &own, client.InNamespace(operatorNamespace),
			client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", certSecret)})).To(Succeed())
		Expect(own.Items).To(HaveLen(1), "a list narrowed to its own Secret")
	})

	It("writes the generated policy only with config/admission-policy's ClusterRole bound, and removes it with config/default's", func() {
		set := isolate("rbac-").Set("policy-engine").Sidecar(utiltesting.MakeSidecar("agent", "example.com/agent:1").Obj()).Obj()
		// Before the suite's manager stops: it validates SidecarSets.
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		// The suite's manager (webhook engine) would delete the generated policy as soon as
		// it appears: the ServiceAccount's managers run alone.
		stopManager()
		DeferCleanup(func() { stopManager = startManager() })

		policy := func(name string) *unstructured.Unstructured {
			compiled := admissionpolicy.Compile(nil, admissionpolicy.Options{OperatorNamespace: operatorNamespace, Name: name})
			content, err := runtimeToUnstructured(compiled.Policy)
			Expect(err).NotTo(HaveOccurred())
			return content
		}
		By("without config/admission-policy, not even the generated policy may be created")
		Expect(saClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(policy(admissionpolicy.Name)), client.FieldOwner("rbac-test"))).
			To(Satisfy(apierrors.IsForbidden), "a server-side apply creating %s", admissionpolicy.Name)

		By("with config/admission-policy's ClusterRole bound: create, patch and update of the generated objects, nothing else")
		extra := policyEngineRBAC()
		create(extra)
		var may, mayNot []access
		for _, res := range []string{"mutatingadmissionpolicies", "mutatingadmissionpolicybindings"} {
			may = append(may, accesses(admissionGroup, res, "", admissionpolicy.Name, "create", "patch", "update", "get", "delete")...)
			mayNot = append(mayNot, accesses(admissionGroup, res, "", "", "create", "list")...)
			mayNot = append(mayNot, accesses(admissionGroup, res, "", otherPolicy, "create", "patch", "update", "delete")...)
		}
		// The API server's RBAC reads roles and bindings from its informers: wait until
		// it has seen both, as below it is waited until it has seen them go.
		Eventually(func() bool { return !slices.ContainsFunc(may, func(a access) bool { return !can(a) }) }).
			Should(BeTrue(), "the API server's RBAC has seen the ClusterRole and its binding")
		expectAccess(may, mayNot)
		// A create by POST names no object: RBAC that names objects never allows it.
		other := policy(otherPolicy)
		Expect(saClient.Create(ctx, other)).To(Satisfy(apierrors.IsForbidden), "a POST creating a policy")
		Expect(saClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(policy(otherPolicy)), client.FieldOwner("rbac-test"))).
			To(Satisfy(apierrors.IsForbidden), "a server-side apply creating %s", otherPolicy)

		By("the policy engine's manager, as the ServiceAccount, writes the policy and reports the set in it")
		stopPolicy := runManager(saManager(saConfig, controllers.EngineAdmissionPolicy))
		DeferCleanup(stopPolicy)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})).To(Succeed())
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicyBinding{})).To(Succeed())
			got := &sidecarsv1alpha1.SidecarSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())
			cond := meta.FindStatusCondition(got.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(sidecarsv1alpha1.ReasonInPolicy), cond.Message)
		}).WithTimeout(time.Minute).Should(Succeed())
		stopPolicy()

		By("config/default again: without the ClusterRole, the webhook engine's manager deletes the policy")
		for _, u := range extra {
			Expect(k8sClient.Delete(ctx, u)).To(Succeed())
		}
		Eventually(func() bool {
			return can(access{verb: "update", group: admissionGroup, resource: "mutatingadmissionpolicies", name: admissionpolicy.Name})
		}).Should(BeFalse(), "the API server's RBAC has seen the binding go")
		stopWebhook := runManager(saManager(saConfig, controllers.EngineWebhook))
		DeferCleanup(stopWebhook)
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the generated policy is still there: %v", err)
			err = k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicyBinding{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the generated binding is still there: %v", err)
			got := &sidecarsv1alpha1.SidecarSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)).To(BeNil())
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})

// saManager is a manager on cfg with main.go's cache settings and the admission policy
// controller alone, on engine.
func saManager(cfg *rest.Config, engine controllers.Engine) ctrl.Manager {
	GinkgoHelper()
	opts := controllers.Options{OperatorNamespace: operatorNamespace}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.WithAdmissionPolicyCache(controllers.CacheOptions(opts)),
		// A watch the ServiceAccount may not list fails the start, not a later timeout.
		Controller: config.Controller{SkipNameValidation: new(true), CacheSyncTimeout: 30 * time.Second},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.SetupAdmissionPolicyWithManager(mgr, opts, engine)).To(Succeed())
	return mgr
}

// runManager starts mgr; the returned function stops it and waits until it has, once
// however often it is called.
func runManager(mgr ctrl.Manager) func() {
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	return func() {
		cancel()
		<-done
	}
}

// runtimeToUnstructured is obj with its kind, as a server-side apply sends it.
func runtimeToUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvks[0])
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	return u, nil
}
