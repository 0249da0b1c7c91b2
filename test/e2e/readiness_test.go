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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// gatePolicyBinding is config/default's binding of the sidecars-ready
// MutatingAdmissionPolicy (config/policy, with the outrigger- name prefix).
const gatePolicyBinding = "outrigger-sidecars-ready.sidecars.outrigger.dev"

// policyGateMessage is the message the policy writes on the gate; the pod controller
// writes none, so it tells who turned the gate True.
const policyGateMessage = "The sidecars recorded on the pod are ready."

// A pod's readiness never waits on Outrigger's leader, nor on Outrigger at all (issue
// 27): the API server turns a pod's sidecars-ready gate True (config/policy's
// MutatingAdmissionPolicy), and where it does not, every replica's pod controller does.
var _ = Describe("A pod's readiness without the operator", Serial, func() {
	var (
		ns       *corev1.Namespace
		selector map[string]string
	)
	BeforeEach(func() {
		if !deployed {
			Skip("scales and deletes the in-cluster operator: run with E2E_OPERATOR=deployed (make test-e2e E2E_OPERATOR=deployed)")
		}
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ready-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		selector = map[string]string{"e2e": ns.Name}
		DeferCleanup(func() {
			Expect(k8sClient.DeleteAllOf(ctx, &sidecarsv1alpha1.SidecarSet{}, client.MatchingLabels{"e2e": ns.Name})).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		})
	})

	// createSet creates a set injecting a sidecar that turns ready readyDelay after it
	// starts, and waits until the webhook or the policy injects it.
	createSet := func(readyDelay string) *sidecarsv1alpha1.SidecarSet {
		GinkgoHelper()
		set := newSidecarSet("ready-"+ns.Name, ns.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, readyDelay)
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			probe := appPod(ns.Name, selector)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).WithTimeout(time.Minute).Should(Succeed())
		return set
	}
	appPods := func() []corev1.Pod {
		GinkgoHelper()
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels(selector))).To(Succeed())
		return pods.Items
	}
	// expectGateByPolicy checks that every pod of the Deployment is injected and that its
	// gate was turned True by the API server's policy.
	expectGateByPolicy := func(pods []corev1.Pod) {
		GinkgoHelper()
		for i := range pods {
			p := &pods[i]
			Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "pod %s", p.Name)
			cond := gateCondition(p)
			Expect(cond).NotTo(BeNil(), "pod %s", p.Name)
			Expect(cond.Status).To(Equal(corev1.ConditionTrue), "pod %s", p.Name)
			Expect(cond.Message).To(Equal(policyGateMessage), "pod %s: the policy did not write the gate", p.Name)
		}
	}

	It("policy engine, operator scaled to 0: a Deployment scaled from 3 to 6 reaches 6 Ready, the new pods injected by the API server", func() {
		root, err := localcluster.ModuleRoot()
		Expect(err).NotTo(HaveOccurred())
		engines := deployedEngines(root)
		DeferCleanup(engines.restore)
		set := createSet("1s")
		By("switching to the policy engine (config/admission-policy)")
		engines.toPolicy()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			cond := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(sidecarsv1alpha1.ReasonInPolicy), cond.Message)
		}).WithTimeout(time.Minute).Should(Succeed())
		d := createReadyDeployment(ns.Name, selector, 3)
		before := map[string]bool{}
		for _, p := range appPods() {
			before[p.Name] = true
		}

		By("scaling the operator to 0, then the Deployment from 3 to 6")
		engines.stop()
		start := time.Now()
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			d.Spec.Replicas = new(int32(6))
			return k8sClient.Update(ctx, d)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(6))
		}).WithTimeout(3*time.Minute).Should(Succeed(), "the Deployment reaches 6 Ready with no operator running")
		GinkgoWriter.Printf("6 of 6 Ready %s after the scale-up, with no operator replica\n", time.Since(start).Round(100*time.Millisecond))
		var added []corev1.Pod
		for _, p := range appPods() {
			if !before[p.Name] {
				added = append(added, p)
			}
		}
		Expect(added).To(HaveLen(3))
		expectGateByPolicy(added)
		Expect(managerPods()).To(BeEmpty(), "an operator replica came back meanwhile")
	})

	It("webhook engine: pods created just before both replicas are scaled to 0 become Ready without them", func() {
		// The sidecar turns ready 30 s after it starts: long after the last replica is gone.
		createSet("30s")
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.Name},
			Spec: appsv1.DeploymentSpec{Replicas: new(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector}, Spec: appPod(ns.Name, selector).Spec}},
		}
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels(selector))).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(3))
			for _, p := range pods.Items {
				g.Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "pod %s", p.Name)
			}
		}).WithTimeout(time.Minute).Should(Succeed(), "the webhook injected the Deployment's 3 pods")

		By("scaling the operator to 0")
		scaleManager(0)
		DeferCleanup(func() {
			scaleManager(2)
			managerReady(2)
		})
		Eventually(managerPods).WithTimeout(2 * time.Minute).Should(BeEmpty())
		gone := time.Now()
		for _, p := range appPods() {
			Expect(podReady(&p)).To(BeFalse(), "pod %s was Ready before the last replica was gone: the spec proves nothing", p.Name)
		}

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(3))
		}).WithTimeout(3*time.Minute).Should(Succeed(), "the pods become Ready with both replicas at 0")
		GinkgoWriter.Printf("3 of 3 Ready %s after the last replica was gone\n", time.Since(gone).Round(100*time.Millisecond))
		expectGateByPolicy(appPods())
		Expect(managerPods()).To(BeEmpty(), "an operator replica came back meanwhile")
	})

	// The leader pod deleted, and no replica able to take the lease over while the new
	// pod starts: the spec holds the lease for a holder that is no replica (as a killed
	// leader's lease is held until it expires), so the gate must come from the policy or
	// from a replica that is not the leader.
	leaderDeleted := func(withPolicy bool) {
		createSet("1s")
		managerReady(2)
		if !withPolicy {
			By("deleting the sidecars-ready policy's binding: the pod controllers write the gate")
			binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: gatePolicyBinding}, binding)).To(Succeed())
			Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
			DeferCleanup(func() {
				// As kubectl apply --server-side put it there (field manager kubectl), so
				// that later applies of config/ find no other manager of its fields.
				spec, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&binding.Spec)
				Expect(err).NotTo(HaveOccurred())
				restored := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
				restored.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingAdmissionPolicyBinding"))
				restored.SetName(binding.Name)
				restored.SetLabels(binding.Labels)
				Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(restored),
					client.FieldOwner("kubectl"), client.ForceOwnership)).To(Succeed())
			})
			// The API server drops the policy within seconds; give it time to.
			time.Sleep(5 * time.Second)
		}
		old, err := leaderPod(ctx)
		Expect(err).NotTo(HaveOccurred())
		By("holding the leader lease for " + noLeader + " (120 s): no replica leads meanwhile")
		holdLease()
		// The leader finds its lease lost and restarts: deleted while it still thought
		// itself the leader, it would release the lease on its way out (client-go reads
		// the lease again before releasing) and the other replica would take it.
		restarts := func(p *corev1.Pod) int32 {
			n := int32(0)
			for _, st := range p.Status.ContainerStatuses {
				n += st.RestartCount
			}
			return n
		}
		Eventually(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(old), p)).To(Succeed())
			g.Expect(restarts(p)).To(BeNumerically(">", restarts(old)))
		}).WithTimeout(time.Minute).Should(Succeed(), "the leader did not notice it lost the lease")
		DeferCleanup(func() {
			releaseLease()
			managerReady(2)
			Eventually(func() error { _, err := leaderPod(ctx); return err }).WithTimeout(90 * time.Second).Should(Succeed())
		})
		By("deleting the leader pod " + old.Name + " with grace period 0")
		Expect(k8sClient.Delete(ctx, old, client.GracePeriodSeconds(0))).To(Succeed())
		deleted := time.Now()

		pod := appPod(ns.Name, selector)
		// The webhook Service may still route to the deleted pod for a moment.
		Eventually(func() error { p := pod.DeepCopy(); err := k8sClient.Create(ctx, p); pod = p; return err }).
			WithTimeout(30 * time.Second).Should(Succeed())
		Expect(pod.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		sidecarReady, gateTrue, sameWrite := watchGate(pod, 80*time.Second)
		delay := gateTrue.Sub(sidecarReady)
		lease := &coordinationv1.Lease{}
		Expect(k8sClient.Get(ctx, leaderLease, lease)).To(Succeed())
		GinkgoWriter.Printf("policy installed: %t; sidecar ready %s after the leader's deletion, gate True %s after the sidecar as this watch saw them "+
			"(in the same write: %t), no leader meanwhile (lease holder %s)\n",
			withPolicy, sidecarReady.Sub(deleted).Round(time.Millisecond), delay.Round(time.Millisecond), sameWrite, ptr.Deref(lease.Spec.HolderIdentity, ""))
		AddReportEntry(fmt.Sprintf("gate delay with no leader (policy %t)", withPolicy), delay.String())
		Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).To(Equal(noLeader), "a replica led before the gate turned True: the spec proves nothing")
		Expect(delay).To(BeNumerically("<=", 2*time.Second), "the gate waited for a leader")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		Expect(sameWrite).To(Equal(withPolicy), "the gate was written in the kubelet's write exactly when the policy is bound")
		if withPolicy {
			Expect(gateCondition(pod).Message).To(Equal(policyGateMessage))
		} else {
			Expect(gateCondition(pod).Message).NotTo(Equal(policyGateMessage), "the policy's binding was deleted")
		}
	}
	It("webhook engine, leader pod deleted: a new pod's gate turns True within 2 s of its sidecar being ready (the policy)", func() {
		leaderDeleted(true)
	})
	It("webhook engine, leader pod deleted, no sidecars-ready policy: a replica that does not lead turns the gate True within 2 s", func() {
		leaderDeleted(false)
	})
})

