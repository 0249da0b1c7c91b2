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
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	operatorsv1 "github.com/operator-framework/api/pkg/operators/v1"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// olmInstall is E2E_OPERATOR=olm (make test-olm): the specs labelled "olm" install the
// operator through OLM (hack/olm.sh up), use it, upgrade it through the channel and
// uninstall it; they run alone.
var olmInstall = os.Getenv("E2E_OPERATOR") == "olm"

// What make olm-up and make olm-release provide, and docs/install.md names.
const (
	// olmNamespace holds OLM and is its global catalog namespace: a CatalogSource there
	// serves every namespace.
	olmNamespace   = "olm"
	catalogName    = "outrigger-catalog"
	packageName    = "outrigger"
	channelName    = "alpha"
	subscription   = "outrigger"
	operatorGroup  = "outrigger"
	crdName        = "sidecarsets.sidecars.outrigger.dev"
	olmCertDir     = "/tmp/k8s-webhook-server/serving-certs" // where OLM mounts the webhook certificate
	olmOwnerLabel  = "olm.owner"                             // OLM's label on what a CSV owns
	managerWebhook = 9443                                    // the manager's webhook port (the CSV's targetPort)
)

// policyEngineRole is the ClusterRole the bundle ships unbound (config/admission-policy/rbac):
// bound to the manager's ServiceAccount, it lets the policy engine write its policy.
const policyEngineRole = "outrigger-admission-policy-role"

func csvName(version string) string { return packageName + ".v" + version }

