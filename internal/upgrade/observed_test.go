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
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

func TestPlannerPod(t *testing.T) {
	v2 := targetOf(meshV2)
	pod := func(changes ...podChange) *corev1.Pod {
		return apply(injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1), onV1,
			[]podChange{podCondition(corev1.PodReady, corev1.ConditionTrue, time.Hour, "", "")}, changes)
	}
	record := &sidecarsv1alpha1.InjectionRecord{Revision: "mesh-v1"}
	tests := map[string]struct {
		observed   Observed
		begun      bool
		backingOff bool
		// spec and target are meshV2's when unset.
		spec   revision.Spec
		target Target
		want   Pod
	}{
		"containers and every gate ready, the kubelet not yet reporting Ready: counted ready, not for the budget": {
			observed: Observed{Pod: pod(func(p *corev1.Pod) {
				apply(p, []podChange{
					podCondition(corev1.PodReady, corev1.ConditionFalse, time.Second, "", ""),
					podCondition(corev1.ContainersReady, corev1.ConditionTrue, time.Second, "", ""),
					podCondition(sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue, 0, "", ""),
				})
			}), Record: record},
			want: Pod{Key: "ns/web", CountedReady: true, Record: record},
		},
		"a gate False: not counted ready": {
			observed: Observed{Pod: pod(func(p *corev1.Pod) {
				apply(p, []podChange{
					podCondition(corev1.PodReady, corev1.ConditionFalse, time.Second, "", ""),
					podCondition(corev1.ContainersReady, corev1.ConditionTrue, time.Second, "", ""),
					podCondition(sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionFalse, 0, "", ""),
				})
			}), Record: record},
			want: Pod{Key: "ns/web", Record: record},
		},
		"a pod whose writes fail is backing off": {
			observed:   Observed{Pod: pod(), Record: record},
			backingOff: true,
			want:       Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, BackingOff: true},
		},
		"a ready pod with no state": {
			observed: Observed{Pod: pod(), Record: record},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record},
		},
		"a pod the set never injected, seen as metadata only": {
			observed: Observed{Meta: &metav1.ObjectMeta{Name: "web", Namespace: "ns"}},
			want:     Pod{Key: "ns/web"},
		},
		"an upgrade this process began that the cache does not show counts as upgrading": {
			observed: Observed{Pod: pod(), Record: record},
			begun:    true,
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, Upgrading: true},
		},
		"this set's state in flight": {
			observed: Observed{Pod: pod(), Record: record, State: proxyToV2()},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, Upgrading: true},
		},
		"this set's failed state for the target": {
			observed: Observed{Pod: pod(), Record: record, State: stateFor(meshV2, failedWith("x"))},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, Failed: true},
		},
		"this set's failed state for an older target is driven again": {
			observed: Observed{Pod: pod(), Record: record, State: stateFor(meshV1_5, failedWith("x"))},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, Upgrading: true},
		},
		"another set's failed state holds the pod": {
			observed: Observed{Pod: pod(), Record: record, State: stateFor(meshV2, otherSet, failedWith("x"))},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, HeldBy: "other"},
		},
		"another set's upgrade in flight holds the pod and drains it": {
			observed: Observed{Pod: pod(), Record: record, State: stateFor(meshV2, otherSet)},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, HeldBy: "other"},
		},
		"a pod at the target whose app was resized in place has drifted": {
			observed: Observed{Pod: apply(injected(t, appWithOneCPU(), perApp), onV1,
				[]podChange{podCondition(corev1.PodReady, corev1.ConditionTrue, time.Hour, "", ""), appRequests(resourceList("2", ""))}),
				Record: &sidecarsv1alpha1.InjectionRecord{Revision: targetOf(perApp).Revision}},
			spec: revision.SpecOf(perApp), target: targetOf(perApp),
			want: Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: &sidecarsv1alpha1.InjectionRecord{Revision: targetOf(perApp).Revision}, Drifted: true},
		},
		"a completed pod is finished": {
			observed: Observed{Pod: pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), Record: record},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, Finished: true},
		},
		"a failed pod is finished": {
			observed: Observed{Pod: pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), Record: record},
			want:     Pod{Key: "ns/web", Ready: true, CountedReady: true, Record: record, Finished: true},
		},
		"a terminating pod owned by a ReplicaSet": {
			observed: Observed{Pod: pod(func(p *corev1.Pod) {
				p.DeletionTimestamp = &metav1.Time{Time: now}
				p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1", Controller: new(true)}}
			}), Record: record},
			want: Pod{Key: "ns/web", Workload: "ns/ReplicaSet/web-1", Ready: true, CountedReady: true, Record: record, Terminating: true},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := tc.observed
			if o.Meta == nil {
				o.Meta = &o.Pod.ObjectMeta
			}
			if o.Pod != nil {
				o.Records = mustRecords(t, o.Pod) // as the controller's memo parses them
			}
			spec, target := tc.spec, tc.target
			if spec.Containers == nil {
				spec, target = revision.SpecOf(meshV2), v2
			}
			got := PlannerPod("mesh", target, spec, o, tc.begun, tc.backingOff)
			got.Labels = nil
			if tc.want.Workload == "" {
				tc.want.Workload = "ns/Pod/web" // a pod without a controller is its own workload
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PlannerPod (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeepPod(t *testing.T) {
	member := Membership{SetExists: true, Selected: true}
	gone := Membership{}
	left := Membership{SetExists: true}
	tests := map[string]struct {
		changes []podChange
		state   *State
		member  Membership
		want    Upkeep
	}{
		"new pod, sidecars ready, gate not yet set: gate True": {
			changes: []podChange{noCondition(sidecarsv1alpha1.SidecarsReadyCondition)},
			want:    Upkeep{GateTrue: true, Reason: "SidecarsReady"},
		},
		"new pod, sidecars not ready yet: nothing": {
			changes: []podChange{noCondition(sidecarsv1alpha1.SidecarsReadyCondition), running("proxy", proxyIDv1, false)},
			want:    Upkeep{},
		},
		"gate already True: nothing": {},
		"upgrade in flight: the rollout owns the gate": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Second)},
			state:   proxyToV2(),
			member:  member,
			want:    Upkeep{},
		},
		"failed upgrade, sidecars ready: gate True": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Hour)},
			state:   proxyToV2(isSwapped, failedWith("x")),
			member:  member,
			want:    Upkeep{GateTrue: true, Reason: "SidecarsReady"},
		},
		"failed upgrade, a sidecar not ready: gate stays": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Hour), proxyPullFails()},
			state:   proxyToV2(isSwapped, failedWith("x")),
			member:  member,
			want:    Upkeep{},
		},
	}
	// A pod leaving its set is let go at each step of its upgrade.
	for step, st := range map[string]*State{
		"begun": proxyToV2(), "swapped": proxyToV2(isSwapped), "failed": proxyToV2(isSwapped, failedWith("x")),
	} {
		tests["set deleted, "+step+": state cleared, gate True"] = struct {
			changes []podChange
			state   *State
			member  Membership
			want    Upkeep
		}{
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Second), proxyPullFails()},
			state:   st, member: gone,
			want: Upkeep{ClearState: true, GateTrue: true, Reason: sidecarsv1alpha1.ReasonLeftSidecarSet,
				Message: "SidecarSet mesh was deleted while it upgraded the pod; the upgrade was abandoned."},
		}
		tests["no longer selected, "+step+": state cleared, gate True"] = struct {
			changes []podChange
			state   *State
			member  Membership
			want    Upkeep
		}{
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Second)},
			state:   st, member: left,
			want: Upkeep{ClearState: true, GateTrue: true, Reason: sidecarsv1alpha1.ReasonLeftSidecarSet,
				Message: "SidecarSet mesh no longer selects the pod; its upgrade was abandoned."},
		}
	}
	tests["no longer selected before the drain: state cleared, gate already True"] = struct {
		changes []podChange
		state   *State
		member  Membership
		want    Upkeep
	}{
		state: proxyToV2(), member: left,
		want: Upkeep{ClearState: true, Reason: sidecarsv1alpha1.ReasonLeftSidecarSet,
			Message: "SidecarSet mesh no longer selects the pod; its upgrade was abandoned."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pod := apply(injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1), onV1, tc.changes)
			if got := KeepPod(pod, tc.state, tc.member); !gocmp.Equal(tc.want, got) {
				t.Errorf("KeepPod (-want +got):\n%s", gocmp.Diff(tc.want, got))
			}
		})
	}
}

