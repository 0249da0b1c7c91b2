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
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// fuzzPods turns each byte into one pod: bit 0 Ready, bit 1 Upgrading, bit 2
// Terminating, bits 3-4 the record (up to date, in place, immutable, none), bit 5 the
// canary label, bit 6 reuses the previous pod's key, bit 7 makes it finished (phase
// Succeeded or Failed). With workloads, pods belong to three workloads in turn, and an
// upgrading pod whose key is even was not ready when its upgrade began.
func fuzzPods(shape []byte, workloads bool) (pods []Pod, duplicate bool) {
	records := []*sidecarsv1alpha1.InjectionRecord{&recordV2, &recordV1, &recordV0, nil}
	for i, b := range shape {
		key := fmt.Sprintf("ns/p%03d", i)
		if b&0x40 != 0 && i > 0 {
			key, duplicate = pods[i-1].Key, true
		}
		p := Pod{Key: key, Ready: b&1 != 0, Upgrading: b&2 != 0, Terminating: b&4 != 0, Record: records[(b>>3)&3], Finished: b&0x80 != 0}
		if b&0x20 != 0 {
			p.Labels = map[string]string{"track": "canary"}
		}
		if workloads {
			p.Workload = fmt.Sprintf("ns/Deployment/w%d", i%3)
			p.UnavailableBefore = p.Upgrading && i%2 == 0
		}
		pods = append(pods, p)
	}
	return pods, duplicate
}

// fuzzIntOrString is n, or n% when percent is set; it says whether the planner must
// accept it.
func fuzzIntOrString(n int16, percent bool) (intstr.IntOrString, bool) {
	if percent {
		return intstr.FromString(strconv.Itoa(int(n)) + "%"), n >= 0 && n <= 100
	}
	return intstr.FromInt32(int32(n)), n >= 0
}

// fuzzStrategy builds the strategy of one case: flags bit 0 pauses it, bit 1 evicts on
// immutable changes, bit 2 selects the canary pods, bit 3 is type OnPodRestart, bit 5
// caps the total at 2 (bit 4 spreads the pods over workloads: fuzzPods). It says
// whether the planner must accept it.
func fuzzStrategy(maxU int16, maxUPercent bool, part int16, partPercent bool, flags uint8) (sidecarsv1alpha1.UpdateStrategy, bool) {
	mu, muOK := fuzzIntOrString(maxU, maxUPercent)
	pt, ptOK := fuzzIntOrString(part, partPercent)
	strategy := sidecarsv1alpha1.UpdateStrategy{MaxUnavailable: &mu, Partition: &pt, Paused: flags&1 != 0}
	if flags&2 != 0 {
		strategy.OnImmutableChange = sidecarsv1alpha1.ImmutableChangeEvict
	}
	if flags&4 != 0 {
		strategy.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"track": "canary"}}
	}
	if flags&8 != 0 {
		strategy.Type = sidecarsv1alpha1.OnPodRestartStrategyType
	}
	if flags&0x20 != 0 {
		strategy.MaxUnavailableTotal = new(intstr.FromInt32(2))
	}
	return strategy, muOK && ptOK
}