var _ = Describe("Installed by OLM: catalog, subscription, use, upgrade through the channel, uninstall", Ordered, Label("olm"), func() {
	var (
		from, to                 string // the versions installed, then upgraded to
		catalogFrom, catalogTo   string // catalog images: channel alpha = [from], then [from, to]
		ns                       *corev1.Namespace
		steady, inflight         map[string]string
		steadySet, inflightSet   *sidecarsv1alpha1.SidecarSet
		steadyUIDs, inflightUIDs map[string]types.UID
	)

	BeforeAll(func() {
		if !olmInstall {
			Skip("installs the operator through OLM: run make test-olm")
		}
		for name, v := range map[string]*string{
			"E2E_OLM_FROM": &from, "E2E_OLM_TO": &to, "E2E_OLM_CATALOG_FROM": &catalogFrom, "E2E_OLM_CATALOG_TO": &catalogTo,
		} {
			*v = os.Getenv(name)
			Expect(*v).NotTo(BeEmpty(), "%s is not set: make test-olm sets it (make olm-release)", name)
		}
		Expect(operatorsv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())
		Expect(operatorsv1.AddToScheme(scheme.Scheme)).To(Succeed())
		Expect(apiextensionsv1.AddToScheme(scheme.Scheme)).To(Succeed())
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "olm-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
		steady = map[string]string{"e2e": ns.Name, "role": "steady"}
		inflight = map[string]string{"e2e": ns.Name, "role": "inflight"}
	})

	AfterEach(func() {
		if CurrentSpecReport().Failed() {
			dumpOLM()
		}
	})

	It("installs from the catalog: CatalogSource, OperatorGroup, Subscription, CSV Succeeded", func() {
		By("the operator's namespace, as the bundle's suggested-namespace template has it (Pod Security restricted)")
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace, Labels: map[string]string{
			"app.kubernetes.io/name": "outrigger", "pod-security.kubernetes.io/enforce": "restricted",
		}}})).To(Succeed())

		// First a catalog that cannot be served (a tag never pushed): what a mistyped
		// image looks like, and that pointing the CatalogSource at the right one mends it.
		missing, _, _ := strings.Cut(catalogFrom, "@")
		missing += ":no-such-tag"
		By("a CatalogSource whose image does not exist (" + missing + ") is not served")
		cs := &operatorsv1alpha1.CatalogSource{
			ObjectMeta: metav1.ObjectMeta{Name: catalogName, Namespace: olmNamespace},
			Spec: operatorsv1alpha1.CatalogSourceSpec{
				SourceType: operatorsv1alpha1.SourceTypeGrpc, Image: missing,
				DisplayName: "Outrigger", Publisher: "Outrigger",
				GrpcPodConfig: &operatorsv1alpha1.GrpcPodConfig{SecurityContextConfig: operatorsv1alpha1.Restricted},
			},
		}
		Expect(k8sClient.Create(ctx, cs)).To(Succeed())
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(olmNamespace), client.MatchingLabels{"olm.catalogSource": catalogName})).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(1))
			st := statusOf(&pods.Items[0], pods.Items[0].Spec.Containers[0].Name)
			g.Expect(st.State.Waiting).NotTo(BeNil(), "the catalog pod's container is not waiting")
			g.Expect(st.State.Waiting.Reason).To(BeElementOf("ErrImagePull", "ImagePullBackOff"))
		}).WithTimeout(2*time.Minute).Should(Succeed(), "the catalog pod of a missing image")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cs), cs)).To(Succeed())
		if st := cs.Status.GRPCConnectionState; st != nil {
			Expect(st.LastObservedState).NotTo(Equal("READY"), "a catalog without a server is READY")
		}

		By("the CatalogSource names the catalog of " + from + ": " + catalogFrom)
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(cs), cs); err != nil {
				return err
			}
			cs.Spec.Image = catalogFrom
			return k8sClient.Update(ctx, cs)
		}).Should(Succeed())
		catalogServes(catalogFrom)

		By("an OperatorGroup of all namespaces, and a Subscription to channel " + channelName)
		Expect(k8sClient.Create(ctx, &operatorsv1.OperatorGroup{
			ObjectMeta: metav1.ObjectMeta{Name: operatorGroup, Namespace: operatorNamespace},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &operatorsv1alpha1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Name: subscription, Namespace: operatorNamespace},
			Spec: &operatorsv1alpha1.SubscriptionSpec{
				CatalogSource: catalogName, CatalogSourceNamespace: olmNamespace, Package: packageName, Channel: channelName,
				StartingCSV: csvName(from), InstallPlanApproval: operatorsv1alpha1.ApprovalAutomatic,
			},
		})).To(Succeed())
		csvSucceeded(csvName(from))
		managerReady(2)
	})

	It("runs with the webhook certificate OLM generated, and OLM's CA in the webhook configurations", func() {
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
		Expect(pods.Items).To(HaveLen(2))
		var secretName string
		for _, p := range pods.Items {
			manager := p.Spec.Containers[0]
			Expect(manager.Name).To(Equal("manager"))
			Expect(manager.Args).To(ContainElement("--cert-management=external"), "the CSV runs the manager on the certificate OLM mounts")
			mount := -1
			for i, m := range manager.VolumeMounts {
				if m.MountPath == olmCertDir {
					mount = i
				}
			}
			Expect(mount).NotTo(Equal(-1), "pod %s: nothing mounted at %s", p.Name, olmCertDir)
			var vol *corev1.Volume
			for i := range p.Spec.Volumes {
				if p.Spec.Volumes[i].Name == manager.VolumeMounts[mount].Name {
					vol = &p.Spec.Volumes[i]
				}
			}
			Expect(vol).NotTo(BeNil())
			Expect(vol.Secret).NotTo(BeNil(), "pod %s: %s is not a Secret", p.Name, olmCertDir)
			secretName = vol.Secret.SecretName
		}
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: secretName}, secret)).To(Succeed())
		Expect(secret.Labels).To(HaveKeyWithValue("olm.managed", "true"), "the Secret %s is OLM's", secretName)

		By("every webhook of the CSV trusts OLM's CA, which signed the certificate in the Secret")
		webhooks := olmWebhooks(csvName(from))
		Expect(webhooks).To(HaveLen(3), "the CSV's three webhookdefinitions")
		var service *admissionregistrationv1.ServiceReference
		var caBundle []byte
		for name, cc := range webhooks {
			Expect(cc.CABundle).NotTo(BeEmpty(), "webhook %s has no caBundle", name)
			Expect(cc.Service).NotTo(BeNil(), "webhook %s is not called through a Service", name)
			service, caBundle = cc.Service, cc.CABundle
		}
		roots := x509.NewCertPool()
		Expect(roots.AppendCertsFromPEM(caBundle)).To(BeTrue())
		serverName := service.Name + "." + service.Namespace + ".svc"

		By("each replica serves that certificate on its webhook port, for " + serverName)
		for _, p := range pods.Items {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
				net.JoinHostPort(p.Status.PodIP, fmt.Sprint(managerWebhook)), &tls.Config{RootCAs: roots, ServerName: serverName})
			Expect(err).NotTo(HaveOccurred(), "pod %s: the TLS handshake with OLM's CA", p.Name)
			served := conn.ConnectionState().PeerCertificates[0]
			Expect(conn.Close()).To(Succeed())
			inSecret, err := tls.X509KeyPair(secret.Data["tls.crt"], secret.Data["tls.key"])
			Expect(err).NotTo(HaveOccurred())
			Expect(served.Raw).To(Equal(inSecret.Certificate[0]), "pod %s serves another certificate than OLM's Secret %s", p.Name, secretName)
		}

		By("the API server calls the webhooks with it: an invalid SidecarSet is refused with the validator's message")
		bad := newSidecarSet("olm-invalid-"+ns.Name, ns.Name, steady, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		bad.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromString("0%"))
		Expect(k8sClient.Create(ctx, bad)).To(MatchError(ContainSubstring("maxUnavailable must be")))
	})

	It("injects the pods a SidecarSet applied with kubectl selects, and rolls its image out in place", func() {
		steadySet = newSidecarSet("olm-steady-"+ns.Name, ns.Name, steady, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		kubectlApply(steadySet)
		waitInjecting(ns.Name, steady)
		steadyUIDs = runDeployment(ns.Name, "steady", steady, 2)
		before := appContainerIDs(ns.Name, steady)

		By("the sidecar's image changes: each pod's sidecar restarts on it, the app does not")
		setImage(steadySet, images.SidecarV2)
		rolledOut(ns.Name, steady, images.SidecarV2, steadyUIDs)
		Expect(appContainerIDs(ns.Name, steady)).To(Equal(before), "an app container restarted")
	})

	It("upgrades through the channel: the rollout in flight finishes, no pod restarts, the SidecarSets survive", func() {
		oldCSV := &operatorsv1alpha1.ClusterServiceVersion{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: csvName(from)}, oldCSV)).To(Succeed())
		oldImage := managerImage()
		steadyBefore := allContainers(ns.Name, steady)

		By("a rollout that will still be in flight when the new operator takes over")
		inflightSet = newSidecarSet("olm-inflight-"+ns.Name, ns.Name, inflight, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		inflightSet.Spec.Containers[0].Name = "probe-proxy" // two sets may not declare the same container
		inflightSet.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromInt32(1))
		// 4 pods one at a time, 25s of drain each: the rollout outlasts OLM's upgrade.
		inflightSet.Spec.UpdateStrategy.Drain.Seconds = ptr.To[int32](25)
		kubectlApply(inflightSet)
		waitInjecting(ns.Name, inflight)
		inflightUIDs = runDeployment(ns.Name, "inflight", inflight, 4)
		inflightApps := appContainerIDs(ns.Name, inflight)
		setImage(inflightSet, images.SidecarV2)
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels(inflight))).To(Succeed())
			g.Expect(slices.ContainsFunc(pods.Items, func(p corev1.Pod) bool {
				_, ok := p.Annotations[sidecarsv1alpha1.UpgradeAnnotation]
				return ok
			})).To(BeTrue())
		}).WithTimeout(time.Minute).Should(Succeed(), "the rollout started")

		By("the catalog now has " + to + ", replacing " + from + ": " + catalogTo)
		Eventually(func() error {
			cs := &operatorsv1alpha1.CatalogSource{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: olmNamespace, Name: catalogName}, cs); err != nil {
				return err
			}
			cs.Spec.Image = catalogTo
			return k8sClient.Update(ctx, cs)
		}).Should(Succeed())
		catalogServes(catalogTo)
		csvSucceeded(csvName(to))
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(oldCSV), &operatorsv1alpha1.ClusterServiceVersion{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the replaced CSV %s is still there (%v)", oldCSV.Name, err)
		}).WithTimeout(3 * time.Minute).Should(Succeed())
		sub := &operatorsv1alpha1.Subscription{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: subscription}, sub)).To(Succeed())
		Expect(sub.Status.InstalledCSV).To(Equal(csvName(to)))
		managerReady(2)
		Expect(managerImage()).NotTo(Equal(oldImage), "the manager runs the new version's image")
		Expect(rolloutDone(ns.Name, inflight, images.SidecarV2)).To(BeFalse(),
			"the rollout finished before the new operator took over: nothing tested an upgrade mid-rollout (lengthen its drain)")

		By("the new operator finishes the rollout the old one began, in place")
		rolledOut(ns.Name, inflight, images.SidecarV2, inflightUIDs)
		Expect(appContainerIDs(ns.Name, inflight)).To(Equal(inflightApps), "an app container restarted")

		By("pods no rollout concerns were not touched: same containers, no restart")
		Expect(allContainers(ns.Name, steady)).To(Equal(steadyBefore))

		By("the SidecarSets stored before the upgrade are the same objects, reconciled by the new operator")
		for _, set := range []*sidecarsv1alpha1.SidecarSet{steadySet, inflightSet} {
			got := &sidecarsv1alpha1.SidecarSet{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())
			Expect(got.UID).To(Equal(set.UID), "SidecarSet %s was recreated", set.Name)
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())
				g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
				g.Expect(got.Status.UpdatedPods).To(Equal(got.Status.MatchedPods))
				g.Expect(got.Status.MatchedPods).To(BeNumerically(">", 0))
			}).WithTimeout(time.Minute).Should(Succeed(), "SidecarSet %s", set.Name)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: crdName}, crd)).To(Succeed())
		Expect(crd.Status.StoredVersions).To(Equal([]string{"v1alpha1"}))
	})

	It("switches to the admission policy engine with the Subscription's config and the bundle's ClusterRole bound, and back under the CSV's RBAC alone", func() {
		setEngine := func(env []corev1.EnvVar) {
			GinkgoHelper()
			Eventually(func() error {
				sub := &operatorsv1alpha1.Subscription{}
				if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: subscription}, sub); err != nil {
					return err
				}
				if env == nil {
					sub.Spec.Config = nil
				} else {
					sub.Spec.Config = &operatorsv1alpha1.SubscriptionConfig{Env: env}
				}
				return k8sClient.Update(ctx, sub)
			}).Should(Succeed())
		}
		managerEnv := func() []corev1.EnvVar {
			d := &appsv1.Deployment{}
			Expect(k8sClient.Get(ctx, managerDeployment, d)).To(Succeed())
			return d.Spec.Template.Spec.Containers[0].Env
		}
		policyEnv := corev1.EnvVar{Name: "OUTRIGGER_INJECTION_ENGINE", Value: "AdmissionPolicy"}

		By("binding the bundle's ClusterRole " + policyEngineRole + " to the manager's ServiceAccount, as docs/install.md says")
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: policyEngineRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: policyEngineRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNamespace, Name: managerDeployment.Name}},
		}
		role := &rbacv1.ClusterRole{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: policyEngineRole}, role)).To(Succeed(), "OLM installed the bundle's ClusterRole")
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, binding))).To(Succeed()) })

		By("the Subscription's spec.config.env sets " + policyEnv.Name + "=" + policyEnv.Value + "; OLM rolls the manager")
		setEngine([]corev1.EnvVar{policyEnv})
		Eventually(managerEnv).WithTimeout(2 * time.Minute).Should(ContainElement(policyEnv))
		managerReady(2)

		By("the manager writes the policy with the bound ClusterRole and reports the sets in it")
		Eventually(func(g Gomega) {
			for _, set := range []*sidecarsv1alpha1.SidecarSet{steadySet, inflightSet} {
				got := &sidecarsv1alpha1.SidecarSet{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())
				cond := meta.FindStatusCondition(got.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
				g.Expect(cond).NotTo(BeNil(), "SidecarSet %s", set.Name)
				g.Expect(cond.Reason).To(Equal(sidecarsv1alpha1.ReasonInPolicy), cond.Message)
			}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})).To(Succeed())
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		By("a pod the steady set selects gets its sidecar (the policy, then the bundle's pod webhook adding nothing)")
		Eventually(func(g Gomega) {
			p := appPod(ns.Name, steady)
			g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
			g.Expect(p.Labels).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedLabel, sidecarsv1alpha1.InjectedLabelValue))
			g.Expect(p.Annotations[sidecarsv1alpha1.InjectedAnnotation]).To(ContainSubstring(steadySet.Name))
			g.Expect(p.Spec.InitContainers[0].Image).To(Equal(images.SidecarV2))
		}).WithTimeout(time.Minute).Should(Succeed())

		By("deleting the binding and removing the config: the webhook engine deletes the generated policy with the CSV's permissions")
		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		setEngine(nil)
		Eventually(managerEnv).WithTimeout(2 * time.Minute).ShouldNot(ContainElement(policyEnv))
		managerReady(2)
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the generated policy is still there: %v", err)
			got := &sidecarsv1alpha1.SidecarSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(steadySet), got)).To(Succeed())
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)).To(BeNil())
		}).WithTimeout(2 * time.Minute).Should(Succeed())
	})

	It("uninstalls as docs/install.md says: no Outrigger pod or webhook is left", func() {
		sub := &operatorsv1alpha1.Subscription{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: subscription}, sub)).To(Succeed())
		installed := sub.Status.InstalledCSV
		Expect(installed).To(Equal(csvName(to)))

		By("deleting the Subscription, then the CSV " + installed)
		Expect(k8sClient.Delete(ctx, sub)).To(Succeed())
		Expect(k8sClient.Delete(ctx, &operatorsv1alpha1.ClusterServiceVersion{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: installed}})).To(Succeed())
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty(), "manager pods left")
			err := k8sClient.Get(ctx, managerDeployment, &appsv1.Deployment{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the Deployment is left (%v)", err)
		}).WithTimeout(2*time.Minute).Should(Succeed(), "OLM removes what the CSV installed")
		Eventually(func(g Gomega) {
			g.Expect(outriggerWebhooks()).To(BeEmpty())
		}).WithTimeout(time.Minute).Should(Succeed(), "webhook configurations of Outrigger are left")

		By("a pod the SidecarSets select is now created as it is: nothing intercepts it")
		p := appPod(ns.Name, steady)
		p.Spec.NodeSelector = map[string]string{"outrigger.test/no-such-node": "true"}
		Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
		Expect(p.Labels).NotTo(HaveKey(sidecarsv1alpha1.InjectedLabel))

		By("the rest of the docs' steps: OperatorGroup, CatalogSource, the CRD (and with it every SidecarSet), the namespace")
		Expect(k8sClient.Delete(ctx, &operatorsv1.OperatorGroup{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: operatorGroup}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, &operatorsv1alpha1.CatalogSource{ObjectMeta: metav1.ObjectMeta{Namespace: olmNamespace, Name: catalogName}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: crdName}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Name: crdName}, &apiextensionsv1.CustomResourceDefinition{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the CRD (%v)", err)
			err = k8sClient.Get(ctx, client.ObjectKey{Name: operatorNamespace}, &corev1.Namespace{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "namespace %s (%v)", operatorNamespace, err)
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(olmNamespace), client.MatchingLabels{"olm.catalogSource": catalogName})).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty(), "catalog pods left")
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		Expect(outriggerWebhooks()).To(BeEmpty())
	})
})

