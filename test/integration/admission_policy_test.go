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
	"fmt"
	"slices"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	"github.com/outrigger-dev/outrigger/internal/inject"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// podWebhookName is the pod injector in the MutatingWebhookConfiguration envtest installs.
const podWebhookName = "inject.sidecars.outrigger.dev"

// withoutPodWebhook takes the pod injector out of the API server's webhook configuration
// until the spec ends, as an install with the admission policy engine has it: the API
// server then calls no webhook for pods, and only the policy injects.
func withoutPodWebhook() {
	GinkgoHelper()
	var saved *admissionregistrationv1.MutatingWebhook
	var configName string
	var list admissionregistrationv1.MutatingWebhookConfigurationList
	Expect(k8sClient.List(ctx, &list)).To(Succeed())
	for i := range list.Items {
		cfg := &list.Items[i]
		j := slices.IndexFunc(cfg.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == podWebhookName })
		if j < 0 {
			continue
		}
		saved, configName = cfg.Webhooks[j].DeepCopy(), cfg.Name
		cfg.Webhooks = slices.Delete(cfg.Webhooks, j, j+1)
		Expect(k8sClient.Update(ctx, cfg)).To(Succeed())
	}
	Expect(saved).NotTo(BeNil(), "the pod webhook is registered")
	DeferCleanup(func() {
		Eventually(func() error {
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Name: configName}, cfg); err != nil {
				return err
			}
			cfg.Webhooks = append(cfg.Webhooks, *saved)
			return k8sClient.Update(ctx, cfg)
		}).Should(Succeed())
	})
}

// applyPolicy creates or replaces the compiled policy and binding, and waits until the
// API server injects with this version: a probe pod, which only the probe source
// selects, comes back with the probe's record.
func applyPolicy(compiled admissionpolicy.Compiled, probeNamespace string, probe string) {
	GinkgoHelper()
	for _, obj := range []client.Object{compiled.Policy, compiled.Binding} {
		obj = obj.DeepCopyObject().(client.Object)
		err := k8sClient.Create(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			current := obj.DeepCopyObject().(client.Object)
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), current)).To(Succeed())
			obj.SetResourceVersion(current.GetResourceVersion())
			err = k8sClient.Update(ctx, obj)
		}
		Expect(err).NotTo(HaveOccurred())
	}
	Eventually(func(g Gomega) {
		p := utiltesting.MakePod("", probeNamespace).Labels(map[string]string{"policy-probe": probe}).Obj()
		p.GenerateName = "probe-"
		g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
		g.Expect(p.Annotations).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedAnnotation, ContainSubstring(`"`+probe+`"`)))
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// deletePolicy removes the compiled policy and binding.
func deletePolicy() {
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: admissionpolicy.Name}},
		&admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: admissionpolicy.Name}},
	} {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
	}
}

// probeSource selects only probe pods (label policy-probe=name).
func probeSource(name string) inject.Source {
	return inject.SourceOf(utiltesting.MakeSidecarSet(name).MatchLabels(map[string]string{"policy-probe": name}).
		Sidecar(utiltesting.MakeSidecar("probe", "example.com/probe:1").Obj()).Obj())
}

// webhookInjects is what the pod webhook does with pod in ns, given the sources of every
// SidecarSet: the same exclusions, matching and inject.Inject as PodInjector.Default.
func webhookInjects(pod *corev1.Pod, ns *corev1.Namespace, sources []inject.Source) (*corev1.Pod, error) {
	if inject.Excluded(pod, ns, operatorNamespace) != "" {
		return pod.DeepCopy(), nil
	}
	var matched []inject.Source
	for _, src := range sources {
		if src.Set.Spec.Injection.Paused {
			continue
		}
		ok, err := inject.Match(pod, ns, src.Set)
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, src)
		}
	}
	res, err := inject.Inject(pod, matched)
	if err != nil {
		return nil, err
	}
	return res.Pod, nil
}

// comparable is a stored pod without what differs between two creations of it.
func comparable(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	p.Name, p.GenerateName, p.Namespace, p.UID, p.ResourceVersion = "", "", "", "", ""
	p.CreationTimestamp, p.ManagedFields = metav1.Time{}, nil
	return p
}