func TestKeepPodWithoutReadinessGate(t *testing.T) {
	pod := apply(injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1NoGate), onV1)
	if got := KeepPod(pod, proxyToV2(), Membership{}); !gocmp.Equal(Upkeep{ClearState: true, Reason: sidecarsv1alpha1.ReasonLeftSidecarSet,
		Message: "SidecarSet mesh was deleted while it upgraded the pod; the upgrade was abandoned."}, got) {
		t.Errorf("KeepPod on a pod without the gate = %+v, want the state cleared and no gate", got)
	}
}

func TestSameImage(t *testing.T) {
	tests := []struct {
		reported, spec string
		want           bool
	}{
		{"example.com/proxy:v2", "example.com/proxy:v2", true},
		{"", "example.com/proxy:v2", true},
		{"docker.io/library/busybox:latest", "busybox", true},
		{"docker.io/library/busybox:1.36", "busybox:1.36", true},
		{"docker.io/team/proxy:v2", "team/proxy:v2", true},
		{"sha256:0123", "example.com/proxy:v2", true},
		{"localhost:5000/proxy:v2", "localhost:5000/proxy:v2", true},
		{"example.com/proxy:v1", "example.com/proxy:v2", false},
		{"docker.io/library/busybox:1.35", "busybox:1.36", false},
		{"example.com/proxy@sha256:aaaa", "example.com/proxy@sha256:bbbb", false},
	}
	for _, tc := range tests {
		if got := SameImage(tc.reported, tc.spec); got != tc.want {
			t.Errorf("SameImage(%q, %q) = %v, want %v", tc.reported, tc.spec, got, tc.want)
		}
	}
}

