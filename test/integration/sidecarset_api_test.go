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
	"fmt"
	"io"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// validSet is a realistic SidecarSet: a native proxy sized from the app, a log shipper
// as a regular container, an init container, a volume and a canary rollout; one of the
// spec's, selecting its pods.
func validSet(spec *specScope) *utiltesting.SidecarSetWrapper {
	return spec.Set("api").
		MatchLabels(map[string]string{"app": "web", specLabel: spec.ID}).
		NamespaceSelector(map[string]string{"team": "payments"}).
		Priority(10).
		Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1.2").
			ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
				TargetContainers: []string{"app"},
				CPU: &sidecarsv1alpha1.ResourceRule{Percent: 10,
					Min: new(resource.MustParse("50m")), Max: new(resource.MustParse("1"))},
				Memory: &sidecarsv1alpha1.ResourceRule{Percent: 10,
					Min: new(resource.MustParse("32Mi")), Max: new(resource.MustParse("512Mi"))},
			}).
			TransferEnv("app", "POD_ENV").
			Obj()).
		Sidecar(utiltesting.MakeSidecar("log-shipper", "example.com/shipper:3.0").
			Mode(sidecarsv1alpha1.SidecarModeContainer).
			Placement(sidecarsv1alpha1.PlacementAfterApp).
			Resources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m")}, nil).
			ShareVolumes().
			Obj()).
		InitContainer(corev1.Container{Name: "fetch-config", Image: "example.com/fetch:1"}).
		Volume(corev1.Volume{Name: "proxy-config",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}).
		MaxUnavailable(intstr.FromString("25%"))
}

