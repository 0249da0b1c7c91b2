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
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// What config/default installs (namePrefix outrigger-, namespace outrigger-system).
var (
	managerDeployment = types.NamespacedName{Namespace: operatorNamespace, Name: "outrigger-controller-manager"}
	managerLabels     = map[string]string{"app.kubernetes.io/name": "outrigger", "app.kubernetes.io/component": "controller-manager"}
	managerSA         = "system:serviceaccount:" + operatorNamespace + ":outrigger-controller-manager"
	// The manager's --leader-elect lease (main.go's LeaderElectionID).
	leaderLease = types.NamespacedName{Namespace: operatorNamespace, Name: "outrigger.sidecars.outrigger.dev"}
)

// webhookDown is how the API server refuses a pod the injector would have mutated while
// no replica answers (failurePolicy Fail; docs/operations.md quotes it).
const webhookDown = `failed calling webhook "inject.sidecars.outrigger.dev"`

// deployedOperator is config/default's Deployment: Crash deletes the leader pod at once
// (grace period 0); the Deployment replaces it and the other replica takes the lease.
type deployedOperator struct{}

func (deployedOperator) Crash(ctx context.Context) error {
	var leader *corev1.Pod
	// Right after an earlier crash the lease still names the gone pod until it expires.
	err := pollUntil(ctx, 90*time.Second, func() bool {
		p, err := leaderPod(ctx)
		leader = p
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("no live manager pod holds the lease: %w", err)
	}
	return k8sClient.Delete(ctx, leader, client.GracePeriodSeconds(0))
}

// leaderPod is the manager pod holding the leader lease; an error while the holder is
// no running pod (the lease not yet taken over).
func leaderPod(ctx context.Context) (*corev1.Pod, error) {
	lease := &coordinationv1.Lease{}
	if err := k8sClient.Get(ctx, leaderLease, lease); err != nil {
		return nil, err
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	// controller-runtime's identity: <hostname>_<uuid>, the hostname being the pod's name.
	name, _, ok := strings.Cut(holder, "_")
	if !ok || name == "" {
		return nil, fmt.Errorf("lease holder %q", holder)
	}
	pod := &corev1.Pod{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: name}, pod); err != nil {
		return nil, err
	}
	if pod.DeletionTimestamp != nil || !podReady(pod) {
		return nil, fmt.Errorf("lease holder %s is not a Ready pod", name)
	}
	return pod, nil
}

// managerReady waits until the manager Deployment (config/default's, or OLM's from the
// CSV) runs replicas Ready pods of its current template and no other.
func managerReady(replicas int32) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		d := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, managerDeployment, d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(Equal(replicas))
		g.Expect(d.Status.ReadyReplicas).To(Equal(replicas))
		g.Expect(d.Status.Replicas).To(Equal(replicas), "old pods still terminating")
		// Status.Replicas leaves out pods already terminating: they are still there.
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(int(replicas)), "old pods still terminating")
	}).WithTimeout(3 * time.Minute).Should(Succeed())
}

// scaleManager sets the manager Deployment's replicas, as kubectl scale does.
func scaleManager(replicas int32) {
	GinkgoHelper()
	Eventually(func() error {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, managerDeployment, d); err != nil {
			return err
		}
		d.Spec.Replicas = &replicas
		return k8sClient.Update(ctx, d)
	}).Should(Succeed())
}

func pollUntil(ctx context.Context, timeout time.Duration, done func() bool) error {
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
}