// managerPods are the operator's pods, terminating ones included.
func managerPods() []corev1.Pod {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
	return pods.Items
}

// gateCondition is the pod's sidecars-ready condition, nil when absent.
func gateCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if string(p.Status.Conditions[i].Type) == sidecarsv1alpha1.SidecarsReadyCondition {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// watchGate watches pod until its gate is True and returns when this process saw its
// recorded sidecars ready first and its gate True first, and whether one write (one
// resourceVersion) did both.
func watchGate(pod *corev1.Pod, timeout time.Duration) (sidecarReady, gateTrue time.Time, sameWrite bool) {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{})
	Expect(err).NotTo(HaveOccurred())
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w, err := wc.Watch(wctx, &corev1.PodList{}, client.InNamespace(pod.Namespace),
		client.MatchingFields{"metadata.name": pod.Name})
	Expect(err).NotTo(HaveOccurred())
	defer w.Stop()
	var readyVersion string
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted {
			continue
		}
		now := time.Now()
		if sidecarReady.IsZero() && upgrade.SidecarsReady(p) && len(p.Status.InitContainerStatuses) > 0 {
			sidecarReady, readyVersion = now, p.ResourceVersion
		}
		if upgrade.HasCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue) {
			Expect(sidecarReady.IsZero()).To(BeFalse(), "the gate turned True before the sidecar was ready")
			return sidecarReady, now, p.ResourceVersion == readyVersion
		}
	}
	Fail(fmt.Sprintf("pod %s: no gate True within %s", pod.Name, timeout))
	return
}