// catalogServes waits until the catalog's registry pod runs image and OLM reads it.
func catalogServes(image string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		cs := &operatorsv1alpha1.CatalogSource{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: olmNamespace, Name: catalogName}, cs)).To(Succeed())
		g.Expect(cs.Status.GRPCConnectionState).NotTo(BeNil(), "no connection to the catalog yet")
		g.Expect(cs.Status.GRPCConnectionState.LastObservedState).To(Equal("READY"))
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(olmNamespace), client.MatchingLabels{"olm.catalogSource": catalogName})).To(Succeed())
		serving := 0
		for _, p := range pods.Items {
			g.Expect(p.Spec.Containers[0].Image).To(Equal(image), "catalog pod %s runs another image", p.Name)
			if podReady(&p) && p.DeletionTimestamp == nil {
				serving++
			}
		}
		g.Expect(serving).To(Equal(1), "Ready catalog pods")
	}).WithTimeout(3*time.Minute).WithPolling(2*time.Second).Should(Succeed(), "the catalog %s is not served", image)
}

// csvSucceeded waits for a CSV in the operator's namespace to reach phase Succeeded.
func csvSucceeded(name string) {
	GinkgoHelper()
	By("waiting for CSV " + name + " to be Succeeded")
	Eventually(func(g Gomega) {
		csv := &operatorsv1alpha1.ClusterServiceVersion{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: name}, csv)).To(Succeed())
		g.Expect(csv.Status.Phase).To(Equal(operatorsv1alpha1.CSVPhaseSucceeded), "%s: %s", csv.Status.Reason, csv.Status.Message)
	}).WithTimeout(6*time.Minute).WithPolling(2*time.Second).Should(Succeed(), "CSV %s", name)
}