// What only the operator running as config/default's pods shows.
var _ = Describe("The operator deployed from its image and config/default", func() {
	var (
		ns       *corev1.Namespace
		selector map[string]string
	)
	BeforeEach(func() {
		if !deployed {
			Skip("tests the in-cluster operator: run with E2E_OPERATOR=deployed (make test-e2e E2E_OPERATOR=deployed)")
		}
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "deployed-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		selector = map[string]string{"e2e": ns.Name}
		DeferCleanup(func() {
			Expect(k8sClient.DeleteAllOf(ctx, &sidecarsv1alpha1.SidecarSet{}, client.MatchingLabels{"e2e": ns.Name})).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		})
	})

	createSet := func(name string, labels map[string]string, container string) *sidecarsv1alpha1.SidecarSet {
		GinkgoHelper()
		set := newSidecarSet(name, ns.Name, labels, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		set.Spec.Containers[0].Name = container
		set.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromInt32(1))
		set.Spec.UpdateStrategy.Drain.Seconds = ptr.To[int32](2)
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			probe := appPod(ns.Name, labels)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).WithTimeout(time.Minute).Should(Succeed())
		return set
	}
	// pendingPod matches labels but never runs: no node has its nodeSelector. Admission
	// is what the specs look at; the node is spared a container per probe.
	pendingPod := func(namespace string, labels map[string]string) *corev1.Pod {
		p := appPod(namespace, labels)
		p.GenerateName = "probe-"
		p.Spec.NodeSelector = map[string]string{"outrigger.test/no-such-node": "true"}
		return p
	}
	It("runs two Ready replicas under Pod Security restricted, one of them the leader", func() {
		opNS := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: operatorNamespace}, opNS)).To(Succeed())
		Expect(opNS.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		managerReady(2)
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
		Expect(pods.Items).To(HaveLen(2))
		for _, p := range pods.Items {
			Expect(p.Spec.ServiceAccountName).To(Equal("outrigger-controller-manager"))
			Expect(p.Spec.Containers[0].Image).To(MatchRegexp(`@sha256:[0-9a-f]{64}$`), "deployed by digest")
			Expect(statusOf(&p, "manager").RestartCount).To(BeZero(), "pod %s restarted", p.Name)
		}
		Eventually(func() error { _, err := leaderPod(ctx); return err }).WithTimeout(time.Minute).Should(Succeed())

		By("a pod the restricted profile refuses is refused in the operator's namespace")
		bad := pendingPod(operatorNamespace, map[string]string{"e2e": ns.Name})
		err := k8sClient.Create(ctx, bad, client.DryRunAll)
		Expect(err).To(MatchError(ContainSubstring(`violates PodSecurity "restricted`)))
	})

	It("holds no more RBAC than the checked-in expectation: no wildcard, no Secrets outside its namespace", func() {
		for _, c := range []struct{ namespace, golden string }{
			{operatorNamespace, "rbac-operator-namespace.txt"},
			{ns.Name, "rbac-other-namespace.txt"},
		} {
			out, err := node.Kubectl(ctx, "auth", "can-i", "--list", "--as="+managerSA, "-n", c.namespace)
			Expect(err).NotTo(HaveOccurred())
			GinkgoWriter.Printf("$ kubectl auth can-i --list --as=%s -n %s\n%s\n", managerSA, c.namespace, out)
			rows := canIRows(string(out))
			Expect(rows).NotTo(BeEmpty())
			for _, r := range rows {
				if r.resources == "" {
					continue // a non-resource URL: /api/*, /healthz, ... (system:discovery, for everyone)
				}
				Expect(r.resources).NotTo(ContainSubstring("*"), "a wildcard resource: %+v", r)
				Expect(r.verbs).NotTo(ContainSubstring("*"), "a wildcard verb: %+v", r)
				if c.namespace != operatorNamespace {
					Expect(r.resources).NotTo(HavePrefix("secrets"), "Secrets outside the operator's namespace")
				}
			}
			var got strings.Builder
			for _, r := range rows {
				fmt.Fprintf(&got, "%s | %s | %s | %s\n", r.resources, r.nonResourceURLs, r.resourceNames, r.verbs)
			}
			golden := filepath.Join("testdata", c.golden)
			if os.Getenv("E2E_UPDATE_GOLDEN") != "" {
				Expect(os.WriteFile(golden, []byte(got.String()), 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(golden)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.String()).To(Equal(string(want)),
				"the manager's permissions in %s changed: review them, then E2E_UPDATE_GOLDEN=1 rewrites %s", c.namespace, golden)
		}
	})

	It("lets a drain evict its replicas one at a time: the PodDisruptionBudget refuses the second until the first is replaced", func() {
		managerReady(2)
		pdb := &policyv1.PodDisruptionBudget{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, managerDeployment, pdb)).To(Succeed())
			g.Expect(pdb.Status.ObservedGeneration).To(Equal(pdb.Generation))
			g.Expect(pdb.Status.CurrentHealthy).To(BeEquivalentTo(2))
			g.Expect(pdb.Status.DisruptionsAllowed).To(BeEquivalentTo(1))
		}).WithTimeout(time.Minute).Should(Succeed(), "the disruption controller counts both replicas healthy")
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
		Expect(pods.Items).To(HaveLen(2))
		// What kubectl drain does for each pod of the node: an Eviction, which the API
		// server answers 429 when it would break a PodDisruptionBudget.
		evict := func(p *corev1.Pod) error {
			return k8sClient.SubResource("eviction").Create(ctx, p,
				&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}})
		}
		first, second := &pods.Items[0], &pods.Items[1]
		DeferCleanup(func() { managerReady(2) })

		By("evicting " + first.Name + ": allowed")
		Expect(evict(first)).To(Succeed())
		By("evicting " + second.Name + " at once: refused, 429 TooManyRequests")
		err := evict(second)
		Expect(apierrors.IsTooManyRequests(err)).To(BeTrue(), "want 429 TooManyRequests, got %v", err)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(second), second)).To(Succeed())
		Expect(second.DeletionTimestamp).To(BeNil(), "the refused eviction left the replica running")

		By("once the replacement of " + first.Name + " is Ready, evicting " + second.Name + " is allowed")
		managerReady(2)
		Eventually(func() error { return evict(second) }).WithTimeout(time.Minute).Should(Succeed())
	})

	It("has its NetworkPolicy applied: 9443 from any source (the API server's side), 8443 from namespaces labelled metrics: enabled", func() {
		managerReady(2)
		np := &networkingv1.NetworkPolicy{}
		Expect(k8sClient.Get(ctx, managerDeployment, np)).To(Succeed())
		Expect(np.Spec.PodSelector).To(Equal(metav1.LabelSelector{MatchLabels: managerLabels}), "the policy selects the manager's pods")
		Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		admits := map[int32][]networkingv1.NetworkPolicyPeer{}
		for _, rule := range np.Spec.Ingress {
			for _, port := range rule.Ports {
				admits[port.Port.IntVal] = append(admits[port.Port.IntVal], rule.From...)
			}
		}
		Expect(admits).To(HaveLen(2))
		Expect(admits).To(HaveKey(int32(9443)))
		Expect(admits[9443]).To(BeEmpty(), "9443 admits any source: a peer that missed the API server would refuse every injected pod")
		Expect(admits[8443]).To(ConsistOf(
			HaveField("NamespaceSelector.MatchLabels", map[string]string{"metrics": "enabled"})))

		// What this node enforces: its pods sit on a plain CNI bridge, and no network
		// policy agent runs (docs/operations.md says so). A tenant's pod still connects
		// to both ports; a node that begins to enforce fails this, and the docs change.
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace), client.MatchingLabels(managerLabels))).To(Succeed())
		Expect(pods.Items).NotTo(BeEmpty())
		ip := pods.Items[0].Status.PodIP
		Expect(ip).NotTo(BeEmpty())
		targets := []string{net.JoinHostPort(ip, "9443"), net.JoinHostPort(ip, "8443")}
		dialer := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "dial", Namespace: ns.Name},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
				Name: "app", Image: images.App, ImagePullPolicy: corev1.PullNever, Args: append([]string{"dial"}, targets...),
			}}},
		}
		Expect(k8sClient.Create(ctx, dialer)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(dialer), dialer)).To(Succeed())
			g.Expect(dialer.Status.Phase).To(Equal(corev1.PodSucceeded))
		}).WithTimeout(time.Minute).Should(Succeed())
		out, err := node.Kubectl(ctx, "logs", "-n", ns.Name, dialer.Name)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("from a pod in %s, which no rule admits:\n%s", ns.Name, out)
		for _, t := range targets {
			Expect(string(out)).To(ContainSubstring(t+" ok"), "this node's network enforces no NetworkPolicy")
		}
	})

	It("keeps injecting while its leader pod is deleted mid-rollout, and the other replica completes the rollout", func() {
		set := createSet("rollout-"+ns.Name, selector, sidecarName)
		// The probes' set injects a container of another name: two sets that may select
		// the same pods cannot declare the same one.
		probeLabels := map[string]string{"e2e-probe": ns.Name}
		createSet("probe-"+ns.Name, probeLabels, "probe-proxy")
		replicas := int32(4)
		createReadyDeployment(ns.Name, selector, replicas)

		watcher := watchUnavailable(ns.Name, selector)
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
				return err
			}
			set.Spec.Containers[0].Image = images.SidecarV2
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels(selector))).To(Succeed())
			upgrading := 0
			for _, p := range pods.Items {
				if _, ok := p.Annotations[sidecarsv1alpha1.UpgradeAnnotation]; ok {
					upgrading++
				}
			}
			g.Expect(upgrading).To(BeNumerically(">", 0))
		}).WithTimeout(time.Minute).Should(Succeed(), "the rollout started")

		creator := createEverySecond(func() *corev1.Pod { return pendingPod(ns.Name, probeLabels) })
		old, err := leaderPod(ctx)
		Expect(err).NotTo(HaveOccurred())
		By("deleting the leader pod " + old.Name + " (as kubectl delete pod does: SIGTERM, grace period)")
		Expect(k8sClient.Delete(ctx, old)).To(Succeed())
		Eventually(func(g Gomega) {
			p, err := leaderPod(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Name).NotTo(Equal(old.Name))
		}).WithTimeout(90*time.Second).Should(Succeed(), "the other replica took the lease")

		By("the rollout completes under the new leader, within its budget")
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels(selector))).To(Succeed())
			live := 0
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.DeletionTimestamp != nil {
					continue
				}
				live++
				g.Expect(p.Spec.InitContainers[0].Image).To(Equal(images.SidecarV2), "pod %s", p.Name)
				g.Expect(p.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation), "pod %s", p.Name)
				g.Expect(podReady(p)).To(BeTrue(), "pod %s", p.Name)
			}
			g.Expect(live).To(BeEquivalentTo(replicas))
		}).WithTimeout(3 * time.Minute).Should(Succeed())
		Expect(watcher.stop()).To(BeNumerically("<=", 1), "pods unavailable at once, with maxUnavailable 1")
		managerReady(2)
		// A few more probes against the replaced replica before stopping.
		time.Sleep(3 * time.Second)
		results := creator.stop()

		By(fmt.Sprintf("checking the %d pods created during the failover", len(results)))
		injected := 0
		for _, r := range results {
			if r.err != nil {
				Expect(r.err).To(MatchError(ContainSubstring(webhookDown)), "a pod was refused for another reason")
				continue
			}
			Expect(r.pod.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "pod %s admitted without its sidecar", r.pod.Name)
			Expect(r.pod.Spec.InitContainers).To(ContainElement(HaveField("Name", "probe-proxy")), "pod %s admitted without its sidecar", r.pod.Name)
			injected++
		}
		GinkgoWriter.Printf("%d pods created during the failover: %d injected, %d refused\n", len(results), injected, len(results)-injected)
		Expect(len(results)).To(BeNumerically(">=", 10), "pods created during the failover")
		Expect(injected).To(BeNumerically(">=", len(results)/2), "most pods were injected, not refused")
		var probes corev1.PodList
		Expect(k8sClient.List(ctx, &probes, client.InNamespace(ns.Name), client.MatchingLabels(probeLabels))).To(Succeed())
		Expect(probes.Items).To(HaveLen(injected))
		for _, p := range probes.Items {
			Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel), "pod %s stored without its sidecar", p.Name)
		}
	})

	It("refuses the pods it may inject while no replica runs, opted-out ones included, and only those (failurePolicy Fail)", func() {
		createSet("down-"+ns.Name, selector, sidecarName)
		optedOut := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "deployed-optout-",
			Labels: map[string]string{"sidecars.outrigger.dev/inject": "false"}}}
		Expect(k8sClient.Create(ctx, optedOut)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, optedOut)).To(Succeed()) })

		By("scaling the manager to 0")
		scaleManager(0)
		DeferCleanup(func() {
			scaleManager(2)
			managerReady(2)
		})
		managerReady(0)

		Eventually(func(g Gomega) {
			err := k8sClient.Create(ctx, pendingPod(ns.Name, selector))
			g.Expect(err).To(MatchError(ContainSubstring(webhookDown)))
		}).WithTimeout(30*time.Second).Should(Succeed(), "a pod Outrigger would inject is refused, with the documented message")
		out, err := node.Kubectl(ctx, "run", "-n", ns.Name, "refused", "--image="+images.App, "--image-pull-policy=Never",
			"--labels=e2e="+ns.Name, "--overrides", `{"spec":{"nodeSelector":{"outrigger.test/no-such-node":"true"}}}`)
		GinkgoWriter.Printf("$ kubectl run ...\n%s%v\n", out, err)
		Expect(err).To(MatchError(ContainSubstring(webhookDown)), "what kubectl users see")

		By("opted-out pods and namespaces go through the webhook too (a Required set ignores the opt-out): refused as well")
		optOutPod := pendingPod(ns.Name, map[string]string{"e2e": ns.Name, "sidecars.outrigger.dev/inject": "false"})
		Expect(k8sClient.Create(ctx, optOutPod)).To(MatchError(ContainSubstring(webhookDown)), "a pod opted out by its label")
		Expect(k8sClient.Create(ctx, pendingPod(optedOut.Name, selector))).To(MatchError(ContainSubstring(webhookDown)), "a pod in an opted-out namespace")

		By("pods the webhook configuration excludes are created as usual")
		system := pendingPod("kube-system", selector)
		Expect(k8sClient.Create(ctx, system)).To(Succeed(), "a pod in kube-system")
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, system))).To(Succeed()) })

		By("SidecarSets cannot change either: their webhooks fail closed too")
		other := newSidecarSet("down2-"+ns.Name, ns.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		Expect(k8sClient.Create(ctx, other)).To(MatchError(ContainSubstring("failed calling webhook")))

		By("scaling back to 2: injection resumes")
		scaleManager(2)
		managerReady(2)
		Eventually(func(g Gomega) {
			p := pendingPod(ns.Name, selector)
			g.Expect(k8sClient.Create(ctx, p)).To(Succeed())
			g.Expect(p.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})

// canIRow is one row of kubectl auth can-i --list.
type canIRow struct{ resources, nonResourceURLs, resourceNames, verbs string }

var columns = regexp.MustCompile(`\s{2,}`)

// canIRows parses kubectl's table: columns are separated by two spaces or more (a row
// for a non-resource URL starts with them); a column's list has single spaces.
func canIRows(out string) []canIRow {
	var rows []canIRow
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if i == 0 || strings.TrimSpace(line) == "" {
			continue // the header
		}
		f := columns.Split(strings.TrimRight(line, " "), -1)
		if len(f) != 4 {
			Fail(fmt.Sprintf("kubectl auth can-i --list: cannot read row %q", line))
		}
		rows = append(rows, canIRow{f[0], f[1], f[2], f[3]})
	}
	return rows
}

// creation is one pod create of createEverySecond: the pod as admitted, or the error.
type creation struct {
	pod *corev1.Pod
	err error
}

type podCreator struct {
	mu      sync.Mutex
	results []creation
	cancel  context.CancelFunc
	done    chan struct{}
}

// createEverySecond creates newPod() every second, at most 300 times, until stop.
func createEverySecond(newPod func() *corev1.Pod) *podCreator {
	cctx, cancel := context.WithCancel(ctx)
	c := &podCreator{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(c.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for range 300 {
			p := newPod()
			rctx, rcancel := context.WithTimeout(cctx, 20*time.Second)
			err := k8sClient.Create(rctx, p)
			rcancel()
			if cctx.Err() != nil {
				return
			}
			c.mu.Lock()
			c.results = append(c.results, creation{pod: p, err: err})
			c.mu.Unlock()
			select {
			case <-cctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

func (c *podCreator) stop() []creation {
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.results
}

// podLogs follows one container's log in every pod of a selector, pods created later
// and containers restarted included, until stop.
type podLogs struct {
	mu     sync.Mutex
	lines  []string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func followPodLogs(parent context.Context, namespace string, labels map[string]string, container string) *podLogs {
	GinkgoHelper()
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	lctx, cancel := context.WithCancel(parent)
	pl := &podLogs{cancel: cancel}
	selector := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})
	pl.wg.Go(func() {
		followed := map[types.UID]bool{}
		for lctx.Err() == nil {
			pods, err := cs.CoreV1().Pods(namespace).List(lctx, metav1.ListOptions{LabelSelector: selector})
			if err == nil {
				for _, p := range pods.Items {
					if followed[p.UID] || statusOf(&p, container).ContainerID == "" {
						continue
					}
					followed[p.UID] = true
					pl.wg.Go(func() { pl.follow(lctx, cs, p, container) })
				}
			}
			select {
			case <-lctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
	return pl
}

// follow streams the container's log; when the stream ends (a restart, a deletion) it
// streams again from then on, for as long as the pod exists.
func (pl *podLogs) follow(ctx context.Context, cs kubernetes.Interface, pod corev1.Pod, container string) {
	var since *metav1.Time
	for range 1000 {
		req := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Follow: true, SinceTime: since})
		if stream, err := req.Stream(ctx); err == nil {
			sc := bufio.NewScanner(stream)
			sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
			for sc.Scan() {
				pl.mu.Lock()
				pl.lines = append(pl.lines, pod.Name+": "+sc.Text())
				pl.mu.Unlock()
			}
			_ = stream.Close()
		}
		since = new(metav1.Now())
		if ctx.Err() != nil {
			return
		}
		current, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && current.UID != pod.UID) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (pl *podLogs) stop() []string {
	pl.cancel()
	pl.wg.Wait()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.lines
}
