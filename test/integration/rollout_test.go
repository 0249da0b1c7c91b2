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
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// podWatcher records every state of every pod in a namespace, from a watch, and checks
// rollout invariants over all of them.
type podWatcher struct {
	mu sync.Mutex
	// unavailable holds the pods not Ready or mid-upgrade at the last event.
	unavailable map[string]bool
	maxUnavail  int
	// workloads maps a pod to its controller's name; maxByWorkload is the most pods of
	// one workload unavailable at once.
	workloads     map[string]string
	maxByWorkload map[string]int
	// drained: the pod's sidecars-ready condition was False while an upgrade was in flight.
	drained map[string]bool
	// images: the successive proxy images of each pod; swappedUndrained lists pods whose
	// image changed before they were drained.
	images           map[string][]string
	swappedUndrained []string
	stop             context.CancelFunc
}

// watchPods watches the pods of a namespace whose sidecar is named "proxy".
func watchPods(namespace string) *podWatcher {
	const sidecar = "proxy"
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{})
	Expect(err).NotTo(HaveOccurred())
	wctx, cancel := context.WithCancel(ctx)
	w, err := wc.Watch(wctx, &corev1.PodList{}, client.InNamespace(namespace))
	Expect(err).NotTo(HaveOccurred())
	pw := &podWatcher{unavailable: map[string]bool{}, drained: map[string]bool{}, images: map[string][]string{}, stop: cancel,
		workloads: map[string]string{}, maxByWorkload: map[string]int{}}
	go func() {
		defer GinkgoRecover()
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error || ev.Type == watch.Bookmark {
				continue
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.observe(ev.Type, pod, sidecar)
		}
	}()
	return pw
}

func (pw *podWatcher) observe(t watch.EventType, pod *corev1.Pod, sidecar string) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	name := pod.Name
	if t == watch.Deleted {
		delete(pw.unavailable, name)
		return
	}
	_, upgrading := pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation]
	pw.unavailable[name] = upgrading || !podIsReady(pod)
	n := 0
	for _, u := range pw.unavailable {
		if u {
			n++
		}
	}
	pw.maxUnavail = max(pw.maxUnavail, n)
	if ref := metav1.GetControllerOf(pod); ref != nil {
		pw.workloads[name] = ref.Name
	}
	byWorkload := map[string]int{}
	for p, u := range pw.unavailable {
		if u {
			byWorkload[pw.workloads[p]]++
		}
	}
	for w, n := range byWorkload {
		pw.maxByWorkload[w] = max(pw.maxByWorkload[w], n)
	}
	if upgrading && conditionIs(pod, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionFalse) {
		pw.drained[name] = true
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Name != sidecar {
			continue
		}
		seen := pw.images[name]
		if len(seen) == 0 || seen[len(seen)-1] != c.Image {
			if len(seen) > 0 && !pw.drained[name] {
				pw.swappedUndrained = append(pw.swappedUndrained, name)
			}
			pw.images[name] = append(seen, c.Image)
		}
	}
}

func (pw *podWatcher) snapshot() (maxUnavail int, images map[string][]string, undrained []string) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	images = map[string][]string{}
	for k, v := range pw.images {
		images[k] = append([]string(nil), v...)
	}
	return pw.maxUnavail, images, append([]string(nil), pw.swappedUndrained...)
}

// byWorkload is the most pods of each workload seen unavailable at once.
func (pw *podWatcher) byWorkload() map[string]int {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return maps.Clone(pw.maxByWorkload)
}

func podIsReady(pod *corev1.Pod) bool {
	return conditionIs(pod, string(corev1.PodReady), corev1.ConditionTrue)
}

func conditionIs(pod *corev1.Pod, t string, s corev1.ConditionStatus) bool {
	for _, c := range pod.Status.Conditions {
		if string(c.Type) == t {
			return c.Status == s
		}
	}
	return false
}

