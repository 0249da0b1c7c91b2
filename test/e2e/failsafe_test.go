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
	"context"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// missingImage is a sidecar image that cannot be pulled: its registry is a closed port
// on loopback, so the kubelet fails fast and nothing leaves the machine.
const missingImage = "127.0.0.1:1/outrigger/sidecar:missing"

// The unhappy path on the real node: whatever goes wrong, every pod comes back, and
// kubectl shows why.
var _ = Describe("A rollout that fails safe, on a real node", func() {
	var (
		ns       *corev1.Namespace
		selector map[string]string
		set      *sidecarsv1alpha1.SidecarSet
	)
	BeforeEach(func() {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "failsafe-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		selector = map[string]string{"e2e": ns.Name}
		set = newSidecarSet("failsafe-"+ns.Name, ns.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		// IfNotPresent: the test images are in containerd already, and missingImage is
		// pulled (and fails) without a change of pull policy, which a running pod could
		// not take in place.
		set.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
		set.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromInt32(1))
		set.Spec.UpdateStrategy.ProgressDeadlineSeconds = ptr.To[int32](20)
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		})
	})

	createSet := func() {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			probe := appPod(ns.Name, selector)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
	}
	updateSet := func(mutate func(*sidecarsv1alpha1.SidecarSet)) {
		GinkgoHelper()
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
				return err
			}
			mutate(set)
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
	}
	setSidecarImage := func(image string) {
		GinkgoHelper()
		updateSet(func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Containers[0].Image = image })
	}
	deployment := func(replicas int32) *appsv1.Deployment {
		GinkgoHelper()
		return createReadyDeployment(ns.Name, selector, replicas)
	}
	deploymentPods := func(g Gomega) []corev1.Pod {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels(selector))).To(Succeed())
		var out []corev1.Pod
		for _, p := range pods.Items {
			if metav1.GetControllerOf(&p) != nil && metav1.GetControllerOf(&p).Kind == "ReplicaSet" && p.DeletionTimestamp == nil {
				out = append(out, p)
			}
		}
		return out
	}
	sidecarImage := func(p *corev1.Pod) string {
		for _, c := range p.Spec.InitContainers {
			if c.Name == sidecarName {
				return c.Image
			}
		}
		return ""
	}
	// allBackOn: every pod of the Deployment Ready on image, no upgrade state, and the
	// set reporting them updated and ready.
	allBackOn := func(image string, n int) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			pods := deploymentPods(g)
			g.Expect(pods).To(HaveLen(n))
			for i := range pods {
				p := &pods[i]
				g.Expect(sidecarImage(p)).To(Equal(image), "pod %s", p.Name)
				g.Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation), "pod %s", p.Name)
				g.Expect(podReady(p)).To(BeTrue(), "pod %s", p.Name)
			}
		}).WithTimeout(3 * time.Minute).Should(Succeed())
	}
	kubectlShows := func(args ...string) string {
		GinkgoHelper()
		out, err := node.Kubectl(ctx, args...)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("$ kubectl %s\n%s\n", strings.Join(args, " "), out)
		return string(out)
	}

	It("stops a broken image at the budget, says why, and a revert brings every pod back", func() {
		createSet()
		deployment(3)
		setSidecarImage(missingImage)

		By("naming, before the progress deadline, the pod the kubelet cannot start the new image on")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			progressing := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionProgressing)
			g.Expect(progressing).NotTo(BeNil())
			g.Expect(progressing.Reason).To(Equal(sidecarsv1alpha1.ReasonRollingOut))
			g.Expect(progressing.Message).To(ContainSubstring("The kubelet reports: " + ns.Name + "/web-"))
		}).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		kubectlShows("get", "scs", set.Name, "-o", "jsonpath={.status.conditions[?(@.type==\"Progressing\")].message}")

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			degraded := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionDegraded)
			g.Expect(degraded).NotTo(BeNil())
			g.Expect(degraded.Reason).To(Equal(sidecarsv1alpha1.ReasonUpgradeFailed))
			progressing := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionProgressing)
			g.Expect(progressing.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(progressing.Reason).To(Equal(sidecarsv1alpha1.ReasonProgressDeadlineExceeded))
		}).WithTimeout(3 * time.Minute).Should(Succeed())
		Consistently(func(g Gomega) int {
			n := 0
			for _, p := range deploymentPods(g) {
				if sidecarImage(&p) == missingImage {
					n++
				}
			}
			return n
		}).WithTimeout(10*time.Second).Should(Equal(1), "the broken image stops at maxUnavailable")

		var events eventsv1.EventList
		Expect(k8sClient.List(ctx, &events, client.InNamespace(ns.Name))).To(Succeed())
		var notes []string
		for _, e := range events.Items {
			if e.Reason == sidecarsv1alpha1.ReasonUpgradeFailed {
				notes = append(notes, e.Note)
			}
		}
		Expect(notes).To(ContainElement(Or(ContainSubstring("ImagePullBackOff"), ContainSubstring("ErrImagePull"))),
			"the failure names the kubelet's pull failure")
		Expect(kubectlShows("describe", "scs", set.Name)).To(ContainSubstring(sidecarsv1alpha1.ReasonUpgradeFailed))

		By("putting the old image back")
		setSidecarImage(images.SidecarV1)
		allBackOn(images.SidecarV1, 3)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(meta.IsStatusConditionFalse(set.Status.Conditions, sidecarsv1alpha1.ConditionDegraded)).To(BeTrue())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
		}).WithTimeout(time.Minute).Should(Succeed())
		kubectlShows("get", "scs", set.Name)
	})

	It("leaves no pod NotReady when the SidecarSet is deleted mid-rollout", func() {
		set.Spec.UpdateStrategy.Drain.Seconds = ptr.To[int32](600)
		set.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromInt32(2))
		createSet()
		deployment(3)
		setSidecarImage(images.SidecarV2)
		Eventually(func(g Gomega) int {
			n := 0
			for _, p := range deploymentPods(g) {
				if !podReady(&p) {
					n++
				}
			}
			return n
		}).WithTimeout(time.Minute).Should(Equal(2), "two pods drained, waiting out drain.seconds")

		By("deleting the SidecarSet")
		Expect(k8sClient.Delete(ctx, set)).To(Succeed())
		allBackOn(images.SidecarV1, 3)
	})

	It("completes a rollout over a Deployment when a finished Job pod and never-injected pods share its selector", func() {
		createSet()
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: ns.Name},
			Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: selector},
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
						Name: "app", Image: images.App, ImagePullPolicy: corev1.PullNever, Args: []string{"routes"},
					}}},
				},
			},
		}
		Expect(k8sClient.Create(ctx, job)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
			g.Expect(job.Status.Succeeded).To(BeEquivalentTo(1))
		}).WithTimeout(2 * time.Minute).Should(Succeed())

		By("creating a pod while injection is paused")
		updateSet(func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Injection.Paused = true })
		Eventually(func(g Gomega) {
			probe := appPod(ns.Name, selector)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).NotTo(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
		bare := appPod(ns.Name, selector)
		Expect(k8sClient.Create(ctx, bare)).To(Succeed())
		updateSet(func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Injection.Paused = false })
		// The webhook reads sets from its cache: until that has seen the set resumed, a
		// Deployment's pods would be created bare too (a loaded machine shows it).
		Eventually(func(g Gomega) {
			probe := appPod(ns.Name, selector)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedLabel, sidecarsv1alpha1.InjectedLabelValue))
		}).Should(Succeed())
		deployment(3)

		setSidecarImage(images.SidecarV2)
		allBackOn(images.SidecarV2, 3)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
			g.Expect(set.Status.MissingPods).To(BeEquivalentTo(1))
			progressing := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionProgressing)
			g.Expect(progressing.Reason).To(Equal(sidecarsv1alpha1.ReasonRolloutComplete))
		}).WithTimeout(time.Minute).Should(Succeed())
		kubectlShows("get", "scs", set.Name)
	})

	It("holds the in-place rollout behind a PodDisruptionBudget that allows no disruption", func() {
		createSet()
		deployment(2)
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.Name},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: new(intstr.FromInt32(2)),
				Selector:     &metav1.LabelSelector{MatchLabels: selector},
			},
		}
		Expect(k8sClient.Create(ctx, pdb)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
			g.Expect(pdb.Status.ObservedGeneration).To(Equal(pdb.Generation))
			g.Expect(pdb.Status.CurrentHealthy).To(BeEquivalentTo(2))
		}).WithTimeout(time.Minute).Should(Succeed(), "the disruption controller counted the pods")

		setSidecarImage(images.SidecarV2)
		Eventually(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			cond := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionProgressing)
			g.Expect(cond).NotTo(BeNil())
			return cond.Reason
		}).WithTimeout(time.Minute).Should(Equal(sidecarsv1alpha1.ReasonDisruptionBudget))
		Consistently(func(g Gomega) {
			for _, p := range deploymentPods(g) {
				g.Expect(sidecarImage(&p)).To(Equal(images.SidecarV1))
				g.Expect(podReady(&p)).To(BeTrue())
			}
		}).WithTimeout(10 * time.Second).Should(Succeed())
		kubectlShows("describe", "scs", set.Name)

		By("relaxing the budget to one disruption")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
		pdb.Spec.MinAvailable = new(intstr.FromInt32(1))
		Expect(k8sClient.Update(ctx, pdb)).To(Succeed())
		allBackOn(images.SidecarV2, 2)
	})

	It("rolls two Deployments in parallel, one pod of each at a time", func() {
		createSet()
		api := maps.Clone(selector)
		api["app"] = "api"
		web := maps.Clone(selector)
		web["app"] = "web"
		createReadyDeploymentNamed(ns.Name, "api", api, 3)
		createReadyDeploymentNamed(ns.Name, "web", web, 3)
		apiWatch, webWatch, both := watchUnavailable(ns.Name, api), watchUnavailable(ns.Name, web), watchUnavailable(ns.Name, selector)
		setSidecarImage(images.SidecarV2)
		allBackOn(images.SidecarV2, 6)
		Expect(apiWatch.stop()).To(Equal(1), "api pods unavailable at once, with maxUnavailable 1 per workload")
		Expect(webWatch.stop()).To(Equal(1), "web pods unavailable at once, with maxUnavailable 1 per workload")
		Expect(both.stop()).To(Equal(2), "the two Deployments rolled side by side")
	})

	It("does not let a Pending injected pod of another namespace hold a Deployment's rollout", func() {
		createSet()
		tenant := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}
		Expect(k8sClient.Create(ctx, tenant)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, tenant)).To(Succeed()) })
		stuck := appPod(tenant.Name, selector)
		stuck.Spec.NodeSelector = map[string]string{"outrigger.dev/no-such-node": "true"}
		Expect(k8sClient.Create(ctx, stuck)).To(Succeed())
		Expect(stuck.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "the tenant's pod was not injected")
		deployment(3)

		setSidecarImage(images.SidecarV2)
		allBackOn(images.SidecarV2, 3)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(stuck), stuck)).To(Succeed())
		Expect(stuck.Status.Phase).To(Equal(corev1.PodPending))
		Expect(sidecarImage(stuck)).To(Equal(images.SidecarV2), "the Pending pod went first, at no cost")
		kubectlShows("get", "scs", set.Name)
	})

	It("finishes a rollout within its budget although the manager is killed three times", func() {
		createSet()
		deployment(4)
		watcher := watchUnavailable(ns.Name, selector)
		setSidecarImage(images.SidecarV2)
		for i := range 3 {
			time.Sleep(time.Duration(1000+rand.IntN(4000)) * time.Millisecond) //nolint:gosec // a test's random moment
			By("killing the manager (SIGKILL, or a deployed leader pod deleted at once), then letting it come back")
			Expect(operator.Crash(ctx)).To(Succeed(), "crash %d", i+1)
		}
		allBackOn(images.SidecarV2, 4)
		Expect(watcher.stop()).To(BeNumerically("<=", 1), "pods unavailable at once, with maxUnavailable 1")
	})
})

