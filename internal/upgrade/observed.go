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

package upgrade

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// Observed is one pod a SidecarSet selects, as the controller read it.
type Observed struct {
	// Meta is the pod's metadata; always set.
	Meta *metav1.ObjectMeta
	// Pod is the whole pod; nil for a pod the set never injected (read as metadata only).
	Pod *corev1.Pod
	// Record is the set's injection record on the pod; nil when it never injected it.
	Record *sidecarsv1alpha1.InjectionRecord
	// Records are every set's records on the pod, parsed once (shared: read only).
	Records sidecarsv1alpha1.InjectionRecords
	// State is the pod's upgrade state, whichever set wrote it; nil when none.
	State *State
}

// PlannerPod is what the planner needs to know of o for the set named set moving to
// target. begun says this process began the set's upgrade of the pod and the cache
// may not show it yet: the pod is counted as upgrading, so a stale cache cannot make a
// pass start more pods than the budget allows.
//
// backingOff says a write to the pod failed and is retried later (Backoff).
//
// spec is the target's spec: a pod at the target whose resourcesPolicy sidecars drifted
// from its app (Drift) is a candidate for a resize.
func PlannerPod(set string, target Target, spec revision.Spec, o Observed, begun, backingOff bool) Pod {
	p := Pod{
		Key:         o.Meta.Namespace + "/" + o.Meta.Name,
		Workload:    Workload(o.Meta),
		Labels:      o.Meta.Labels,
		Record:      o.Record,
		Terminating: o.Meta.DeletionTimestamp != nil,
		Upgrading:   begun,
		BackingOff:  backingOff,
	}
	if o.Pod != nil {
		p.Ready = podReady(o.Pod)
		p.CountedReady = countedReady(o.Pod, o.State, set)
		p.Finished = o.Pod.Status.Phase == corev1.PodSucceeded || o.Pod.Status.Phase == corev1.PodFailed
		p.Drifted = o.State == nil && !p.Finished && !p.Terminating && Classify(o.Record, target) == ClassUpToDate &&
			len(Drift(o.Pod, o.Records, set, spec)) > 0
	}
	switch s := o.State; {
	case s == nil:
	case s.Set != set:
		p.HeldBy = s.Set
	case s.Failed != "" && s.Targets(target):
		p.Failed, p.Upgrading = true, false
		p.UnavailableBefore = s.UnavailableBefore
	default:
		// In flight, or failed for another target: driven again, to the target.
		p.Upgrading = true
		p.UnavailableBefore = s.UnavailableBefore
	}
	return p
}

// Memory is what the controller remembers of its own writes that the cache may not
// show yet, and of the pods whose writes fail.
type Memory interface {
	// Pending says an upgrade this process began is still to be counted: the cache
	// does not show it yet (cacheShows false).
	Pending(set, pod string, cacheShows bool, now time.Time) bool
	// Stale says the cached copy at resourceVersion predates a write of this process.
	Stale(set, pod, resourceVersion string, now time.Time) bool
	// Waiting says a write to the pod failed and it waits for its retry.
	Waiting(set, pod string, now time.Time) bool
	// Disruption is why a PodDisruptionBudget held the pod's drain, while the pod waits
	// for its retry because of it; "" otherwise.
	Disruption(set, pod string, now time.Time) string
	// Settling says an upgrade this process finished, of a pod that was Ready when it
	// began, is yet to see the pod Ready again (ready false).
	Settling(set, pod string, ready bool, now time.Time) bool
}

// PlannerPods is what the planner needs of each observed pod; awaitingCache holds the
// pods whose cached copy predates this process's last write to them (driving them
// would only conflict): not driven now. Those whose upgrade began and the cache does
// not show yet are also counted as upgrading.
func PlannerPods(set string, target Target, spec revision.Spec, pods map[string]Observed, mem Memory,
	now time.Time) (out []Pod, awaitingCache map[string]bool) {
	out = make([]Pod, 0, len(pods))
	awaitingCache = map[string]bool{}
	for key, o := range pods {
		cacheShows := o.State != nil && o.State.Set == set || Classify(o.Record, target) == ClassUpToDate
		pending := mem.Pending(set, key, cacheShows, now)
		if pending || o.Pod != nil && mem.Stale(set, key, o.Pod.ResourceVersion, now) {
			awaitingCache[key] = true
		}
		p := PlannerPod(set, target, spec, o, pending, mem.Waiting(set, key, now))
		if p.BackingOff {
			p.DisruptionBlocked = mem.Disruption(set, key, now)
		}
		p.Settling = mem.Settling(set, key, p.Ready, now)
		out = append(out, p)
	}
	return out, awaitingCache
}