var _ = Describe("In-place rollout on the real API server, with a kubelet stand-in", func() {
	var (
		spec     *specScope
		ns       *corev1.Namespace
		selector map[string]string
	)
	BeforeEach(func() {
		spec = isolate("rollout-")
		ns, selector = spec.NS, spec.Labels()
		DeferCleanup(startKubeletStandIn(ns.Name))
	})

	// newSet is a set with a native proxy at image tag, drained for a second.
	newSet := func(tag string) *utiltesting.SidecarSetWrapper {
		return spec.Set("proxy").DrainSeconds(1).
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:"+tag).Obj())
	}
	createSet := func(set *sidecarsv1alpha1.SidecarSet) *sidecarsv1alpha1.SidecarSet {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdateRevision).NotTo(BeEmpty())
		}).Should(Succeed())
		// Wait until the webhook's cache has the set too.
		Eventually(func(g Gomega) {
			probe := utiltesting.MakePod("", ns.Name).Labels(selector).Obj()
			probe.GenerateName = "probe-"
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
		return set
	}
	// createPodsOf creates n pods of one workload: controlled by the StatefulSet
	// workload (envtest runs no controller to mind that it does not exist), so that
	// they share one maxUnavailable budget.
	createPodsOf := func(workload string, n int, extra map[string]string) []*corev1.Pod {
		GinkgoHelper()
		var pods []*corev1.Pod
		for i := range n {
			p := utiltesting.MakePod(fmt.Sprintf("%s-%02d", workload, i), ns.Name).Labels(selector).Obj()
			maps.Copy(p.Labels, extra)
			p.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: workload, UID: types.UID("uid-" + workload), Controller: new(true),
			}}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			pods = append(pods, p)
		}
		return pods
	}
	createPods := func(n int, extra map[string]string) []*corev1.Pod {
		GinkgoHelper()
		return createPodsOf("web", n, extra)
	}
	allPods := func(g Gomega) []corev1.Pod {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name))).To(Succeed())
		return pods.Items
	}
	waitAllReady := func(n int) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			pods := allPods(g)
			g.Expect(pods).To(HaveLen(n))
			for i := range pods {
				g.Expect(podIsReady(&pods[i])).To(BeTrue(), "pod %s not ready", pods[i].Name)
			}
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}
	setImage := func(set *sidecarsv1alpha1.SidecarSet, tag string, mutate ...func(*sidecarsv1alpha1.SidecarSet)) {
		GinkgoHelper()
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
				return err
			}
			set.Spec.Containers[0].Image = "example.com/proxy:" + tag
			for _, m := range mutate {
				m(set)
			}
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
	}
	// createBlockingPDB creates a PodDisruptionBudget with maxUnavailable over the
	// namespace's 3 pods whose status, as a stand-in for kube-controller-manager's
	// disruption controller (envtest runs none), allows no disruption yet.
	createBlockingPDB := func(maxUnavailable int32) *policyv1.PodDisruptionBudget {
		GinkgoHelper()
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.Name},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable: new(intstr.FromInt32(maxUnavailable)),
				Selector:       &metav1.LabelSelector{MatchLabels: selector},
			},
		}
		Expect(k8sClient.Create(ctx, pdb)).To(Succeed())
		pdb.Status = policyv1.PodDisruptionBudgetStatus{
			ObservedGeneration: pdb.Generation, DisruptionsAllowed: 0,
			CurrentHealthy: 3, DesiredHealthy: 3, ExpectedPods: 3,
		}
		Expect(k8sClient.Status().Update(ctx, pdb)).To(Succeed())
		return pdb
	}
	// pauseInjection pauses the set's injection and waits until the webhook sees it.
	pauseInjection := func(set *sidecarsv1alpha1.SidecarSet) {
		GinkgoHelper()
		setImage(set, strings.TrimPrefix(set.Spec.Containers[0].Image, "example.com/proxy:"),
			func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Injection.Paused = true })
		Eventually(func(g Gomega) {
			probe := utiltesting.MakePod("", ns.Name).Labels(selector).Obj()
			probe.GenerateName = "probe-"
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).NotTo(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
	}
	proxyImage := func(p *corev1.Pod) string {
		for _, c := range p.Spec.InitContainers {
			if c.Name == "proxy" {
				return c.Image
			}
		}
		return ""
	}
	countAt := func(g Gomega, tag string) int {
		n := 0
		for _, p := range allPods(g) {
			if proxyImage(&p) == "example.com/proxy:"+tag {
				n++
			}
		}
		return n
	}

	It("rolls a new image over 20 pods, never more than maxUnavailable at once, draining each pod first", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(3)).Obj())
		createPods(20, nil)
		waitAllReady(20)

		pw := watchPods(ns.Name)
		DeferCleanup(pw.stop)
		setImage(set, "v2")

		By("watching kubectl get scs while the counters move")
		Eventually(func(g Gomega) {
			out, err := kubectl("get", "scs", set.Name, "--no-headers", "-o", "custom-columns=UPDATED:.status.updatedPods")
			g.Expect(err).NotTo(HaveOccurred())
			var updated int
			_, _ = fmt.Sscan(out, &updated)
			g.Expect(updated).To(And(BeNumerically(">", 0), BeNumerically("<", 20)))
			table, err := kubectl("get", "scs", set.Name)
			g.Expect(err).NotTo(HaveOccurred())
			GinkgoWriter.Printf("kubectl get scs (mid-rollout):\n%s", table)
		}).WithTimeout(60 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status).To(And(
				HaveField("MatchedPods", BeEquivalentTo(20)), HaveField("UpdatedPods", BeEquivalentTo(20)),
				HaveField("ReadyPods", BeEquivalentTo(20)), HaveField("UpdatedReadyPods", BeEquivalentTo(20)),
				HaveField("NotUpgradablePods", BeEquivalentTo(0)), HaveField("MissingPods", BeEquivalentTo(0))))
			g.Expect(set.Status.CurrentRevision).To(Equal(set.Status.UpdateRevision))
			g.Expect(meta.IsStatusConditionTrue(set.Status.Conditions, sidecarsv1alpha1.ConditionReady)).To(BeTrue())
			g.Expect(meta.IsStatusConditionFalse(set.Status.Conditions, sidecarsv1alpha1.ConditionProgressing)).To(BeTrue())
			g.Expect(meta.IsStatusConditionFalse(set.Status.Conditions, sidecarsv1alpha1.ConditionDegraded)).To(BeTrue())
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		waitAllReady(20)

		maxUnavail, images, undrained := pw.snapshot()
		Expect(maxUnavail).To(BeNumerically("<=", 3), "pods unavailable at once")
		Expect(maxUnavail).To(BeNumerically(">", 0), "the watch saw the rollout")
		Expect(undrained).To(BeEmpty(), "pods whose image changed before they left their Services")
		Expect(images).To(HaveLen(20))
		for name, seen := range images {
			Expect(seen).To(Equal([]string{"example.com/proxy:v1", "example.com/proxy:v2"}), "images of %s", name)
		}
		for _, p := range allPods(Default) {
			Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			Expect(p.Status.ContainerStatuses[0].RestartCount).To(BeZero(), "the app container of %s restarted", p.Name)
		}

		var events eventsv1List
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.List(ctx, &events.EventList)).To(Succeed())
			g.Expect(events.reasonsFor(set.Name)).To(ContainElements("UpgradeStarted", "UpgradeFinished"))
		}).Should(Succeed())

		table, err := kubectl("get", "scs", set.Name)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("kubectl get scs (done):\n%s", table)
		Expect(table).To(MatchRegexp(`%s\s+20\s+20\s+20\s+%s`, set.Name, set.Status.UpdateRevision))
		describe, err := kubectl("describe", "scs", set.Name)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("kubectl describe scs:\n%s", describe)
		Expect(describe).To(And(ContainSubstring("RolloutComplete"), ContainSubstring("UpgradeStarted"),
			ContainSubstring("Progressing")))
	})

	// Serial: it stops the manager every spec relies on.
	It("rolls two workloads in parallel, each within its own maxUnavailable", func() {
		set := createSet(newSet("v1").Obj()) // maxUnavailable 1 per workload, no total cap
		createPodsOf("api", 3, nil)
		createPodsOf("web", 3, nil)
		waitAllReady(6)
		pw := watchPods(ns.Name)
		DeferCleanup(pw.stop)

		setImage(set, "v2")
		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(60 * time.Second).Should(Equal(6))
		waitAllReady(6)
		maxUnavail, _, undrained := pw.snapshot()
		Expect(pw.byWorkload()).To(Equal(map[string]int{"api": 1, "web": 1}), "most pods of each workload unavailable at once")
		Expect(maxUnavail).To(Equal(2), "the two workloads rolled side by side")
		Expect(undrained).To(BeEmpty())
	})

	It("does not let an injected pod that never runs, in another namespace, hold the rollout", func() {
		set := createSet(newSet("v1").Obj())
		other := spec.Namespace("rollout-tenant-", nil)
		// No kubelet stand-in runs other's pods: this one stays Pending, never Ready.
		pending := spec.Pod("stuck").Obj()
		pending.Namespace = other.Name
		Expect(k8sClient.Create(ctx, pending)).To(Succeed())
		Expect(pending.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		createPods(3, nil)
		waitAllReady(3)

		setImage(set, "v2")
		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(60*time.Second).Should(Equal(3),
			"the Pending pod held the rollout of the ready ones")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			// The Pending pod went first, for free: its spec now asks for v2, which it will
			// start on if it ever runs.
			g.Expect(set.Status.UpdatedPods).To(BeEquivalentTo(4))
			g.Expect(meta.IsStatusConditionFalse(set.Status.Conditions, sidecarsv1alpha1.ConditionProgressing)).To(BeTrue())
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pending), pending)).To(Succeed())
		Expect(proxyImage(pending)).To(Equal("example.com/proxy:v2"))
	})

	It("resumes a rollout after the manager restarts, without patching a pod twice", Serial, func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(2)).Obj())
		createPods(8, nil)
		waitAllReady(8)
		pw := watchPods(ns.Name)
		DeferCleanup(pw.stop)
		setImage(set, "v2")

		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 2))
		By("stopping the manager mid-rollout")
		stopManager()
		Consistently(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(2 * time.Second).Should(BeNumerically("<", 8))
		By("starting it again")
		stopManager = startManager()

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(8))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		maxUnavail, images, undrained := pw.snapshot()
		Expect(maxUnavail).To(BeNumerically("<=", 2))
		Expect(undrained).To(BeEmpty())
		for name, seen := range images {
			Expect(seen).To(Equal([]string{"example.com/proxy:v1", "example.com/proxy:v2"}), "images of %s", name)
		}
	})

	It("keeps the partition on the old revision, stops when paused and resumes", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromString("100%")).Partition(intstr.FromInt32(2)).Obj())
		createPods(5, nil)
		waitAllReady(5)
		setImage(set, "v2")

		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(30 * time.Second).Should(Equal(3))
		Consistently(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(2 * time.Second).Should(Equal(3))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedPods).To(BeEquivalentTo(3))
		}).Should(Succeed())

		By("pausing, then lifting the partition: nothing moves")
		setImage(set, "v2", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.Paused = true
			s.Spec.UpdateStrategy.Partition = nil
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(set.Status.Conditions, sidecarsv1alpha1.ConditionPaused)).To(BeTrue())
		}).Should(Succeed())
		Consistently(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(3 * time.Second).Should(Equal(3))

		By("unpausing: the rest follows")
		setImage(set, "v2", func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.UpdateStrategy.Paused = false })
		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(30 * time.Second).Should(Equal(5))
	})

	It("reports a change that cannot be applied in place, and evicts within a PodDisruptionBudget", func() {
		set := createSet(newSet("v1").Obj())
		createPods(3, nil)
		waitAllReady(3)

		By("changing the sidecar's env, which a running pod cannot take")
		setImage(set, "v1", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "strict"}}
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.NotUpgradablePods).To(BeEquivalentTo(3))
			g.Expect(meta.IsStatusConditionTrue(set.Status.Conditions, sidecarsv1alpha1.ConditionDegraded)).To(BeTrue())
			for _, p := range allPods(g) {
				g.Expect(conditionIs(&p, sidecarsv1alpha1.UpgradableCondition, corev1.ConditionFalse)).To(BeTrue())
			}
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("switching to Evict behind a PodDisruptionBudget that allows no disruption")
		pdb := createBlockingPDB(0)
		setImage(set, "v1", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.OnImmutableChange = sidecarsv1alpha1.ImmutableChangeEvict
		})
		Consistently(func(g Gomega) []corev1.Pod { return allPods(g) }).WithTimeout(3 * time.Second).Should(HaveLen(3))
		var events eventsv1List
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.List(ctx, &events.EventList)).To(Succeed())
			g.Expect(events.reasonsFor(set.Name)).To(ContainElement("EvictionBlocked"))
		}).Should(Succeed())

		By("removing the budget: pods are evicted")
		Expect(k8sClient.Delete(ctx, pdb)).To(Succeed())
		Eventually(func(g Gomega) []corev1.Pod { return allPods(g) }).WithTimeout(30 * time.Second).Should(BeEmpty())
	})

	It("resizes a sidecar's CPU in place without draining, and drains for a memory change", func() {
		cpu := func(v string) corev1.ResourceList {
			return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v)}
		}
		set := createSet(newSet("v1").Obj())
		setImage(set, "v1", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: cpu("100m")}
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
		}).Should(Succeed())
		createPods(2, nil)
		waitAllReady(2)
		pw := watchPods(ns.Name)
		DeferCleanup(pw.stop)

		By("raising the CPU request: resized through pods/resize, no drain")
		setImage(set, "v1", func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Containers[0].Resources.Requests = cpu("250m") })
		Eventually(func(g Gomega) {
			for _, p := range allPods(g) {
				g.Expect(p.Spec.InitContainers[0].Resources.Requests.Cpu().String()).To(Equal("250m"))
				g.Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(2))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		pw.mu.Lock()
		drained := len(pw.drained)
		pw.mu.Unlock()
		Expect(drained).To(BeZero(), "a CPU resize needs no drain")

		By("setting a memory limit: the pod drains first (resizePolicy RestartContainer)")
		setImage(set, "v1", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("64Mi")
		})
		Eventually(func(g Gomega) {
			for _, p := range allPods(g) {
				g.Expect(p.Spec.InitContainers[0].Resources.Requests.Memory().String()).To(Equal("64Mi"))
				g.Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(2))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		pw.mu.Lock()
		defer pw.mu.Unlock()
		Expect(pw.drained).To(HaveLen(2), "a memory resize drains each pod")
	})

	It("keeps a pod's allowed resources override through an image rollout and a resize of the set", func() {
		cpu := func(v string) corev1.ResourceList {
			return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v)}
		}
		set := createSet(newSet("v1").Obj())
		setImage(set, "v1", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: cpu("100m"), Limits: cpu("500m")}
			s.Spec.Containers[0].Overrides = []sidecarsv1alpha1.OverridableField{sidecarsv1alpha1.OverrideResources}
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			probe := utiltesting.MakePod("", ns.Name).Labels(selector).Obj()
			probe.GenerateName = "probe-"
			probe.Annotations = map[string]string{sidecarsv1alpha1.OverrideAnnotation(set.Name, "proxy", sidecarsv1alpha1.OverrideResources): `{}`}
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		}).Should(Succeed())
		p := utiltesting.MakePod("web-00", ns.Name).Labels(selector).
			Annotation(sidecarsv1alpha1.OverrideAnnotation(set.Name, "proxy", sidecarsv1alpha1.OverrideResources), `{"requests":{"cpu":"50m"}}`).Obj()
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(p.Spec.InitContainers[0].Resources.Requests.Cpu().String()).To(Equal("50m"))
		waitAllReady(1)

		By("rolling out a new image")
		setImage(set, "v2")
		Eventually(func(g Gomega) {
			pods := allPods(g)
			g.Expect(pods).To(HaveLen(1))
			g.Expect(proxyImage(&pods[0])).To(HaveSuffix(":v2"))
			g.Expect(pods[0].Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			g.Expect(pods[0].Spec.InitContainers[0].Resources.Requests.Cpu().String()).To(Equal("50m"))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		By("changing the set's resources: the limit follows the set, the overridden request stays")
		setImage(set, "v2", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: cpu("200m"), Limits: cpu("400m")}
		})
		Eventually(func(g Gomega) {
			pods := allPods(g)
			g.Expect(pods[0].Spec.InitContainers[0].Resources.Limits.Cpu().String()).To(Equal("400m"))
			g.Expect(pods[0].Spec.InitContainers[0].Resources.Requests.Cpu().String()).To(Equal("50m"))
			g.Expect(pods[0].Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(1))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		records, err := sidecarsv1alpha1.ParseInjectionRecords(allPods(Default)[0].Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records[set.Name].Overrides).To(HaveKey("proxy"))
	})

	It("prunes old revisions beyond revisionHistoryLimit, never one a pod still runs", func() {
		set := createSet(newSet("v1").UpdateType(sidecarsv1alpha1.OnPodRestartStrategyType).RevisionHistoryLimit(1).Obj())
		createPods(1, nil)
		waitAllReady(1)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
		first := set.Status.UpdateRevision

		revisions := func(g Gomega) []string {
			var list appsv1.ControllerRevisionList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(operatorNamespace),
				client.MatchingLabels{sidecarsv1alpha1.RevisionSetLabel: set.Name})).To(Succeed())
			var names []string
			for _, cr := range list.Items {
				names = append(names, cr.Name)
			}
			return names
		}
		var seen []string
		for _, tag := range []string{"v2", "v3", "v4"} {
			setImage(set, tag)
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
				g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			}).Should(Succeed())
			seen = append(seen, set.Status.UpdateRevision)
		}
		// Kept: the update revision, one more (the limit), and the one the pod runs
		// (OnPodRestart leaves it on the first), which is older than both.
		Eventually(revisions).Should(ConsistOf(first, seen[1], seen[2]))

		By("rolling back to the first spec, which reuses its revision")
		setImage(set, "v1")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdateRevision).To(Equal(first))
		}).Should(Succeed())
	})

	It("rolls running pods back in place when injection is pinned to an earlier revision", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromString("100%")).Obj())
		first := set.Status.UpdateRevision
		createPods(3, nil)
		waitAllReady(3)
		setImage(set, "v2")
		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(30 * time.Second).Should(Equal(3))

		By("pinning spec.injection.revision to the first revision")
		setImage(set, "v2", func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Injection.Revision = first })
		Eventually(func(g Gomega) int { return countAt(g, "v1") }).WithTimeout(30 * time.Second).Should(Equal(3))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdateRevision).To(Equal(first))
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("counts a pod created while injection is paused as missing", func() {
		set := createSet(newSet("v1").Obj())
		pauseInjection(set)
		createPods(1, nil)

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.MissingPods).To(BeEquivalentTo(1))
			g.Expect(set.Status.MatchedPods).To(BeEquivalentTo(1))
			cond := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionDegraded)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(sidecarsv1alpha1.ReasonPodsMissing))
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

	// The unhappy path: every pod comes back, and the rollout says why.

	setCondition := func(g Gomega, set *sidecarsv1alpha1.SidecarSet, t string) *metav1.Condition {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
		cond := meta.FindStatusCondition(set.Status.Conditions, t)
		g.Expect(cond).NotTo(BeNil(), "condition %s", t)
		return cond
	}
	upgrading := func(g Gomega) []string {
		var names []string
		for _, p := range allPods(g) {
			if _, ok := p.Annotations[sidecarsv1alpha1.UpgradeAnnotation]; ok {
				names = append(names, p.Name)
			}
		}
		return names
	}
	// everyPodBack: every pod Ready, its gate True, no upgrade state left.
	everyPodBack := func(n int) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			pods := allPods(g)
			g.Expect(pods).To(HaveLen(n))
			for i := range pods {
				p := &pods[i]
				g.Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation), "pod %s", p.Name)
				g.Expect(conditionIs(p, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue)).To(BeTrue(), "gate of %s", p.Name)
				g.Expect(podIsReady(p)).To(BeTrue(), "pod %s not ready", p.Name)
			}
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}

	It("stops a broken image at maxUnavailable, says why, and a revert brings every pod back", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(2)).ProgressDeadlineSeconds(2).Obj())
		createPods(5, nil)
		waitAllReady(5)

		By("rolling out a tag that never pulls")
		setImage(set, "broken")
		Eventually(func(g Gomega) {
			degraded := setCondition(g, set, sidecarsv1alpha1.ConditionDegraded)
			g.Expect(degraded.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(degraded.Reason).To(Equal(sidecarsv1alpha1.ReasonUpgradeFailed))
			progressing := setCondition(g, set, sidecarsv1alpha1.ConditionProgressing)
			g.Expect(progressing.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(progressing.Reason).To(Equal(sidecarsv1alpha1.ReasonProgressDeadlineExceeded))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) int { return countAt(g, "broken") }).WithTimeout(3 * time.Second).Should(Equal(2))
		Expect(set.Status.NotUpgradablePods).To(BeEquivalentTo(2))
		var events eventsv1List
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.List(ctx, &events.EventList, client.InNamespace(ns.Name))).To(Succeed())
			g.Expect(events.notesFor(sidecarsv1alpha1.ReasonUpgradeFailed)).To(ContainElement(ContainSubstring("ImagePullBackOff")))
		}).Should(Succeed())
		failed := 0
		for _, p := range allPods(Default) {
			if conditionIs(&p, sidecarsv1alpha1.UpgradableCondition, corev1.ConditionFalse) {
				failed++
			}
		}
		Expect(failed).To(Equal(2), "pods whose upgradable condition reports the failure")

		By("putting the old image back")
		setImage(set, "v1")
		everyPodBack(5)
		Expect(countAt(Default, "v1")).To(Equal(5))
		Eventually(func(g Gomega) {
			g.Expect(setCondition(g, set, sidecarsv1alpha1.ConditionDegraded).Status).To(Equal(metav1.ConditionFalse))
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(5))
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

	It("lets every pod go when its SidecarSet is deleted mid-rollout", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(2)).DrainSeconds(3600).Obj())
		createPods(4, nil)
		waitAllReady(4)
		setImage(set, "v2")
		Eventually(upgrading).WithTimeout(20 * time.Second).Should(HaveLen(2))
		Eventually(func(g Gomega) int {
			n := 0
			for _, p := range allPods(g) {
				if conditionIs(&p, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionFalse) {
					n++
				}
			}
			return n
		}).Should(Equal(2), "two pods drained, waiting out drain.seconds")

		By("deleting the SidecarSet")
		Expect(k8sClient.Delete(ctx, set)).To(Succeed())
		everyPodBack(4)
	})

	It("lets a pod go that leaves the set's selection or opts out mid-upgrade", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(2)).DrainSeconds(3600).Obj())
		createPods(3, nil)
		waitAllReady(3)
		setImage(set, "v2")
		var drained []string
		Eventually(func(g Gomega) []string { drained = upgrading(g); return drained }).WithTimeout(20 * time.Second).Should(HaveLen(2))

		By("relabelling one drained pod out of the selector, and opting the other out")
		for i, name := range drained {
			Eventually(func() error {
				p := &corev1.Pod{}
				if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, p); err != nil {
					return err
				}
				if i == 0 {
					delete(p.Labels, specLabel)
				} else {
					p.Labels[sidecarsv1alpha1.InjectLabel] = "false"
				}
				return k8sClient.Update(ctx, p)
			}).Should(Succeed())
		}
		Eventually(func(g Gomega) {
			for _, name := range drained {
				p := &corev1.Pod{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, p)).To(Succeed())
				g.Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation), "pod %s", name)
				g.Expect(conditionIs(p, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue)).To(BeTrue(), "gate of %s", name)
				g.Expect(podIsReady(p)).To(BeTrue(), "pod %s", name)
			}
		}).WithTimeout(20 * time.Second).Should(Succeed())
		// The event follows the release's one write, sent asynchronously.
		Eventually(func(g Gomega) {
			var events eventsv1List
			g.Expect(k8sClient.List(ctx, &events.EventList, client.InNamespace(ns.Name))).To(Succeed())
			g.Expect(events.notesFor(sidecarsv1alpha1.ReasonLeftSidecarSet)).To(HaveLen(2))
		}).Should(Succeed())
	})

	It("completes a rollout although a finished Job pod and never-injected pods share the selector", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(1)).Obj())
		createPods(3, nil)
		job := utiltesting.MakePod("job-0", ns.Name).Labels(selector).Label(succeededLabel, "true").Obj()
		Expect(k8sClient.Create(ctx, job)).To(Succeed())

		By("creating two pods while injection is paused")
		pauseInjection(set)
		for _, name := range []string{"late-0", "late-1"} {
			Expect(k8sClient.Create(ctx, utiltesting.MakePod(name, ns.Name).Labels(selector).Label(notReadyLabel, "true").Obj())).To(Succeed())
		}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.MissingPods).To(BeEquivalentTo(2))
			g.Expect(set.Status.MatchedPods).To(BeEquivalentTo(5), "the finished Job pod is not counted")
		}).WithTimeout(20 * time.Second).Should(Succeed())

		setImage(set, "v2")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
			g.Expect(upgrading(g)).To(BeEmpty())
			progressing := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionProgressing)
			g.Expect(progressing).NotTo(BeNil())
			g.Expect(progressing.Reason).To(Equal(sidecarsv1alpha1.ReasonRolloutComplete))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
		Expect(proxyImage(job)).To(Equal("example.com/proxy:v1"), "a finished pod is not upgraded")
	})

	It("holds in-place drains behind a PodDisruptionBudget, spending its disruptions as evictions do", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(3)).Obj())
		createPods(3, nil)
		waitAllReady(3)
		pdb := createBlockingPDB(1)

		setImage(set, "v2")
		Eventually(func(g Gomega) string {
			return setCondition(g, set, sidecarsv1alpha1.ConditionProgressing).Reason
		}).WithTimeout(20 * time.Second).Should(Equal(sidecarsv1alpha1.ReasonDisruptionBudget))
		Consistently(func(g Gomega) []string { return upgrading(g) }).WithTimeout(3 * time.Second).Should(BeEmpty())

		By("the budget allowing one disruption: one pod drains, spending it, then gives it back")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
		pdb.Status.DisruptionsAllowed, pdb.Status.DesiredHealthy = 1, 2
		Expect(k8sClient.Status().Update(ctx, pdb)).To(Succeed())
		// The held pods back off (up to 30 s) and are tried again.
		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(45 * time.Second).Should(Equal(1))
		Consistently(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(3 * time.Second).Should(Equal(1))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
		Expect(pdb.Status.DisruptionsAllowed).To(BeZero(), "the drain spent the budget's one disruption")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
			g.Expect(pdb.Status.DisruptedPods).To(BeEmpty(), "the finished pod counts as healthy again")
			g.Expect(upgrading(g)).To(BeEmpty())
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

	It("goes on with the other pods when the API server refuses one pod's writes", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(1)).Obj())
		createPods(4, nil)
		waitAllReady(4)
		refused := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "web-00"}, refused)).To(Succeed())
		refused.Labels["refuse-updates"] = "true"
		Expect(k8sClient.Update(ctx, refused)).To(Succeed())

		By("a ValidatingAdmissionPolicy refusing every update of web-00, its status included")
		refusePodUpdates(ns.Name, []string{"pods", "pods/status"},
			"!has(oldObject.metadata.labels) || !('refuse-updates' in oldObject.metadata.labels)", "this pod refuses updates")
		Eventually(func(g Gomega) {
			p := refused.DeepCopy()
			p.Annotations = map[string]string{"probe": "1"}
			g.Expect(k8sClient.Status().Update(ctx, p, client.DryRunAll)).NotTo(Succeed())
		}).Should(Succeed())

		setImage(set, "v2")
		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(30 * time.Second).Should(Equal(3))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		var events eventsv1List
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.List(ctx, &events.EventList)).To(Succeed())
			g.Expect(events.regarding(set.Name).notesFor("PodUpdateFailed")).To(ContainElement(ContainSubstring("this pod refuses updates")))
		}).Should(Succeed())
	})

	It("keeps another SidecarSet sharing the pods Ready, its status unchanged, while one set rolls out", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(2)).Obj())
		other := createSet(spec.Set("audit").
			Sidecar(utiltesting.MakeSidecar("audit", "example.com/audit:v1").Obj()).Obj())
		createPods(4, nil)
		waitAllReady(4)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(other), other)).To(Succeed())
			g.Expect(other.Status.ReadyPods).To(BeEquivalentTo(4))
			g.Expect(meta.IsStatusConditionTrue(other.Status.Conditions, sidecarsv1alpha1.ConditionReady)).To(BeTrue())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		written := other.ResourceVersion

		setImage(set, "v2")
		By("every poll during the rollout: the other set Ready, its status not rewritten")
		drained := false
		Eventually(func(g Gomega) int {
			current := &sidecarsv1alpha1.SidecarSet{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(other), current)).To(Succeed())
			Expect(current.ResourceVersion).To(Equal(written), "the other set's status was rewritten: %+v", current.Status)
			for _, p := range allPods(g) {
				drained = drained || upgrade.HasCondition(&p, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionFalse)
			}
			return countAt(g, "v2")
		}).WithPolling(100 * time.Millisecond).WithTimeout(30 * time.Second).Should(Equal(4))
		Expect(drained).To(BeTrue(), "no pod was seen drained: the spec proved nothing")
	})

	It("fails the upgrade of a pod whose image swap an admission policy refuses, and puts it back into its Services", func() {
		set := createSet(newSet("v1").MaxUnavailable(intstr.FromInt32(2)).Obj())
		createPods(4, nil)
		waitAllReady(4)
		refused := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "web-00"}, refused)).To(Succeed())
		refused.Labels["pinned-images"] = "true"
		Expect(k8sClient.Update(ctx, refused)).To(Succeed())

		By("a ValidatingAdmissionPolicy refusing any image change of web-00 (its drain, a status write, passes)")
		refusePodUpdates(ns.Name, []string{"pods"},
			"!has(oldObject.metadata.labels) || !('pinned-images' in oldObject.metadata.labels) || "+
				"object.spec.initContainers.map(c, c.image) == oldObject.spec.initContainers.map(c, c.image)",
			"images of this pod are pinned")
		Eventually(func(g Gomega) {
			p := refused.DeepCopy()
			p.Spec.InitContainers[0].Image = "example.com/other:v9"
			g.Expect(k8sClient.Update(ctx, p, client.DryRunAll)).NotTo(Succeed())
		}).Should(Succeed())

		setImage(set, "v2")
		Eventually(func(g Gomega) int { return countAt(g, "v2") }).WithTimeout(30 * time.Second).Should(Equal(3))
		By("web-00: failed, saying why, back in its Services on its old sidecar")
		Eventually(func(g Gomega) {
			pod := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(refused), pod)).To(Succeed())
			state, err := upgrade.ParseState(pod)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(state).NotTo(BeNil())
			g.Expect(state.Failed).To(ContainSubstring("images of this pod are pinned"))
			g.Expect(upgrade.HasCondition(pod, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue)).To(BeTrue())
			g.Expect(upgrade.HasCondition(pod, sidecarsv1alpha1.UpgradableCondition, corev1.ConditionFalse)).To(BeTrue())
			g.Expect(pod.Spec.InitContainers).To(ContainElement(And(
				HaveField("Name", "proxy"), HaveField("Image", "example.com/proxy:v1"))))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
			g.Expect(meta.IsStatusConditionTrue(set.Status.Conditions, sidecarsv1alpha1.ConditionDegraded)).To(BeTrue())
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

	It("resizes resourcesPolicy sidecars in place when their app is resized, past the hysteresis only", func() {
		set := createSet(spec.Set("proxy").DrainSeconds(1).
			MaxUnavailable(intstr.FromInt32(2)).
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:v1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
				CPU:    &sidecarsv1alpha1.ResourceRule{Percent: 10},
				Memory: &sidecarsv1alpha1.ResourceRule{Percent: 10},
			}).Obj()).Obj())
		app := func(cpu, memory string) corev1.ResourceRequirements {
			return corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}
		}
		for _, name := range []string{"web-00", "web-01"} {
			Expect(k8sClient.Create(ctx, utiltesting.MakePod(name, ns.Name).Labels(selector).
				Containers(corev1.Container{Name: "app", Image: "example.com/app:1", Resources: app("1", "1000Mi")}).Obj())).To(Succeed())
		}
		waitAllReady(2)
		pw := watchPods(ns.Name)
		DeferCleanup(pw.stop)
		proxyRequests := func(g Gomega, name string) (string, string) {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, p)).To(Succeed())
			r := p.Spec.InitContainers[0].Resources.Requests
			return r.Cpu().String(), r.Memory().String()
		}
		resizeApp := func(name string, r corev1.ResourceRequirements) {
			GinkgoHelper()
			p := &corev1.Pod{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, p)).To(Succeed())
			patch := client.StrategicMergeFrom(p.DeepCopy())
			p.Spec.Containers[0].Resources = r
			Expect(k8sClient.SubResource("resize").Patch(ctx, p, patch)).To(Succeed())
		}
		Eventually(func(g Gomega) string { c, _ := proxyRequests(g, "web-00"); return c }).Should(Equal("100m"))

		By("doubling web-00's app CPU through pods/resize: its proxy follows, without a drain")
		resizeApp("web-00", app("2", "1000Mi"))
		Eventually(func(g Gomega) string { c, _ := proxyRequests(g, "web-00"); return c }).WithTimeout(20 * time.Second).Should(Equal("200m"))
		Eventually(upgrading).Should(BeEmpty())
		resized := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "web-00"}, resized)).To(Succeed())
		records, err := sidecarsv1alpha1.ParseInjectionRecords(resized.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records[set.Name].Resized).To(HaveKey("proxy"), "the injection record keeps the new values")
		resizedTo := records[set.Name].Resized["proxy"].Requests[corev1.ResourceCPU]
		Expect(resizedTo.String()).To(Equal("200m"))
		pw.mu.Lock()
		Expect(pw.drained).To(BeEmpty(), "a CPU resize needs no drain")
		pw.mu.Unlock()

		By("resizing web-01's app by less than the step, three times: its proxy stays")
		for _, cpu := range []string{"1050m", "960m", "1080m"} {
			resizeApp("web-01", app(cpu, "1000Mi"))
			time.Sleep(time.Second)
		}
		Consistently(func(g Gomega) string { c, _ := proxyRequests(g, "web-01"); return c }).WithTimeout(3 * time.Second).Should(Equal("100m"))

		By("doubling web-01's app memory: its proxy follows through a drain")
		resizeApp("web-01", app("1080m", "2000Mi"))
		Eventually(func(g Gomega) string { _, m := proxyRequests(g, "web-01"); return m }).WithTimeout(20 * time.Second).Should(Equal("200Mi"))
		Eventually(upgrading).Should(BeEmpty())
		pw.mu.Lock()
		Expect(pw.drained).To(HaveKey("web-01"), "a memory resize restarts the sidecar: it drains first")
		pw.mu.Unlock()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(2))
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})

	// Serial: it reads the manager's reconcile counters, which every spec's objects move.
	It("makes no API writes at steady state", Serial, func() {
		set := createSet(newSet("v1").Obj())
		createPods(3, nil)
		waitAllReady(3)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
		}).Should(Succeed())

		versions := func(g Gomega) map[string]string {
			out := map[string]string{}
			for _, p := range allPods(g) {
				out[p.Name] = p.ResourceVersion
			}
			s := &sidecarsv1alpha1.SidecarSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), s)).To(Succeed())
			out["sidecarset"] = s.ResourceVersion
			return out
		}
		By("waiting until neither controller has reconciled anything for a second")
		idle := func() (sets, pods float64) {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				sets, pods = reconciles(g, "sidecarset"), reconciles(g, "pod")
				g.Consistently(func(g Gomega) []float64 {
					return []float64{reconciles(g, "sidecarset"), reconciles(g, "pod")}
				}).WithTimeout(time.Second).WithPolling(100 * time.Millisecond).Should(Equal([]float64{sets, pods}))
			}).WithTimeout(30 * time.Second).Should(Succeed())
			return sets, pods
		}
		setsBefore, podsBefore := idle()
		before := versions(Default)

		By("an annotation on the set and a label on a pod: both controllers reconcile, neither writes")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
		set.Annotations = map[string]string{"poke": "1"}
		Expect(k8sClient.Update(ctx, set)).To(Succeed())
		before["sidecarset"] = set.ResourceVersion
		pod := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "web-00"}, pod)).To(Succeed())
		pod.Labels["poke"] = "1"
		Expect(k8sClient.Update(ctx, pod)).To(Succeed())
		before[pod.Name] = pod.ResourceVersion
		// A reconcile is counted once it has returned, with whatever it wrote already
		// written: the writes it made would show below.
		Eventually(func(g Gomega) float64 { return reconciles(g, "sidecarset") }).Should(BeNumerically(">", setsBefore),
			"the SidecarSet controller reconciled after the poke")
		Eventually(func(g Gomega) float64 { return reconciles(g, "pod") }).Should(BeNumerically(">", podsBefore),
			"the pod controller reconciled after the poke")
		Consistently(versions).WithTimeout(3 * time.Second).Should(Equal(before))
	})
})

