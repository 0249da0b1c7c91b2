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
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

var _ = Describe("Sidecar injection through the real API server", func() {
	var (
		spec *specScope
		ns   *corev1.Namespace
	)

	BeforeEach(func() {
		spec = isolate("inject-")
		ns = spec.NS
	})

	newPod := func() *utiltesting.PodWrapper {
		return spec.Pod("").
			InitContainer(corev1.Container{Name: "migrate", Image: "example.com/migrate:1"})
	}
	createPod := func(p *corev1.Pod) *corev1.Pod {
		GinkgoHelper()
		p.GenerateName = "pod-"
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		return p
	}
	names := func(cs []corev1.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	createSet := func(set *sidecarsv1alpha1.SidecarSet) *sidecarsv1alpha1.SidecarSet {
		GinkgoHelper()
		return createInjectingSet(set, func() *corev1.Pod { return newPod().Obj() })
	}

	// Serial: it reads the manager's metrics, which live in the manager's process.
	It("injects native and regular sidecars in their places and records it", Serial, func() {
		set := createSet(spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).
			Sidecar(utiltesting.MakeSidecar("shipper", "example.com/shipper:1").
				Mode(sidecarsv1alpha1.SidecarModeContainer).Placement(sidecarsv1alpha1.PlacementAfterApp).Obj()).
			Obj())
		before := testutil.ToFloat64(metrics.InjectionsTotal.WithLabelValues(set.Name, metrics.ResultInjected))

		pod := createPod(newPod().Obj())

		Expect(names(pod.Spec.InitContainers)).To(Equal([]string{"proxy", "migrate"}))
		Expect(pod.Spec.InitContainers[0].RestartPolicy).To(HaveValue(Equal(corev1.ContainerRestartPolicyAlways)))
		Expect(names(pod.Spec.Containers)).To(Equal([]string{"app", "shipper"}))
		Expect(pod.Spec.ReadinessGates).To(ContainElement(corev1.PodReadinessGate{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}))
		Expect(pod.Labels).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedLabel, "true"))
		records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records).To(HaveKey(set.Name))
		Expect(records[set.Name].Containers).To(Equal([]string{"proxy", "shipper"}))
		Expect(records[set.Name].Hash).NotTo(BeEmpty())
		Expect(records[set.Name].ImageFreeHash).NotTo(BeEmpty())
		Expect(testutil.ToFloat64(metrics.InjectionsTotal.WithLabelValues(set.Name, metrics.ResultInjected))).To(Equal(before + 1))

		By("creating a second pod from the injected pod's spec, nothing is duplicated")
		again := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name,
			Labels: pod.Labels, Annotations: pod.Annotations}, Spec: *pod.Spec.DeepCopy()}
		again.Spec.NodeName = ""
		again = createPod(again)
		Expect(names(again.Spec.InitContainers)).To(Equal([]string{"proxy", "migrate"}))
		Expect(names(again.Spec.Containers)).To(Equal([]string{"app", "shipper"}))
		Expect(again.Spec.ReadinessGates).To(HaveLen(1))
	})

	It("injects the first pods of a namespace created together with them, before the cache has it", func() {
		createSet(spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj())
		// As `kubectl apply -f` of a file holding a namespace and its pods does: each pod
		// right after its namespace, with no wait between them.
		for range 10 {
			fresh := spec.Namespace("inject-fresh-", nil)
			pod := newPod().Obj()
			pod.Namespace = fresh.Name
			pod = createPod(pod)
			Expect(names(pod.Spec.InitContainers)).To(Equal([]string{"proxy", "migrate"}), "pod in namespace %s", fresh.Name)
		}
	})

	It("leaves opted-out pods, opted-out namespaces, system namespaces and non-matching pods alone", func() {
		createSet(spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj())

		optedOut := createPod(newPod().Label(sidecarsv1alpha1.InjectLabel, "false").Obj())
		Expect(names(optedOut.Spec.InitContainers)).To(Equal([]string{"migrate"}))

		nonMatching := createPod(newPod().Labels(map[string]string{"app": "other"}).Obj())
		Expect(names(nonMatching.Spec.InitContainers)).To(Equal([]string{"migrate"}))
		Expect(nonMatching.Labels).NotTo(HaveKey(sidecarsv1alpha1.InjectedLabel))

		quiet := spec.Namespace("quiet-", map[string]string{sidecarsv1alpha1.InjectLabel: "false"})
		inQuiet := newPod().Obj()
		inQuiet.Namespace = quiet.Name
		Expect(names(createPod(inQuiet).Spec.InitContainers)).To(Equal([]string{"migrate"}))

		for _, system := range []string{metav1.NamespaceSystem, operatorNamespace} {
			p := newPod().Obj()
			p.Namespace = system
			p = createPod(p)
			DeferCleanup(k8sClient.Delete, ctx, p)
			Expect(names(p.Spec.InitContainers)).To(Equal([]string{"migrate"}), "pod in %s", system)
		}
	})

	It("injects two matching SidecarSets in priority order", func() {
		createSet(spec.Set("low").Priority(1).
			Sidecar(utiltesting.MakeSidecar("low", "example.com/low:1").Obj()).Obj())
		createSet(spec.Set("high").Priority(10).
			Sidecar(utiltesting.MakeSidecar("high", "example.com/high:1").Obj()).Obj())

		pod := createPod(newPod().Obj())
		Expect(names(pod.Spec.InitContainers)).To(Equal([]string{"high", "low", "migrate"}))
	})

	It("refuses a pod the injection would make invalid, with the reason", func() {
		createSet(spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj())
		// A second set whose sidecar mounts a volume nobody declares; the first set keeps the
		// dry-run probe of createSet injectable, so wait on the broken one directly.
		broken := spec.Set("broken").
			Sidecar(utiltesting.MakeSidecar("certs", "example.com/certs:1").Mount("missing", "/certs").Obj()).Obj()
		Expect(k8sClient.Create(ctx, broken)).To(Succeed())

		Eventually(func() error {
			p := newPod().Obj()
			p.GenerateName = "pod-"
			return k8sClient.Create(ctx, p)
		}).Should(MatchError(And(
			ContainSubstring(`SidecarSet "broken-%s"`, ns.Name),
			ContainSubstring(`mounts volume "missing"`))))
	})

	It("refuses a SidecarSet that conflicts with another, naming it", func() {
		createSet(spec.Set("first").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj())

		Eventually(func() error {
			return k8sClient.Create(ctx, spec.Set("second").
				Sidecar(utiltesting.MakeSidecar("proxy", "example.com/other-proxy:1").Obj()).Obj())
		}).Should(MatchError(And(
			ContainSubstring("spec.containers[0].name"),
			ContainSubstring(`"first-%s"`, ns.Name))))
	})

	It("pins new pods to an earlier revision", func() {
		set := createSet(spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj())
		var first string
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			first = set.Status.UpdateRevision
			g.Expect(first).NotTo(BeEmpty())
		}).Should(Succeed())
		cr := &appsv1.ControllerRevision{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: first}, cr)).To(Succeed())
		Expect(cr.OwnerReferences).To(ContainElement(HaveField("UID", set.UID)))

		By("changing the image and pinning injection to the first revision")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
		set.Spec.Containers[0].Image = "example.com/proxy:2"
		set.Spec.Injection.Revision = first
		Expect(k8sClient.Update(ctx, set)).To(Succeed())
		// The current spec gets its own revision, while pods are held on the pinned one.
		Eventually(func(g Gomega) {
			var list appsv1.ControllerRevisionList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(operatorNamespace),
				client.MatchingLabels{sidecarsv1alpha1.RevisionSetLabel: set.Name})).To(Succeed())
			g.Expect(list.Items).To(HaveLen(2))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status.UpdateRevision).To(Equal(first))
		}).Should(Succeed())

		Eventually(func(g Gomega) {
			p := newPod().Obj()
			p.GenerateName = "probe-"
			g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
			g.Expect(p.Spec.InitContainers[0].Image).To(Equal("example.com/proxy:1"))
			records, err := sidecarsv1alpha1.ParseInjectionRecords(p.Annotations)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(records[set.Name].Revision).To(Equal(first))
		}).Should(Succeed())

		By("unpinning, new pods get the current spec")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
		set.Spec.Injection.Revision = ""
		Expect(k8sClient.Update(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			p := newPod().Obj()
			p.GenerateName = "probe-"
			g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
			g.Expect(p.Spec.InitContainers[0].Image).To(Equal("example.com/proxy:2"))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdateRevision).NotTo(Or(BeEmpty(), Equal(first)))
		}).Should(Succeed())
	})

	It("refuses to pin a revision that does not exist", func() {
		set := spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj()
		set.Spec.Injection.Revision = "mesh-does-not-exist"
		Expect(k8sClient.Create(ctx, set)).To(MatchError(And(
			ContainSubstring("spec.injection.revision"), ContainSubstring("Not found"))))
	})

	It("skips a SidecarSet whose injection is paused", func() {
		createSet(spec.Set("on").
			Sidecar(utiltesting.MakeSidecar("on", "example.com/on:1").Obj()).Obj())
		paused := spec.Set("paused").InjectionPaused().
			Sidecar(utiltesting.MakeSidecar("off", "example.com/off:1").Obj()).Obj()
		Expect(k8sClient.Create(ctx, paused)).To(Succeed())
		// Give the cache the paused set: once an unrelated update after it is visible,
		// it is too. Wait for its revision, written by the controller from the same cache.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(paused), paused)).To(Succeed())
			g.Expect(paused.Status.UpdateRevision).NotTo(BeEmpty())
		}).Should(Succeed())
		pod := createPod(newPod().Obj())
		Expect(names(pod.Spec.InitContainers)).To(Equal([]string{"on", "migrate"}))
		Expect(ptr.Deref(pod.Spec.InitContainers[0].RestartPolicy, "")).To(Equal(corev1.ContainerRestartPolicyAlways))
	})
})
