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
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// helmRelease is the release make helm-local installs, in operatorNamespace: its
// objects have config/default's names.
const helmRelease = "outrigger"

// helm runs the helm binary make test-e2e passes in E2E_HELM (hack/helm.sh) against the
// node, on the release.
func helm(args ...string) string {
	GinkgoHelper()
	bin := os.Getenv("E2E_HELM")
	Expect(bin).NotTo(BeEmpty(), "E2E_HELM names the helm binary (make test-e2e E2E_OPERATOR=helm sets it)")
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", node.Kubeconfig, "--namespace", operatorNamespace}, args...)...)
	// Not GinkgoT().TempDir(): helm also runs in DeferCleanup callbacks (an engine's restore).
	home, err := os.MkdirTemp("", "e2e-helm-")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = os.RemoveAll(home) }()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	GinkgoWriter.Printf("$ helm %v\n%s\n", args, out)
	Expect(err).NotTo(HaveOccurred(), string(out))
	return string(out)
}

// helmUpgrade is helm upgrade of the release with the chart of the repository, keeping
// its values (the image make helm-local set) but for those set.
func helmUpgrade(set ...string) {
	GinkgoHelper()
	root := os.Getenv("E2E_HELM_CHART")
	Expect(root).NotTo(BeEmpty(), "E2E_HELM_CHART names the chart (make test-e2e E2E_OPERATOR=helm sets it)")
	args := []string{"upgrade", helmRelease, root, "--reuse-values", "--wait", "--timeout", "5m"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	helm(args...)
}

// helmEngines switch the chart's install as its values say: helm upgrade with
// manager.injectionEngine; the operator is stopped by scaling it to 0.
func helmEngines() policyEngines {
	restored := false
	e := policyEngines{
		toPolicy: func() {
			GinkgoHelper()
			helmUpgrade("manager.injectionEngine=AdmissionPolicy")
			managerReady(2)
		},
		stop: func() {
			GinkgoHelper()
			scaleManager(0)
			managerReady(0)
			Eventually(func(g Gomega) {
				var pods corev1.PodList
				g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
				g.Expect(pods.Items).To(BeEmpty())
			}).WithTimeout(2 * time.Minute).Should(Succeed())
		},
		toWebhook: func() {
			GinkgoHelper()
			restored = true
			scaleManager(2)
			managerReady(2)
			helmUpgrade("manager.injectionEngine=Webhook")
			managerReady(2)
			// helm keeps the policy engine's permissions (resource-policy keep) for its
			// replicas still running during the upgrade; they go as docs/install.md says,
			// once none is left.
			dropPolicyEnginePermissions()
		},
	}
	e.restore = func() {
		if !restored {
			By("upgrading back to the webhook engine")
			e.toWebhook()
		}
	}
	return e
}

// helmUninstall is helm uninstall of the release, at the end of the suite: every object
// of the chart goes but the CRD (crd.keep), and pods are created again without the
// operator's webhook in the way.
func helmUninstall() {
	GinkgoHelper()
	By("helm uninstall")
	helm("uninstall", helmRelease, "--wait", "--timeout", "3m")
	Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, managerDeployment, &appsv1.Deployment{}))).To(BeTrue(), "the Deployment")
		g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Name: "outrigger-mutating-webhook-configuration"},
			&admissionregistrationv1.MutatingWebhookConfiguration{}))).To(BeTrue(), "the pod webhook")
		g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Name: "outrigger-manager-role"}, &rbacv1.ClusterRole{}))).To(BeTrue(), "the RBAC")
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
		g.Expect(pods.Items).To(BeEmpty(), "the manager's pods")
	}).WithTimeout(2 * time.Minute).Should(Succeed())
	By("the CRD stays (crd.keep), with the SidecarSets users made")
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "sidecarsets.sidecars.outrigger.dev"}, crd)).To(Succeed())
	By("pods are admitted with no operator: nothing of it is left in the way")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "helm-uninstalled-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	Expect(k8sClient.Create(ctx, appPod(ns.Name, map[string]string{"app": "any"}), client.DryRunAll)).To(Succeed())
	Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
}

var _ = Describe("The operator installed with helm", func() {
	BeforeEach(func() {
		if !helmInstall {
			Skip("tests the chart's install: run with E2E_OPERATOR=helm (make test-e2e E2E_OPERATOR=helm)")
		}
	})

	It("is the release outrigger, and helm upgrade changes the manager in place", func() {
		Expect(helm("status", helmRelease)).To(ContainSubstring("STATUS: deployed"))
		managerReady(2)

		By("helm upgrade --set manager.goMemLimit=200MiB: the replicas roll, the webhook keeps serving")
		helmUpgrade("manager.goMemLimit=200MiB")
		managerReady(2)
		d := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, managerDeployment, d)).To(Succeed())
		Expect(d.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "GOMEMLIMIT", Value: "200MiB"}))
		Eventually(func() error { _, err := leaderPod(ctx); return err }).WithTimeout(90 * time.Second).Should(Succeed())

		By("helm upgrade back to the memory limit's GOMEMLIMIT")
		helmUpgrade("manager.goMemLimit=")
		managerReady(2)
		Expect(k8sClient.Get(ctx, managerDeployment, d)).To(Succeed())
		var env *corev1.EnvVar
		for i, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "GOMEMLIMIT" {
				env = &d.Spec.Template.Spec.Containers[0].Env[i]
			}
		}
		Expect(env).NotTo(BeNil())
		Expect(env.ValueFrom).NotTo(BeNil(), "GOMEMLIMIT from the memory limit again")
		Eventually(func() error { _, err := leaderPod(ctx); return err }).WithTimeout(90 * time.Second).Should(Succeed())
		Expect(helm("history", helmRelease)).To(ContainSubstring("Upgrade complete"))
	})
})