// Workload names the workload a pod belongs to, for its maxUnavailable budget:
// "namespace/Kind/name" of its controller, with a ReplicaSet a Deployment created
// (named after the Deployment and the pod-template-hash its pods carry) standing for
// that Deployment, so a Deployment's own rollout does not split its budget in two; and
// "namespace/Pod/name" for a pod without a controller, a workload of its own.
func Workload(m *metav1.ObjectMeta) string {
	ref := metav1.GetControllerOfNoCopy(m)
	if ref == nil {
		return m.Namespace + "/Pod/" + m.Name
	}
	kind, name := ref.Kind, ref.Name
	if hash := m.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; kind == "ReplicaSet" && hash != "" &&
		strings.HasPrefix(ref.APIVersion, "apps/") && strings.HasSuffix(name, "-"+hash) {
		kind, name = "Deployment", strings.TrimSuffix(name, "-"+hash)
	}
	return m.Namespace + "/" + kind + "/" + name
}

// Membership is whether a pod still belongs to the SidecarSet named in its upgrade
// state, as the pod-level reconciler found out.
type Membership struct {
	// SetExists says the set exists and is not being deleted.
	SetExists bool
	// Selected says the set's selectors select the pod, no opt-out excludes it, and the
	// pod is labelled injected and records the set.
	Selected bool
}

// Upkeep is what the pod-level reconciler writes to one injected pod.
type Upkeep struct {
	// ClearState removes the upgrade state of a set the pod no longer belongs to.
	ClearState bool
	// GateTrue sets the sidecars-ready condition True.
	GateTrue bool
	// Reason and Message go with the condition.
	Reason, Message string
}

// KeepPod decides the pod-level upkeep of an injected pod: the readiness gate goes True
// as soon as the sidecars are ready unless an upgrade is in flight, and a pod whose
// upgrading set was deleted, or no longer selects it, is let go: its state is cleared
// and its gate set True, whatever step it was at (the kubelet's own readiness of the
// containers still decides whether the pod is Ready). A failed upgrade does not hold the
// gate: its pod is as ready as its containers.
func KeepPod(pod *corev1.Pod, state *State, member Membership) Upkeep {
	gate := HasReadinessGate(pod)
	gateTrue := gate && HasCondition(pod, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue)
	switch {
	case state != nil && !member.SetExists:
		return Upkeep{ClearState: true, GateTrue: gate && !gateTrue, Reason: sidecarsv1alpha1.ReasonLeftSidecarSet,
			Message: fmt.Sprintf("SidecarSet %s was deleted while it upgraded the pod; the upgrade was abandoned.", state.Set)}
	case state != nil && !member.Selected:
		return Upkeep{ClearState: true, GateTrue: gate && !gateTrue, Reason: sidecarsv1alpha1.ReasonLeftSidecarSet,
			Message: fmt.Sprintf("SidecarSet %s no longer selects the pod; its upgrade was abandoned.", state.Set)}
	case state != nil && state.Failed == "":
		return Upkeep{} // the set's rollout owns the gate until the upgrade ends
	case gate && !gateTrue && SidecarsReady(pod):
		return Upkeep{GateTrue: true, Reason: "SidecarsReady"}
	}
	return Upkeep{}
}

// NotUpgradable is why a pod's sidecars-upgradable condition is False.
type NotUpgradable struct {
	Reason, Message string
}

// UpgradableCondition is what the sidecars-upgradable condition of a pod of class
// should say when the rollout does not drive it: nil for True (the set can reach it in
// place, or it is there), or why not.
func UpgradableCondition(set *sidecarsv1alpha1.SidecarSet, target Target, class Class) *NotUpgradable {
	if class != ClassNotUpgradable {
		return nil
	}
	evicting := ""
	if set.Spec.UpdateStrategy.EffectiveOnImmutableChange() == sidecarsv1alpha1.ImmutableChangeEvict {
		evicting = " (onImmutableChange: Evict)"
	}
	return &NotUpgradable{Reason: "ImmutableChange", Message: fmt.Sprintf(
		"SidecarSet %s changed more than images and resources (revision %s); the pod gets it when it is recreated%s.",
		set.Name, target.Revision, evicting)}
}

