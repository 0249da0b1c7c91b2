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
	"context"
	"encoding/json"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cli"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// plugin runs kubectl-outrigger against the node's cluster.
func plugin(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	o := &cli.Options{
		Streams:           genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
		Flags:             genericclioptions.NewConfigFlags(false),
		OperatorNamespace: operatorNamespace,
		NewClient:         func() (client.Client, error) { return k8sClient, nil },
		Now:               time.Now,
		PollInterval:      time.Second,
	}
	code = cli.Execute(ctx, o, args)
	return out.String(), errOut.String(), code
}

var _ = Describe("The README's rollout demo, driven with kubectl-outrigger", func() {
	It("follows an in-place rollout to its end, and fails rollout status on an image the kubelet cannot run", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-cli-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		selector := map[string]string{"e2e": ns.Name}
		set := newSidecarSet("e2e-"+ns.Name, ns.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "0s")
		set.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromInt32(1))
		set.Spec.UpdateStrategy.ProgressDeadlineSeconds = new(int32(30))
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		})
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Eventually(func(g Gomega) {
			probe := appPod(ns.Name, selector)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
		createReadyDeployment(ns.Name, selector, 3)

		// The set counts pods that are not rolling out within a few seconds (count-only
		// passes come at most every 2 s): until then it reports fewer pods.
		Eventually(func(g Gomega) {
			out, stderr, code := plugin("rollout", "status", set.Name, "--timeout", "2m")
			g.Expect(code).To(BeZero(), stderr)
			g.Expect(out).To(ContainSubstring("successfully rolled out: 3 pods"))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		By("rolling the proxy out to v2, following the pods with status")
		seen := map[string]bool{}
		var mu sync.Mutex
		follow, stopFollowing := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			for follow.Err() == nil {
				if out, _, code := plugin("status", set.Name, "-n", ns.Name, "-o", "json"); code == 0 {
					var r cli.Report
					if json.Unmarshal([]byte(out), &r) == nil {
						mu.Lock()
						for _, p := range r.Pods {
							seen[p.State] = true
						}
						mu.Unlock()
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		patchImage(set, images.SidecarV2)
		out, stderr, code := plugin("rollout", "status", set.Name, "--timeout", "3m")
		stopFollowing()
		<-done
		Expect(code).To(BeZero(), stderr)
		Expect(out).To(ContainSubstring("Waiting for SidecarSet"))
		Expect(out).To(ContainSubstring("successfully rolled out: 3 pods"))
		mu.Lock()
		Expect(seen).To(HaveKey(cli.StatePending))
		Expect(seen).To(Or(HaveKey(cli.StateDraining), HaveKey(cli.StateSwapping)))
		Expect(seen).To(HaveKey(cli.StateUpdated))
		mu.Unlock()
		out, _, code = plugin("status", set.Name, "-n", ns.Name)
		Expect(code).To(BeZero())
		GinkgoWriter.Println(out)

		By("rolling out an image the kubelet may not pull")
		patchImage(set, "outrigger.test/sidecar:missing")
		_, stderr, code = plugin("rollout", "status", set.Name, "--timeout", "3m")
		Expect(code).To(Equal(1))
		Expect(stderr).To(ContainSubstring("rollout failed"))
		Expect(stderr).To(ContainSubstring("ErrImageNeverPull"))
		GinkgoWriter.Println(stderr)

		By("undoing it")
		out, stderr, code = plugin("rollout", "undo", set.Name)
		Expect(code).To(BeZero(), stderr)
		Expect(out).To(ContainSubstring("rolled back to revision 2"))
		out, stderr, code = plugin("rollout", "status", set.Name, "--timeout", "3m")
		Expect(code).To(BeZero(), stderr)
		Expect(out).To(ContainSubstring("successfully rolled out: 3 pods"))
	})
})

// patchImage sets the set's sidecar image, as the README's kubectl patch does.
func patchImage(set *sidecarsv1alpha1.SidecarSet, image string) {
	GinkgoHelper()
	patch := []byte(`[{"op":"replace","path":"/spec/containers/0/image","value":"` + image + `"}]`)
	Expect(k8sClient.Patch(ctx, set, client.RawPatch("application/json-patch+json", patch))).To(Succeed())
}