func managerImage() string {
	GinkgoHelper()
	d := &appsv1.Deployment{}
	Expect(k8sClient.Get(ctx, managerDeployment, d)).To(Succeed())
	return d.Spec.Template.Spec.Containers[0].Image
}

// olmWebhooks is the client configuration of each webhook OLM installed for csv, by name.
func olmWebhooks(csv string) map[string]admissionregistrationv1.WebhookClientConfig {
	GinkgoHelper()
	owned := client.MatchingLabels{olmOwnerLabel: csv}
	out := map[string]admissionregistrationv1.WebhookClientConfig{}
	var mutating admissionregistrationv1.MutatingWebhookConfigurationList
	Expect(k8sClient.List(ctx, &mutating, owned)).To(Succeed())
	for _, c := range mutating.Items {
		for _, w := range c.Webhooks {
			out[w.Name] = w.ClientConfig
		}
	}
	var validating admissionregistrationv1.ValidatingWebhookConfigurationList
	Expect(k8sClient.List(ctx, &validating, owned)).To(Succeed())
	for _, c := range validating.Items {
		for _, w := range c.Webhooks {
			out[w.Name] = w.ClientConfig
		}
	}
	return out
}

// outriggerWebhooks names every webhook configuration that still calls Outrigger: one of
// its webhooks is named *.outrigger.dev, or OLM labelled it as an Outrigger CSV's.
func outriggerWebhooks() []string {
	GinkgoHelper()
	var left []string
	ours := func(kind string, objMeta metav1.ObjectMeta, names []string) {
		if strings.HasPrefix(objMeta.Labels[olmOwnerLabel], packageName+".") ||
			slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".outrigger.dev") }) {
			left = append(left, kind+"/"+objMeta.Name)
		}
	}
	var mutating admissionregistrationv1.MutatingWebhookConfigurationList
	Expect(k8sClient.List(ctx, &mutating)).To(Succeed())
	for _, c := range mutating.Items {
		var names []string
		for _, w := range c.Webhooks {
			names = append(names, w.Name)
		}
		ours("mutatingwebhookconfiguration", c.ObjectMeta, names)
	}
	var validating admissionregistrationv1.ValidatingWebhookConfigurationList
	Expect(k8sClient.List(ctx, &validating)).To(Succeed())
	for _, c := range validating.Items {
		var names []string
		for _, w := range c.Webhooks {
			names = append(names, w.Name)
		}
		ours("validatingwebhookconfiguration", c.ObjectMeta, names)
	}
	return left
}

