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
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cli"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// pluginRun runs kubectl-outrigger in process, as the suite's admin.
func pluginRun(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	o := &cli.Options{
		Streams:           genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
		Flags:             genericclioptions.NewConfigFlags(false),
		OperatorNamespace: operatorNamespace,
		NewClient:         func() (client.Client, error) { return k8sClient, nil },
		Now:               time.Now,
		PollInterval:      200 * time.Millisecond,
	}
	code = cli.Execute(ctx, o, args)
	return out.String(), errOut.String(), code
}

// pluginStatus is `status SET -o json` for the pods of ns.
func pluginStatus(g Gomega, set, ns string) map[string]cli.PodStatus {
	out, stderr, code := pluginRun("status", set, "-n", ns, "-o", "json")
	g.Expect(code).To(BeZero(), stderr)
	var report cli.Report
	g.Expect(json.Unmarshal([]byte(out), &report)).To(Succeed())
	pods := map[string]cli.PodStatus{}
	for _, p := range report.Pods {
		pods[p.Pod] = p
	}
	return pods
}

var _ = Describe("kubectl-outrigger on the real API server", func() {
	var spec *specScope

	// injecting creates set and waits until the webhook's cache injects with it.
	injecting := func(set *sidecarsv1alpha1.SidecarSet) *sidecarsv1alpha1.SidecarSet {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdateRevision).NotTo(BeEmpty())
			probe := spec.Pod("").Obj()
			probe.GenerateName = "probe-"
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			records, err := sidecarsv1alpha1.ParseInjectionRecords(probe.Annotations)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(records).To(HaveKey(set.Name))
		}).Should(Succeed())
		return set
	}
	setImage := func(set *sidecarsv1alpha1.SidecarSet, image string) {
		GinkgoHelper()
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
				return err
			}
			set.Spec.Containers[0].Image = image
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
	}
	createPods := func(names ...string) {
		GinkgoHelper()
		for _, n := range names {
			Expect(k8sClient.Create(ctx, spec.Pod(n).Obj())).To(Succeed())
		}
	}

	It("prints with inject what the webhook stores for the same pod", func() {
		spec = isolateWith("cli-inject-", map[string]string{"team": "payments"})
		injecting(spec.Set("proxy").Priority(100).NamespaceSelector(map[string]string{"team": "payments"}).
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").
				Resources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}, nil).Mount("certs", "/certs").Obj()).
			Volume(utiltesting.EmptyDir("certs")).PodMetadata(map[string]string{"mesh": "on"}, map[string]string{"mesh/version": "1"}).Obj())
		injecting(spec.Set("logs").Sidecar(utiltesting.MakeSidecar("logs", "example.com/logs:1").
			Mode(sidecarsv1alpha1.SidecarModeContainer).ShareVolumes().Obj()).Obj())

		pod := spec.Pod("web").Volume(utiltesting.EmptyDir("data")).Obj()
		pod.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1"}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		pod.APIVersion, pod.Kind = "v1", "Pod"
		manifest, err := yaml.Marshal(pod)
		Expect(err).NotTo(HaveOccurred())
		file := filepath.Join(GinkgoT().TempDir(), "pod.yaml")
		Expect(os.WriteFile(file, manifest, 0o600)).To(Succeed())

		By("previewing the pod with the plugin")
		out, stderr, code := pluginRun("inject", "-f", file, "-o", "json", "--operator-namespace", operatorNamespace)
		Expect(code).To(BeZero(), stderr)
		previewed := &corev1.Pod{}
		Expect(json.Unmarshal([]byte(out), previewed)).To(Succeed())
		Expect(previewed.Spec.InitContainers).To(HaveLen(2), "the proxy and the pod's own init container")

		By("creating the same pod through the webhook")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		stored := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), stored)).To(Succeed())

		By("storing the preview where the webhook injects nothing, so the API server defaults it as it did the other")
		quiet := spec.Namespace("cli-quiet-", map[string]string{sidecarsv1alpha1.InjectLabel: "false"})
		previewed.Namespace = quiet.Name
		Expect(k8sClient.Create(ctx, previewed, client.DryRunAll)).To(Succeed())

		marshal := func(v any) string {
			b, err := json.Marshal(v)
			Expect(err).NotTo(HaveOccurred())
			return string(b)
		}
		Expect(marshal(previewed.Spec)).To(Equal(marshal(stored.Spec)))
		Expect(marshal(previewed.Labels)).To(Equal(marshal(stored.Labels)))
		Expect(marshal(previewed.Annotations)).To(Equal(marshal(stored.Annotations)))
	})

	It("rolls a set back mid-rollout with rollout undo, and status and rollout status follow", func() {
		spec = isolate("cli-undo-")
		DeferCleanup(startKubeletStandIn(spec.NS.Name))
		// A drain of an hour holds the first pod mid-rollout until the undo. The pods are
		// bare, each a workload of its own: the total cap makes it one pod of the three.
		held := spec.Set("proxy").DrainSeconds(3600).MaxUnavailable(intstr.FromInt32(1)).
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:v1").Obj()).Obj()
		held.Spec.UpdateStrategy.MaxUnavailableTotal = new(intstr.FromInt32(1))
		set := injecting(held)
		createPods("web-0", "web-1", "web-2")
		Eventually(func(g Gomega) {
			out, stderr, code := pluginRun("rollout", "status", set.Name, "--watch=false")
			g.Expect(code).To(BeZero(), stderr)
			g.Expect(out).To(ContainSubstring("successfully rolled out"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		// Every pod Ready first: one that is not yet would be upgraded first, for free.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(3))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		v1 := set.Status.UpdateRevision

		By("rolling out v2, which drains one pod and holds there")
		setImage(set, "example.com/proxy:v2")
		Eventually(func(g Gomega) {
			states := map[string]int{}
			for _, p := range pluginStatus(g, set.Name, spec.NS.Name) {
				states[p.State]++
			}
			g.Expect(states).To(Equal(map[string]int{cli.StateDraining: 1, cli.StatePending: 2}))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		out, _, code := pluginRun("rollout", "history", set.Name)
		Expect(code).To(BeZero())
		Expect(out).To(ContainSubstring("proxy image example.com/proxy:v1 -> example.com/proxy:v2"))

		By("undoing the rollout")
		out, stderr, code := pluginRun("rollout", "undo", set.Name)
		Expect(code).To(BeZero(), stderr)
		Expect(out).To(ContainSubstring("rolled back to revision 1 (" + v1 + ")"))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
		Expect(set.Spec.Containers[0].Image).To(Equal("example.com/proxy:v1"))

		out, stderr, code = pluginRun("rollout", "status", set.Name, "--timeout", "60s")
		Expect(code).To(BeZero(), stderr)
		Expect(out).To(ContainSubstring(`SidecarSet "` + set.Name + `" successfully rolled out: 3 pods run revision ` + v1))
		Eventually(func(g Gomega) {
			pods := pluginStatus(g, set.Name, spec.NS.Name)
			g.Expect(pods).To(HaveLen(3))
			for name, p := range pods {
				g.Expect(p.State).To(Equal(cli.StateUpdated), name)
				g.Expect(p.Revision).To(Equal(v1), name)
			}
		}).Should(Succeed())
	})

	It("lists a failed upgrade in status with the kubelet's reason, and rollout status fails naming it", func() {
		spec = isolate("cli-failed-")
		DeferCleanup(startKubeletStandIn(spec.NS.Name))
		set := injecting(spec.Set("proxy").DrainSeconds(0).MaxUnavailable(intstr.FromInt32(1)).ProgressDeadlineSeconds(2).
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:v1").Obj()).Obj())
		createPods("web-0", "web-1")
		Eventually(func(g Gomega) {
			_, _, code := pluginRun("rollout", "status", set.Name, "--watch=false")
			g.Expect(code).To(BeZero())
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			g.Expect(set.Status.UpdatedReadyPods).To(BeEquivalentTo(2))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		setImage(set, "example.com/proxy"+brokenTag)
		Eventually(func(g Gomega) {
			var failed []cli.PodStatus
			for _, p := range pluginStatus(g, set.Name, spec.NS.Name) {
				if p.State == cli.StateFailed {
					failed = append(failed, p)
				}
			}
			g.Expect(failed).NotTo(BeEmpty())
			for _, p := range failed {
				g.Expect(p.Reason).To(ContainSubstring("ImagePullBackOff"), p.Pod)
			}
		}).WithTimeout(30 * time.Second).Should(Succeed())
		out, _, code := pluginRun("status", set.Name, "-n", spec.NS.Name)
		Expect(code).To(BeZero())
		Expect(out).To(MatchRegexp(`(?m)^proxy-\S+\s+\S+\s+web-\d\s+\S+\s+Failed\s+\S+\s+.*ImagePullBackOff`))

		_, stderr, code := pluginRun("rollout", "status", set.Name, "--timeout", "30s")
		Expect(code).To(Equal(1))
		Expect(stderr).To(ContainSubstring("rollout failed"))
		Expect(stderr).To(MatchRegexp(`pod \S+/web-\d Failed: .*ImagePullBackOff`))
	})
})
