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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

// The target is revision v2. Pods injected from v1 differ only in images (in place);
// pods injected from v0 differ in something else (not upgradable).
var (
	target     = Target{Revision: "proxy-v2", Hash: "h2", ImageFreeHash: "f1"}
	recordV2   = sidecarsv1alpha1.InjectionRecord{Revision: "proxy-v2", Hash: "h2", ImageFreeHash: "f1", Containers: []string{"proxy"}}
	recordV1   = sidecarsv1alpha1.InjectionRecord{Revision: "proxy-v1", Hash: "h1", ImageFreeHash: "f1", Containers: []string{"proxy"}}
	recordV0   = sidecarsv1alpha1.InjectionRecord{Revision: "proxy-v0", Hash: "h0", ImageFreeHash: "f0", Containers: []string{"proxy"}}
	ignoreInfo = cmpopts.IgnoreFields(Plan{}, "Classes", "Counts", "MaxUnavailable", "Holding", "TotalHeld")
)

func withRecord(key string, r sidecarsv1alpha1.InjectionRecord) Pod {
	return Pod{Key: key, Ready: true, CountedReady: true, Record: &r}
}

func upToDate(key string) Pod  { return withRecord(key, recordV2) }
func inPlace(key string) Pod   { return withRecord(key, recordV1) }
func immutable(key string) Pod { return withRecord(key, recordV0) }
func missing(key string) Pod   { return Pod{Key: key, Ready: true, CountedReady: true} }

func notReady(p Pod) Pod       { p.Ready, p.CountedReady = false, false; return p }
func finished(p Pod) Pod       { p.Finished, p.Ready, p.CountedReady = true, false, false; return p }
func failed(p Pod) Pod         { p.Failed = true; return p }
func heldBy(p Pod) Pod         { p.HeldBy = "other"; return p }
func readyAsCounted(p Pod) Pod { p.CountedReady = true; return p }
func backingOff(p Pod) Pod     { p.BackingOff = true; return p }
func drifted(p Pod) Pod        { p.Drifted = true; return p }
func settling(p Pod) Pod       { p.Settling = true; return p }
func unavailableBefore(p Pod) Pod {
	p.UnavailableBefore = true
	return p
}
func pdbBlocked(p Pod) Pod {
	p.BackingOff, p.DisruptionBlocked = true, "PodDisruptionBudget web allows no disruption now"
	return p
}
func ownedBy(p Pod, workload string) Pod {
	p.Workload = workload
	return p
}
func upgrading(p Pod) Pod   { p.Upgrading, p.Ready, p.CountedReady = true, false, false; return p }
func terminating(p Pod) Pod { p.Terminating = true; return p }
func labelled(p Pod, k, v string) Pod {
	p.Labels = map[string]string{k: v}
	return p
}

// many makes n pods keyed ns/p01, ns/p02, ...
func many(n int, build func(string) Pod) []Pod {
	pods := make([]Pod, 0, n)
	for i := 1; i <= n; i++ {
		pods = append(pods, build(fmt.Sprintf("ns/p%02d", i)))
	}
	return pods
}

// keys are ns/pFROM .. ns/pTO, as many names.
func keys(from, to int) []string {
	var ks []string
	for i := from; i <= to; i++ {
		ks = append(ks, fmt.Sprintf("ns/p%02d", i))
	}
	return ks
}

func strategyOf(w *testingutil.SidecarSetWrapper) sidecarsv1alpha1.UpdateStrategy {
	return w.Obj().Spec.UpdateStrategy
}

func set() *testingutil.SidecarSetWrapper { return testingutil.MakeSidecarSet("proxy") }

func maxUnavailable(v intstr.IntOrString) sidecarsv1alpha1.UpdateStrategy {
	return strategyOf(set().MaxUnavailable(v))
}

func paused(s sidecarsv1alpha1.UpdateStrategy) sidecarsv1alpha1.UpdateStrategy {
	s.Paused = true
	return s
}

func total(s sidecarsv1alpha1.UpdateStrategy, n int32) sidecarsv1alpha1.UpdateStrategy {
	s.MaxUnavailableTotal = new(intstr.FromInt32(n))
	return s
}

func canary(s sidecarsv1alpha1.UpdateStrategy, k, v string) sidecarsv1alpha1.UpdateStrategy {
	s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	return s
}