var _ = Describe("SidecarSet API on the real API server", func() {
	var spec *specScope
	BeforeEach(func() { spec = isolate("api-") })

	It("accepts a realistic SidecarSet and reads it back with every default applied", func() {
		set := validSet(spec).Obj()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())

		got := &sidecarsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())

		proxy, shipper := got.Spec.Containers[0], got.Spec.Containers[1]
		Expect(proxy.Mode).To(Equal(sidecarsv1alpha1.SidecarModeNative))
		Expect(proxy.EffectivePlacement()).To(Equal(sidecarsv1alpha1.PlacementBeforeInit))
		Expect(proxy.ResourcesPolicy.Aggregate).To(Equal(sidecarsv1alpha1.AggregateSum))
		Expect(proxy.TransferEnv).To(Equal([]sidecarsv1alpha1.TransferEnvVar{{SourceContainer: "app", Names: []string{"POD_ENV"}}}))
		Expect(shipper.Mode).To(Equal(sidecarsv1alpha1.SidecarModeContainer))
		Expect(shipper.Placement).To(Equal(sidecarsv1alpha1.PlacementAfterApp))
		Expect(shipper.ShareVolumes).To(BeTrue())

		Expect(got.Spec.Injection).To(Equal(sidecarsv1alpha1.InjectionPolicy{Paused: false, Enforcement: sidecarsv1alpha1.EnforcementOptional}))
		Expect(got.Spec.RevisionHistoryLimit).To(HaveValue(BeEquivalentTo(10)))
		us := got.Spec.UpdateStrategy
		Expect(us.Type).To(Equal(sidecarsv1alpha1.RollingUpdateStrategyType))
		Expect(us.MaxUnavailable).To(HaveValue(Equal(intstr.FromString("25%"))))
		Expect(us.Partition).To(HaveValue(Equal(intstr.FromInt32(0))))
		Expect(us.Paused).To(BeFalse())
		Expect(us.OnImmutableChange).To(Equal(sidecarsv1alpha1.ImmutableChangeSkip))
		Expect(us.Drain.ReadinessGate).To(HaveValue(BeTrue()))
		Expect(us.Drain.Seconds).To(HaveValue(BeEquivalentTo(5)))
	})

	It("defaults maxUnavailable to 1 when the update strategy is left out", func() {
		set := spec.Set("api").
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Obj()).Obj()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		Expect(set.Spec.UpdateStrategy.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(1))))
		Expect(set.Spec.Priority).To(BeZero())
	})

	It("accepts the boundaries of every validated field", func() {
		set := validSet(spec).
			MaxUnavailable(intstr.FromString("100%")).
			Partition(intstr.FromString("100%")).
			DrainSeconds(0).
			RevisionHistoryLimit(0).
			Obj()
		set.Spec.Containers[0].ResourcesPolicy.CPU.Percent = 1000
		set.Spec.Containers[0].ResourcesPolicy.CPU.Min = new(resource.MustParse("1"))
		for i := len(set.Spec.Containers); i < 16; i++ {
			set.Spec.Containers = append(set.Spec.Containers,
				utiltesting.MakeSidecar(fmt.Sprintf("extra-%d", i), "example.com/extra:1").Obj())
		}
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
	})

	DescribeTable("refuses an invalid SidecarSet and names the field",
		func(mutate func(*sidecarsv1alpha1.SidecarSet), field string, message string) {
			set := validSet(spec).Obj()
			mutate(set)
			err := k8sClient.Create(ctx, set)
			Expect(err).To(HaveOccurred(), "the API server accepted an invalid SidecarSet")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "expected 422 Invalid, got: %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("empty selector", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Selector = &metav1.LabelSelector{}
		}, "spec.selector", "selector must not be empty"),
		Entry("no containers", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers = nil
		}, "spec.containers", "Required value"),
		Entry("17 containers", func(s *sidecarsv1alpha1.SidecarSet) {
			for i := len(s.Spec.Containers); i < 17; i++ {
				s.Spec.Containers = append(s.Spec.Containers,
					utiltesting.MakeSidecar(fmt.Sprintf("extra-%d", i), "example.com/extra:1").Obj())
			}
		}, "spec.containers", "must have at most 16 items"),
		Entry("two sidecars with the same name", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[1].Name = s.Spec.Containers[0].Name
		}, "spec.containers[1]", "Duplicate value"),
		Entry("a sidecar name that is not a DNS label", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Name = "Proxy_1"
		}, "spec.containers[0].name", "must be a DNS label"),
		Entry("a sidecar name longer than 63 characters", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Name = "p" + string(bytes.Repeat([]byte("x"), 63))
		}, "spec.containers[0].name", "Too long"),
		Entry("an unknown mode", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Mode = "Sidecar"
			s.Spec.Containers[0].Placement = ""
		}, "spec.containers[0].mode", "Unsupported value"),
		Entry("mode Native with placement BeforeApp", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Mode = sidecarsv1alpha1.SidecarModeNative
			s.Spec.Containers[0].Placement = sidecarsv1alpha1.PlacementBeforeApp
		}, "spec.containers[0].placement", "BeforeInit or AfterInit for mode Native"),
		Entry("mode Container with placement BeforeInit", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[1].Mode = sidecarsv1alpha1.SidecarModeContainer
			s.Spec.Containers[1].Placement = sidecarsv1alpha1.PlacementBeforeInit
		}, "spec.containers[1].placement", "BeforeApp or AfterApp for mode Container"),
		Entry("both resources and resourcesPolicy", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		}, "spec.containers[0].resourcesPolicy", "mutually exclusive"),
		Entry("resourcesPolicy cpu percent 0", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].ResourcesPolicy.CPU.Percent = 0
		}, "spec.containers[0].resourcesPolicy.cpu.percent", "should be greater than or equal to 1"),
		Entry("resourcesPolicy cpu percent over 1000", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].ResourcesPolicy.CPU.Percent = 1001
		}, "spec.containers[0].resourcesPolicy.cpu.percent", "should be less than or equal to 1000"),
		Entry("resourcesPolicy min above max", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].ResourcesPolicy.Memory.Min = new(resource.MustParse("1Gi"))
		}, "spec.containers[0].resourcesPolicy.memory.min", "min must not be greater than max"),
		Entry("resourcesPolicy with neither cpu nor memory", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].ResourcesPolicy.CPU = nil
			s.Spec.Containers[0].ResourcesPolicy.Memory = nil
		}, "spec.containers[0].resourcesPolicy", "needs cpu, memory or both"),
		Entry("maxUnavailable 0", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromInt32(0))
		}, "spec.updateStrategy.maxUnavailable", "at least 1"),
		Entry(`maxUnavailable "0%"`, func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromString("0%"))
		}, "spec.updateStrategy.maxUnavailable", "percentage from 1% to 100%"),
		Entry(`maxUnavailable "abc"`, func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromString("abc"))
		}, "spec.updateStrategy.maxUnavailable", "percentage from 1% to 100%"),
		Entry(`partition "150%"`, func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.Partition = new(intstr.FromString("150%"))
		}, "spec.updateStrategy.partition", "percentage from 0% to 100%"),
		Entry("negative partition", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.Partition = new(intstr.FromInt32(-1))
		}, "spec.updateStrategy.partition", "non-negative integer"),
		Entry("negative drain.seconds", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.Drain.Seconds = ptr.To[int32](-1)
		}, "spec.updateStrategy.drain.seconds", "should be greater than or equal to 0"),
		Entry("unknown onImmutableChange", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.OnImmutableChange = "Recreate"
		}, "spec.updateStrategy.onImmutableChange", "Unsupported value"),
		Entry("negative revisionHistoryLimit", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.RevisionHistoryLimit = ptr.To[int32](-1)
		}, "spec.revisionHistoryLimit", "should be greater than or equal to 0"),
		Entry("unknown updateStrategy.type", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.Type = "Recreate"
		}, "spec.updateStrategy.type", "Unsupported value"),
		Entry("restartPolicy set on a sidecar", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.Containers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}, "spec.containers[0].restartPolicy", "set by Outrigger"),
		Entry("an init container named like a sidecar", func(s *sidecarsv1alpha1.SidecarSet) {
			s.Spec.InitContainers[0].Name = "proxy"
		}, "spec.initContainers", "used by both containers and initContainers"),
	)

	// Serial: the samples select pods by their own labels, in every namespace.
	It("accepts every sample in config/samples", Serial, func() {
		objs := renderKustomization(filepath.Join(projectRoot(), "config", "samples"))
		Expect(objs).To(HaveLen(3))
		for _, obj := range objs {
			set := &sidecarsv1alpha1.SidecarSet{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, set)).To(Succeed())
			spec.Own(set)
			Expect(k8sClient.Create(ctx, set)).To(Succeed(), "sample %s", obj.GetName())
		}
	})

	It("documents the API for kubectl explain", func() {

		// The discovery cache can lag the CRD by a moment; explain retries until it knows the type.
		Eventually(func(g Gomega) {
			stdout, stderr, err := kubectlRun("explain", "sidecarsets.spec.containers.mode")
			g.Expect(err).NotTo(HaveOccurred(), "kubectl explain: %s", readAll(stderr))
			out := readAll(stdout)
			g.Expect(out).To(ContainSubstring("GROUP:      sidecars.outrigger.dev"))
			g.Expect(out).To(ContainSubstring("mode says how the sidecar is placed in the pod"))
			g.Expect(out).To(ContainSubstring("Native"))
		}).Should(Succeed())

		stdout, stderr, err := kubectlRun("explain", "scs.spec", "--recursive")
		Expect(err).NotTo(HaveOccurred(), "kubectl explain --recursive: %s", readAll(stderr))
		Expect(readAll(stdout)).To(And(
			ContainSubstring("updateStrategy"), ContainSubstring("resourcesPolicy"),
			ContainSubstring("onImmutableChange"), ContainSubstring("namespaceSelector")))
	})
})

func readAll(r io.Reader) string {
	if r == nil {
		return ""
	}
	b, _ := io.ReadAll(r)
	return string(b)
}