func TestKubeletWarnings(t *testing.T) {
	event := func(typ, fieldPath, msg string, ago time.Duration) corev1.Event {
		return corev1.Event{Type: typ, Message: msg, LastTimestamp: metav1.NewTime(now.Add(-ago)),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: fieldPath}}
	}
	long := strings.Repeat("x", 400)
	events := []corev1.Event{
		event(corev1.EventTypeWarning, "spec.initContainers{proxy}", "Failed to pull image: connection refused", 30*time.Second),
		event(corev1.EventTypeWarning, "spec.initContainers{proxy}", "Error: ImagePullBackOff", time.Second),
		event(corev1.EventTypeWarning, "spec.initContainers{proxy}", "Error: ImagePullBackOff", 10*time.Second),
		event(corev1.EventTypeNormal, "spec.initContainers{proxy}", "Pulling image", 2*time.Second),
		event(corev1.EventTypeWarning, "spec.containers{app}", "Back-off restarting failed container", time.Second),
		event(corev1.EventTypeWarning, "spec.initContainers{agent}", long, time.Second),
	}
	tests := map[string]struct {
		containers []string
		want       string
	}{
		"the proxy's warnings, newest first, each once": {
			containers: []string{"proxy"},
			want:       "the kubelet reports for container proxy: Error: ImagePullBackOff; Failed to pull image: connection refused",
		},
		"a long message is cut": {
			containers: []string{"agent"},
			want:       "the kubelet reports for container agent: " + strings.Repeat("x", 300) + "...",
		},
		"nothing said of the container": {containers: []string{"logger"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := KubeletWarnings(events, tc.containers); got != tc.want {
				t.Errorf("KubeletWarnings = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetsToWake(t *testing.T) {
	records := func(revs map[string]string) string {
		r := sidecarsv1alpha1.InjectionRecords{}
		for set, rev := range revs {
			r[set] = sidecarsv1alpha1.InjectionRecord{Revision: rev, Containers: []string{set + "-c"}}
		}
		return r.String()
	}
	ready := func(s corev1.ConditionStatus) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: s}} }
	}
	base := func(edits ...func(*corev1.Pod)) *corev1.Pod {
		p := testingutil.MakePod("web", "ns").
			Annotation(sidecarsv1alpha1.InjectedAnnotation, records(map[string]string{"a": "a-1", "b": "b-1"})).
			Containers(corev1.Container{Name: "app", Image: "app:v1"}).Obj()
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 0}}
		ready(corev1.ConditionTrue)(p)
		for _, e := range edits {
			e(p)
		}
		return p
	}
	upgradingBy := func(set string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = (&State{Set: set, Revision: set + "-2"}).String()
		}
	}
	tests := map[string]struct {
		old, new *corev1.Pod
		// rolling names the sets with a rollout in progress.
		rolling []string
		want    []string
	}{
		"a kubelet report of a pod nobody upgrades (a restart count): no set": {
			old: base(), new: base(func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = 1 }),
		},
		"a kubelet report of a pod set a upgrades: a only": {
			old: base(upgradingBy("a")), new: base(upgradingBy("a"), func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = 1 }),
			want: []string{"a"},
		},
		"the state cleared at the end of a's upgrade, with a's record: a only": {
			old: base(upgradingBy("a")),
			new: base(func(p *corev1.Pod) {
				p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = records(map[string]string{"a": "a-2", "b": "b-1"})
			}),
			want: []string{"a"},
		},
		"a's drain makes the pod not ready: a only (b counts a pod another set drains as ready)": {
			old: base(upgradingBy("a")), new: base(upgradingBy("a"), ready(corev1.ConditionFalse)),
			want: []string{"a"},
		},
		"a's upgrade failed, the pod is not ready: every set": {
			old: base(upgradingBy("a"), ready(corev1.ConditionFalse)),
			new: base(upgradingBy("a"), ready(corev1.ConditionFalse), func(p *corev1.Pod) {
				p.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = (&State{Set: "a", Revision: "a-2", Failed: "image never started"}).String()
			}),
			want: []string{"a", "b"},
		},
		"a's upgrade finished, the kubelet not yet reporting Ready: a only": {
			old: base(upgradingBy("a"), ready(corev1.ConditionFalse)),
			new: base(func(p *corev1.Pod) {
				p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = records(map[string]string{"a": "a-2", "b": "b-1"})
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}}
				p.Status.Conditions = []corev1.PodCondition{
					{Type: corev1.PodReady, Status: corev1.ConditionFalse},
					{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
					{Type: sidecarsv1alpha1.SidecarsReadyCondition, Status: corev1.ConditionTrue},
				}
			}),
			want: []string{"a"},
		},
		"the kubelet reports Ready after a's upgrade finished: a set rolling out (its budget counts Ready), no other": {
			old: base(ready(corev1.ConditionFalse), func(p *corev1.Pod) {
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}}
				p.Status.Conditions = append(p.Status.Conditions,
					corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
					corev1.PodCondition{Type: sidecarsv1alpha1.SidecarsReadyCondition, Status: corev1.ConditionTrue})
			}),
			new: base(func(p *corev1.Pod) {
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}}
				p.Status.Conditions = append(p.Status.Conditions,
					corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
					corev1.PodCondition{Type: sidecarsv1alpha1.SidecarsReadyCondition, Status: corev1.ConditionTrue})
			}),
			rolling: []string{"a"},
			want:    []string{"a"},
		},
		"readiness changed, nobody upgrades the pod: every set": {
			old: base(), new: base(ready(corev1.ConditionFalse)),
			want: []string{"a", "b"},
		},
		"a label changed: every set": {
			old: base(), new: base(func(p *corev1.Pod) { p.Labels = map[string]string{"tier": "gold"} }),
			want: []string{"a", "b"},
		},
		"the app resized: every set (resourcesPolicy follows the app)": {
			old: base(), new: base(func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
			}),
			want: []string{"a", "b"},
		},
		"the kubelet reports resized resources: every set": {
			old: base(), new: base(func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
			}),
			want: []string{"a", "b"},
		},
		"the pod is being deleted: every set": {
			old: base(), new: base(func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)} }),
			want: []string{"a", "b"},
		},
		"a set's record dropped: that set": {
			old: base(), new: base(func(p *corev1.Pod) {
				p.Annotations[sidecarsv1alpha1.InjectedAnnotation] = records(map[string]string{"b": "b-1"})
			}),
			want: []string{"a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := gocmp.Diff(tc.want, SetsToWake(tc.old, tc.new, mustRecords(t, tc.old), mustRecords(t, tc.new), func(set string) bool { return slices.Contains(tc.rolling, set) }), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("SetsToWake (-want +got):\n%s", diff)
			}
		})
	}
}