func TestCompute(t *testing.T) {
	// evict is a function, not a shared wrapper: the builder's setters modify it.
	evict := func() *testingutil.SidecarSetWrapper {
		return set().OnImmutableChange(sidecarsv1alpha1.ImmutableChangeEvict)
	}

	cases := map[string]struct {
		strategy sidecarsv1alpha1.UpdateStrategy
		pods     []Pod
		want     Plan
		// wantClasses, when set, is compared with Plan.Classes too.
		wantClasses map[string]Class
	}{
		"zero pods still get a budget of 1": {
			strategy: strategyOf(set()),
			want:     Plan{},
		},
		"all up to date starts nothing": {
			strategy:    strategyOf(set()),
			pods:        []Pod{upToDate("ns/a"), upToDate("ns/b"), upToDate("ns/c")},
			want:        Plan{},
			wantClasses: map[string]Class{"ns/a": ClassUpToDate, "ns/b": ClassUpToDate, "ns/c": ClassUpToDate},
		},
		"image change on 3 ready pods with maxUnavailable 1 starts 1": {
			strategy:    maxUnavailable(intstr.FromInt32(1)),
			pods:        []Pod{inPlace("ns/a"), inPlace("ns/b"), inPlace("ns/c")},
			want:        Plan{Start: []string{"ns/a"}},
			wantClasses: map[string]Class{"ns/a": ClassInPlace, "ns/b": ClassInPlace, "ns/c": ClassInPlace},
		},
		"unset maxUnavailable defaults to 1": {
			strategy: sidecarsv1alpha1.UpdateStrategy{},
			pods:     []Pod{inPlace("ns/a"), inPlace("ns/b")},
			want:     Plan{Start: []string{"ns/a"}},
		},
		"maxUnavailable 2 starts the first two by key whatever the input order": {
			strategy: maxUnavailable(intstr.FromInt32(2)),
			pods:     []Pod{inPlace("ns/c"), inPlace("ns/a"), inPlace("ns/b")},
			want:     Plan{Start: []string{"ns/a", "ns/b"}},
		},
		"5% of 6 pods rounds up to 1": {
			strategy: maxUnavailable(intstr.FromString("5%")),
			pods:     many(6, inPlace),
			want:     Plan{Start: keys(1, 1)},
		},
		"25% of 10 pods rounds up to 3": {
			strategy: maxUnavailable(intstr.FromString("25%")),
			pods:     many(10, inPlace),
			want:     Plan{Start: keys(1, 3)},
		},
		"100% of 7 pods starts all 7": {
			strategy: maxUnavailable(intstr.FromString("100%")),
			pods:     many(7, inPlace),
			want:     Plan{Start: keys(1, 7)},
		},
		"1% of 1 pod is 1": {
			strategy: maxUnavailable(intstr.FromString("1%")),
			pods:     many(1, inPlace),
			want:     Plan{Start: keys(1, 1)},
		},
		"integer 0 that skipped validation is raised to 1": {
			strategy: maxUnavailable(intstr.FromInt32(0)),
			pods:     many(2, inPlace),
			want:     Plan{Start: keys(1, 1)},
		},
		"not-ready pod needing update goes first, costs nothing and holds nothing": {
			strategy: maxUnavailable(intstr.FromInt32(2)),
			pods:     []Pod{inPlace("ns/a"), inPlace("ns/b"), inPlace("ns/c"), notReady(inPlace("ns/d"))},
			want:     Plan{Start: []string{"ns/d", "ns/a", "ns/b"}},
		},
		"not-ready pods go free and do not spend the budget of the ready one": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{inPlace("ns/a"), notReady(inPlace("ns/b")), notReady(inPlace("ns/c"))},
			want:     Plan{Start: []string{"ns/b", "ns/c", "ns/a"}},
		},
		"a pod not ready for another reason (Pending, app not Ready) does not hold the budget": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{notReady(upToDate("ns/a")), inPlace("ns/b"), inPlace("ns/c"), inPlace("ns/d")},
			want:     Plan{Start: []string{"ns/b"}},
		},
		"in-flight upgrade counts as unavailable and is continued": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{upgrading(inPlace("ns/a")), inPlace("ns/b"), inPlace("ns/c")},
			want:     Plan{Continue: []string{"ns/a"}, Unavailable: 1, Blocked: BlockedBudget},
		},
		"in-flight upgrade that is still Ready counts as unavailable once": {
			strategy: maxUnavailable(intstr.FromInt32(2)),
			pods:     []Pod{{Key: "ns/a", Ready: true, Upgrading: true, Record: &recordV1}, inPlace("ns/b"), inPlace("ns/c")},
			want:     Plan{Start: []string{"ns/b"}, Continue: []string{"ns/a"}, Unavailable: 1},
		},
		"in-flight upgrades are continued in key order beyond the budget": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{upgrading(inPlace("ns/c")), upgrading(upToDate("ns/a")), upgrading(inPlace("ns/b"))},
			want:     Plan{Continue: []string{"ns/a", "ns/b", "ns/c"}, Unavailable: 3},
		},
		"partition 2 of 5 lets 3 through": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(5)).Partition(intstr.FromInt32(2))),
			pods:     many(5, inPlace),
			want:     Plan{Start: keys(1, 3), Partition: 2},
		},
		"partition counts pods already at the target": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(5)).Partition(intstr.FromInt32(2))),
			pods:     []Pod{upToDate("ns/p01"), upToDate("ns/p02"), inPlace("ns/p03"), inPlace("ns/p04"), inPlace("ns/p05")},
			want:     Plan{Start: keys(3, 3), Partition: 2},
		},
		"partition counts in-flight upgrades once even when recorded at the target": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(5)).Partition(intstr.FromInt32(2))),
			pods:     []Pod{upgrading(upToDate("ns/p01")), upgrading(inPlace("ns/p02")), inPlace("ns/p03"), inPlace("ns/p04"), inPlace("ns/p05")},
			want:     Plan{Start: keys(3, 3), Continue: keys(1, 2), Unavailable: 2, Partition: 2},
		},
		"partition 50% of 5 rounds up and keeps 3": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(5)).Partition(intstr.FromString("50%"))),
			pods:     many(5, inPlace),
			want:     Plan{Start: keys(1, 2), Partition: 3},
		},
		"partition takes not-ready pods first": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(5)).Partition(intstr.FromInt32(3))),
			pods:     []Pod{inPlace("ns/p01"), inPlace("ns/p02"), inPlace("ns/p03"), inPlace("ns/p04"), notReady(inPlace("ns/p05"))},
			want:     Plan{Start: []string{"ns/p05", "ns/p01"}, Partition: 3},
		},
		"partition reached blocks the rest": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(5)).Partition(intstr.FromInt32(2))),
			pods:     []Pod{upToDate("ns/a"), inPlace("ns/b"), inPlace("ns/c")},
			want:     Plan{Partition: 2, Blocked: BlockedPartition},
		},
		"partition larger than the pods keeps them all": {
			strategy: strategyOf(set().Partition(intstr.FromInt32(10))),
			pods:     many(3, inPlace),
			want:     Plan{Partition: 10, Blocked: BlockedPartition},
		},
		"partition 100% keeps every pod": {
			strategy: strategyOf(set().Partition(intstr.FromString("100%"))),
			pods:     many(3, inPlace),
			want:     Plan{Partition: 3, Blocked: BlockedPartition},
		},
		"selector limits the rollout to the canary": {
			strategy: canary(maxUnavailable(intstr.FromInt32(1)), "track", "canary"),
			pods:     []Pod{inPlace("ns/a"), labelled(inPlace("ns/b"), "track", "canary"), labelled(inPlace("ns/c"), "track", "canary")},
			want:     Plan{Start: []string{"ns/b"}},
		},
		"selector matching no pod behind starts nothing and is not blocked": {
			strategy: canary(maxUnavailable(intstr.FromInt32(3)), "track", "canary"),
			pods:     []Pod{inPlace("ns/a"), labelled(upToDate("ns/b"), "track", "canary")},
			want:     Plan{},
		},
		"paused starts nothing but continues in-flight upgrades": {
			strategy: paused(maxUnavailable(intstr.FromInt32(3))),
			pods:     []Pod{upgrading(inPlace("ns/a")), inPlace("ns/b"), notReady(inPlace("ns/c"))},
			want:     Plan{Continue: []string{"ns/a"}, Unavailable: 1, Blocked: BlockedPaused},
		},
		"paused with every pod up to date still says paused": {
			strategy: paused(strategyOf(set())),
			pods:     []Pod{upToDate("ns/a")},
			want:     Plan{Blocked: BlockedPaused},
		},
		"OnPodRestart never starts but finishes in-flight upgrades": {
			strategy: strategyOf(set().UpdateType(sidecarsv1alpha1.OnPodRestartStrategyType).MaxUnavailable(intstr.FromInt32(3))),
			pods:     []Pod{upgrading(inPlace("ns/a")), inPlace("ns/b"), notReady(inPlace("ns/c"))},
			want:     Plan{Continue: []string{"ns/a"}, Unavailable: 1, Blocked: BlockedOnPodRestart},
		},
		"OnPodRestart is reported over paused": {
			strategy: paused(strategyOf(set().UpdateType(sidecarsv1alpha1.OnPodRestartStrategyType))),
			pods:     []Pod{inPlace("ns/a")},
			want:     Plan{Blocked: BlockedOnPodRestart},
		},
		"immutable change with Skip is reported and nothing evicted": {
			strategy:    strategyOf(set().MaxUnavailable(intstr.FromInt32(3))),
			pods:        []Pod{immutable("ns/a"), notReady(immutable("ns/b"))},
			want:        Plan{},
			wantClasses: map[string]Class{"ns/a": ClassNotUpgradable, "ns/b": ClassNotUpgradable},
		},
		"immutable change with Evict evicts within the budget": {
			strategy: strategyOf(evict().MaxUnavailable(intstr.FromInt32(2))),
			pods:     []Pod{immutable("ns/a"), immutable("ns/b"), immutable("ns/c")},
			want:     Plan{Evict: []string{"ns/a", "ns/b"}},
		},
		"not-ready immutable pod is evicted first, for free, and holds nothing": {
			strategy: strategyOf(evict().MaxUnavailable(intstr.FromInt32(2))),
			pods:     []Pod{immutable("ns/a"), immutable("ns/b"), notReady(immutable("ns/c"))},
			want:     Plan{Evict: []string{"ns/c", "ns/a", "ns/b"}},
		},
		"in-place and immutable pods share one budget with Evict": {
			strategy: strategyOf(evict().MaxUnavailable(intstr.FromInt32(2))),
			pods:     []Pod{inPlace("ns/b"), immutable("ns/a"), immutable("ns/c"), inPlace("ns/d")},
			want:     Plan{Start: []string{"ns/b"}, Evict: []string{"ns/a"}},
		},
		"in-place and immutable pods with Skip start only the in-place ones": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(2))),
			pods:     []Pod{inPlace("ns/b"), immutable("ns/a"), immutable("ns/c"), inPlace("ns/d")},
			want:     Plan{Start: []string{"ns/b", "ns/d"}},
		},
		"missing pods are reported and never started nor evicted, and cost no budget": {
			strategy:    strategyOf(evict().MaxUnavailable(intstr.FromInt32(5))),
			pods:        []Pod{missing("ns/a"), notReady(missing("ns/b")), inPlace("ns/c")},
			want:        Plan{Start: []string{"ns/c"}},
			wantClasses: map[string]Class{"ns/a": ClassMissing, "ns/b": ClassMissing, "ns/c": ClassInPlace},
		},
		"finished pods (Succeeded, Failed) are neither counted, unavailable nor upgraded": {
			strategy:    maxUnavailable(intstr.FromInt32(1)),
			pods:        []Pod{finished(inPlace("ns/a")), finished(upToDate("ns/b")), inPlace("ns/c")},
			want:        Plan{Start: []string{"ns/c"}},
			wantClasses: map[string]Class{"ns/c": ClassInPlace},
		},
		"a failed upgrade costs budget until the target changes, even on a Ready pod": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{failed(inPlace("ns/a")), inPlace("ns/b")},
			want:     Plan{Failed: []string{"ns/a"}, Unavailable: 1, Blocked: BlockedBudget},
		},
		"failed upgrades stop a broken rollout at maxUnavailable": {
			strategy: maxUnavailable(intstr.FromInt32(2)),
			pods:     []Pod{notReady(failed(inPlace("ns/a"))), notReady(failed(inPlace("ns/b"))), inPlace("ns/c"), inPlace("ns/d")},
			want:     Plan{Failed: []string{"ns/a", "ns/b"}, Unavailable: 2, Blocked: BlockedBudget},
		},
		"another set's upgrade holds a Ready pod without costing this set's budget": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{heldBy(inPlace("ns/a")), inPlace("ns/b")},
			want:     Plan{Start: []string{"ns/b"}},
		},
		"each workload rolls within its own budget, in parallel": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods: []Pod{
				ownedBy(inPlace("a/w1"), "a/Deployment/web"), ownedBy(inPlace("a/w2"), "a/Deployment/web"),
				ownedBy(inPlace("b/w1"), "b/Deployment/web"), ownedBy(inPlace("b/w2"), "b/Deployment/web"),
				ownedBy(inPlace("b/bare"), "b/Pod/bare"),
			},
			want: Plan{Start: []string{"a/w1", "b/w1", "b/bare"}},
		},
		"a workload whose budget is spent waits; the others go on": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods: []Pod{
				ownedBy(upgrading(inPlace("a/w1")), "a/Deployment/web"), ownedBy(inPlace("a/w2"), "a/Deployment/web"),
				ownedBy(inPlace("b/w1"), "b/Deployment/web"), ownedBy(inPlace("b/w2"), "b/Deployment/web"),
			},
			want: Plan{Continue: []string{"a/w1"}, Start: []string{"b/w1"}, Unavailable: 1},
		},
		"a Pending pod of another namespace, upgraded while not ready, holds no one's budget": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods: []Pod{
				ownedBy(unavailableBefore(upgrading(inPlace("t/stuck"))), "t/Deployment/stuck"),
				ownedBy(unavailableBefore(failed(notReady(inPlace("a/stuck")))), "a/Deployment/web"),
				ownedBy(inPlace("a/w1"), "a/Deployment/web"), ownedBy(inPlace("a/w2"), "a/Deployment/web"),
			},
			want: Plan{Continue: []string{"t/stuck"}, Failed: []string{"a/stuck"}, Start: []string{"a/w1"}},
		},
		"a pod upgraded and not Ready again yet still costs its workload": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods: []Pod{
				ownedBy(settling(notReady(upToDate("a/w1"))), "a/Deployment/web"), ownedBy(inPlace("a/w2"), "a/Deployment/web"),
			},
			want: Plan{Unavailable: 1, Blocked: BlockedBudget},
		},
		"a pod about to be Ready (the kubelet has yet to say so) costs its workload": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods: []Pod{
				ownedBy(readyAsCounted(notReady(upToDate("a/w1"))), "a/Deployment/web"), ownedBy(inPlace("a/w2"), "a/Deployment/web"),
			},
			want: Plan{Unavailable: 1, Blocked: BlockedBudget},
		},
		"a failed upgrade of a pod that was ready holds its own workload only": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods: []Pod{
				ownedBy(failed(notReady(inPlace("a/broken"))), "a/Deployment/web"), ownedBy(inPlace("a/w1"), "a/Deployment/web"),
				ownedBy(inPlace("b/w1"), "b/Deployment/web"),
			},
			want: Plan{Failed: []string{"a/broken"}, Start: []string{"b/w1"}, Unavailable: 1},
		},
		"maxUnavailable as a percentage is of each workload's pods": {
			strategy: maxUnavailable(intstr.FromString("50%")),
			pods: []Pod{
				ownedBy(inPlace("a/p1"), "a/StatefulSet/db"), ownedBy(inPlace("a/p2"), "a/StatefulSet/db"),
				ownedBy(inPlace("a/p3"), "a/StatefulSet/db"), ownedBy(inPlace("a/p4"), "a/StatefulSet/db"),
				ownedBy(inPlace("b/p1"), "b/StatefulSet/db"),
			},
			want: Plan{Start: []string{"a/p1", "b/p1", "a/p2"}},
		},
		"maxUnavailableTotal caps the workloads together": {
			strategy: total(maxUnavailable(intstr.FromInt32(1)), 2),
			pods: []Pod{
				ownedBy(upgrading(inPlace("a/w1")), "a/Deployment/web"), ownedBy(inPlace("a/w2"), "a/Deployment/web"),
				ownedBy(inPlace("b/w1"), "b/Deployment/web"), ownedBy(inPlace("c/w1"), "c/Deployment/web"),
			},
			want: Plan{Continue: []string{"a/w1"}, Start: []string{"b/w1"}, Unavailable: 1, MaxUnavailableTotal: 2},
		},
		"a pod kept terminating holds its own workload, not the total": {
			strategy: total(maxUnavailable(intstr.FromInt32(1)), 1),
			pods: []Pod{
				ownedBy(terminating(inPlace("t/stuck")), "t/Deployment/web"), ownedBy(inPlace("t/w1"), "t/Deployment/web"),
				ownedBy(inPlace("b/w1"), "b/Deployment/web"),
			},
			want: Plan{Start: []string{"b/w1"}, Unavailable: 1, MaxUnavailableTotal: 1},
		},
		"maxUnavailableTotal spent holds every workload": {
			strategy: total(maxUnavailable(intstr.FromInt32(1)), 1),
			pods: []Pod{
				ownedBy(upgrading(inPlace("a/w1")), "a/Deployment/web"),
				ownedBy(inPlace("b/w1"), "b/Deployment/web"), ownedBy(notReady(inPlace("c/w1")), "c/Deployment/web"),
			},
			want: Plan{Continue: []string{"a/w1"}, Start: []string{"c/w1"}, Unavailable: 1, MaxUnavailableTotal: 1},
		},
		"a pod backing off for a PodDisruptionBudget is named and the next one goes": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{pdbBlocked(inPlace("ns/a")), inPlace("ns/b")},
			want:     Plan{Start: []string{"ns/b"}, DisruptionBlocked: []string{"ns/a: PodDisruptionBudget web allows no disruption now"}},
		},
		"another set's upgrade costs budget only while its pod is not ready": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{notReady(heldBy(inPlace("ns/a"))), inPlace("ns/b")},
			want:     Plan{Unavailable: 1, Blocked: BlockedBudget},
		},
		"a pod held by another set is not started even when not ready": {
			strategy: maxUnavailable(intstr.FromInt32(3)),
			pods:     []Pod{notReady(heldBy(inPlace("ns/a")))},
			want:     Plan{Unavailable: 1},
		},
		"a pod backing off after failed writes is skipped for the next one": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{backingOff(inPlace("ns/a")), inPlace("ns/b")},
			want:     Plan{Start: []string{"ns/b"}},
		},
		"pods at the target whose app was resized follow it within the budget, whatever the partition": {
			strategy: strategyOf(set().MaxUnavailable(intstr.FromInt32(1)).Partition(intstr.FromString("100%"))),
			pods:     []Pod{drifted(upToDate("ns/a")), drifted(upToDate("ns/b")), inPlace("ns/c")},
			want:     Plan{Start: []string{"ns/a"}, Partition: 3},
		},
		"a drifted pod not ready goes free": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{notReady(drifted(upToDate("ns/a"))), drifted(upToDate("ns/b"))},
			want:     Plan{Start: []string{"ns/a", "ns/b"}},
		},
		"a batch under maxUnavailableTotal spreads across workloads before taking a second pod of one": {
			strategy: total(maxUnavailable(intstr.FromString("100%")), 3),
			pods: []Pod{
				ownedBy(inPlace("ns/a1"), "ReplicaSet/a"), ownedBy(inPlace("ns/a2"), "ReplicaSet/a"), ownedBy(inPlace("ns/a3"), "ReplicaSet/a"),
				ownedBy(inPlace("ns/b1"), "ReplicaSet/b"), ownedBy(inPlace("ns/b2"), "ReplicaSet/b"), inPlace("ns/z"),
			},
			want: Plan{Start: []string{"ns/z", "ns/a1", "ns/b1"}, MaxUnavailableTotal: 3},
		},
		"an upgrade re-driven after a revert is in flight although its record is at the target": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{upgrading(upToDate("ns/a")), inPlace("ns/b")},
			want:     Plan{Continue: []string{"ns/a"}, Unavailable: 1, Blocked: BlockedBudget},
		},
		"terminating pods are not started but count as unavailable": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{terminating(inPlace("ns/a")), inPlace("ns/b"), inPlace("ns/c")},
			want:     Plan{Unavailable: 1, Blocked: BlockedBudget},
		},
		"terminating pods leave the rest of the budget": {
			strategy: maxUnavailable(intstr.FromInt32(2)),
			pods:     []Pod{terminating(inPlace("ns/a")), inPlace("ns/b"), inPlace("ns/c")},
			want:     Plan{Start: []string{"ns/b"}, Unavailable: 1},
		},
		"terminating pod with an in-flight upgrade is not continued": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{terminating(upgrading(inPlace("ns/a"))), notReady(inPlace("ns/b"))},
			want:     Plan{Start: []string{"ns/b"}, Unavailable: 1},
		},
		"terminating immutable pod being evicted is not let through the partition twice": {
			// p01 was evicted; its replacement will come back at the target, so only
			// one more of the other four may go with partition 2 of 5.
			strategy: strategyOf(evict().MaxUnavailable(intstr.FromInt32(5)).Partition(intstr.FromInt32(2))),
			pods:     append([]Pod{terminating(immutable("ns/p01"))}, many(5, immutable)[1:]...),
			want:     Plan{Evict: keys(2, 3), Unavailable: 1, Partition: 2},
		},
		"revision match counts as up to date although the hash differs": {
			strategy:    strategyOf(set()),
			pods:        []Pod{withRecord("ns/a", sidecarsv1alpha1.InjectionRecord{Revision: "proxy-v2", Hash: "old-hash", ImageFreeHash: "f0"})},
			want:        Plan{},
			wantClasses: map[string]Class{"ns/a": ClassUpToDate},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Compute(tc.strategy, target, tc.pods)
			if err != nil {
				t.Fatalf("Compute() failed: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, ignoreInfo, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Compute() plan differs (-want +got):\n%s", diff)
			}
			if tc.wantClasses != nil {
				if diff := cmp.Diff(tc.wantClasses, got.Classes); diff != "" {
					t.Errorf("Compute() classes differ (-want +got):\n%s", diff)
				}
			}
			unfinished := 0
			for _, p := range tc.pods {
				if !p.Finished {
					unfinished++
				}
			}
			if len(got.Classes) != unfinished {
				t.Errorf("Compute() classified %d pods, want all %d not finished", len(got.Classes), unfinished)
			}
		})
	}
}

