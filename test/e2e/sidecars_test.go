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
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

const sidecarName = "proxy"

var _ = Describe("Sidecars on a real node", func() {
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

	sidecarSet := func(mode sidecarsv1alpha1.SidecarMode, image, readyDelay string) *sidecarsv1alpha1.SidecarSet {
		return newSidecarSet("e2e-"+ns.Name, ns.Name, selector, mode, image, readyDelay)
	}
	createSet := func(set *sidecarsv1alpha1.SidecarSet) {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			probe := appPod(ns.Name, selector)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
	}
	setImage := func(set *sidecarsv1alpha1.SidecarSet, mutate func(*sidecarsv1alpha1.SidecarContainer)) {
		GinkgoHelper()
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
				return err
			}
			mutate(&set.Spec.Containers[0])
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
	}

	It("starts a native sidecar and waits for its startupProbe before the app container starts", func() {
		createSet(sidecarSet(sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "3s"))
		pod := createReadyPod(appPod(ns.Name, selector))

		sidecar := statusOf(pod, sidecarName)
		app := statusOf(pod, "app")
		Expect(sidecar.State.Running).NotTo(BeNil())
		Expect(app.State.Running).NotTo(BeNil())
		GinkgoWriter.Printf("sidecar started %s, app started %s\n", sidecar.State.Running.StartedAt, app.State.Running.StartedAt)
		Expect(app.State.Running.StartedAt.Time).To(BeTemporally(">=", sidecar.State.Running.StartedAt.Add(2*time.Second)),
			"the app started before the sidecar's startupProbe passed (ready after 3s)")
		Expect(pod.Spec.InitContainers[0].Name).To(Equal(sidecarName), "placed BeforeInit")
	})

	DescribeTable("rolls a sidecar image out by restarting only the sidecar, drained first",
		func(mode sidecarsv1alpha1.SidecarMode) {
			set := sidecarSet(mode, images.SidecarV1, "1s")
			createSet(set)
			pod := createReadyPod(appPod(ns.Name, selector))
			before := pod.DeepCopy()
			oldSidecar := statusOf(before, sidecarName)

			rec := recordPod(pod)
			setImage(set, func(c *sidecarsv1alpha1.SidecarContainer) { c.Image = images.SidecarV2 })

			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
				st := statusOf(pod, sidecarName)
				g.Expect(st.ImageID).NotTo(Equal(oldSidecar.ImageID))
				g.Expect(st.Ready).To(BeTrue())
				g.Expect(podReady(pod)).To(BeTrue())
				g.Expect(pod.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			}).WithTimeout(2 * time.Minute).Should(Succeed())

			Expect(pod.UID).To(Equal(before.UID), "the pod was recreated")
			Expect(pod.Status.PodIP).To(Equal(before.Status.PodIP))
			Expect(statusOf(pod, "app").RestartCount).To(BeZero(), "the app container restarted")
			Expect(statusOf(pod, "app").ContainerID).To(Equal(statusOf(before, "app").ContainerID))
			Expect(statusOf(pod, sidecarName).ContainerID).NotTo(Equal(oldSidecar.ContainerID))

			By("checking the pod left its endpoints before the sidecar restarted, and came back after")
			events := rec.stop()
			swapped := -1
			for i, p := range events {
				if statusOf(p, sidecarName).ContainerID != oldSidecar.ContainerID {
					swapped = i
					break
				}
			}
			Expect(swapped).To(BeNumerically(">", 0), "the watch saw the sidecar restart")
			notReadyBefore := false
			for _, p := range events[:swapped] {
				if !podReady(p) {
					notReadyBefore = true
				}
			}
			Expect(notReadyBefore).To(BeTrue(), "the pod was still Ready when its sidecar restarted")
			Expect(podReady(events[len(events)-1])).To(BeTrue())
		},
		Entry("a native sidecar", sidecarsv1alpha1.SidecarModeNative),
		Entry("a Container-mode sidecar", sidecarsv1alpha1.SidecarModeContainer),
	)

	It("resizes a sidecar's CPU in place without restarting anything", func() {
		set := sidecarSet(sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		createSet(set)
		pod := createReadyPod(appPod(ns.Name, selector))
		before := pod.DeepCopy()

		setImage(set, func(c *sidecarsv1alpha1.SidecarContainer) {
			c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("120m")
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodResizePending && c.Reason == corev1.PodReasonInfeasible {
					Fail(fmt.Sprintf("the kubelet refused the resize: %s", c.Message))
				}
			}
			st := statusOf(pod, sidecarName)
			g.Expect(st.Resources).NotTo(BeNil())
			g.Expect(st.Resources.Requests.Cpu().String()).To(Equal("120m"), "the kubelet reports the new request as applied")
			g.Expect(pod.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		Expect(statusOf(pod, sidecarName).RestartCount).To(Equal(statusOf(before, sidecarName).RestartCount))
		Expect(statusOf(pod, sidecarName).ContainerID).To(Equal(statusOf(before, sidecarName).ContainerID))
		Expect(statusOf(pod, "app").RestartCount).To(BeZero())
	})

	It("follows in-place resizes of the app with its resourcesPolicy sidecar: CPU in place, memory through a drain, small ones not at all", func() {
		set := sidecarSet(sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		set.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		set.Spec.Containers[0].ResourcesPolicy = &sidecarsv1alpha1.ResourcesPolicy{
			CPU:    &sidecarsv1alpha1.ResourceRule{Percent: 10},
			Memory: &sidecarsv1alpha1.ResourceRule{Percent: 10},
		}
		createSet(set)
		p := appPod(ns.Name, selector)
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("100Mi")}}
		pod := createReadyPod(p)
		before := pod.DeepCopy()
		Expect(pod.Spec.InitContainers[0].Resources.Requests.Cpu().String()).To(Equal("10m"))
		resizeApp := func(requests string) {
			GinkgoHelper()
			out, err := node.Kubectl(ctx, "patch", "pod", pod.Name, "-n", ns.Name, "--subresource", "resize",
				"-p", `{"spec":{"containers":[{"name":"app","resources":{"requests":`+requests+`}}]}}`)
			Expect(err).NotTo(HaveOccurred(), "%s", out)
		}
		sidecarApplied := func(g Gomega, cpu, memory string) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			req := pod.Spec.InitContainers[0].Resources.Requests
			g.Expect(req.Cpu().String()).To(Equal(cpu))
			g.Expect(req.Memory().String()).To(Equal(memory))
			st := statusOf(pod, sidecarName)
			g.Expect(st.Resources).NotTo(BeNil())
			g.Expect(st.Resources.Requests.Cpu().String()).To(Equal(cpu), "the kubelet applied the sidecar's CPU")
			g.Expect(st.Resources.Requests.Memory().String()).To(Equal(memory), "the kubelet applied the sidecar's memory")
			g.Expect(pod.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			g.Expect(podReady(pod)).To(BeTrue())
		}

		By("kubectl patch --subresource resize doubles the app's CPU: the sidecar follows in place")
		resizeApp(`{"cpu":"200m"}`)
		Eventually(func(g Gomega) { sidecarApplied(g, "20m", "10Mi") }).WithTimeout(time.Minute).Should(Succeed())
		out, err := node.Kubectl(ctx, "get", "pod", pod.Name, "-n", ns.Name, "-o",
			`jsonpath={range .spec.initContainers[*]}{.name}={.resources.requests.cpu} {end}{range .spec.containers[*]}{.name}={.resources.requests.cpu} {end}`)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("$ kubectl get pod %s -o jsonpath=...\n%s\n", pod.Name, out)
		Expect(string(out)).To(ContainSubstring("proxy=20m"))
		Expect(string(out)).To(ContainSubstring("app=200m"))
		Expect(statusOf(pod, sidecarName).ContainerID).To(Equal(statusOf(before, sidecarName).ContainerID), "the sidecar restarted")
		Expect(statusOf(pod, "app").ContainerID).To(Equal(statusOf(before, "app").ContainerID), "the app restarted")

		By("resizing the app's CPU by less than the step, every two seconds: the sidecar stays")
		for _, cpu := range []string{"210m", "195m", "205m"} {
			resizeApp(`{"cpu":"` + cpu + `"}`)
			time.Sleep(2 * time.Second)
		}
		Consistently(func(g Gomega) { sidecarApplied(g, "20m", "10Mi") }).WithTimeout(5 * time.Second).Should(Succeed())

		By("doubling the app's memory: the sidecar follows through a drain and a restart of itself only")
		rec := recordPod(pod)
		resizeApp(`{"memory":"200Mi"}`)
		Eventually(func(g Gomega) { sidecarApplied(g, "21m", "20Mi") }).WithTimeout(2 * time.Minute).Should(Succeed())
		states := rec.stop()
		drained := false
		for _, s := range states {
			if !podReady(s) {
				drained = true
			}
		}
		Expect(drained).To(BeTrue(), "the pod left its endpoints for the sidecar's restart")
		Expect(statusOf(pod, "app").ContainerID).To(Equal(statusOf(before, "app").ContainerID), "the app restarted")
		Expect(statusOf(pod, "app").RestartCount).To(BeZero())
	})

	DescribeTable("stops the sidecar after the app container when the pod is deleted",
		func(mode sidecarsv1alpha1.SidecarMode) {
			set := sidecarSet(mode, images.SidecarV1, "1s")
			// Container mode relies on the preStop sleep of drain.seconds Outrigger adds;
			// native sidecars on Kubernetes' own ordering.
			set.Spec.UpdateStrategy.Drain.Seconds = ptr.To[int32](5)
			createSet(set)
			p := appPod(ns.Name, selector)
			p.Finalizers = []string{"outrigger.test/hold"} // keep the pod to read its final statuses
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "TERM_DELAY", Value: "2s"})
			pod := createReadyPod(p)

			Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
				g.Expect(statusOf(pod, "app").State.Terminated).NotTo(BeNil())
				g.Expect(statusOf(pod, sidecarName).State.Terminated).NotTo(BeNil())
			}).WithTimeout(time.Minute).Should(Succeed())
			app, sidecar := statusOf(pod, "app").State.Terminated, statusOf(pod, sidecarName).State.Terminated
			GinkgoWriter.Printf("app finished %s, sidecar finished %s\n", app.FinishedAt, sidecar.FinishedAt)
			Expect(sidecar.FinishedAt.Time).To(BeTemporally(">=", app.FinishedAt.Time), "the sidecar stopped before the app")

			patch := client.MergeFrom(pod.DeepCopy())
			pod.Finalizers = nil
			Expect(k8sClient.Patch(ctx, pod, patch)).To(Succeed())
		},
		Entry("a native sidecar", sidecarsv1alpha1.SidecarModeNative),
		Entry("a Container-mode sidecar, held by its preStop sleep", sidecarsv1alpha1.SidecarModeContainer),
	)

	It("completes a Job whose pod has a native sidecar, and gives pods no way off the machine", func() {
		createSet(sidecarSet(sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s"))
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "routes", Namespace: ns.Name},
			Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: selector},
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers: []corev1.Container{{
							Name: "app", Image: images.App, ImagePullPolicy: corev1.PullNever, Args: []string{"routes"},
						}},
					},
				},
			},
		}
		Expect(k8sClient.Create(ctx, job)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
			g.Expect(job.Status.Succeeded).To(BeEquivalentTo(1))
		}).WithTimeout(2 * time.Minute).Should(Succeed())

		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels{"job-name": "routes"})).To(Succeed())
		Expect(pods.Items).To(HaveLen(1))
		Expect(pods.Items[0].Spec.InitContainers).To(ContainElement(HaveField("Name", sidecarName)), "the Job's pod was injected")

		out, err := node.Kubectl(ctx, "logs", "-n", ns.Name, pods.Items[0].Name, "-c", "app")
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("routes inside the pod:\n%s", out)
		routes := strings.TrimSpace(string(out))
		Expect(routes).To(ContainSubstring(node.PodSubnet))
		for line := range strings.SplitSeq(routes, "\n") {
			Expect(line).NotTo(ContainSubstring("default"))
			if strings.HasPrefix(line, node.ServiceCIDR+" ") {
				// ClusterIPs, through the node: kube-proxy turns them into pod IPs or the
				// API server's node IP, all on the bridge or the host.
				Expect(line).To(HavePrefix(node.ServiceCIDR+" via "+node.NodeIP+" "), "ClusterIPs through the node")
				continue
			}
			Expect(line).To(HavePrefix(node.PodSubnet), "a route off the pod subnet")
		}
	})
})

