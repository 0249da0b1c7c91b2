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
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// recordingWarnings keeps the admission warnings the API server returns.
type recordingWarnings struct{ messages []string }

func (r *recordingWarnings) HandleWarningHeader(_ int, _ string, message string) {
	r.messages = append(r.messages, message)
}

var _ = Describe("Enforcement through the pod webhook", func() {
	var spec *specScope

	BeforeEach(func() {
		spec = isolate("enforce-")
	})

	names := func(cs []corev1.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	create := func(p *corev1.Pod) error {
		p.GenerateName = "pod-"
		return k8sClient.Create(ctx, p)
	}
	required := func() *sidecarsv1alpha1.SidecarSet {
		GinkgoHelper()
		return createInjectingSet(spec.Set("audit").Required().Volume(utiltesting.EmptyDir("audit-log")).
			Sidecar(utiltesting.MakeSidecar("audit", "example.com/audit:1").Mount("audit-log", "/log").Obj()).Obj(),
			func() *corev1.Pod { return spec.Pod("").Obj() })
	}

	It("injects a Required set into pods and namespaces labelled opted out, and skips the Optional set there", func() {
		set := required()
		optional := createInjectingSet(spec.Set("mesh").Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj(),
			func() *corev1.Pod { return spec.Pod("").Obj() })

		pod := spec.Pod("").Label(sidecarsv1alpha1.InjectLabel, "false").Obj()
		Expect(create(pod)).To(Succeed())
		Expect(names(pod.Spec.InitContainers)).To(Equal([]string{"audit"}))
		records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records).To(HaveKey(set.Name))
		Expect(records).NotTo(HaveKey(optional.Name))

		quiet := spec.Namespace("enforce-quiet-", map[string]string{sidecarsv1alpha1.InjectLabel: "false"})
		inQuiet := spec.Pod("").Obj()
		inQuiet.Namespace = quiet.Name
		Expect(create(inQuiet)).To(Succeed())
		Expect(names(inQuiet.Spec.InitContainers)).To(Equal([]string{"audit"}))
	})

	It("refuses a pod bringing a container or a volume of a Required set's names, naming the set and the field", func() {
		set := required()

		own := spec.Pod("").Container(corev1.Container{Name: "audit", Image: "example.com/noop:1"}).Obj()
		Expect(create(own)).To(MatchError(And(
			ContainSubstring(`SidecarSet %q is Required (spec.injection.enforcement)`, set.Name),
			ContainSubstring(`spec.containers[1].name: Forbidden: "audit" is the name of the SidecarSet's spec.containers[0]`))))

		vol := spec.Pod("").Obj()
		vol.Spec.Volumes = []corev1.Volume{utiltesting.EmptyDir("audit-log")}
		Expect(create(vol)).To(MatchError(ContainSubstring(
			`spec.volumes[0].name: Forbidden: "audit-log" is the name of the SidecarSet's spec.volumes[0]`)))

		By("opting out does not help either")
		optedOut := spec.Pod("").Label(sidecarsv1alpha1.InjectLabel, "false").
			InitContainer(corev1.Container{Name: "audit", Image: "example.com/noop:1"}).Obj()
		Expect(create(optedOut)).To(MatchError(ContainSubstring(`spec.initContainers[0].name: Forbidden`)))
	})

	It("refuses a copy of an injected pod whose record claims the Required sidecar overridden", func() {
		set := required()
		pod := spec.Pod("").Obj()
		Expect(create(pod)).To(Succeed())

		copied := spec.Pod("").Obj()
		copied.Labels, copied.Annotations = pod.Labels, pod.Annotations
		copied.Spec = *pod.Spec.DeepCopy()
		copied.Spec.NodeName = ""
		copied.Spec.InitContainers[0].Image = "example.com/noop:1"
		records, err := sidecarsv1alpha1.ParseInjectionRecords(copied.Annotations)
		Expect(err).NotTo(HaveOccurred())
		rec := records[set.Name]
		rec.Containers, rec.Overridden = nil, []string{"audit"}
		records[set.Name] = rec
		copied.Annotations[sidecarsv1alpha1.InjectedAnnotation] = records.String()
		Expect(create(copied)).To(MatchError(ContainSubstring(`SidecarSet %q is Required`, set.Name)))
	})

	It("trusts a copied record only with the sidecar as injected: a changed env is the pod's own container, or refused", func() {
		optional := createInjectingSet(spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Env("MODE", "strict").Obj()).Obj(),
			func() *corev1.Pod { return spec.Pod("").Obj() })
		pod := spec.Pod("").Obj()
		Expect(create(pod)).To(Succeed())
		copyOf := func(p *corev1.Pod) *corev1.Pod {
			c := spec.Pod("").Obj()
			c.Labels, c.Annotations = p.Labels, p.Annotations
			c.Spec = *p.Spec.DeepCopy()
			c.Spec.NodeName = ""
			return c
		}

		By("an unchanged copy: trusted, nothing injected twice")
		same := copyOf(pod)
		Expect(create(same)).To(Succeed())
		Expect(names(same.Spec.InitContainers)).To(Equal([]string{"proxy"}))
		records, err := sidecarsv1alpha1.ParseInjectionRecords(same.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records[optional.Name].Containers).To(Equal([]string{"proxy"}))

		By("a copy whose sidecar env was changed: injected afresh, the changed container recorded as the pod's own")
		changed := copyOf(pod)
		changed.Spec.InitContainers[0].Env[0].Value = "permissive"
		Expect(create(changed)).To(Succeed())
		records, err = sidecarsv1alpha1.ParseInjectionRecords(changed.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records[optional.Name].Containers).To(BeEmpty())
		Expect(records[optional.Name].Overridden).To(Equal([]string{"proxy"}))

		By("the same with a Required set: refused")
		set := required()
		injected := spec.Pod("").Obj()
		Expect(create(injected)).To(Succeed())
		forged := copyOf(injected)
		for i := range forged.Spec.InitContainers {
			if forged.Spec.InitContainers[i].Name == "audit" {
				forged.Spec.InitContainers[i].Env = []corev1.EnvVar{{Name: "AUDIT", Value: "off"}}
			}
		}
		Expect(create(forged)).To(MatchError(ContainSubstring(`SidecarSet %q is Required`, set.Name)))
	})

	It("applies a pod's allowed overrides and refuses malformed or disallowed ones, naming the annotation", func() {
		set := createInjectingSet(spec.Set("mesh").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Env("LEVEL", "info").
				Overrides(sidecarsv1alpha1.OverrideEnv).Obj()).Obj(),
			func() *corev1.Pod { return spec.Pod("").Obj() })
		key := func(f sidecarsv1alpha1.OverridableField) string {
			return sidecarsv1alpha1.OverrideAnnotation(set.Name, "proxy", f)
		}

		pod := spec.Pod("").Annotation(key(sidecarsv1alpha1.OverrideEnv), `[{"name":"LEVEL","value":"debug"}]`).Obj()
		Expect(create(pod)).To(Succeed())
		Expect(pod.Spec.InitContainers[0].Env).To(ContainElement(corev1.EnvVar{Name: "LEVEL", Value: "debug"}))

		Expect(create(spec.Pod("").Annotation(key(sidecarsv1alpha1.OverrideEnv), `[{"name":`).Obj())).To(MatchError(And(
			ContainSubstring(`metadata.annotations[%s]: Invalid value`, key(sidecarsv1alpha1.OverrideEnv)),
			ContainSubstring("must be a JSON list of EnvVar"))))
		Expect(create(spec.Pod("").Annotation(key(sidecarsv1alpha1.OverrideResources), `{"requests":{"cpu":"1"}}`).Obj())).To(MatchError(And(
			ContainSubstring(`metadata.annotations[%s]: Forbidden`, key(sidecarsv1alpha1.OverrideResources)),
			ContainSubstring(`lets pods override [env] of sidecar "proxy"`))))
	})

	It("refuses a Required set that allows overrides, at the field", func() {
		err := k8sClient.Create(ctx, spec.Set("audit").Required().
			Sidecar(utiltesting.MakeSidecar("audit", "example.com/audit:1").Overrides(sidecarsv1alpha1.OverrideResources).Obj()).Obj())
		Expect(err).To(MatchError(And(ContainSubstring("spec.containers"), ContainSubstring("a Required SidecarSet allows no per-pod overrides"))))
	})

	It("keeps an Optional set's container and volume the pod declares itself, records both and warns", func() {
		set := createInjectingSet(spec.Set("mesh").Volume(utiltesting.EmptyDir("certs")).
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Mount("certs", "/certs").Obj()).
			Sidecar(utiltesting.MakeSidecar("trace", "example.com/trace:1").Obj()).Obj(),
			func() *corev1.Pod { return spec.Pod("").Obj() })

		warnings := &recordingWarnings{}
		cfg := rest.CopyConfig(cfg)
		cfg.WarningHandler = warnings
		c, err := client.New(cfg, client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())

		pod := spec.Pod("").Container(corev1.Container{Name: "trace", Image: "example.com/my-trace:1"}).Obj()
		pod.Spec.Volumes = []corev1.Volume{utiltesting.EmptyDir("certs")}
		pod.GenerateName = "pod-"
		Expect(c.Create(ctx, pod)).To(Succeed())

		Expect(names(pod.Spec.InitContainers)).To(Equal([]string{"proxy"}))
		Expect(pod.Spec.Containers[1].Image).To(Equal("example.com/my-trace:1"))
		records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(records[set.Name].Overridden).To(Equal([]string{"trace"}))
		Expect(records[set.Name].OverriddenVolumes).To(Equal([]string{"certs"}))
		Expect(warnings.messages).To(ContainElements(
			ContainSubstring(`SidecarSet %q: the pod's own container "trace" replaces the SidecarSet's`, set.Name),
			ContainSubstring(`SidecarSet %q: the pod's own volume "certs" replaces the SidecarSet's`, set.Name)))
	})
})