// kubectlApply applies a SidecarSet as a user does (server-side, from a YAML file)
// and reads it back into set.
func kubectlApply(set *sidecarsv1alpha1.SidecarSet) {
	GinkgoHelper()
	set.APIVersion, set.Kind = sidecarsv1alpha1.GroupVersion.String(), "SidecarSet"
	b, err := yaml.Marshal(set)
	Expect(err).NotTo(HaveOccurred())
	file := filepath.Join(GinkgoT().TempDir(), set.Name+".yaml")
	Expect(os.WriteFile(file, b, 0o600)).To(Succeed())
	out, err := node.Kubectl(ctx, "apply", "--server-side", "-f", file)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("$ kubectl apply --server-side -f %s\n%s", file, out)
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
}

// waitInjecting waits until a pod of labels would be injected (the set is in the
// webhook's cache).
func waitInjecting(namespace string, labels map[string]string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		probe := appPod(namespace, labels)
		g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
	}).WithTimeout(time.Minute).Should(Succeed())
}

// runDeployment runs replicas injected app pods of labels; returns their UIDs by name.
func runDeployment(namespace, name string, labels map[string]string, replicas int32) map[string]types.UID {
	GinkgoHelper()
	tmpl := appPod(namespace, labels)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)}, Spec: tmpl.Spec},
		},
	}
	Expect(k8sClient.Create(ctx, d)).To(Succeed())
	uids := map[string]types.UID{}
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(labels))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(int(replicas)))
		for _, p := range pods.Items {
			g.Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "pod %s was not injected", p.Name)
			g.Expect(podReady(&p)).To(BeTrue(), "pod %s", p.Name)
			uids[p.Name] = p.UID
		}
	}).WithTimeout(3 * time.Minute).Should(Succeed())
	return uids
}

