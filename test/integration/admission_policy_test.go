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
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/controllers"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/internal/revision"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// spikeOptions compile the specs' own policy, under a name of its own: the suite's
// manager (engine Webhook) deletes the operator's generated policy.
var spikeOptions = admissionpolicy.Options{OperatorNamespace: operatorNamespace, Name: "spike.sidecars.outrigger.dev"}

// withoutPodWebhook takes the pod injector out of the API server's webhook configuration
// until the spec ends, as an install with the admission policy engine has it: the API
// server then calls no webhook for pods, and only the policy injects.
func withoutPodWebhook() {
	GinkgoHelper()
	restore, err := localcluster.RemovePodWebhook(ctx, k8sClient)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(restore(ctx)).To(Succeed()) })
}

// applyPolicy creates or replaces the compiled policy and binding, and waits until the
// API server injects with this version: a probe pod, which only the probe source
// selects, comes back with the probe's record.
func applyPolicy(compiled admissionpolicy.Compiled, probeNamespace string, probe string) {
	GinkgoHelper()
	for _, want := range []client.Object{compiled.Policy, compiled.Binding} {
		// The API server compiles a policy of 1,000 sets within its request timeout only
		// when it has the CPU: on a loaded machine the write may time out, having been
		// applied or not. Write again until it answers.
		Eventually(func() error {
			obj := want.DeepCopyObject().(client.Object)
			err := k8sClient.Create(ctx, obj)
			if apierrors.IsAlreadyExists(err) {
				current := obj.DeepCopyObject().(client.Object)
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
					return err
				}
				obj.SetResourceVersion(current.GetResourceVersion())
				err = k8sClient.Update(ctx, obj)
			}
			if err == nil || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsConflict(err) {
				return err
			}
			return StopTrying("writing " + obj.GetName()).Wrap(err)
		}).WithTimeout(3 * time.Minute).Should(Succeed())
	}
	Eventually(func(g Gomega) {
		p := utiltesting.MakePod("", probeNamespace).Labels(map[string]string{"policy-probe": probe}).Obj()
		p.GenerateName = "probe-"
		g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
		g.Expect(p.Annotations).To(HaveKeyWithValue(sidecarsv1alpha1.InjectedAnnotation, ContainSubstring(`"`+probe+`"`)))
		// Writing and loading the 1,000-set policy took two minutes on 2 cores shared
		// with other builds (docs/testing.md); the spec prints how long it took.
	}).WithTimeout(3 * time.Minute).Should(Succeed())
}

// deletePolicy removes the compiled policy and binding.
func deletePolicy() {
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: spikeOptions.Name}},
		&admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: spikeOptions.Name}},
	} {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
	}
}

// probeSource selects only probe pods (label policy-probe=name).
func probeSource(name string) inject.Source {
	return inject.SourceOf(utiltesting.MakeSidecarSet(name).MatchLabels(map[string]string{"policy-probe": name}).
		Sidecar(utiltesting.MakeSidecar("probe", "example.com/probe:1").Obj()).Obj())
}

// webhookInjects is what the pod webhook does with pod in ns, given the sources of every
// SidecarSet: the same exclusions, matching and inject.Inject as PodInjector.Default.
func webhookInjects(pod *corev1.Pod, ns *corev1.Namespace, sources []inject.Source) (*corev1.Pod, error) {
	if inject.Excluded(ns, operatorNamespace) != "" {
		return pod.DeepCopy(), nil
	}
	optedOut := inject.OptedOut(pod, ns)
	var matched []inject.Source
	for _, src := range sources {
		if src.Set.Spec.Injection.Paused || !inject.Applies(src.Set, optedOut) {
			continue
		}
		ok, err := inject.Match(pod, ns, src.Set)
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, src)
		}
	}
	if optedOut != "" && len(matched) == 0 {
		return pod.DeepCopy(), nil
	}
	res, err := inject.Inject(pod, matched)
	if err != nil {
		return nil, err
	}
	return res.Pod, nil
}

// comparable is a stored pod without what differs between two creations of it.
func comparable(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	p.Name, p.GenerateName, p.Namespace, p.UID, p.ResourceVersion = "", "", "", "", ""
	p.CreationTimestamp, p.ManagedFields = metav1.Time{}, nil
	return p
}

