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
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// The policy engine's promise, on the node: with the operator stopped and no pod webhook
// to call, a pod still gets its sidecars from the API server, runs them as the kubelet
// runs native sidecars, and is the pod the webhook gives once the operator is back.
// Host mode restarts the manager binary with the flag; deployed mode switches the
// install as users do, applying config/admission-policy and later config/default with
// kubectl apply --server-side, and scales the operator to 0 in between.
var _ = Describe("The admission policy engine on a real node", Serial, func() {
	It("injects pods created while the operator is down exactly as the webhook does, and they run", func() {
		root, err := localcluster.ModuleRoot()
		Expect(err).NotTo(HaveOccurred())
		var engines policyEngines
		if deployed {
			engines = deployedEngines(root)
		} else {
			engines = hostEngines(root)
		}

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
		DeferCleanup(func() {
			Expect(k8sClient.DeleteAllOf(ctx, &sidecarsv1alpha1.SidecarSet{}, client.MatchingLabels{"e2e": ns.Name})).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		})
		// Pods created while the engines change hands: each must get its sidecar.
		pending := func() *corev1.Pod {
			p := appPod(ns.Name, selector)
			p.GenerateName = "switch-"
			p.Spec.NodeSelector = map[string]string{"outrigger.test/no-such-node": "true"}
			return p
		}
		// A create the pod webhook refuses while no replica answers is retried by its
		// controller; a pod admitted without its sidecars is not.
		expectAllInjected := func(during string, results []creation) {
			GinkgoHelper()
			created, refused := 0, 0
			for _, r := range results {
				if r.err != nil {
					Expect(r.err).To(MatchError(ContainSubstring(webhookDown)), "a pod created %s", during)
					refused++
					continue
				}
				created++
				Expect(r.pod.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "pod %s, created %s, has no sidecar", r.pod.Name, during)
			}
			GinkgoWriter.Printf("%d pods created %s, all injected; %d refused while no replica answered\n", created, during, refused)
			Expect(created).NotTo(BeZero())
		}
		DeferCleanup(engines.restore)
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		injectedOnDryRun()

		By("switching to the policy engine while pods are created, one a second")
		creator := createEverySecond(pending)
		engines.toPolicy()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			cond := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(sidecarsv1alpha1.ReasonInPolicy), cond.Message)
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name},
				&admissionregistrationv1.MutatingAdmissionPolicy{})).To(Succeed())
		}).WithTimeout(time.Minute).Should(Succeed())
		time.Sleep(3 * time.Second) // a few creates more with the policy loaded
		expectAllInjected("while the operator switched to the policy engine", creator.stop())

		By("stopping the operator; the pod webhook as config/admission-policy has it")
		engines.stop()

		By("creating a pod with no operator running")
		// The policy has been loaded since the switch: the dry run shows it still injects.
		injectedOnDryRun()
		calls := podWebhookCalls()
		byPolicy := appPod(ns.Name, selector)
		Expect(k8sClient.Create(ctx, byPolicy)).To(Succeed())
		Expect(byPolicy.Labels).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedLabel, sidecarsv1alpha1.InjectedLabelValue))
		Expect(byPolicy.Spec.InitContainers).NotTo(BeEmpty())
		Expect(byPolicy.Spec.InitContainers[0].Name).To(Equal(sidecarName))
		Expect(podWebhookCalls()).To(Equal(calls), "the API server called the pod webhook for a pod the policy injected")
		By("a pod no set selects is admitted too: the pod webhook fails open while no replica answers")
		unselected := pending()
		unselected.Labels = map[string]string{"e2e-unselected": ns.Name}
		Expect(k8sClient.Create(ctx, unselected)).To(Succeed())
		Expect(unselected.Labels).NotTo(HaveKey(sidecarsv1alpha1.InjectedLabel))
		Expect(podWebhookCalls()).To(BeNumerically(">", calls), "the pod webhook was not even called")

		By("the kubelet running the sidecar before the app, both ready, with no operator")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(byPolicy), byPolicy)).To(Succeed())
			g.Expect(statusOf(byPolicy, sidecarName).Ready).To(BeTrue())
			g.Expect(statusOf(byPolicy, "app").Ready).To(BeTrue())
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		sidecar, app := statusOf(byPolicy, sidecarName), statusOf(byPolicy, "app")
		Expect(app.State.Running.StartedAt.Time).To(BeTemporally(">=", sidecar.State.Running.StartedAt.Time))
		By("the pod Ready with no operator: the API server turned its sidecars-ready gate True (config/policy)")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(byPolicy), byPolicy)).To(Succeed())
			g.Expect(podReady(byPolicy)).To(BeTrue())
		}).WithTimeout(time.Minute).Should(Succeed())
		Expect(gateCondition(byPolicy).Message).To(Equal(policyGateMessage), "the policy wrote the gate")

		By("bringing the webhook engine back while pods are created: the generated policy goes")
		creator = createEverySecond(pending)
		engines.toWebhook()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(byPolicy), byPolicy)).To(Succeed())
			g.Expect(podReady(byPolicy)).To(BeTrue())
			err := k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the generated policy is still there: %v", err)
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		time.Sleep(3 * time.Second) // a few creates more once the policy is gone
		expectAllInjected("while the operator switched back to the webhook engine", creator.stop())

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

// policyEngines move the operator under test between the injection engines.
type policyEngines struct {
	// toPolicy runs the operator with --injection-engine=AdmissionPolicy.
	toPolicy func()
	// stop takes the operator down, the pod webhook as config/admission-policy has it.
	stop func()
	// toWebhook brings the webhook engine and its pod webhook back.
	toWebhook func()
	// restore is toWebhook unless the spec already did it.
	restore func()
}