// newSidecarSet has one sidecar on the sidecar test image, ready readyDelay after start,
// requesting 50m CPU, drained for a second; it is labelled e2e=namespace.
func newSidecarSet(name, namespace string, selector map[string]string, mode sidecarsv1alpha1.SidecarMode, image, readyDelay string) *sidecarsv1alpha1.SidecarSet {
	probe := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8081)}},
		PeriodSeconds: 1, FailureThreshold: 60,
	}
	sc := utiltesting.MakeSidecar(sidecarName, image).Mode(mode).Env("READY_DELAY", readyDelay).Obj()
	sc.ImagePullPolicy = corev1.PullNever
	sc.ReadinessProbe = probe.DeepCopy()
	if mode == sidecarsv1alpha1.SidecarModeNative {
		// A native sidecar's startupProbe holds the app back until the sidecar is up.
		sc.StartupProbe = probe.DeepCopy()
	}
	sc.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}
	set := utiltesting.MakeSidecarSet(name).MatchLabels(selector).DrainSeconds(1).Sidecar(sc).Obj()
	set.Labels = map[string]string{"e2e": namespace}
	return set
}

func appPod(namespace string, labels map[string]string) *corev1.Pod {
	p := utiltesting.MakePod("", namespace).Labels(labels).Obj()
	p.GenerateName = "web-"
	p.Labels = maps.Clone(labels)
	p.Spec.Containers[0].Image = images.App
	p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	return p
}