// policyCase is one input: sources, the namespace's labels, a pod.
type policyCase struct {
	sources  func(suffix string) []inject.Source
	nsLabels map[string]string
	pod      func() *corev1.Pod
	// copied, when set, makes the case's pod from pod as the webhook injected it with the
	// given sources: a pod created from the spec of an injected one.
	copied func(injected *corev1.Pod) *corev1.Pod
	// copiedFrom picks the sources the copied pod was injected by; nil: all.
	copiedFrom func(sources []inject.Source) []inject.Source
	// refusal, when the pod is refused, are what both engines' messages say.
	refusal []string
}

var _ = Describe("SidecarSets compiled to a MutatingAdmissionPolicy", Serial, Ordered, ContinueOnFailure, func() {
	var (
		// referenceNS takes the webhook's result as is: opted out, so neither the policy
		// nor the webhook touches it and the API server only defaults it, as it defaults
		// the policy's.
		referenceNS *corev1.Namespace
		probeNS     *corev1.Namespace
		// spec holds the namespaces; the policy's sets are compiled here, never created.
		spec *specScope
	)

	BeforeAll(func() {
		withoutPodWebhook()
		spec = isolate("policy-probe-")
		probeNS = spec.NS
		referenceNS = spec.Namespace("policy-reference-", map[string]string{sidecarsv1alpha1.InjectLabel: "false"})
		DeferCleanup(deletePolicy)
	})

	// same creates the case's pod through the policy, in its own namespace, and the
	// webhook's result for it in the reference namespace, and compares the stored pods.
	same := func(c policyCase) {
		GinkgoHelper()
		ns := spec.Namespace("policy-", c.nsLabels)
		probe := "probe-" + ns.Name
		sources := append(c.sources(ns.Name), probeSource(probe))
		compiled := admissionpolicy.Compile(sources, spikeOptions)
		Expect(compiled.Unsupported).To(BeEmpty())
		applyPolicy(compiled, probeNS.Name, probe)

		pod := c.pod()
		pod.Namespace, pod.GenerateName = ns.Name, "pod-"
		if c.copied != nil {
			from := sources
			if c.copiedFrom != nil {
				from = c.copiedFrom(sources)
			}
			injected, err := webhookInjects(pod, ns, from)
			Expect(err).NotTo(HaveOccurred())
			pod = c.copied(injected)
		}
		want, werr := webhookInjects(pod, ns, sources)
		got := pod.DeepCopy()
		gerr := k8sClient.Create(ctx, got)
		if werr != nil {
			Expect(gerr).To(HaveOccurred(), "the webhook refuses the pod: %v", werr)
			for _, part := range c.refusal {
				Expect(werr.Error()).To(ContainSubstring(part), "the webhook's refusal")
				Expect(gerr.Error()).To(ContainSubstring(part), "the policy's refusal")
			}
			return
		}
		Expect(gerr).NotTo(HaveOccurred())
		want.Namespace = referenceNS.Name
		Expect(k8sClient.Create(ctx, want)).To(Succeed())
		Expect(cmp.Diff(comparable(want), comparable(got))).To(BeEmpty(), "webhook (-) and policy (+) differ")
	}

	app := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: "example.com/" + name + ":1"}
	}
	set := func(name string) *utiltesting.SidecarSetWrapper {
		return utiltesting.MakeSidecarSet(name).MatchLabels(map[string]string{"app": "web"})
	}
	sidecar := utiltesting.MakeSidecar
	srcs := func(sets ...*sidecarsv1alpha1.SidecarSet) []inject.Source {
		out := make([]inject.Source, len(sets))
		for i, s := range sets {
			out[i] = inject.SourceOf(s)
		}
		return out
	}
	webPod := func() *utiltesting.PodWrapper { return utiltesting.MakePod("", "") }

	DescribeTable("injects exactly what the webhook injects",
		same,
		Entry("native and regular sidecars in every placement, with the set's init containers", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("mesh-" + s).
					InitContainer(app("prepare")).
					Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).
					Sidecar(sidecar("late", "example.com/late:1").Placement(sidecarsv1alpha1.PlacementAfterInit).Obj()).
					Sidecar(sidecar("front", "example.com/front:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).
					Sidecar(sidecar("shipper", "example.com/shipper:1").Mode(sidecarsv1alpha1.SidecarModeContainer).
						Placement(sidecarsv1alpha1.PlacementAfterApp).Obj()).Obj())
			},
			pod: func() *corev1.Pod { return webPod().InitContainer(app("migrate")).Obj() },
		}),
		Entry("sets by priority, then name; the first set to name a container takes it; the pod's own container overrides", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(
					set("b-low-"+s).Priority(1).Sidecar(sidecar("log", "example.com/log:b").Obj()).Obj(),
					set("a-low-"+s).Priority(1).Sidecar(sidecar("trace", "example.com/trace:a").Obj()).
						Sidecar(sidecar("log", "example.com/log:a").Obj()).Obj(),
					set("z-high-"+s).Priority(10).Sidecar(sidecar("proxy", "example.com/proxy:z").Obj()).
						Sidecar(sidecar("app", "example.com/not-the-app:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).Obj(),
				)
			},
			pod: func() *corev1.Pod { return webPod().Obj() },
		}),
		Entry("a set whose containers the pod all declares is recorded with containers null", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("own-" + s).Sidecar(sidecar("app", "example.com/other:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).Obj())
			},
			pod: func() *corev1.Pod { return webPod().Obj() },
		}),
		Entry("selector expressions and namespaceSelector: only the matching sets", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(
					utiltesting.MakeSidecarSet("expr-"+s).Selector(&metav1.LabelSelector{
						MatchLabels: map[string]string{"app": "web"},
						MatchExpressions: []metav1.LabelSelectorRequirement{
							{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "back"}},
							{Key: "track", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"canary"}},
							{Key: "team", Operator: metav1.LabelSelectorOpExists},
							{Key: "legacy", Operator: metav1.LabelSelectorOpDoesNotExist},
						}}).Sidecar(sidecar("yes", "example.com/yes:1").Obj()).Obj(),
					utiltesting.MakeSidecarSet("notin-"+s).Selector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"front"}}}}).
						Sidecar(sidecar("no1", "example.com/no:1").Obj()).Obj(),
					set("ns-yes-"+s).NamespaceSelector(map[string]string{"mesh": "on"}).Sidecar(sidecar("nsyes", "example.com/ns:1").Obj()).Obj(),
					set("ns-no-"+s).NamespaceSelector(map[string]string{"mesh": "off"}).Sidecar(sidecar("nsno", "example.com/ns:1").Obj()).Obj(),
					set("paused-"+s).InjectionPaused().Sidecar(sidecar("paused", "example.com/p:1").Obj()).Obj(),
				)
			},
			nsLabels: map[string]string{"mesh": "on"},
			pod: func() *corev1.Pod {
				return webPod().Label("tier", "front").Label("team", "a").Label("track", "stable").Obj()
			},
		}),
		Entry("a pod labelled sidecars.outrigger.dev/inject=false is not touched, its forged record kept as the webhook keeps it", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("optout-" + s).Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				return webPod().Label(sidecarsv1alpha1.InjectLabel, "false").Annotation(sidecarsv1alpha1.InjectedAnnotation, `{"x":{}}`).Obj()
			},
		}),
		Entry("a namespace labelled sidecars.outrigger.dev/inject=false is not touched", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("nsoptout-" + s).Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).Obj())
			},
			nsLabels: map[string]string{sidecarsv1alpha1.InjectLabel: "false"},
			pod:      func() *corev1.Pod { return webPod().Obj() },
		}),
		Entry("an unmatched pod loses its forged record, label, upgrade state and readiness gate", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("forged-" + s).MatchLabels(map[string]string{"app": "other"}).Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				p := webPod().Label(sidecarsv1alpha1.InjectedLabel, "true").Annotation(sidecarsv1alpha1.InjectedAnnotation, `{"forged":{}}`).
					Annotation(sidecarsv1alpha1.UpgradeAnnotation, `{}`).Annotation("keep", "me").Obj()
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}, {ConditionType: "other"}}
				return p
			},
		}),
		Entry("a matched pod's forged record is replaced; a set without readiness gate drops the forged gate", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("nogate-" + s).ReadinessGate(false).Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				p := webPod().Annotation(sidecarsv1alpha1.InjectedAnnotation, `{"nogate":{"revision":"x"}}`).Obj()
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}}
				return p
			},
		}),
		Entry("volumes, pull secrets and podMetadata: the pod's win, then the first set's", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(
					set("vol-a-"+s).Priority(2).Volume(utiltesting.EmptyDir("shared")).Volume(utiltesting.EmptyDir("data")).
						PullSecret("regcred").PullSecret("a-cred").
						PodMetadata(map[string]string{"team": "a", "mesh": "on"}, map[string]string{"a/x": "1", "keep": "set"}).
						Sidecar(sidecar("agent", "example.com/agent:1").Mount("shared", "/shared").Mount("data", "/data").Obj()).Obj(),
					set("vol-b-"+s).Priority(1).Volume(corev1.Volume{Name: "shared", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}}).
						PullSecret("a-cred").PullSecret("b-cred").
						PodMetadata(map[string]string{"mesh": "b", "b": "yes"}, nil).
						Sidecar(sidecar("b-agent", "example.com/agent:1").Mount("shared", "/shared").Obj()).Obj(),
				)
			},
			pod: func() *corev1.Pod {
				return webPod().Volume(utiltesting.EmptyDir("data")).PullSecret("regcred").Label("team", "own").Annotation("keep", "pod").Obj()
			},
		}),
		Entry("transferEnv: named and all variables, the sidecar's own win, a missing source copies nothing", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("env-" + s).Sidecar(sidecar("agent", "example.com/agent:1").Env("OWN", "sidecar").
					TransferEnv("app", "POD_NAME", "OWN", "MISSING").TransferEnv("worker").TransferEnv("nope").Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				a := app("app")
				a.Env = []corev1.EnvVar{{Name: "OWN", Value: "app"}, {Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}, {Name: "OTHER", Value: "x"}}
				w := app("worker")
				w.Env = []corev1.EnvVar{{Name: "POD_NAME", Value: "dup"}, {Name: "W1", Value: "1"}, {Name: "W2", Value: "2"}}
				return webPod().Containers(a, w).Obj()
			},
		}),
		Entry("shareVolumes: the app's mounts except at paths the sidecar mounts", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("share-" + s).Volume(utiltesting.EmptyDir("own")).Sidecar(sidecar("agent", "example.com/agent:1").
					Mount("own", "/data").ShareVolumes().Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				a := app("app")
				a.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}, {Name: "data", MountPath: "/data", ReadOnly: true}}
				w := app("worker")
				w.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}, {Name: "logs", MountPath: "/logs", SubPath: "w"}}
				return webPod().Containers(a, w).Volume(utiltesting.EmptyDir("cache")).Volume(utiltesting.EmptyDir("data")).
					Volume(utiltesting.EmptyDir("logs")).Obj()
			},
		}),
		Entry("resourcesPolicy: Sum and Max, percent rounded up, min and max, request lowered to the limit", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("res-" + s).
					Sidecar(sidecar("sum", "example.com/a:1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
						CPU:    &sidecarsv1alpha1.ResourceRule{Percent: 10},
						Memory: &sidecarsv1alpha1.ResourceRule{Percent: 33, Min: ptrQ("32Mi"), Max: ptrQ("1Gi")}}).Obj()).
					Sidecar(sidecar("max", "example.com/a:1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
						Aggregate: sidecarsv1alpha1.AggregateMax, TargetContainers: []string{"app", "worker", "absent"},
						CPU: &sidecarsv1alpha1.ResourceRule{Percent: 150, Min: ptrQ("50m"), Max: ptrQ("1500m")}}).Obj()).
					Sidecar(sidecar("unset", "example.com/a:1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
						TargetContainers: []string{"nothing"},
						CPU:              &sidecarsv1alpha1.ResourceRule{Percent: 10, Min: ptrQ("25m")},
						Memory:           &sidecarsv1alpha1.ResourceRule{Percent: 10}}).Obj()).
					Sidecar(sidecar("clamped", "example.com/a:1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
						TargetContainers: []string{"worker"},
						CPU:              &sidecarsv1alpha1.ResourceRule{Percent: 1000, Max: ptrQ("2")}}).Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				a := app("app")
				a.Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("333m"), corev1.ResourceMemory: resource.MustParse("1.5Gi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1.5"), corev1.ResourceMemory: resource.MustParse("3Gi")},
				}
				w := app("worker")
				w.Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("100M")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				}
				return webPod().Containers(a, w).Obj()
			},
		}),
		Entry("resourcesPolicy: memory in odd units and exact rounding", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("odd-" + s).Sidecar(sidecar("odd", "example.com/a:1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
					CPU:    &sidecarsv1alpha1.ResourceRule{Percent: 7},
					Memory: &sidecarsv1alpha1.ResourceRule{Percent: 1}}).Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				a := app("app")
				a.Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500e-3"), corev1.ResourceMemory: resource.MustParse("1e3")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("123456789")},
				}
				w := app("worker")
				w.Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("1Ki")},
				}
				return webPod().Containers(a, w).Obj()
			},
		}),
		Entry("a Container sidecar gets the drain as preStop sleep unless it has its own; a Never pod resizes memory without restart", policyCase{
			sources: func(s string) []inject.Source {
				own := sidecar("hooked", "example.com/a:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()
				own.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"stop"}}}}
				own.ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired}}
				return srcs(set("drain-" + s).DrainSeconds(7).
					Sidecar(sidecar("plain", "example.com/a:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).
					Sidecar(own).Sidecar(sidecar("native", "example.com/a:1").Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				p := webPod().Obj()
				p.Spec.RestartPolicy = corev1.RestartPolicyNever
				return p
			},
		}),
		Entry("a pinned revision injects the stored spec under the revision's name and hashes", policyCase{
			sources: func(s string) []inject.Source {
				live := set("pinned-" + s).Sidecar(sidecar("proxy", "example.com/proxy:2").Obj()).Obj()
				old := set("pinned-" + s).Sidecar(sidecar("proxy", "example.com/proxy:1").Env("V", "1").Obj()).Obj()
				return []inject.Source{inject.NewSource(live, "pinned-"+s+"-oldrev", revision.SpecOf(old))}
			},
			pod: func() *corev1.Pod { return webPod().Obj() },
		}),
		Entry("a pod copied from an injected one: the webhook's trusted record is trusted, nothing is injected twice", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("copy-" + s).InitContainer(app("prepare")).
					Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).
					Sidecar(sidecar("shipper", "example.com/shipper:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).Obj())
			},
			pod:    func() *corev1.Pod { return webPod().Obj() },
			copied: func(p *corev1.Pod) *corev1.Pod { return p },
		}),
		Entry("a copied pod and a set added since: the copy's sidecars are no app containers of the new set's resourcesPolicy", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(
					set("copy-a-"+s).Priority(5).Sidecar(sidecar("shipper", "example.com/shipper:1").Mode(sidecarsv1alpha1.SidecarModeContainer).
						Resources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}, nil).Obj()).Obj(),
					set("copy-b-"+s).Sidecar(sidecar("sized", "example.com/sized:1").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
						CPU: &sidecarsv1alpha1.ResourceRule{Percent: 50}}).Obj()).Obj())
			},
			copiedFrom: func(sources []inject.Source) []inject.Source { return sources[:1] },
			pod: func() *corev1.Pod {
				p := webPod().Obj()
				p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
				return p
			},
			copied: func(p *corev1.Pod) *corev1.Pod { return p },
		}),
		Entry("a copied pod whose sidecar image was changed: the record is not trusted, the changed container counts as the pod's own", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("tampered-" + s).Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).Obj())
			},
			pod: func() *corev1.Pod { return webPod().Obj() },
			copied: func(p *corev1.Pod) *corev1.Pod {
				p.Spec.InitContainers[0].Image = "example.com/proxy:evil"
				return p
			},
		}),
		Entry("a sidecar mounting a volume nobody declares: the webhook and the API server both refuse the pod", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("badmount-" + s).Sidecar(sidecar("agent", "example.com/a:1").Mount("nowhere", "/x").Obj()).Obj())
			},
			pod: func() *corev1.Pod { return webPod().Obj() },
		}),
		// Required sets select by a namespace label of the case's own namespace: the
		// reference namespace is opted out, which a Required set ignores.
		Entry("a Required set injects a pod labelled opted out; the Optional set skips it", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(
					set("required-"+s).Required().NamespaceSelector(map[string]string{"mandatory": "on"}).
						Volume(utiltesting.EmptyDir("audit")).Sidecar(sidecar("audit", "example.com/audit:1").Mount("audit", "/audit").Obj()).Obj(),
					set("optional-"+s).Sidecar(sidecar("proxy", "example.com/proxy:1").Obj()).Obj(),
				)
			},
			nsLabels: map[string]string{"mandatory": "on"},
			pod:      func() *corev1.Pod { return webPod().Label(sidecarsv1alpha1.InjectLabel, "false").Obj() },
		}),
		Entry("a Required set injects a pod of a namespace labelled opted out", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("required-" + s).Required().NamespaceSelector(map[string]string{"mandatory": "on"}).
					Sidecar(sidecar("audit", "example.com/audit:1").Obj()).Obj())
			},
			nsLabels: map[string]string{"mandatory": "on", sidecarsv1alpha1.InjectLabel: "false"},
			pod:      func() *corev1.Pod { return webPod().Obj() },
		}),
		Entry("a Required set refuses a pod bringing a container of its sidecar's name, naming the set and the field", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("required-" + s).Required().NamespaceSelector(map[string]string{"mandatory": "on"}).
					Sidecar(sidecar("audit", "example.com/audit:1").Obj()).Obj())
			},
			nsLabels: map[string]string{"mandatory": "on"},
			pod: func() *corev1.Pod {
				return webPod().InitContainer(corev1.Container{Name: "audit", Image: "example.com/noop:1"}).Obj()
			},
			refusal: []string{`is Required (spec.injection.enforcement)`, `spec.initContainers[0].name: Forbidden: "audit" is the name of the SidecarSet's spec.containers[0]`},
		}),
		Entry("a Required set refuses a pod bringing a volume of its volume's name", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("required-" + s).Required().NamespaceSelector(map[string]string{"mandatory": "on"}).
					Volume(utiltesting.EmptyDir("audit")).Sidecar(sidecar("audit", "example.com/audit:1").Mount("audit", "/audit").Obj()).Obj())
			},
			nsLabels: map[string]string{"mandatory": "on"},
			pod: func() *corev1.Pod {
				p := webPod().Obj()
				p.Spec.Volumes = []corev1.Volume{utiltesting.EmptyDir("mine"), utiltesting.EmptyDir("audit")}
				return p
			},
			refusal: []string{`spec.volumes[1].name: Forbidden: "audit" is the name of the SidecarSet's spec.volumes[0]`},
		}),
		Entry("a copied pod whose Required record says the sidecar was overridden: not trusted, refused", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("required-" + s).Required().NamespaceSelector(map[string]string{"mandatory": "on"}).
					Sidecar(sidecar("audit", "example.com/audit:1").Obj()).Obj())
			},
			nsLabels: map[string]string{"mandatory": "on"},
			pod:      func() *corev1.Pod { return webPod().Obj() },
			copied: func(p *corev1.Pod) *corev1.Pod {
				// The tenant's own "audit", and a record claiming it overrides the set's.
				p.Spec.InitContainers[0].Image = "example.com/noop:1"
				p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = strings.Replace(p.Annotations[sidecarsv1alpha1.InjectedAnnotation],
					`"containers":["audit"]`, `"containers":null,"overridden":["audit"]`, 1)
				return p
			},
			refusal: []string{`is Required`, `"audit" is the name of the SidecarSet's spec.containers[0]`},
		}),
		Entry("an Optional set's volume the pod declares itself is recorded as overridden", policyCase{
			sources: func(s string) []inject.Source {
				return srcs(set("optvol-" + s).Volume(utiltesting.EmptyDir("data")).Volume(utiltesting.EmptyDir("cache")).
					Sidecar(sidecar("agent", "example.com/agent:1").Mount("data", "/data").Obj()).Obj())
			},
			pod: func() *corev1.Pod {
				p := webPod().Obj()
				p.Spec.Volumes = []corev1.Volume{utiltesting.EmptyDir("data")}
				return p
			},
		}),
	)

	// The CEL cost and size limits decide how many sets one policy holds: every pod
	// evaluates every set's selector.
	DescribeTable("holds many sets within the API server's limits",
		func(n int, allFit bool) {
			ns := spec.Namespace("policy-scale-", nil)
			probe := "probe-" + ns.Name
			// The probe first in injection order, so that it is never the set cut off.
			sources := scaleSources(n, ns.Name)
			ps := probeSource(probe)
			ps.Set.Spec.Priority = 100
			sources = append(sources, ps)
			compiled := admissionpolicy.Compile(sources, spikeOptions)
			if allFit {
				Expect(compiled.Unsupported).To(BeEmpty())
			} else {
				Expect(compiled.Unsupported).NotTo(BeEmpty(), "sets beyond the size budget")
			}
			fit := n - len(compiled.Unsupported)
			size, err := json.Marshal(compiled.Policy)
			Expect(err).NotTo(HaveOccurred())
			Expect(len(size)).To(BeNumerically("<=", admissionpolicy.MaxPolicyBytes))
			start := time.Now()
			applyPolicy(compiled, probeNS.Name, probe)
			_, _ = fmt.Fprintf(GinkgoWriter, "%d sets: %d in the policy, %d bytes, %d variables, active after %v\n",
				n, fit, len(size), len(compiled.Policy.Spec.Variables), time.Since(start))

			// The last set the policy holds with a resourcesPolicy and a volume, in injection
			// order (priority i%7, then name).
			var kept []int
			for i := range n {
				if _, cut := compiled.Unsupported[sources[i].Set.Name]; !cut && i%10 == 0 {
					kept = append(kept, i)
				}
			}
			last := kept[len(kept)-1]
			pod := utiltesting.MakePod("", ns.Name).Labels(map[string]string{"app": fmt.Sprintf("svc-%d", last)}).Obj()
			pod.GenerateName = "pod-"
			pod.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}
			want, err := webhookInjects(pod, ns, sources)
			Expect(err).NotTo(HaveOccurred())
			var took []time.Duration
			for range 5 {
				got := pod.DeepCopy()
				t := time.Now()
				Expect(k8sClient.Create(ctx, got, client.DryRunAll)).To(Succeed())
				took = append(took, time.Since(t))
				Expect(got.Spec.InitContainers).To(HaveLen(1))
				Expect(got.Spec.InitContainers[0].Image).To(Equal(want.Spec.InitContainers[0].Image))
				Expect(apiequality.Semantic.DeepEqual(got.Spec.InitContainers[0].Resources, want.Spec.InitContainers[0].Resources)).To(BeTrue(),
					"resources %v, want %v", got.Spec.InitContainers[0].Resources, want.Spec.InitContainers[0].Resources)
				Expect(got.Annotations[sidecarsv1alpha1.InjectedAnnotation]).To(Equal(want.Annotations[sidecarsv1alpha1.InjectedAnnotation]))
			}
			slices.Sort(took)
			_, _ = fmt.Fprintf(GinkgoWriter, "%d sets: dry-run pod create took %v (median of 5, client side)\n", n, took[2])

			// A set cut off is not injected by the policy: the webhook would have.
			for name := range compiled.Unsupported {
				i := slices.IndexFunc(sources, func(s inject.Source) bool { return s.Set.Name == name })
				cut := utiltesting.MakePod("", ns.Name).Labels(map[string]string{"app": fmt.Sprintf("svc-%d", i)}).Obj()
				cut.GenerateName = "pod-"
				Expect(k8sClient.Create(ctx, cut, client.DryRunAll)).To(Succeed())
				Expect(cut.Spec.InitContainers).To(BeEmpty())
				break
			}
		},
		Entry("100 sets: all fit", 100, true),
		Entry("1,000 sets: the first ones in injection order fit, the others are reported", 1000, false),
	)
})