// hostEngines restart the manager binary with or without the flag; stop first gives the
// pod webhook what config/admission-policy gives it (failurePolicy Ignore, no call for
// pods the policy injected), then kills the manager; toWebhook installs config/webhook
// again.
func hostEngines(root string) policyEngines {
	local := operator.(hostOperator).Operator
	restored := false
	e := policyEngines{
		toPolicy: func() {
			GinkgoHelper()
			Expect(local.Kill()).To(Succeed())
			local.Args = []string{"--injection-engine=AdmissionPolicy"}
			_, err := local.Run(ctx, k8sClient)
			Expect(err).NotTo(HaveOccurred())
		},
		stop: func() {
			GinkgoHelper()
			// Restored by toWebhook's Install, which puts config/webhook back.
			_, err := localcluster.PolicyEnginePodWebhook(ctx, k8sClient, root+"/config")
			Expect(err).NotTo(HaveOccurred())
			Expect(local.Kill()).To(Succeed())
		},
		toWebhook: func() {
			GinkgoHelper()
			restored = true
			_ = local.Kill()
			local.Args = nil
			Expect(local.Install(ctx, k8sClient, root+"/config")).To(Succeed())
			_, err := local.Run(ctx, k8sClient)
			Expect(err).NotTo(HaveOccurred())
		},
	}
	e.restore = func() {
		if !restored {
			By("putting the webhook engine and its pod webhook back")
			e.toWebhook()
		}
	}
	return e
}

// deployedEngines switch the install as docs/design/admission-policy.md tells users to:
// kubectl apply --server-side of config/admission-policy, later of config/default, each
// with the image the Deployment runs (as make deploy sets it); the operator is stopped
// by scaling it to 0.
func deployedEngines(root string) policyEngines {
	if helmInstall {
		return helmEngines()
	}
	restored := false
	e := policyEngines{
		toPolicy: func() {
			GinkgoHelper()
			applyConfig(root, "admission-policy")
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
			// Serving again before config/default makes the pod webhook's failures fatal.
			scaleManager(2)
			managerReady(2)
			applyConfig(root, "default")
			managerReady(2)
			// kubectl apply leaves what config/default does not have: the policy engine's
			// permissions go as docs/install.md says, once no replica of that engine is
			// left to use them, and the webhook engine removes the policy with its own.
			dropPolicyEnginePermissions()
		},
	}
	e.restore = func() {
		if !restored {
			By("applying config/default again")
			e.toWebhook()
		}
	}
	return e
}

// applyConfig is `kustomize build` of config/<dir> with the Deployment's image, through
// an overlay as make deploy builds one, piped to kubectl apply --server-side.
func applyConfig(root, dir string) {
	GinkgoHelper()
	d := &appsv1.Deployment{}
	Expect(k8sClient.Get(ctx, managerDeployment, d)).To(Succeed())
	name, digest, ok := strings.Cut(d.Spec.Template.Spec.Containers[0].Image, "@")
	Expect(ok).To(BeTrue(), "the manager is deployed by digest")
	overlay, err := os.MkdirTemp(filepath.Join(root, "bin"), "e2e-overlay.")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = os.RemoveAll(overlay) }()
	base, err := filepath.Rel(overlay, filepath.Join(root, "config", dir))
	Expect(err).NotTo(HaveOccurred())
	kustomization := fmt.Sprintf("resources:\n- %s\nimages:\n- name: outrigger\n  newName: %s\n  digest: %s\n", base, name, digest)
	Expect(os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644)).To(Succeed())
	objs, err := localcluster.Render(overlay)
	Expect(err).NotTo(HaveOccurred())
	var manifest bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		Expect(err).NotTo(HaveOccurred())
		manifest.WriteString("---\n")
		manifest.Write(y)
	}
	file := filepath.Join(overlay, dir+".yaml")
	Expect(os.WriteFile(file, manifest.Bytes(), 0o644)).To(Succeed())
	out, err := node.Kubectl(ctx, "apply", "--server-side", "-f", file)
	GinkgoWriter.Printf("$ kustomize build config/%s | kubectl apply --server-side -f -\n%s\n", dir, out)
	Expect(err).NotTo(HaveOccurred())
}

// podWebhookCalls is how many times the API server has called the pod webhook, answered
// or failed (its apiserver_admission_webhook_request_total and fail_open_count series).
func podWebhookCalls() float64 {
	GinkgoHelper()
	out, err := node.Kubectl(ctx, "get", "--raw", "/metrics")
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "apiserver_admission_webhook_request_total{") &&
			!strings.HasPrefix(line, "apiserver_admission_webhook_fail_open_count{") {
			continue
		}
		if !strings.Contains(line, `name="`+localcluster.PodWebhookName+`"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		Expect(err).NotTo(HaveOccurred(), line)
		total += v
	}
	return total
}

// dropPolicyEnginePermissions deletes the policy engine's ClusterRole and binding, as
// docs/install.md says to once no replica of that engine is left to use them (neither
// kubectl apply of config/default nor helm removes them), and waits for a leader.
func dropPolicyEnginePermissions() {
	GinkgoHelper()
	for _, obj := range []client.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "outrigger-admission-policy-rolebinding"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "outrigger-admission-policy-role"}},
	} {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
	}
	Eventually(func() error { _, err := leaderPod(ctx); return err }).WithTimeout(90 * time.Second).Should(Succeed())
}