func TestComputeCounts(t *testing.T) {
	pods := []Pod{
		upToDate("ns/a"), notReady(upToDate("ns/b")), terminating(upToDate("ns/c")),
		inPlace("ns/d"), upgrading(inPlace("ns/e")),
		immutable("ns/f"), notReady(immutable("ns/g")),
		missing("ns/h"),
		finished(inPlace("ns/i")), heldBy(inPlace("ns/j")), notReady(failed(inPlace("ns/k"))),
		// Drained by another set's upgrade in flight: counted ready; held by a failed one: not.
		readyAsCounted(notReady(heldBy(upToDate("ns/l")))), notReady(heldBy(upToDate("ns/m"))),
	}
	want := Counts{Matched: 12, UpToDate: 5, Ready: 7, UpToDateReady: 3, InPlace: 4, NotUpgradable: 2, Missing: 1,
		Failed: 1, Held: 1, Waiting: 2}
	got, err := Compute(strategyOf(set()), target, pods)
	if err != nil {
		t.Fatalf("Compute() failed: %v", err)
	}
	if diff := cmp.Diff(want, got.Counts); diff != "" {
		t.Errorf("Compute() counts differ (-want +got):\n%s", diff)
	}
}

func TestComputeErrors(t *testing.T) {
	cases := map[string]struct {
		strategy sidecarsv1alpha1.UpdateStrategy
		target   Target
		pods     []Pod
		wantErr  string
	}{
		"maxUnavailable that is not a percentage": {
			strategy: maxUnavailable(intstr.FromString("abc")),
			wantErr:  "updateStrategy.maxUnavailable",
		},
		"maxUnavailable as a string without percent sign": {
			strategy: maxUnavailable(intstr.FromString("3")),
			wantErr:  "updateStrategy.maxUnavailable",
		},
		"maxUnavailable above 100%": {
			strategy: maxUnavailable(intstr.FromString("150%")),
			wantErr:  "updateStrategy.maxUnavailable",
		},
		"negative maxUnavailable": {
			strategy: maxUnavailable(intstr.FromInt32(-1)),
			wantErr:  "updateStrategy.maxUnavailable",
		},
		"negative partition percentage": {
			strategy: strategyOf(set().Partition(intstr.FromString("-5%"))),
			wantErr:  "updateStrategy.partition",
		},
		"negative partition": {
			strategy: strategyOf(set().Partition(intstr.FromInt32(-2))),
			wantErr:  "updateStrategy.partition",
		},
		"invalid selector": {
			strategy: func() sidecarsv1alpha1.UpdateStrategy {
				s := strategyOf(set())
				s.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "track", Operator: "Near"}}}
				return s
			}(),
			wantErr: "updateStrategy.selector",
		},
		"duplicate pod key": {
			strategy: strategyOf(set()),
			pods:     []Pod{inPlace("ns/a"), upToDate("ns/a")},
			wantErr:  `pod "ns/a" is listed twice`,
		},
		"target without hashes": {
			strategy: strategyOf(set()),
			target:   Target{Revision: "proxy-v2"},
			wantErr:  "target has no hash",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tgt := tc.target
			if tgt == (Target{}) {
				tgt = target
			}
			_, err := Compute(tc.strategy, tgt, tc.pods)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Compute() error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := map[string]struct {
		record *sidecarsv1alpha1.InjectionRecord
		target Target
		want   Class
	}{
		"no record is missing": {
			target: target,
			want:   ClassMissing,
		},
		"same hash is up to date": {
			record: &recordV2,
			target: target,
			want:   ClassUpToDate,
		},
		"same revision is up to date": {
			record: &sidecarsv1alpha1.InjectionRecord{Revision: "proxy-v2", Hash: "hx", ImageFreeHash: "fx"},
			target: target,
			want:   ClassUpToDate,
		},
		"empty revisions do not make a pod up to date": {
			record: &sidecarsv1alpha1.InjectionRecord{Hash: "h0", ImageFreeHash: "f0"},
			target: Target{Hash: "h2", ImageFreeHash: "f1"},
			want:   ClassNotUpgradable,
		},
		"same image-free hash is upgradable in place": {
			record: &recordV1,
			target: target,
			want:   ClassInPlace,
		},
		"different image-free hash is not upgradable": {
			record: &recordV0,
			target: target,
			want:   ClassNotUpgradable,
		},
		"record without hashes is not upgradable": {
			record: &sidecarsv1alpha1.InjectionRecord{Revision: "proxy-v1"},
			target: target,
			want:   ClassNotUpgradable,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Classify(tc.record, tc.target); got != tc.want {
				t.Errorf("Classify() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestComputeNamesWhatHoldsTheRollout(t *testing.T) {
	cases := map[string]struct {
		strategy      sidecarsv1alpha1.UpdateStrategy
		pods          []Pod
		wantHolding   []Holder
		wantTotalHeld bool
	}{
		"nothing held": {
			strategy: maxUnavailable(intstr.FromInt32(1)),
			pods:     []Pod{inPlace("ns/a")},
		},
		"a workload's budget, spent by an upgrade and a failure": {
			strategy: maxUnavailable(intstr.FromInt32(2)),
			pods: []Pod{
				ownedBy(upgrading(inPlace("a/w1")), "a/Deployment/web"), ownedBy(failed(notReady(inPlace("a/w2"))), "a/Deployment/web"),
				ownedBy(inPlace("a/w3"), "a/Deployment/web"),
				ownedBy(upgrading(inPlace("b/w1")), "b/Deployment/web"), // b has nothing waiting: not named
			},
			wantHolding: []Holder{{Key: "a/w1", Why: "upgrading"}, {Key: "a/w2", Why: "upgrade failed"}},
		},
		"the total, spent by what this plan starts and what was in flight": {
			strategy: total(maxUnavailable(intstr.FromInt32(1)), 2),
			pods: []Pod{
				ownedBy(failed(notReady(inPlace("a/w1"))), "a/Deployment/web"),
				ownedBy(inPlace("b/w1"), "b/Deployment/web"), ownedBy(inPlace("c/w1"), "c/Deployment/web"),
			},
			wantHolding:   []Holder{{Key: "a/w1", Why: "upgrade failed"}, {Key: "b/w1", Why: "upgrading"}},
			wantTotalHeld: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			plan, err := Compute(tc.strategy, target, tc.pods)
			if err != nil {
				t.Fatalf("Compute() error = %v", err)
			}
			if diff := cmp.Diff(tc.wantHolding, plan.Holding); diff != "" {
				t.Errorf("Holding (-want +got):\n%s", diff)
			}
			if plan.TotalHeld != tc.wantTotalHeld {
				t.Errorf("TotalHeld = %v, want %v", plan.TotalHeld, tc.wantTotalHeld)
			}
		})
	}
}

func TestWorkload(t *testing.T) {
	controller := func(apiVersion, kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: new(true)}}
	}
	cases := map[string]struct {
		meta metav1.ObjectMeta
		want string
	}{
		"a bare pod is its own workload": {
			meta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
			want: "ns/Pod/p",
		},
		"a Deployment's ReplicaSet stands for the Deployment": {
			meta: metav1.ObjectMeta{Namespace: "ns", Name: "web-7d9f-x", Labels: map[string]string{"pod-template-hash": "7d9f"},
				OwnerReferences: controller("apps/v1", "ReplicaSet", "web-7d9f")},
			want: "ns/Deployment/web",
		},
		"a ReplicaSet of its own (no matching hash) is the workload": {
			meta: metav1.ObjectMeta{Namespace: "ns", Name: "rs-x", OwnerReferences: controller("apps/v1", "ReplicaSet", "rs")},
			want: "ns/ReplicaSet/rs",
		},
		"a ReplicaSet of another API group is not taken for a Deployment's": {
			meta: metav1.ObjectMeta{Namespace: "ns", Name: "web-7d9f-x", Labels: map[string]string{"pod-template-hash": "7d9f"},
				OwnerReferences: controller("example.com/v1", "ReplicaSet", "web-7d9f")},
			want: "ns/ReplicaSet/web-7d9f",
		},
		"a StatefulSet": {
			meta: metav1.ObjectMeta{Namespace: "db", Name: "pg-0", OwnerReferences: controller("apps/v1", "StatefulSet", "pg")},
			want: "db/StatefulSet/pg",
		},
		"an owner that is not the controller does not count": {
			meta: metav1.ObjectMeta{Namespace: "ns", Name: "p", OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "j"}}},
			want: "ns/Pod/p",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Workload(&tc.meta); got != tc.want {
				t.Errorf("Workload() = %q, want %q", got, tc.want)
			}
		})
	}
}