func setImage(set *sidecarsv1alpha1.SidecarSet, image string) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
			return err
		}
		set.Spec.Containers[0].Image = image
		return k8sClient.Update(ctx, set)
	}).Should(Succeed())
}

// rolloutDone is whether every pod of labels runs image in its first native sidecar,
// with no upgrade in flight.
func rolloutDone(namespace string, labels map[string]string, image string) bool {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(labels))).To(Succeed())
	for _, p := range pods.Items {
		if _, upgrading := p.Annotations[sidecarsv1alpha1.UpgradeAnnotation]; upgrading || p.Spec.InitContainers[0].Image != image {
			return false
		}
	}
	return len(pods.Items) > 0
}

// rolledOut waits until the pods of labels — the same pods, uids — run image in their
// sidecar, Ready, with no upgrade in flight.
func rolledOut(namespace string, labels map[string]string, image string, uids map[string]types.UID) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(labels))).To(Succeed())
		got := map[string]types.UID{}
		for _, p := range pods.Items {
			got[p.Name] = p.UID
			g.Expect(p.Spec.InitContainers[0].Image).To(Equal(image), "pod %s", p.Name)
			g.Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation), "pod %s", p.Name)
			g.Expect(podReady(&p)).To(BeTrue(), "pod %s", p.Name)
			g.Expect(statusOf(&p, p.Spec.InitContainers[0].Name).Image).To(HaveSuffix(strings.TrimPrefix(image, "outrigger.test/")),
				"pod %s: the kubelet runs another image", p.Name)
		}
		g.Expect(got).To(Equal(uids), "pods were replaced, not upgraded in place")
	}).WithTimeout(5 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())
}