var _ = Describe("The admission policy engine with the operator stopped", Serial, Ordered, func() {
	var referenceNS, ns *corev1.Namespace
	var spec *specScope
	var stopPolicyManager func()

	BeforeAll(func() {
		// The pod webhook as config/admission-policy registers it: failurePolicy Ignore
		// and not called for pods the policy injected.
		restore, err := localcluster.PolicyEnginePodWebhook(ctx, k8sClient, filepath.Join(projectRoot(), "config"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(restore(ctx)).To(Succeed()) })
		stopManager()
		stopPolicyManager = startManagerWith(controllers.EngineAdmissionPolicy)
		DeferCleanup(func() {
			if stopPolicyManager != nil {
				stopPolicyManager()
			}
			// The policy engine's manager is gone: the suite's manager removes the policy.
			stopManager = startManager()
			Eventually(func() bool {
				err := k8sClient.Get(ctx, types.NamespacedName{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})
				return apierrors.IsNotFound(err)
			}).Should(BeTrue(), "the webhook engine's manager deletes the generated policy")
		})
		spec = isolateWith("engine-", map[string]string{"mesh": "on"})
		ns = spec.NS
		referenceNS = spec.Namespace("engine-reference-", map[string]string{sidecarsv1alpha1.InjectLabel: "false"})
	})

	// stored is every SidecarSet of the spec as the API server holds it (defaulted), as sources.
	stored := func() []inject.Source {
		var list sidecarsv1alpha1.SidecarSetList
		Expect(k8sClient.List(ctx, &list, client.MatchingLabels(spec.Labels()))).To(Succeed())
		out := make([]inject.Source, len(list.Items))
		for i := range list.Items {
			out[i] = inject.SourceOf(&list.Items[i])
		}
		return out
	}
	policyCondition := func(name string) *metav1.Condition {
		set := &sidecarsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, set)).To(Succeed())
		c := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
		if c != nil && c.ObservedGeneration != set.Generation {
			return nil
		}
		return c
	}

	It("injects new pods exactly as the webhook would, while the operator is stopped", func() {
		sel := spec.Labels()
		mesh := spec.Set("engine-mesh").Priority(10).
			NamespaceSelector(map[string]string{"mesh": "on"}).Volume(utiltesting.EmptyDir("certs")).
			PodMetadata(map[string]string{"mesh": "on"}, map[string]string{"mesh/version": "1"}).
			Sidecar(utiltesting.MakeSidecar("proxy", "example.com/proxy:1").Mount("certs", "/certs").
				ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{CPU: &sidecarsv1alpha1.ResourceRule{Percent: 10, Min: ptrQ("10m")},
					Memory: &sidecarsv1alpha1.ResourceRule{Percent: 25}}).Obj()).Obj()
		logs := spec.Set("engine-logs").
			Sidecar(utiltesting.MakeSidecar("shipper", "example.com/shipper:1").Mode(sidecarsv1alpha1.SidecarModeContainer).
				Placement(sidecarsv1alpha1.PlacementAfterApp).TransferEnv("app", "LOG_LEVEL").ShareVolumes().Obj()).Obj()
		paused := spec.Set("engine-paused").InjectionPaused().
			Sidecar(utiltesting.MakeSidecar("paused", "example.com/paused:1").Obj()).Obj()
		for _, set := range []*sidecarsv1alpha1.SidecarSet{mesh, logs, paused} {
			Expect(k8sClient.Create(ctx, set)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			for _, name := range []string{mesh.Name, logs.Name} {
				c := policyCondition(name)
				g.Expect(c).NotTo(BeNil(), name)
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
			}
		}).WithTimeout(30 * time.Second).Should(Succeed()) // the policy manager starts, compiles and reports
		newPod := func() *corev1.Pod {
			a := corev1.Container{Name: "app", Image: "example.com/app:1", Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}
			p := utiltesting.MakePod("", ns.Name).Labels(sel).Containers(a).Volume(utiltesting.EmptyDir("data")).
				InitContainer(corev1.Container{Name: "migrate", Image: "example.com/migrate:1"}).Obj()
			p.GenerateName = "pod-"
			return p
		}
		// The API server has loaded the policy the controller wrote.
		Eventually(func(g Gomega) {
			p := newPod()
			g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
			records, err := sidecarsv1alpha1.ParseInjectionRecords(p.Annotations)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(records).To(HaveKey(mesh.Name))
			g.Expect(records).To(HaveKey(logs.Name))
		}).Should(Succeed())

		By("writing the policy once per change: a change that does not change the policy writes nothing")
		policy := &admissionregistrationv1.MutatingAdmissionPolicy{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: admissionpolicy.Name}, policy)).To(Succeed())
		written := policy.ResourceVersion
		set := &sidecarsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: logs.Name}, set)).To(Succeed())
		set.Labels["touched"] = "yes"
		Expect(k8sClient.Update(ctx, set)).To(Succeed())
		Consistently(func() string {
			p := &admissionregistrationv1.MutatingAdmissionPolicy{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Name: admissionpolicy.Name}, p)).To(Succeed())
			return p.ResourceVersion
		}).WithTimeout(2 * time.Second).Should(Equal(written))

		By("stopping the operator")
		stopPolicyManager()
		stopPolicyManager = nil

		sources := stored()
		for range 2 {
			pod := newPod()
			want, err := webhookInjects(pod, ns, sources)
			Expect(err).NotTo(HaveOccurred())
			got := pod.DeepCopy()
			Expect(k8sClient.Create(ctx, got)).To(Succeed())
			want.Namespace = referenceNS.Name
			Expect(k8sClient.Create(ctx, want)).To(Succeed())
			Expect(cmp.Diff(comparable(want), comparable(got))).To(BeEmpty(), "webhook (-) and policy (+) differ")
			Expect(got.Spec.InitContainers).To(HaveLen(2))
			Expect(got.Spec.Containers).To(HaveLen(2))
		}
	})
})

