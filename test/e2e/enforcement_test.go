//go:build e2e

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

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

var _ = Describe("What a pod may say about its sidecars, on a real node", func() {
	var (
		ns       *corev1.Namespace
		selector map[string]string
	)
	BeforeEach(func() {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		selector = map[string]string{"e2e": ns.Name}
		DeferCleanup(func() {
			Expect(k8sClient.DeleteAllOf(ctx, &sidecarsv1alpha1.SidecarSet{}, client.MatchingLabels{"e2e": ns.Name})).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		})
	})
	createSet := func(set *sidecarsv1alpha1.SidecarSet, probe *corev1.Pod) {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			p := probe.DeepCopy()
			g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
			g.Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
	}

	It("injects a Required sidecar into a pod labelled opted out, and it runs", func() {
		set := newSidecarSet("e2e-"+ns.Name, ns.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		set.Spec.Injection.Enforcement = sidecarsv1alpha1.EnforcementRequired
		optedOut := appPod(ns.Name, selector)
		optedOut.Labels[sidecarsv1alpha1.InjectLabel] = "false"
		createSet(set, optedOut)

		pod := createReadyPod(optedOut)
		Expect(pod.Spec.InitContainers).NotTo(BeEmpty())
		Expect(pod.Spec.InitContainers[0].Name).To(Equal(sidecarName))
		st := statusOf(pod, sidecarName)
		Expect(st.State.Running).NotTo(BeNil(), "the Required sidecar runs")
		Expect(st.Ready).To(BeTrue())
	})

	It("runs a sidecar with the CPU request the pod set for it, where the set allows it", func() {
		set := newSidecarSet("e2e-"+ns.Name, ns.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		set.Spec.Containers[0].Overrides = []sidecarsv1alpha1.OverridableField{sidecarsv1alpha1.OverrideResources}
		key := sidecarsv1alpha1.OverrideAnnotation(set.Name, sidecarName, sidecarsv1alpha1.OverrideResources)
		pod := appPod(ns.Name, selector)
		pod.Annotations = map[string]string{key: `{"requests":{"cpu":"80m"}}`}
		createSet(set, pod)

		pod = createReadyPod(pod)
		Expect(pod.Spec.InitContainers[0].Resources.Requests.Cpu().String()).To(Equal("80m"))
		records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records[set.Name].Containers).To(Equal([]string{sidecarName}), "injected, not the pod's own (the webhook's reinvocation trusted its record)")
		Expect(records[set.Name].Overrides).To(HaveKey(sidecarName))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			st := statusOf(pod, sidecarName)
			g.Expect(st.Resources).NotTo(BeNil())
			g.Expect(st.Resources.Requests.Cpu().String()).To(Equal("80m"), "the kubelet runs the sidecar with the pod's request")
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})