// appContainerIDs is the containerID of the app container of each pod of labels.
func appContainerIDs(namespace string, labels map[string]string) map[string]string {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(labels))).To(Succeed())
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = statusOf(&p, "app").ContainerID
		Expect(out[p.Name]).NotTo(BeEmpty(), "pod %s: no app container running", p.Name)
	}
	return out
}

// allContainers is every container's ID and restart count of each pod of labels, and the
// pod's UID: what a restart of any kind would change.
func allContainers(namespace string, labels map[string]string) map[string]string {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(labels))).To(Succeed())
	Expect(pods.Items).NotTo(BeEmpty())
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = string(p.UID)
		for _, st := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			out[p.Name+"/"+st.Name] = fmt.Sprintf("%s restarts=%d", st.ContainerID, st.RestartCount)
		}
	}
	return out
}

// dumpOLM prints what explains a failed OLM spec: the state of OLM's objects, the CSVs'
// conditions, and the logs of OLM's and the operator's pods.
func dumpOLM() {
	show := func(args ...string) {
		out, err := node.Kubectl(ctx, args...)
		GinkgoWriter.Printf("$ kubectl %s\n%s%v\n", strings.Join(args, " "), out, err)
	}
	show("get", "catalogsources,subscriptions,installplans,csv,operatorgroups", "-A", "-o", "wide")
	show("get", "csv", "-A", "-o", `jsonpath={range .items[*]}{.metadata.name}: {.status.phase} {.status.reason}: {.status.message}{"\n"}{range .status.conditions[*]}  {.lastTransitionTime} {.phase} {.reason}: {.message}{"\n"}{end}{end}`)
	show("get", "subscriptions", "-A", "-o", `jsonpath={range .items[*]}{.metadata.name}: state {.status.state}, installed {.status.installedCSV}, current {.status.currentCSV}{"\n"}{range .status.conditions[*]}  {.type}={.status} {.reason}: {.message}{"\n"}{end}{end}`)
	show("get", "catalogsources", "-A", "-o", `jsonpath={range .items[*]}{.metadata.name}: {.status.connectionState.lastObservedState} {.status.message}{"\n"}{end}`)
	show("get", "pods,jobs", "-n", olmNamespace, "-o", "wide")
	show("get", "pods", "-n", operatorNamespace, "-o", "wide")
	show("get", "events", "-n", operatorNamespace, "--sort-by=.lastTimestamp")
	show("get", "events", "-n", olmNamespace, "--sort-by=.lastTimestamp")
	for _, d := range []string{"olm-operator", "catalog-operator"} {
		show("logs", "-n", olmNamespace, "deployment/"+d, "--tail=80")
	}
	show("logs", "-n", operatorNamespace, "-l", "app.kubernetes.io/name=outrigger", "--tail=40", "--prefix")
}