// createReadyDeployment creates Deployment "web" of replicas app pods labelled selector
// and waits until they are all ready.
func createReadyDeployment(namespace string, selector map[string]string, replicas int32) *appsv1.Deployment {
	GinkgoHelper()
	return createReadyDeploymentNamed(namespace, "web", selector, replicas)
}

// createReadyDeploymentNamed creates Deployment name of replicas app pods labelled
// selector and waits until they are all ready.
func createReadyDeploymentNamed(namespace, name string, selector map[string]string, replicas int32) *appsv1.Deployment {
	GinkgoHelper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector}, Spec: appPod(namespace, selector).Spec},
		},
	}
	Expect(k8sClient.Create(ctx, d)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		g.Expect(d.Status.ReadyReplicas).To(Equal(replicas))
	}).WithTimeout(3 * time.Minute).Should(Succeed())
	return d
}

func createReadyPod(p *corev1.Pod) *corev1.Pod {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "the pod was not injected")
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		g.Expect(podReady(p)).To(BeTrue())
	}).WithTimeout(2 * time.Minute).Should(Succeed())
	return p
}

func statusOf(pod *corev1.Pod, name string) corev1.ContainerStatus {
	for _, st := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if st.Name == name {
			return st
		}
	}
	return corev1.ContainerStatus{}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podRecorder keeps every state of one pod that a watch delivers.
type podRecorder struct {
	mu     sync.Mutex
	states []*corev1.Pod
	cancel context.CancelFunc
	done   chan struct{}
}

func recordPod(pod *corev1.Pod) *podRecorder {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{})
	Expect(err).NotTo(HaveOccurred())
	wctx, cancel := context.WithCancel(ctx)
	w, err := wc.Watch(wctx, &corev1.PodList{}, client.InNamespace(pod.Namespace),
		client.MatchingFields{"metadata.name": pod.Name})
	Expect(err).NotTo(HaveOccurred())
	r := &podRecorder{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Error {
				r.mu.Lock()
				r.states = append(r.states, p)
				r.mu.Unlock()
			}
		}
	}()
	return r
}

func (r *podRecorder) stop() []*corev1.Pod {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states
}
