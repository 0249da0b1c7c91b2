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

package inject

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// trustedRecords are the entries of the pod's injection record that Inject itself
// wrote for the current sources, in an earlier invocation of the same request
// (reinvocationPolicy IfNeeded) or in the pod this one was copied from. Whatever else a
// request carries under Outrigger's keys is somebody else's writing and is dropped: a
// record naming a set must not stand in for that set's sidecars.
//
// An entry is trusted when it names a source, carries exactly the source's revision and
// hashes, accounts for each of the source's containers once (injected or overridden),
// every container it says was injected sits where the set's mode puts it and is, field
// for field, what injecting the source into this pod builds (injectedInFull), every
// container it says was overridden is in the pod, and everything else the set adds —
// volumes, pull secrets, podMetadata keys — is there, each volume as the set declares
// it. The API server's defaults are applied to both sides of the comparison first
// (normalContainer); a sidecar's resources from resourcesPolicy are not compared, as
// pod-level resources may have lowered them.
func trustedRecords(pod *corev1.Pod, sources []Source) sidecarsv1alpha1.InjectionRecords {
	trusted := sidecarsv1alpha1.InjectionRecords{}
	claimed, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		return trusted
	}
	// The app containers the set's derived fields (resourcesPolicy, shareVolumes,
	// transferEnv) read, by what the request claims: a claim that moves a container in
	// or out of the app changes what those fields make, and so is not trusted.
	app := AppContainers(pod, claimed)
	for _, src := range sources {
		rec, ok := claimed[src.Set.Name]
		if ok && recordMatches(pod, src, rec) && injectedInFull(pod, src, rec, app) {
			// What the rollout resized in place is the rollout's to say, on a running
			// pod: a pod being created runs what its spec says.
			rec.Resized = nil
			trusted[src.Set.Name] = rec
		}
	}
	return trusted
}

func recordMatches(pod *corev1.Pod, src Source, rec sidecarsv1alpha1.InjectionRecord) bool {
	if rec.Revision != src.Revision || rec.Hash != src.Hash || rec.ImageFreeHash != src.ImageFreeHash {
		return false
	}
	injected, overridden := sets.New(rec.Containers...), sets.New(rec.Overridden...)
	if injected.Len() != len(rec.Containers) || overridden.Len() != len(rec.Overridden) ||
		injected.Len()+overridden.Len() != len(src.Spec.InitContainers)+len(src.Spec.Containers) ||
		injected.HasAny(rec.Overridden...) {
		return false
	}
	present := containerNames(pod)
	for _, name := range rec.Overridden {
		if !present.Has(name) {
			return false
		}
	}
	if !volumesMatch(pod, src, rec) {
		return false
	}
	for _, ic := range src.Spec.InitContainers {
		if !injected.Has(ic.Name) && !overridden.Has(ic.Name) {
			return false
		}
		if injected.Has(ic.Name) && !hasContainer(pod.Spec.InitContainers, &ic, nil) {
			return false
		}
	}
	for i := range src.Spec.Containers {
		sc := &src.Spec.Containers[i]
		if !injected.Has(sc.Name) && !overridden.Has(sc.Name) {
			return false
		}
		if !injected.Has(sc.Name) {
			continue
		}
		if sc.EffectiveMode() == sidecarsv1alpha1.SidecarModeNative {
			if !hasContainer(pod.Spec.InitContainers, &sc.Container, ptr.To(corev1.ContainerRestartPolicyAlways)) {
				return false
			}
		} else if !hasContainer(pod.Spec.Containers, &sc.Container, nil) {
			return false
		}
	}
	return true
}

// volumesMatch says whether rec's overriddenVolumes are the set's volumes the pod has,
// each once, and a Required set's record overrides nothing.
func volumesMatch(pod *corev1.Pod, src Source, rec sidecarsv1alpha1.InjectionRecord) bool {
	if src.Set.Spec.Injection.IsRequired() && len(rec.Overridden)+len(rec.OverriddenVolumes) > 0 {
		return false
	}
	kept := sets.New(rec.OverriddenVolumes...)
	if kept.Len() != len(rec.OverriddenVolumes) {
		return false
	}
	for _, name := range rec.OverriddenVolumes {
		if !slices.ContainsFunc(src.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name }) ||
			!slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name }) {
			return false
		}
	}
	return true
}