// eventsv1List lists events.k8s.io/v1 Events and says which reasons concern an object.
type eventsv1List struct{ EventList eventsv1.EventList }

// notesFor lists the notes of the events of a reason.
func (l *eventsv1List) notesFor(reason string) []string {
	var out []string
	for _, e := range l.EventList.Items {
		if e.Reason == reason {
			out = append(out, e.Note)
		}
	}
	return out
}

// regarding keeps the events regarding the object of this name.
func (l *eventsv1List) regarding(name string) *eventsv1List {
	out := &eventsv1List{}
	for _, e := range l.EventList.Items {
		if e.Regarding.Name == name {
			out.EventList.Items = append(out.EventList.Items, e)
		}
	}
	return out
}

func (l *eventsv1List) reasonsFor(name string) []string {
	var out []string
	for _, e := range l.EventList.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

// refusePodUpdates installs, for this spec, a ValidatingAdmissionPolicy refusing UPDATEs
// of resources (pods, pods/status) in namespace where expression is false.
func refusePodUpdates(namespace string, resources []string, expression, message string) {
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "refuse-" + namespace + "-"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: new(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: resources},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: expression, Message: message}},
		},
	}
	Expect(k8sClient.Create(ctx, policy)).To(Succeed())
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	DeferCleanup(func() {
		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		Expect(k8sClient.Delete(ctx, policy)).To(Succeed())
	})
}

// reconciles is how many reconciles the suite's manager's controller of this name has
// finished without error (controller-runtime's controller_runtime_reconcile_total).
func reconciles(g Gomega, controller string) float64 {
	g.Expect(testEnv).NotTo(BeNil(), "the manager's metrics live in parallel process 1 only: a spec that reads them is Serial")
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["controller"] == controller && labels["result"] == "success" {
				return m.GetCounter().GetValue()
			}
		}
	}
	g.Expect(controller).To(BeEmpty(), "no controller_runtime_reconcile_total of controller %q", controller)
	return 0
}