func FuzzCompute(f *testing.F) {
	f.Add([]byte{0x09, 0x09, 0x09}, int16(1), false, int16(0), false, uint8(0))
	f.Add([]byte{0x08, 0x09, 0x11, 0x10, 0x01, 0x0b, 0x0d, 0x19, 0x29}, int16(25), true, int16(50), true, uint8(0x02))
	f.Add([]byte{0x11, 0x11, 0x10, 0x09, 0x29, 0x28}, int16(2), false, int16(1), false, uint8(0x06))
	f.Add([]byte{0x09, 0x49, 0x09}, int16(0), false, int16(-1), false, uint8(0x01))
	f.Add([]byte{}, int16(101), true, int16(100), true, uint8(0x08))
	f.Add([]byte{0x09, 0x0b, 0x09, 0x0a, 0x09, 0x09, 0x08}, int16(1), false, int16(0), false, uint8(0x30))

	f.Fuzz(func(t *testing.T, shape []byte, maxU int16, maxUPercent bool, part int16, partPercent bool, flags uint8) {
		pods, duplicate := fuzzPods(shape, flags&0x10 != 0)
		strategy, strategyOK := fuzzStrategy(maxU, maxUPercent, part, partPercent, flags)

		plan, err := Compute(strategy, target, pods)
		if wantErr := duplicate || !strategyOK; (err != nil) != wantErr {
			t.Fatalf("Compute() error = %v, want an error: %v", err, wantErr)
		}
		if err != nil {
			return
		}

		checkFuzzedPlan(t, strategy, pods, plan)

		reversed := slices.Clone(pods)
		slices.Reverse(reversed)
		again, err := Compute(strategy, target, reversed)
		if err != nil {
			t.Fatalf("Compute() on reversed pods failed: %v", err)
		}
		if diff := cmp.Diff(plan, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Compute() depends on the input order (-in order +reversed):\n%s", diff)
		}
	})
}

// checkFuzzedPlan checks the invariants of a plan Compute returned for the pods.
func checkFuzzedPlan(t *testing.T, strategy sidecarsv1alpha1.UpdateStrategy, pods []Pod, plan Plan) {
	t.Helper()
	byKey := map[string]Pod{}
	live, atTarget, counted, injected := 0, 0, 0, 0
	for _, p := range pods {
		byKey[p.Key] = p
		if p.Finished {
			continue
		}
		counted++
		if p.Record != nil {
			injected++
		}
		if !p.Terminating {
			live++
			if p.Upgrading || plan.Classes[p.Key] == ClassUpToDate {
				atTarget++
			}
		}
	}
	if len(plan.Classes) != counted || plan.Counts.Matched != counted {
		t.Fatalf("classified %d and counted %d pods, want the %d not finished", len(plan.Classes), plan.Counts.Matched, counted)
	}
	if plan.Unavailable > injected {
		t.Fatalf("Unavailable = %d, more than the %d injected pods (missing pods cost nothing)", plan.Unavailable, injected)
	}

	lists := &planListChecker{t: t, strategy: strategy, plan: plan, byKey: byKey, seen: map[string]bool{}}
	lists.check("Start", plan.Start, ClassInPlace)
	lists.check("Evict", plan.Evict, ClassNotUpgradable)
	lists.check("Continue", plan.Continue, "")

	checkFuzzedBudgets(t, strategy, pods, plan, lists.costs)
	if n, allowed := len(plan.Start)+len(plan.Evict), max(0, live-plan.Partition-atTarget); n > allowed {
		t.Fatalf("started or evicted %d pods, the partition allows %d", n, allowed)
	}
	checkFuzzedHold(t, strategy, plan)
	if !slices.IsSorted(plan.Continue) {
		t.Fatalf("Continue is not sorted: %v", plan.Continue)
	}
}

// checkFuzzedBudgets checks that the Ready pods a plan takes out of service fit each
// workload's maxUnavailable, over the pods of it that cost already (Costs), and the
// total cap; and that no budget held a candidate while it had room.
func checkFuzzedBudgets(t *testing.T, strategy sidecarsv1alpha1.UpdateStrategy, pods []Pod, plan Plan, costs map[string]int) {
	t.Helper()
	// total counts every pod that costs (Plan.Unavailable); spentTotal those that spend
	// maxUnavailableTotal, which a terminating pod does not.
	sizes, spent, total, spentTotal := map[string]int{}, map[string]int{}, 0, 0
	for _, p := range pods {
		if p.Finished || plan.Classes[p.Key] == "" {
			continue
		}
		sizes[p.Workload]++
		if c, _ := Costs(p); c {
			spent[p.Workload]++
			total++
			if !p.Terminating {
				spentTotal++
			}
		}
	}
	all := 0
	for w, n := range costs {
		mu := strategy.EffectiveMaxUnavailable()
		limit, _ := intstr.GetScaledValueFromIntOrPercent(&mu, sizes[w], true)
		if budget := max(0, max(1, limit)-spent[w]); n > budget {
			t.Fatalf("workload %q: %d ready pods started or evicted, over its budget %d", w, n, budget)
		}
		all += n
	}
	if plan.Unavailable != total {
		t.Fatalf("Unavailable = %d, want the %d pods that cost", plan.Unavailable, total)
	}
	if strategy.MaxUnavailableTotal != nil && all > max(0, 2-spentTotal) {
		t.Fatalf("%d ready pods started or evicted, over the total cap 2 with %d spent", all, spentTotal)
	}
}