// scaleSources are n sets as a large installation has them: each selects its own app,
// every tenth sizes its sidecar by policy, every fifth has a volume and podMetadata.
func scaleSources(n int, suffix string) []inject.Source {
	out := make([]inject.Source, 0, n)
	for i := range n {
		w := utiltesting.MakeSidecarSet(fmt.Sprintf("scale-%04d-%s", i, suffix)).Priority(int32(i % 7)).
			MatchLabels(map[string]string{"app": fmt.Sprintf("svc-%d", i)})
		sc := utiltesting.MakeSidecar("agent", fmt.Sprintf("example.com/agent-%d:1", i)).Env("SET", strconv.Itoa(i))
		if i%10 == 0 {
			sc = sc.ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{CPU: &sidecarsv1alpha1.ResourceRule{Percent: 10, Min: ptrQ("10m")},
				Memory: &sidecarsv1alpha1.ResourceRule{Percent: 20, Max: ptrQ("256Mi")}})
		}
		if i%5 == 0 {
			w = w.Volume(utiltesting.EmptyDir("agent-data")).PodMetadata(map[string]string{"agent": "on"}, map[string]string{"agent/set": strconv.Itoa(i)})
			sc = sc.Mount("agent-data", "/data")
		}
		out = append(out, inject.SourceOf(w.Sidecar(sc.Obj()).Obj()))
	}
	return out
}

func ptrQ(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}