// unavailableWatcher records the most pods of a selector that were unavailable at once:
// not Ready, or with an upgrade in flight.
type unavailableWatcher struct {
	mu     sync.Mutex
	now    map[string]bool
	most   int
	cancel context.CancelFunc
	done   chan struct{}
}

func watchUnavailable(namespace string, labels map[string]string) *unavailableWatcher {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{})
	Expect(err).NotTo(HaveOccurred())
	wctx, cancel := context.WithCancel(ctx)
	w, err := wc.Watch(wctx, &corev1.PodList{}, client.InNamespace(namespace), client.MatchingLabels(labels))
	Expect(err).NotTo(HaveOccurred())
	uw := &unavailableWatcher{now: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(uw.done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Error {
				continue
			}
			uw.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(uw.now, p.Name)
			} else {
				_, upgrading := p.Annotations[sidecarsv1alpha1.UpgradeAnnotation]
				uw.now[p.Name] = upgrading || !podReady(p)
			}
			n := 0
			for _, u := range uw.now {
				if u {
					n++
				}
			}
			uw.most = max(uw.most, n)
			uw.mu.Unlock()
		}
	}()
	return uw
}

func (uw *unavailableWatcher) stop() int {
	uw.cancel()
	<-uw.done
	uw.mu.Lock()
	defer uw.mu.Unlock()
	return uw.most
}