// policyCase is one input: sources, the namespace's labels, a pod.
type policyCase struct {
	sources  func(suffix string) []inject.Source
	nsLabels map[string]string
	pod      func() *corev1.Pod
}

var _ = Describe("SidecarSets compiled to a MutatingAdmissionPolicy", Serial, Ordered, func() {
	var (
		// referenceNS takes the webhook's result as is: opted out, so neither the policy
		// nor the webhook touches it and the API server only defaults it, as it defaults
		// the policy's.
		referenceNS *corev1.Namespace
		probeNS     *corev1.Namespace
	)

	BeforeAll(func() {
		withoutPodWebhook()
		referenceNS = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-reference-",
			Labels: map[string]string{sidecarsv1alpha1.InjectLabel: "false"}}}
		Expect(k8sClient.Create(ctx, referenceNS)).To(Succeed())
		probeNS = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-"}}
		Expect(k8sClient.Create(ctx, probeNS)).To(Succeed())
		DeferCleanup(func() {
			deletePolicy()
			Expect(k8sClient.Delete(ctx, referenceNS)).To(Succeed())
			Expect(k8sClient.Delete(ctx, probeNS)).To(Succeed())
		})
	})

	// same creates the case's pod through the policy, in its own namespace, and the
	// webhook's result for it in the reference namespace, and compares the stored pods.
	same := func(c policyCase) {
		GinkgoHelper()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-", Labels: c.nsLabels}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
		probe := "probe-" + ns.Name
		sources := append(c.sources(ns.Name), probeSource(probe))
		compiled := admissionpolicy.Compile(sources, admissionpolicy.Options{OperatorNamespace: operatorNamespace})
		Expect(compiled.Unsupported).To(BeEmpty())
		applyPolicy(compiled, probeNS.Name, probe)

		pod := c.pod()
		pod.Namespace, pod.GenerateName = ns.Name, "pod-"
		want, werr := webhookInjects(pod, ns, sources)
		got := pod.DeepCopy()
		gerr := k8sClient.Create(ctx, got)
		if werr != nil {
			Expect(gerr).To(HaveOccurred(), "the webhook refuses the pod: %v", werr)
			return
		}
		Expect(gerr).NotTo(HaveOccurred())
		want.Namespace = referenceNS.Name
		Expect(k8sClient.Create(ctx, want)).To(Succeed())
		Expect(cmp.Diff(comparable(want), comparable(got))).To(BeEmpty(), "webhook (-) and policy (+) differ")
	}

	app := func(name string) corev1.Container { return corev1.Container{Name: name, Image: "example.com/" + name + ":1"} }
	set := func(name string) *utiltesting.SidecarSetWrapper {
		return utiltesting.MakeSidecarSet(name).MatchLabels(map[string]string{"app": "web"})
	}
	sidecar := utiltesting.MakeSidecar
	srcs := func(sets ...*sidecarsv1alpha1.SidecarSet) []inject.Source {
		out := make([]inject.Source, len(sets))
		for i, s := range sets {
			out[i] = inject.SourceOf(s)
		}
		return out
	}
	webPod := func() *utiltesting.PodWrapper { return utiltesting.MakePod("", "") }

	DescribeTable("injects exactly what the webhook injects",
		same,
		Entry("native and regular sidecars in every placement, with the set's init containers", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("mesh-"+s).
					InitContainer(app("prepare")).
					Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).
					Sidecar(sidecar("late", "example.com/late:1").Placement(sidecarsv1alpha1.PlacementAfterInit).Obj()).
					Sidecar(sidecar("front", "example.com/front:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).
					Sidecar(sidecar("shipper", "example.com/shipper:1").Mode(sidecarsv1alpha1.SidecarModeContainer).
						Placement(sidecarsv1alpha1.PlacementAfterApp).Obj()).Obj())
			},
			pod: func() *corev1.Pod { return webPod().InitContainer(app("migrate")).Obj() },
		}),
	)
})

var _ = fmt.Sprintf
var _ = resource.MustParse
