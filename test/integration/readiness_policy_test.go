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
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// The API server alone, through config/policy's MutatingAdmissionPolicy
// sidecars-ready.sidecars.outrigger.dev, keeps the readiness gate of a pod that is not
// being upgraded: no manager runs in these specs, and the kubelet's status writes are
// made as a kubelet makes them (a strategic merge patch of pods/status, by someone who
// is not the operator). The pods stand for injected ones: they are created in the
// operator's namespace, which the pod webhook configuration excludes (an opted-out
// namespace is no longer skipped: Required sets ignore the opt-out), with a record
// written by hand, and deleted at the end.
var _ = Describe("The sidecars-ready admission policy, with no manager running", Serial, Ordered, func() {
	var ns *corev1.Namespace
	gate := sidecarsv1alpha1.SidecarsReadyCondition

	BeforeAll(func() {
		stopManager()
		DeferCleanup(func() { stopManager = startManager() })
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
		DeferCleanup(func() {
			Expect(k8sClient.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(operatorNamespace),
				client.MatchingLabels{specLabel: "ready-policy"}, client.GracePeriodSeconds(0))).To(Succeed())
		})
	})

	// injectedPod is a pod as the injection leaves it: a native sidecar proxy, a
	// Container-mode sidecar shipper, a run-to-completion init container setup (all
	// three recorded), the app, the injected label and the readiness gate.
	injectedPod := func(name string) *corev1.Pod {
		always := corev1.ContainerRestartPolicyAlways
		records := sidecarsv1alpha1.InjectionRecords{
			"mesh": {Revision: "mesh-1", Hash: "h1", ImageFreeHash: "f1", Containers: []string{"setup", "proxy"}},
			"logs": {Revision: "logs-1", Hash: "h2", ImageFreeHash: "f2", Containers: []string{"shipper"}, Overridden: []string{"app"}},
		}
		p := utiltesting.MakePod(name, ns.Name).Label(specLabel, "ready-policy").
			Label(sidecarsv1alpha1.InjectedLabel, sidecarsv1alpha1.InjectedLabelValue).
			Annotation(sidecarsv1alpha1.InjectedAnnotation, records.String()).
			InitContainer(corev1.Container{Name: "setup", Image: "example.com/setup:1"}).
			InitContainer(corev1.Container{Name: "proxy", Image: "example.com/proxy:1", RestartPolicy: &always}).
			Containers(corev1.Container{Name: "app", Image: "example.com/app:1"},
				corev1.Container{Name: "shipper", Image: "example.com/shipper:1"}).Obj()
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate)}}
		return p
	}
	create := func(p *corev1.Pod) *corev1.Pod {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		return p
	}
	// kubeletReports writes the pod's status as the kubelet does, with the named
	// containers ready, and returns the pod as that very write stored it.
	kubeletReports := func(p *corev1.Pod, ready ...string) *corev1.Pod {
		GinkgoHelper()
		orig := p.DeepCopy()
		status := func(c corev1.Container) corev1.ContainerStatus {
			return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image),
				Ready: slices.Contains(ready, c.Name), Started: new(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.InitContainerStatuses, p.Status.ContainerStatuses = nil, nil
		for _, c := range p.Spec.InitContainers {
			st := status(c)
			if c.RestartPolicy == nil {
				st.Started = new(false)
				st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}
			}
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, st)
		}
		for _, c := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, status(c))
		}
		setStandInCondition(&p.Status, corev1.PodInitialized, true)
		Expect(k8sClient.Status().Patch(ctx, p, client.StrategicMergeFrom(orig))).To(Succeed())
		return p
	}
	gateOf := func(p *corev1.Pod) *corev1.PodCondition {
		for i := range p.Status.Conditions {
			if string(p.Status.Conditions[i].Type) == gate {
				return &p.Status.Conditions[i]
			}
		}
		return nil
	}

	It("is loaded by the API server (a dry-run status write of a probe pod)", func() {
		// The API server loads a new policy within a few seconds of its creation (the
		// suite's BeforeSuite); a dry run changes nothing the specs below look at.
		probe := create(injectedPod("probe"))
		Eventually(func(g Gomega) {
			p := probe.DeepCopy()
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			orig := p.DeepCopy()
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "shipper", Ready: true}, {Name: "app", Ready: true}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "setup"}, {Name: "proxy", Ready: true}}
			g.Expect(k8sClient.Status().Patch(ctx, p, client.StrategicMergeFrom(orig), client.DryRunAll)).To(Succeed())
			g.Expect(gateOf(p)).NotTo(BeNil())
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("turns the gate True in the status write that reports the recorded sidecars ready, not before", func() {
		p := create(injectedPod("ready"))
		p = kubeletReports(p, "proxy")
		Expect(gateOf(p)).To(BeNil(), "only one of the two recorded sidecars is ready")
		p = kubeletReports(p, "proxy", "shipper")
		Expect(gateOf(p)).NotTo(BeNil(), "the write reporting both sidecars ready")
		Expect(gateOf(p).Status).To(Equal(corev1.ConditionTrue))
		Expect(gateOf(p).Reason).To(Equal("SidecarsReady"))
		// The app is not ready: the gate says nothing about it; the kubelet's Ready does.
		Expect(upgrade.SidecarsReady(p)).To(BeTrue(), "the policy and internal/upgrade agree")
	})

	It("leaves a pod whose upgrade state is in its drain step False, with sidecars ready", func() {
		p := injectedPod("draining")
		state := &upgrade.State{Set: "mesh", Revision: "mesh-2", Hash: "h3", ImageFreeHash: "f1",
			Images: map[string]string{"proxy": "example.com/proxy:2"}, Drain: true}
		p.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = state.String()
		p = create(p)
		// The gate False as the rollout's begin writes it, with the state.
		orig := p.DeepCopy()
		upgrade.SetPodCondition(p, gate, false, "Upgrading", "drained", time.Now())
		Expect(k8sClient.Status().Patch(ctx, p, client.StrategicMergeFrom(orig))).To(Succeed())
		p = kubeletReports(p, "proxy", "shipper", "app")
		Expect(gateOf(p)).NotTo(BeNil())
		Expect(gateOf(p).Status).To(Equal(corev1.ConditionFalse), "the rollout owns the gate until the upgrade ends")
		Expect(gateOf(p).Reason).To(Equal("Upgrading"))
	})

	It("puts a gate False without an upgrade state back True once the sidecars are ready", func() {
		p := create(injectedPod("false-gate"))
		orig := p.DeepCopy()
		upgrade.SetPodCondition(p, gate, false, "Forged", "", time.Now())
		Expect(k8sClient.Status().Patch(ctx, p, client.StrategicMergeFrom(orig))).To(Succeed())
		Expect(gateOf(p).Status).To(Equal(corev1.ConditionFalse), "sidecars not reported ready yet")
		p = kubeletReports(p, "proxy", "shipper")
		Expect(gateOf(p).Status).To(Equal(corev1.ConditionTrue))
		Expect(gateOf(p).Reason).To(Equal("SidecarsReady"))
		Expect(p.Status.Conditions).To(HaveLen(2), "the kubelet's Initialized and the gate, once each")
	})

	It("leaves a pod with no Outrigger injection record untouched", func() {
		p := utiltesting.MakePod("unrecorded", ns.Name).Label(specLabel, "ready-policy").
			Containers(corev1.Container{Name: "app", Image: "example.com/app:1"}).Obj()
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate)}}
		p = kubeletReports(create(p), "app")
		Expect(gateOf(p)).To(BeNil())
	})

	It("leaves a pod without the readiness gate untouched", func() {
		p := injectedPod("ungated")
		p.Spec.ReadinessGates = nil
		p = kubeletReports(create(p), "proxy", "shipper", "app")
		Expect(gateOf(p)).To(BeNil())
	})
})