// noLeader is the holder the spec writes into the leader lease: no replica.
const noLeader = "e2e-no-leader"

// holdLease makes noLeader the holder of the manager's leader lease for 120 s, as a
// killed leader's lease stays held until it expires: the leader loses it (and its
// process exits and restarts), and no replica can take it meanwhile.
func holdLease() {
	GinkgoHelper()
	Eventually(func() error {
		lease := &coordinationv1.Lease{}
		if err := k8sClient.Get(ctx, leaderLease, lease); err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.HolderIdentity = new(noLeader)
		lease.Spec.LeaseDurationSeconds = ptr.To[int32](120)
		lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
		return k8sClient.Update(ctx, lease)
	}).Should(Succeed())
}

// releaseLease lets the replicas take the lease again: noLeader's lease expired long ago.
func releaseLease() {
	GinkgoHelper()
	Eventually(func() error {
		lease := &coordinationv1.Lease{}
		if err := k8sClient.Get(ctx, leaderLease, lease); err != nil {
			return err
		}
		if ptr.Deref(lease.Spec.HolderIdentity, "") != noLeader {
			return nil
		}
		past := metav1.NewMicroTime(time.Now().Add(-time.Hour))
		lease.Spec.LeaseDurationSeconds = ptr.To[int32](1)
		lease.Spec.RenewTime = &past
		return k8sClient.Update(ctx, lease)
	}).Should(Succeed())
}