// checkFuzzedHold checks what the plan starts and evicts against onImmutableChange and
// a held (paused or OnPodRestart) strategy, and its Blocked reason.
func checkFuzzedHold(t *testing.T, strategy sidecarsv1alpha1.UpdateStrategy, plan Plan) {
	t.Helper()
	if strategy.EffectiveOnImmutableChange() != sidecarsv1alpha1.ImmutableChangeEvict && len(plan.Evict) > 0 {
		t.Fatalf("evicted %v with onImmutableChange Skip", plan.Evict)
	}
	if (strategy.Paused || strategy.Type == sidecarsv1alpha1.OnPodRestartStrategyType) && len(plan.Start)+len(plan.Evict) > 0 {
		t.Fatalf("started %v and evicted %v while held", plan.Start, plan.Evict)
	}
	held := strategy.Paused || strategy.Type == sidecarsv1alpha1.OnPodRestartStrategyType
	if held != (plan.Blocked == BlockedPaused || plan.Blocked == BlockedOnPodRestart) {
		t.Fatalf("Blocked = %q for paused %v, type %q", plan.Blocked, strategy.Paused, strategy.Type)
	}
	if len(plan.Start)+len(plan.Evict) > 0 && plan.Blocked != BlockedNone {
		t.Fatalf("Blocked = %q, yet %v started and %v evicted", plan.Blocked, plan.Start, plan.Evict)
	}
}

// planListChecker checks a plan's pod lists: no pod in two of them, each pod of the
// class and state its list asks for, Start and Evict in the planner's order. cost
// counts the Ready pods they take out of service.
type planListChecker struct {
	t        *testing.T
	strategy sidecarsv1alpha1.UpdateStrategy
	plan     Plan
	byKey    map[string]Pod
	seen     map[string]bool
	// costs counts the Ready pods started or evicted, by workload.
	costs map[string]int
}

func (c *planListChecker) check(list string, keys []string, class Class) {
	c.t.Helper()
	for i, k := range keys {
		if c.seen[k] {
			c.t.Fatalf("pod %s appears twice (again in %s)", k, list)
		}
		c.seen[k] = true
		p := c.byKey[k]
		if p.Finished {
			c.t.Fatalf("%s lists %s, which is finished", list, k)
		}
		if list == "Continue" {
			if !p.Upgrading || p.Terminating {
				c.t.Fatalf("%s lists %s, which is not an in-flight upgrade", list, k)
			}
			continue
		}
		if got := c.plan.Classes[k]; got != class {
			c.t.Fatalf("%s lists %s of class %s", list, k, got)
		}
		if p.Upgrading || p.Terminating {
			c.t.Fatalf("%s lists %s, which is upgrading or terminating", list, k)
		}
		if c.strategy.Selector != nil && p.Labels["track"] != "canary" {
			c.t.Fatalf("%s lists %s, outside the selector", list, k)
		}
		if p.Ready {
			if c.costs == nil {
				c.costs = map[string]int{}
			}
			c.costs[p.Workload]++
		}
		if i > 0 {
			prev := c.byKey[keys[i-1]]
			if prev.Ready && !p.Ready || prev.Ready == p.Ready && prev.Workload == p.Workload && prev.Key >= p.Key {
				c.t.Fatalf("%s is not ordered not-ready first, then by key: %v", list, keys)
			}
		}
	}
}
