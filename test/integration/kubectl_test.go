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
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// These specs drive the API server with kubectl, as a user would.
var _ = Describe("kubectl against the API server with the manager running", func() {
	// kubectl runs the kubectl binary of the test control plane as a cluster admin.
	kubectl := kubectlRun

	run := func(args ...string) string {
		GinkgoHelper()
		stdout, stderr, err := kubectl(args...)
		Expect(err).NotTo(HaveOccurred(), "kubectl %v: %s", args, readAll(stderr))
		return readAll(stdout)
	}

	// Serial: make build-installer rewrites config/, which other specs render.
	It("applies the installer that make build-installer writes", Serial, func() {
		cmd := exec.CommandContext(ctx, "make", "build-installer")
		cmd.Dir = projectRoot()
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "make build-installer: %s", out)
		installer := filepath.Join(projectRoot(), "dist", "install.yaml")
		applied := run("apply", "--server-side", "--dry-run=server", "-f", installer)
		for _, want := range []string{
			"customresourcedefinition.apiextensions.k8s.io/sidecarsets.sidecars.outrigger.dev",
			"deployment.apps/outrigger-controller-manager",
			"mutatingwebhookconfiguration.admissionregistration.k8s.io/outrigger-mutating-webhook-configuration",
			"validatingwebhookconfiguration.admissionregistration.k8s.io/outrigger-validating-webhook-configuration",
			"clusterrole.rbac.authorization.k8s.io/outrigger-manager-role",
			"secret/outrigger-webhook-cert",
			"validatingadmissionpolicy.admissionregistration.k8s.io/outrigger-pod-metadata.sidecars.outrigger.dev",
			"validatingadmissionpolicybinding.admissionregistration.k8s.io/outrigger-pod-metadata.sidecars.outrigger.dev",
			"configmap/outrigger-pod-metadata-writer",
		} {
			Expect(applied).To(ContainSubstring(want + " serverside-applied (server dry run)"))
		}
	})

	// Serial: the samples select pods by their own labels, in every namespace.
	It("creates a pod matching a sample SidecarSet with its sidecar, and a copy without duplicates", Serial, func() {
		spec := isolate("kubectl-")
		ns := spec.NS
		run("apply", "--server-side", "-k", spec.ownedKustomization(filepath.Join(projectRoot(), "config", "samples")))
		Expect(run("get", "scs", "-l", specLabel+"="+spec.ID)).To(And(ContainSubstring("proxy"), ContainSubstring("MATCHED")))

		manifest := filepath.Join(GinkgoT().TempDir(), "pod.yaml")
		Expect(os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Pod
metadata:
  generateName: web-
  labels:
    outrigger.dev/proxy: enabled
spec:
  containers:
  - name: app
    image: registry.example.com/web:1
`), 0o600)).To(Succeed())

		// The webhook's cache may lag the apply by a moment: retry until injected.
		var pod corev1.Pod
		Eventually(func(g Gomega) {
			stdout, stderr, err := kubectl("create", "-n", ns.Name, "-f", manifest, "-o", "json")
			g.Expect(err).NotTo(HaveOccurred(), "kubectl create: %s", readAll(stderr))
			pod = corev1.Pod{}
			g.Expect(json.Unmarshal([]byte(readAll(stdout)), &pod)).To(Succeed())
			g.Expect(pod.Spec.InitContainers).To(ContainElement(HaveField("Name", "proxy")))
		}).Should(Succeed())
		Expect(pod.Spec.InitContainers).To(HaveLen(1))
		Expect(pod.Spec.InitContainers[0].Image).To(Equal("registry.example.com/proxy:1.2.0"))
		Expect(pod.Spec.InitContainers[0].RestartPolicy).To(HaveValue(Equal(corev1.ContainerRestartPolicyAlways)))
		Expect(pod.Labels).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedLabel, "true"))

		By("creating a second pod from the injected pod's spec")
		copyOf := map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"generateName": "web-", "labels": pod.Labels, "annotations": pod.Annotations},
			"spec":     pod.Spec,
		}
		data, err := json.Marshal(copyOf)
		Expect(err).NotTo(HaveOccurred())
		second := filepath.Join(GinkgoT().TempDir(), "copy.json")
		Expect(os.WriteFile(second, data, 0o600)).To(Succeed())
		var again corev1.Pod
		Expect(json.Unmarshal([]byte(run("create", "-n", ns.Name, "-f", second, "-o", "json")), &again)).To(Succeed())
		Expect(again.Spec.InitContainers).To(HaveLen(1))
		Expect(again.Spec.Containers).To(HaveLen(1))
		Expect(again.Spec.ReadinessGates).To(HaveLen(1))
		Expect(again.Annotations[sidecarsv1alpha1.InjectedAnnotation]).To(Equal(pod.Annotations[sidecarsv1alpha1.InjectedAnnotation]))
	})
})