// SetsToWake names the SidecarSets whose pass an update of an injected pod from old to
// new concerns. The set upgrading the pod (in either version's state) always: each
// kubelet report may move its upgrade on. A set recorded on the pod when its own record
// changed, when the pod's readiness as that set counts it changed (a drain by another
// set's upgrade in flight does not count), or when what every set's status and plan
// read changed — labels, other annotations, deletion, phase, the containers' images and
// resources, the resources the kubelet reports — so the many steps of one set's rollout
// do not bring a pass of every set sharing its pods. A set rolling out (rolling says
// which) also when the pod's Ready changed: its budget counts Ready only.
func SetsToWake(old, new *corev1.Pod, oldRecords, newRecords sidecarsv1alpha1.InjectionRecords, rolling func(set string) bool) []string {
	var names []string
	add := func(name string) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	oldState, _ := ParseState(old)
	newState, _ := ParseState(new)
	for _, s := range []*State{oldState, newState} {
		if s != nil {
			add(s.Set)
		}
	}
	all := concernsEverySet(old, new)
	for _, records := range []sidecarsv1alpha1.InjectionRecords{oldRecords, newRecords} {
		for _, name := range slices.Sorted(maps.Keys(records)) {
			o, inOld := oldRecords[name]
			n, inNew := newRecords[name]
			if all || inOld != inNew || !equality.Semantic.DeepEqual(o, n) ||
				countedReady(old, oldState, name) != countedReady(new, newState, name) ||
				podReady(old) != podReady(new) && rolling(name) {
				add(name)
			}
		}
	}
	return names
}

// countedReady is whether set counts pod as ready (Pod.CountedReady).
func countedReady(pod *corev1.Pod, state *State, set string) bool {
	return podReady(pod) || readyOnceReported(pod) || state != nil && state.Set != set && state.Failed == ""
}

// readyOnceReported says the pod's containers and every readiness gate are ready, so
// the kubelet is about to report it Ready (Ready is exactly their conjunction).
func readyOnceReported(pod *corev1.Pod) bool {
	if !HasCondition(pod, corev1.ContainersReady, corev1.ConditionTrue) {
		return false
	}
	for _, g := range pod.Spec.ReadinessGates {
		if !HasCondition(pod, g.ConditionType, corev1.ConditionTrue) {
			return false
		}
	}
	return true
}

func concernsEverySet(old, new *corev1.Pod) bool {
	otherAnnotations := func(m map[string]string) map[string]string {
		out := maps.Clone(m)
		delete(out, sidecarsv1alpha1.InjectedAnnotation)
		delete(out, sidecarsv1alpha1.UpgradeAnnotation)
		return out
	}
	switch {
	case !maps.Equal(old.Labels, new.Labels), !maps.Equal(otherAnnotations(old.Annotations), otherAnnotations(new.Annotations)),
		!old.DeletionTimestamp.Equal(new.DeletionTimestamp), old.Status.Phase != new.Status.Phase:
		return true
	}
	for _, lists := range [][2][]corev1.Container{{old.Spec.InitContainers, new.Spec.InitContainers}, {old.Spec.Containers, new.Spec.Containers}} {
		if !slices.EqualFunc(lists[0], lists[1], func(a, b corev1.Container) bool {
			return a.Name == b.Name && a.Image == b.Image && equality.Semantic.DeepEqual(a.Resources, b.Resources)
		}) {
			return true
		}
	}
	for _, lists := range [][2][]corev1.ContainerStatus{
		{old.Status.InitContainerStatuses, new.Status.InitContainerStatuses}, {old.Status.ContainerStatuses, new.Status.ContainerStatuses},
	} {
		if !slices.EqualFunc(lists[0], lists[1], func(a, b corev1.ContainerStatus) bool {
			return a.Name == b.Name && equality.Semantic.DeepEqual(a.Resources, b.Resources)
		}) {
			return true
		}
	}
	return false
}