// injectedInFull says whether the pod holds, field for field, what injecting src builds
// of each container rec says was injected, and the set's volumes (but those rec says
// the pod overrode), pull secrets and podMetadata keys.
func injectedInFull(pod *corev1.Pod, src Source, rec sidecarsv1alpha1.InjectionRecord, app []corev1.Container) bool {
	injected := sets.New(rec.Containers...)
	// The overrides are the pod's annotations' as injecting reads them now, for the
	// containers injected, and the record says so.
	overrides, err := podOverrides(pod, src)
	if err != nil {
		return false
	}
	maps.DeleteFunc(overrides, func(name string, _ sidecarsv1alpha1.ContainerOverrides) bool { return !injected.Has(name) })
	if len(overrides) != len(rec.Overrides) || (len(overrides) > 0 && !equality.Semantic.DeepEqual(overrides, rec.Overrides)) {
		return false
	}
	same := func(list []corev1.Container, want *corev1.Container, policy bool) bool {
		i := slices.IndexFunc(list, func(c corev1.Container) bool { return c.Name == want.Name })
		if i < 0 {
			return false
		}
		got := normalContainer(&list[i])
		want = normalContainer(want)
		if policy {
			want.Resources = got.Resources
		}
		return equality.Semantic.DeepEqual(got, want)
	}
	for i := range src.Spec.InitContainers {
		if ic := &src.Spec.InitContainers[i]; injected.Has(ic.Name) && !same(pod.Spec.InitContainers, ic, false) {
			return false
		}
	}
	pc := podContext{app: app, restart: pod.Spec.RestartPolicy, drainSeconds: src.Set.Spec.UpdateStrategy.Drain.EffectiveSeconds()}
	for i := range src.Spec.Containers {
		sc := &src.Spec.Containers[i]
		if !injected.Has(sc.Name) {
			continue
		}
		want := build(sc, pc)
		ApplyOverrides(&want, overrides[sc.Name])
		list := pod.Spec.Containers
		if sc.EffectiveMode() == sidecarsv1alpha1.SidecarModeNative {
			list = pod.Spec.InitContainers
		}
		if !same(list, &want, sc.ResourcesPolicy != nil) {
			return false
		}
	}
	for i := range src.Spec.Volumes {
		v := &src.Spec.Volumes[i]
		if slices.Contains(rec.OverriddenVolumes, v.Name) {
			continue
		}
		j := slices.IndexFunc(pod.Spec.Volumes, func(p corev1.Volume) bool { return p.Name == v.Name })
		if j < 0 || !equality.Semantic.DeepEqual(normalVolume(&pod.Spec.Volumes[j]), normalVolume(v)) {
			return false
		}
	}
	for _, ps := range src.Spec.ImagePullSecrets {
		if !slices.Contains(pod.Spec.ImagePullSecrets, ps) {
			return false
		}
	}
	if md := src.Spec.PodMetadata; md != nil {
		for k := range md.Labels {
			if _, ok := pod.Labels[k]; !ok {
				return false
			}
		}
		for k := range md.Annotations {
			if _, ok := pod.Annotations[k]; !ok {
				return false
			}
		}
	}
	return true
}

// hasContainer says whether list holds want's name with want's image, command and
// arguments, and the restart policy Inject gives it.
func hasContainer(list []corev1.Container, want *corev1.Container, restart *corev1.ContainerRestartPolicy) bool {
	i := slices.IndexFunc(list, func(c corev1.Container) bool { return c.Name == want.Name })
	if i < 0 {
		return false
	}
	c := &list[i]
	return c.Image == want.Image && slices.Equal(c.Command, want.Command) && slices.Equal(c.Args, want.Args) &&
		ptr.Equal(c.RestartPolicy, restart)
}

// clearOwnedMetadata removes from a pod being created what only Outrigger writes: the
// injection record and label (Inject writes them again from the trusted entries and
// what it injects) and the upgrade state (a pod being created has no upgrade in
// flight). The readiness gate is settled by settleReadinessGate.
func clearOwnedMetadata(pod *corev1.Pod) {
	delete(pod.Annotations, sidecarsv1alpha1.InjectedAnnotation)
	delete(pod.Annotations, sidecarsv1alpha1.UpgradeAnnotation)
	delete(pod.Labels, sidecarsv1alpha1.InjectedLabel)
}

// settleReadinessGate keeps Outrigger's readiness gate on the pod exactly when a set
// recorded on it wants one.
func settleReadinessGate(pod *corev1.Pod, records sidecarsv1alpha1.InjectionRecords, sources []Source) {
	want := slices.ContainsFunc(sources, func(s Source) bool {
		_, ok := records[s.Set.Name]
		return ok && s.Set.Spec.UpdateStrategy.Drain.ReadinessGateEnabled()
	})
	gate := corev1.PodReadinessGate{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}
	has := slices.Contains(pod.Spec.ReadinessGates, gate)
	switch {
	case want && !has:
		pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, gate)
	case !want && has:
		pod.Spec.ReadinessGates = slices.DeleteFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g == gate })
		if len(pod.Spec.ReadinessGates) == 0 {
			pod.Spec.ReadinessGates = nil
		}
	}
}
