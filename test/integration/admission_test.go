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
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

var _ = Describe("Admission you can trust", func() {
	var spec *specScope
	BeforeEach(func() { spec = isolate("admission-") })

	newPod := func() *corev1.Pod {
		p := spec.Pod("").Obj()
		p.GenerateName = "pod-"
		return p
	}
	createSet := func(set *sidecarsv1alpha1.SidecarSet) *sidecarsv1alpha1.SidecarSet {
		GinkgoHelper()
		return createInjectingSet(set, newPod)
	}
	initNames := func(p *corev1.Pod) []string {
		var out []string
		for _, c := range p.Spec.InitContainers {
			out = append(out, c.Name)
		}
		return out
	}

	Context("the pod's Outrigger metadata", func() {
		It("replaces a forged record and upgrade state at CREATE: the mandatory sidecar goes in", func() {
			set := createSet(spec.Set("audit").
				Sidecar(utiltesting.MakeSidecar("audit", "example.com/audit:1").Obj()).Obj())

			pod := newPod()
			pod.Annotations = map[string]string{
				sidecarsv1alpha1.InjectedAnnotation: `{"` + set.Name + `":{"revision":"x","hash":"h","imageFreeHash":"i","containers":["audit"]}}`,
				sidecarsv1alpha1.UpgradeAnnotation:  `{"sidecarset":"` + set.Name + `","phase":"Swapping"}`,
			}
			pod.Labels[sidecarsv1alpha1.InjectedLabel] = "true"
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())

			Expect(initNames(pod)).To(Equal([]string{"audit"}))
			Expect(pod.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
			Expect(err).NotTo(HaveOccurred())
			Expect(records[set.Name].Containers).To(Equal([]string{"audit"}))
			Expect(records[set.Name].Revision).NotTo(Equal("x"))
		})

		It("drops Outrigger's keys from a pod no SidecarSet selects", func() {
			pod := newPod()
			pod.Annotations = map[string]string{sidecarsv1alpha1.UpgradeAnnotation: `{}`,
				sidecarsv1alpha1.InjectedAnnotation: `{"gone":{"containers":["app"]}}`}
			pod.Labels[sidecarsv1alpha1.InjectedLabel] = "true"
			pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			Expect(pod.Annotations).NotTo(HaveKey(sidecarsv1alpha1.UpgradeAnnotation))
			Expect(pod.Annotations).NotTo(HaveKey(sidecarsv1alpha1.InjectedAnnotation))
			Expect(pod.Labels).NotTo(HaveKey(sidecarsv1alpha1.InjectedLabel))
			Expect(pod.Spec.ReadinessGates).To(BeEmpty())
		})

		It("refuses a user's UPDATE of the record, label or upgrade state, and allows the operator's", func() {
			createSet(spec.Set("audit").
				Sidecar(utiltesting.MakeSidecar("audit", "example.com/audit:1").Obj()).Obj())
			pod := newPod()
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())

			// Another user, with every permission: the policy, not RBAC, refuses.
			userClient, err := client.New(userConfig("app-team"), client.Options{Scheme: scheme.Scheme})
			Expect(err).NotTo(HaveOccurred())

			edits := map[string]func(p *corev1.Pod){
				"the record":        func(p *corev1.Pod) { p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = "{}" },
				"the upgrade state": func(p *corev1.Pod) { p.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = `{"x":1}` },
				"the label":         func(p *corev1.Pod) { delete(p.Labels, sidecarsv1alpha1.InjectedLabel) },
			}
			// The status subresource takes metadata changes too, so it is guarded as well.
			writers := map[string]func(client.Object, client.Patch) error{
				"":                func(o client.Object, p client.Patch) error { return userClient.Patch(ctx, o, p) },
				" through status": func(o client.Object, p client.Patch) error { return userClient.Status().Patch(ctx, o, p) },
			}
			for what, edit := range edits {
				for through, writer := range writers {
					By("a user changing " + what + through)
					Eventually(func(g Gomega) {
						current := &corev1.Pod{}
						g.Expect(userClient.Get(ctx, client.ObjectKeyFromObject(pod), current)).To(Succeed())
						patch := client.MergeFrom(current.DeepCopy())
						edit(current)
						err := writer(current, patch)
						g.Expect(err).To(MatchError(And(
							ContainSubstring("written by Outrigger only"), ContainSubstring("app-team may not change them"))))
					}).Should(Succeed())
				}
			}

			By("a user changing another annotation, and the pod's status")
			current := &corev1.Pod{}
			Expect(userClient.Get(ctx, client.ObjectKeyFromObject(pod), current)).To(Succeed())
			patch := client.MergeFrom(current.DeepCopy())
			current.Annotations["team"] = "web"
			Expect(userClient.Patch(ctx, current, patch)).To(Succeed())
			patch = client.MergeFrom(current.DeepCopy())
			current.Status.Conditions = append(current.Status.Conditions, corev1.PodCondition{Type: "example.com/warm", Status: corev1.ConditionTrue})
			Expect(userClient.Status().Patch(ctx, current, patch)).To(Succeed())

			By("the operator (" + operatorUser + ") changing the upgrade state, directly and through status")
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), current)).To(Succeed())
			patch = client.MergeFrom(current.DeepCopy())
			current.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = `{"x":1}`
			Expect(k8sClient.Patch(ctx, current, patch)).To(Succeed())
			patch = client.MergeFrom(current.DeepCopy())
			current.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = `{"x":2}`
			Expect(k8sClient.Status().Patch(ctx, current, patch)).To(Succeed())
		})
	})

	Context("the containers a SidecarSet injected", func() {
		It("refuses a user's change of an injected sidecar's image or resources, and allows the app's and the operator's", func() {
			createSet(spec.Set("audit").
				Sidecar(utiltesting.MakeSidecar("audit", "example.com/audit:1").
					Resources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}, nil).Obj()).Obj())
			pod := newPod()
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			userClient, err := client.New(userConfig("app-team"), client.Options{Scheme: scheme.Scheme})
			Expect(err).NotTo(HaveOccurred())
			edit := func(c client.Client, change func(p *corev1.Pod)) error {
				current := &corev1.Pod{}
				Expect(c.Get(ctx, client.ObjectKeyFromObject(pod), current)).To(Succeed())
				patch := client.MergeFrom(current.DeepCopy())
				change(current)
				return c.Patch(ctx, current, patch)
			}

			By("a user swapping the sidecar's image for a no-op one")
			Eventually(func() error {
				return edit(userClient, func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "example.com/noop:1" })
			}).Should(MatchError(And(ContainSubstring("the containers audit were injected by a SidecarSet"),
				ContainSubstring("app-team may not change them"))))

			By("a user resizing the sidecar through pods/resize")
			current := &corev1.Pod{}
			Expect(userClient.Get(ctx, client.ObjectKeyFromObject(pod), current)).To(Succeed())
			patch := client.MergeFrom(current.DeepCopy())
			current.Spec.InitContainers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
			Expect(userClient.SubResource("resize").Patch(ctx, current, patch)).To(MatchError(ContainSubstring("the containers audit were injected")))

			By("a user changing the app's image")
			Expect(edit(userClient, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "example.com/app:2" })).To(Succeed())

			By("the operator (" + operatorUser + ") changing the sidecar's image")
			Expect(edit(k8sClient, func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "example.com/audit:2" })).To(Succeed())
		})
	})

	Context("SidecarSets valid only if their pods are", func() {
		sidecar := func() *utiltesting.SidecarWrapper { return utiltesting.MakeSidecar("proxy", "example.com/proxy:1") }
		probe := func() *corev1.Probe {
			return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
		}
		cpu := func(q string) corev1.ResourceList {
			return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
		}

		DescribeTable("refuses a container spec that would make every matching pod invalid, at its SidecarSet path",
			func(change func(s *sidecarsv1alpha1.SidecarSet), path, detail string) {
				set := spec.Set("bad").
					Sidecar(sidecar().Obj()).
					Sidecar(utiltesting.MakeSidecar("shipper", "example.com/shipper:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).
					InitContainer(corev1.Container{Name: "setup", Image: "example.com/setup:1"}).
					Volume(utiltesting.EmptyDir("certs")).Obj()
				change(set)
				err := k8sClient.Create(ctx, set)
				Expect(err).To(MatchError(And(ContainSubstring(path), ContainSubstring(detail))))
			},
			Entry("no image", func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Containers[0].Image = "" },
				"spec.containers[0].image", "Required value"),
			Entry("no image on an init container", func(s *sidecarsv1alpha1.SidecarSet) { s.Spec.InitContainers[0].Image = "" },
				"spec.initContainers[0].image", "Required value"),
			Entry("containerPort 70000", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000}}
			}, "spec.containers[0].ports[0].containerPort", "between 1 and 65535"),
			Entry("two ports with the same name", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[1].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "http", ContainerPort: 81}}
			}, "spec.containers[1].ports[1].name", "Duplicate value"),
			// Kubernetes 1.37 accepts any printable name but one with '='.
			Entry("an env var named 'A=B'", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B", Value: "x"}}
			}, "spec.containers[0].env[0].name", "Invalid value"),
			Entry("requests above limits", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[1].Resources = corev1.ResourceRequirements{Requests: cpu("2"), Limits: cpu("1")}
			}, "spec.containers[1].resources.requests", "must be less than or equal to cpu limit"),
			Entry("an unknown resource name", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpus": resource.MustParse("1")}}
			}, "spec.containers[0].resources.limits[cpus]", "must be a standard resource"),
			Entry("a liveness probe without a handler", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].LivenessProbe = &corev1.Probe{PeriodSeconds: 5}
			}, "spec.containers[0].livenessProbe", "must specify a handler type"),
			Entry("a readiness probe with two handlers", func(s *sidecarsv1alpha1.SidecarSet) {
				p := probe()
				p.Exec = &corev1.ExecAction{Command: []string{"true"}}
				s.Spec.Containers[1].ReadinessProbe = p
			}, "spec.containers[1].readinessProbe", "may not specify more than 1 handler type"),
			Entry("a liveness probe with successThreshold 2", func(s *sidecarsv1alpha1.SidecarSet) {
				p := probe()
				p.SuccessThreshold = 2
				s.Spec.Containers[0].LivenessProbe = p
			}, "spec.containers[0].livenessProbe.successThreshold", "must be 1"),
			Entry("a startup probe with a negative period", func(s *sidecarsv1alpha1.SidecarSet) {
				p := probe()
				p.PeriodSeconds = -1
				s.Spec.Containers[0].StartupProbe = p
			}, "spec.containers[0].startupProbe.periodSeconds", "must be greater than or equal to 0"),
			Entry("a readiness probe on a run-to-completion init container", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.InitContainers[0].ReadinessProbe = probe()
			}, "spec.initContainers[0].readinessProbe", "Forbidden"),
			Entry("a preStop hook without a handler", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{}}
			}, "spec.containers[0].lifecycle.preStop", "must specify a handler type"),
			Entry("a postStart httpGet on port 0", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[1].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(0)}}}
			}, "spec.containers[1].lifecycle.postStart.httpGet.port", "between 1 and 65535"),
			Entry("privileged without privilege escalation", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: new(true), AllowPrivilegeEscalation: new(false)}
			}, "spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"),
			Entry("a negative runAsUser", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{RunAsUser: new(int64(-1))}
			}, "spec.containers[1].securityContext.runAsUser", "must be between 0 and 2147483647"),
			Entry("a volume mount without a path", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "certs"}}
			}, "spec.containers[0].volumeMounts[0].mountPath", "Required value"),
			Entry("two volume mounts at one path", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "certs", MountPath: "/c"}, {Name: "certs", MountPath: "/c"}}
			}, "spec.containers[0].volumeMounts[1]", "Duplicate value"),
			Entry("a volume mount with an absolute subPath", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{{Name: "certs", MountPath: "/c", SubPath: "/etc"}}
			}, "spec.initContainers[0].volumeMounts.subPath", "must be a relative path"),
			Entry("a volume mount naming an invalid volume name", func(s *sidecarsv1alpha1.SidecarSet) {
				s.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "Not_A_Volume", MountPath: "/x"}}
			}, "spec.containers[1].volumeMounts[0].name", "a lowercase RFC 1123 label"),
		)

		It("accepts a SidecarSet whose pods are valid", func() {
			set := spec.Set("good").Sidecar(sidecar().Obj()).Obj()
			Expect(k8sClient.Create(ctx, set)).To(Succeed())
		})

		// Serial: it changes the operator's namespace, which every pod validation reads.
		It("still validates the pods when the operator's namespace enforces Pod Security restricted, as config/default's does", Serial, func() {
			operatorNS := &corev1.Namespace{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: operatorNamespace}, operatorNS)).To(Succeed())
			patch := client.MergeFrom(operatorNS.DeepCopy())
			if operatorNS.Labels == nil {
				operatorNS.Labels = map[string]string{}
			}
			operatorNS.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
			Expect(k8sClient.Patch(ctx, operatorNS, patch)).To(Succeed())
			DeferCleanup(func() {
				current := &corev1.Namespace{}
				Expect(k8sClient.Get(ctx, client.ObjectKey{Name: operatorNamespace}, current)).To(Succeed())
				patch := client.MergeFrom(current.DeepCopy())
				delete(current.Labels, "pod-security.kubernetes.io/enforce")
				Expect(k8sClient.Patch(ctx, current, patch)).To(Succeed())
			})
			warnings := &warningRecorder{}
			warnCfg := *cfg
			warnCfg.WarningHandler = warnings
			warnClient, err := client.New(&warnCfg, client.Options{Scheme: scheme.Scheme})
			Expect(err).NotTo(HaveOccurred())

			By("a valid set whose plain sidecar restricted would refuse: accepted, its pods validated")
			Expect(warnClient.Create(ctx, spec.Set("plain").Sidecar(sidecar().Obj()).Obj())).To(Succeed())
			Expect(warnings.all()).NotTo(ContainElement(ContainSubstring("not validated")))
			By("an invalid one: refused at its field")
			bad := spec.Set("badport").Sidecar(sidecar().Obj()).Obj()
			bad.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000}}
			Expect(warnClient.Create(ctx, bad)).To(MatchError(ContainSubstring("spec.containers[0].ports[0].containerPort")))
		})
	})

	Context("pod-level resources", func() {
		It("sizes a resourcesPolicy sidecar within what the pod-level limit leaves", func() {
			createSet(spec.Set("sized").
				Sidecar(utiltesting.MakeSidecar("agent", "example.com/agent:1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
					CPU: &sidecarsv1alpha1.ResourceRule{Percent: 1000, Min: new(resource.MustParse("10m"))}}).Obj()).Obj())
			pod := newPod()
			pod.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
			pod.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			Expect(initNames(pod)).To(Equal([]string{"agent"}))
			Expect(pod.Spec.InitContainers[0].Resources.Requests.Cpu().String()).To(Equal("150m"))
		})

		It("refuses a pod whose pod-level limit fixed sidecar resources overflow, naming the set, container and numbers", func() {
			set := createSet(spec.Set("fixed").
				Sidecar(utiltesting.MakeSidecar("agent", "example.com/agent:1").
					Resources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}, nil).Obj()).Obj())
			pod := newPod()
			pod.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
			pod.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}
			Expect(k8sClient.Create(ctx, pod)).To(MatchError(And(
				ContainSubstring(`SidecarSet "`+set.Name+`" container "agent" requests 300m cpu`),
				ContainSubstring("the pod requests 350m cpu"),
				ContainSubstring("spec.resources.limits.cpu of 200m"))))
		})
	})

	It("writes each sidecar's placement default into the SidecarSet, and follows a mode change", func() {
		set := spec.Set("placed").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).
			Sidecar(utiltesting.MakeSidecar("shipper", "example.com/shipper:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).Obj()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		got := &sidecarsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())
		Expect(got.Spec.Containers[0].Placement).To(Equal(sidecarsv1alpha1.PlacementBeforeInit))
		Expect(got.Spec.Containers[1].Placement).To(Equal(sidecarsv1alpha1.PlacementBeforeApp))

		By("switching the proxy to mode Container without touching its placement")
		patch := client.MergeFrom(got.DeepCopy())
		got.Spec.Containers[0].Mode = sidecarsv1alpha1.SidecarModeContainer
		Expect(k8sClient.Patch(ctx, got, patch)).To(Succeed())
		Expect(got.Spec.Containers[0].Placement).To(Equal(sidecarsv1alpha1.PlacementBeforeApp))

		out, err := kubectl("get", "scs", set.Name, "-o", "jsonpath={.spec.containers[*].placement}")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal("BeforeApp BeforeApp"))
	})

	// Serial: it takes the validating webhook out of the API server for a moment.
	It("accepts a paused update of a SidecarSet that already overlaps another, and refuses a new conflict", Serial, func() {
		first := spec.Set("first").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj()
		Expect(k8sClient.Create(ctx, first)).To(Succeed())

		By("storing an overlapping set while the validating webhook is not installed, as before the check existed")
		hooks := &admissionv1.ValidatingWebhookConfiguration{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "validating-webhook-configuration"}, hooks)).To(Succeed())
		Expect(k8sClient.Delete(ctx, hooks)).To(Succeed())
		second := spec.Set("second").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:2").Obj()).Obj()
		Eventually(func() error { return k8sClient.Create(ctx, second.DeepCopy()) }).Should(Succeed())
		hooks.ResourceVersion, hooks.UID = "", ""
		Expect(k8sClient.Create(ctx, hooks)).To(Succeed())
		Eventually(func() error {
			third := spec.Set("third").
				Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:3").Obj()).Obj()
			return k8sClient.Create(ctx, third, client.DryRunAll)
		}).Should(MatchError(ContainSubstring("also declares a container named \"proxy\"")))

		By("pausing the second set")
		stored := &sidecarsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(second), stored)).To(Succeed())
		patch := client.MergeFrom(stored.DeepCopy())
		stored.Spec.Injection.Paused = true
		Expect(k8sClient.Patch(ctx, stored, patch)).To(Succeed())

		By("adding a second conflict to it")
		patch = client.MergeFrom(stored.DeepCopy())
		stored.Spec.Containers = append(stored.Spec.Containers, utiltesting.MakeSidecar("extra", "example.com/extra:1").Obj())
		Expect(k8sClient.Patch(ctx, stored, patch)).To(Succeed(), "no other set declares extra")
		Expect(k8sClient.Patch(ctx, first, client.RawPatch("application/json-patch+json",
			[]byte(`[{"op":"add","path":"/spec/containers/-","value":{"name":"extra","image":"example.com/extra:2"}}]`)))).
			To(MatchError(ContainSubstring(`also declares a container named "extra"`)))
	})
})

// warningRecorder keeps the warnings the API server sends a client.
type warningRecorder struct {
	mu       sync.Mutex
	messages []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, message string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, message)
}

func (w *warningRecorder) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.messages)
}
