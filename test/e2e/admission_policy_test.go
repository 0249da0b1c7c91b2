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
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/test/e2e/cluster"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// The policy engine's promise, on the node: with the operator stopped and no pod webhook
// to call, a pod still gets its sidecars from the API server, runs them as the kubelet
// runs native sidecars, and is the pod the webhook gives once the operator is back.
var _ = Describe("The admission policy engine on a real node", Serial, func() {
	It("injects pods created while the operator is down exactly as the webhook does, and they run", func() {
		if deployed {
			Skip("runs the manager binary with --injection-engine=AdmissionPolicy: host mode only (config/default is the webhook engine)")
		}
		local := operator.(hostOperator).LocalOperator
		root, err := cluster.ModuleRoot()
		Expect(err).NotTo(HaveOccurred())

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-policy-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		selector := map[string]string{"e2e": ns.Name}
		set := newSidecarSet("e2e-"+ns.Name, ns.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		injectedOnDryRun := func() {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				p := appPod(ns.Name, selector)
				g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
				g.Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
			}).WithTimeout(30 * time.Second).Should(Succeed())
		}

		By("restarting the operator with the policy engine")
		Expect(local.Kill()).To(Succeed())
		local.Args = []string{"--injection-engine=AdmissionPolicy"}
		DeferCleanup(func() {
			By("putting the webhook engine and its pod webhook back")
			_ = local.Kill()
			local.Args = nil
			Expect(local.Install(ctx, k8sClient, root+"/config")).To(Succeed())
			_, err := local.Run(ctx, k8sClient)
			Expect(err).NotTo(HaveOccurred())
			Expect(k8sClient.DeleteAllOf(ctx, &sidecarsv1alpha1.SidecarSet{}, client.MatchingLabels{"e2e": ns.Name})).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		})
		_, err = local.Run(ctx, k8sClient)
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			cond := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(sidecarsv1alpha1.ReasonInPolicy), cond.Message)
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name},
				&admissionregistrationv1.MutatingAdmissionPolicy{})).To(Succeed())
		}).WithTimeout(time.Minute).Should(Succeed())

		By("stopping the operator and removing the pod webhook, as config/admission-policy installs it")
		Expect(local.Kill()).To(Succeed())
		// Restored by the cleanup's Install, which puts config/webhook back.
		_, err = utiltesting.RemovePodWebhook(ctx, k8sClient)
		Expect(err).NotTo(HaveOccurred())

		By("creating a pod with no operator running")
		// The API server's policy cache follows the binding and the webhook change
		// within a second or so; until then a create may reach neither.
		injectedOnDryRun()
		byPolicy := appPod(ns.Name, selector)
		Expect(k8sClient.Create(ctx, byPolicy)).To(Succeed())
		Expect(byPolicy.Labels).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedLabel, sidecarsv1alpha1.InjectedLabelValue))
		Expect(byPolicy.Spec.InitContainers).NotTo(BeEmpty())
		Expect(byPolicy.Spec.InitContainers[0].Name).To(Equal(sidecarName))

		By("the kubelet running the sidecar before the app, both ready, with no operator")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(byPolicy), byPolicy)).To(Succeed())
			g.Expect(statusOf(byPolicy, sidecarName).Ready).To(BeTrue())
			g.Expect(statusOf(byPolicy, "app").Ready).To(BeTrue())
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		sidecar, app := statusOf(byPolicy, sidecarName), statusOf(byPolicy, "app")
		Expect(app.State.Running.StartedAt.Time).To(BeTemporally(">=", sidecar.State.Running.StartedAt.Time))
		Expect(podReady(byPolicy)).To(BeFalse(), "Ready before anyone turned the sidecars-ready gate True")

		By("bringing the webhook engine back: the gate turns True, the generated policy goes")
		_ = local.Kill()
		local.Args = nil
		Expect(local.Install(ctx, k8sClient, root+"/config")).To(Succeed())
		_, err = local.Run(ctx, k8sClient)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(byPolicy), byPolicy)).To(Succeed())
			g.Expect(podReady(byPolicy)).To(BeTrue())
			err := k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the generated policy is still there: %v", err)
		}).WithTimeout(2 * time.Minute).Should(Succeed())

		By("comparing with the pod the webhook injects")
		// Until the API server's policy cache drops the deleted policy, it may still
		// inject (and the webhook then finds its sidecars there): wait for a dry run
		// the webhook alone answers.
		injectedOnDryRun()
		byWebhook := createReadyPod(appPod(ns.Name, selector))
		Expect(byPolicy.Annotations[sidecarsv1alpha1.InjectedAnnotation]).To(Equal(byWebhook.Annotations[sidecarsv1alpha1.InjectedAnnotation]),
			"the injection records differ")
		Expect(byPolicy.Labels).To(Equal(byWebhook.Labels))
		normalize := func(p *corev1.Pod) corev1.PodSpec {
			s := p.Spec.DeepCopy()
			s.NodeName = ""
			// The API server's service-account token volume has a generated name.
			s.Volumes = nil
			for _, list := range [][]corev1.Container{s.InitContainers, s.Containers} {
				for i := range list {
					list[i].VolumeMounts = nil
				}
			}
			return *s
		}
		Expect(normalize(byPolicy)).To(Equal(normalize(byWebhook)), "the policy's pod spec differs from the webhook's")
		Expect(byPolicy.Spec.ReadinessGates).To(Equal(byWebhook.Spec.ReadinessGates))
	})
})
