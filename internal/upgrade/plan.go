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
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Target is what the set's pods should run: the set's update revision.
type Target struct {
	// Revision is the name of the update revision. Optional: when empty, pods are
	// compared by hash only.
	Revision string
	// Hash is the full hash of the update revision. Required.
	Hash string
	// ImageFreeHash is the update revision's hash without images and resources. Required.
	ImageFreeHash string
}

// Pod is what the planner knows of one pod the set selects.
type Pod struct {
	// Key is "namespace/name"; it orders the output and must be unique.
	Key string
	// Workload names the pod's workload (Workload), each with its own maxUnavailable
	// budget; a batch also spreads across workloads, so one is not drained first.
	Workload string
	// Labels are matched against updateStrategy.selector.
	Labels map[string]string
	// Ready says the pod's Ready condition is True.
	Ready bool
	// Record is this set's injection record on the pod; nil when the set never injected it.
	Record *sidecarsv1alpha1.InjectionRecord
	// Upgrading says this set's in-place upgrade of the pod is in flight (or was begun
	// by this process and the cache does not show it yet).
	Upgrading bool
	// Failed says this set's in-place upgrade of the pod to the target failed: it is
	// reported, not retried, and counts as unavailable until the target changes.
	Failed bool
	// UnavailableBefore says the pod was not Ready when its upgrade (in flight or failed)
	// began: the rollout did not take it down, so it costs no budget.
	UnavailableBefore bool
	// Settling says the set's upgrade of the pod finished, the pod was Ready when it
	// began and is not Ready again yet: the rollout's doing, so it still costs.
	Settling bool
	// HeldBy names another SidecarSet whose upgrade state (in flight or failed) is on
	// the pod. One upgrade runs on a pod at a time: this set waits for that one to end.
	HeldBy string
	// CountedReady is how the set's status counts the pod (readyPods): Ready, or about
	// to be (its containers and every readiness gate are, the kubelet has yet to say
	// so), or drained by another set's upgrade in flight — planned and reported there.
	// So one set's rollout does not flip the status of every set sharing its pods at
	// each step. The budget counts Ready only.
	CountedReady bool
	// Terminating says the pod is being deleted.
	Terminating bool
	// Drifted says the pod is at the target but the app it sizes resourcesPolicy
	// sidecars from was resized in place past the hysteresis (Drift): the sidecars
	// follow, through an in-place resize within the budget, whatever the partition.
	Drifted bool
	// BackingOff says a write to the pod failed recently, or a PodDisruptionBudget
	// held its drain, and it is retried later: it is no candidate until then, so it
	// cannot take the budget of the pods behind it.
	BackingOff bool
	// DisruptionBlocked is why a PodDisruptionBudget held the drain of a pod backing
	// off for it.
	DisruptionBlocked string
	// Finished says the pod's phase is Succeeded or Failed: its containers will not run
	// again, so it is neither upgraded nor counted (a completed Job's pod).
	Finished bool
}

// Class is how a pod's sidecars stand against the Target.
type Class string

const (
	// ClassUpToDate pods run the target already.
	ClassUpToDate Class = "UpToDate"
	// ClassInPlace pods differ from the target only in images or resources, which
	// can change on a running pod.
	ClassInPlace Class = "InPlace"
	// ClassNotUpgradable pods differ in something a running pod cannot change; only
	// re-creating the pod (eviction) brings them to the target.
	ClassNotUpgradable Class = "NotUpgradable"
	// ClassMissing pods match the set but were never injected by it, typically created
	// while the webhook was unavailable.
	ClassMissing Class = "Missing"
)

// BlockReason says why a plan starts and evicts nothing.
type BlockReason string

const (
	// BlockedNone means the plan is not held back.
	BlockedNone BlockReason = ""
	// BlockedOnPodRestart means updateStrategy.type is OnPodRestart: running pods are
	// never touched.
	BlockedOnPodRestart BlockReason = "OnPodRestart"
	// BlockedPaused means updateStrategy.paused is true.
	BlockedPaused BlockReason = "Paused"
	// BlockedPartition means every pod the partition lets through is already at, or
	// moving to, the target.
	BlockedPartition BlockReason = "Partition"
	// BlockedBudget means pods could start but the unavailability budgets are spent:
	// their workloads' maxUnavailable or maxUnavailableTotal.
	BlockedBudget BlockReason = "MaxUnavailable"
)

// Counts are the pod counts a SidecarSet's status reports, over all matched pods
// (terminating ones included).
type Counts struct {
	// Matched is the number of pods passed to Compute that are not finished (status
	// matchedPods).
	Matched int
	// UpToDate counts pods of ClassUpToDate (status updatedPods).
	UpToDate int
	// Ready counts Ready pods, and those another set drains for its in-place upgrade
	// (status readyPods).
	Ready int
	// UpToDateReady counts Ready pods of ClassUpToDate (status updatedReadyPods).
	UpToDateReady int
	// InPlace counts pods of ClassInPlace.
	InPlace int
	// NotUpgradable counts pods of ClassNotUpgradable (status notUpgradablePods).
	NotUpgradable int
	// Failed counts pods whose in-place upgrade failed (also reported as not upgradable).
	Failed int
	// Held counts pods another set's upgrade holds.
	Held int
	// Waiting counts the pods not terminating that the rollout has yet to begin: of
	// ClassInPlace (and ClassNotUpgradable with onImmutableChange Evict), neither
	// upgrading nor failed, whether or not the plan starts them now.
	Waiting int
	// Missing counts pods of ClassMissing (status missingPods).
	Missing int
}

// Plan is what to do now for one SidecarSet. Every list is in a deterministic order and
// no pod is in more than one of Start, Evict and Continue.
type Plan struct {
	// Classes maps every pod key to its class.
	Classes map[string]Class
	// Start are pods of ClassInPlace to begin an in-place upgrade of now, not-ready
	// pods first, then by key.
	Start []string
	// Evict are pods of ClassNotUpgradable to evict now (onImmutableChange Evict only),
	// in the same order as Start.
	Evict []string
	// Continue are the pods whose in-place upgrade is in flight, by key. They are
	// driven on whatever the budget, pause or strategy type say: stopping half way
	// would leave a pod drained from its Services.
	Continue []string
	// Failed are the pods whose upgrade to the target failed, by key. They are only
	// looked at (a kubelet that gets there late finishes them), never driven.
	Failed []string
	// MaxUnavailable is updateStrategy.maxUnavailable as written (per workload).
	MaxUnavailable string
	// MaxUnavailableTotal is the resolved maxUnavailableTotal, 0 when there is no cap.
	MaxUnavailableTotal int
	// Unavailable is the number of injected pods the rollout made unavailable before
	// this plan, over all workloads (Costs).
	Unavailable int
	// Holding are the pods that spend the budgets that keep candidates waiting: the
	// pods counted against each workload whose maxUnavailable held a candidate back
	// and, when maxUnavailableTotal held one, every pod counted; by key. Nil when no
	// budget held anything.
	Holding []Holder
	// TotalHeld says maxUnavailableTotal held a candidate back.
	TotalHeld bool
	// DisruptionBlocked are the pods backing off because a PodDisruptionBudget held
	// their drain, "namespace/name: why", by key.
	DisruptionBlocked []string
	// Partition is the resolved number of pods kept on the old revision.
	Partition int
	// Blocked is BlockedOnPodRestart or BlockedPaused whenever the strategy holds the
	// rollout, pods waiting or not (OnPodRestart wins when both apply); otherwise
	// BlockedPartition or BlockedBudget when candidates wait and none could go, and
	// BlockedNone when something goes or nothing waits.
	Blocked BlockReason
	// Counts are the pod counts for the SidecarSet's status.
	Counts Counts
}

// Holder is a pod that spends a budget.
type Holder struct {
	// Key is the pod's "namespace/name".
	Key string
	// Why is what makes it count: "upgrading", "upgrade failed" or "terminating".
	Why string
}

// Costs says whether p counts against its workload's maxUnavailable (and, unless it is
// terminating, maxUnavailableTotal), and why: the rollout made it unavailable. An injected pod counts while it is being
// upgraded or after its upgrade failed, unless it was not Ready when the upgrade began;
// while it is not Ready yet after its upgrade finished, or about to be Ready; while it
// is being deleted; and while another SidecarSet's upgrade keeps it not Ready (two
// rollouts never take down two pods of a workload of budget 1). A pod that is not Ready
// for any other reason (Pending, its app not Ready) costs nothing: it goes first, at no
// cost, and cannot hold the budget of the pods that are available.
func Costs(p Pod) (bool, string) {
	switch {
	case p.Record == nil:
		return false, ""
	case p.Terminating:
		return true, "terminating"
	case !p.Ready && (p.Settling || p.CountedReady && p.HeldBy == ""):
		// Upgraded and not Ready again yet, or about to be Ready (its containers and
		// gates are, the kubelet has yet to say so): a step of the rollout, not a pod
		// that was down before it.
		return true, "becoming ready"
	case p.HeldBy != "" && !p.Ready:
		return true, "upgraded by SidecarSet " + p.HeldBy
	case p.UnavailableBefore:
		return false, ""
	case p.Upgrading:
		return true, "upgrading"
	case p.Failed:
		return true, "upgrade failed"
	}
	return false, ""
}

// Classify compares one pod's injection record with the target, whose hashes must not
// be empty.
func Classify(record *sidecarsv1alpha1.InjectionRecord, target Target) Class {
	switch {
	case record == nil:
		return ClassMissing
	case record.Hash == target.Hash, target.Revision != "" && record.Revision == target.Revision:
		return ClassUpToDate
	case record.ImageFreeHash == target.ImageFreeHash:
		return ClassInPlace
	default:
		return ClassNotUpgradable
	}
}

// Compute plans the next step of the rollout of target over the pods the set selects.
//
// Candidates are the pods of ClassInPlace (to start) and, with onImmutableChange Evict,
// of ClassNotUpgradable (to evict) that match updateStrategy.selector and are neither
// upgrading, failed, held by another set's upgrade nor terminating. Missing pods are
// only reported and cost no budget; finished pods (Succeeded, Failed) are left out
// altogether. The candidates are ordered not-ready first, then spread across workloads;
// the partition caps how many of them may go, from the front. A Ready candidate then
// costs one of its workload's budget — maxUnavailable of the workload's pods minus those
// of them that cost (Costs) — and one of maxUnavailableTotal's, if set; a candidate
// whose budget is spent waits, and the next one, of another workload, may go. Not-ready
// candidates are unavailable already and go free.
// A paused strategy or one of type OnPodRestart starts and evicts nothing.
//
// Compute fails on an invalid maxUnavailable, partition or selector, an empty target
// hash, or a duplicate pod key.
func Compute(strategy sidecarsv1alpha1.UpdateStrategy, target Target, pods []Pod) (Plan, error) {
	if target.Hash == "" || target.ImageFreeHash == "" {
		return Plan{}, errors.New("target has no hash")
	}
	lim, err := resolveLimits(strategy, len(pods))
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{
		Classes:             make(map[string]Class, len(pods)),
		MaxUnavailable:      lim.maxUnavailable.String(),
		MaxUnavailableTotal: lim.total,
		Partition:           lim.partition,
	}
	candidates, live, atTarget, err := plan.observe(pods, target, lim)
	if err != nil {
		return Plan{}, err
	}

	// A held rollout still lists Continue: finishing an upgrade already begun is
	// safer than leaving its pod drained from its Services until the hold ends.
	switch {
	case strategy.EffectiveType() == sidecarsv1alpha1.OnPodRestartStrategyType:
		plan.Blocked = BlockedOnPodRestart
		return plan, nil
	case strategy.Paused:
		plan.Blocked = BlockedPaused
		return plan, nil
	case len(candidates) == 0:
		return plan, nil
	}

	// A terminating pod is left out of the partition arithmetic: it is either going
	// away or being replaced by a pod injected at the target, which is then counted.
	allowed := max(0, live-lim.partition-atTarget)
	plan.choose(candidates, allowed, newBudgets(pods, lim))
	if len(plan.Start)+len(plan.Evict) == 0 {
		plan.Blocked = BlockedBudget
		if allowed == 0 {
			plan.Blocked = BlockedPartition
		}
	}
	return plan, nil
}

// limits is an update strategy resolved against the number of pods the set selects.
type limits struct {
	// maxUnavailable is resolved per workload (budgets).
	maxUnavailable intstr.IntOrString
	// total is maxUnavailableTotal resolved, 0 for no cap.
	total, partition int
	// canary selects the pods the rollout may reach.
	canary labels.Selector
	// evict says whether pods that cannot be upgraded in place are evicted.
	evict bool
}

func resolveLimits(strategy sidecarsv1alpha1.UpdateStrategy, matched int) (limits, error) {
	maxUnavailable := strategy.EffectiveMaxUnavailable()
	if _, err := scaled(maxUnavailable, matched); err != nil {
		return limits{}, fmt.Errorf("updateStrategy.maxUnavailable: %w", err)
	}
	total := 0
	if t := strategy.MaxUnavailableTotal; t != nil {
		n, err := scaled(*t, matched)
		if err != nil {
			return limits{}, fmt.Errorf("updateStrategy.maxUnavailableTotal: %w", err)
		}
		total = max(1, n) // as maxUnavailable: a cap of 0 would stall the rollout for good
	}
	partition, err := scaled(strategy.EffectivePartition(), matched)
	if err != nil {
		return limits{}, fmt.Errorf("updateStrategy.partition: %w", err)
	}
	canary, err := selector(strategy.Selector)
	if err != nil {
		return limits{}, fmt.Errorf("updateStrategy.selector: %w", err)
	}
	return limits{
		maxUnavailable: maxUnavailable,
		total:          total,
		partition:      partition,
		canary:         canary,
		evict:          strategy.EffectiveOnImmutableChange() == sidecarsv1alpha1.ImmutableChangeEvict,
	}, nil
}

// observe classifies and counts the pods into the plan, lists the upgrades in flight
// in Continue and the failed ones in Failed, and returns the candidates to start or
// evict. live counts the pods not terminating; atTarget those of them up to date or
// upgrading (each once). Together they bound what the partition lets through.
func (plan *Plan) observe(pods []Pod, target Target, lim limits) (candidates []Pod, live, atTarget int, err error) {
	seen := make(map[string]bool, len(pods))
	for _, p := range pods {
		if seen[p.Key] {
			return nil, 0, 0, fmt.Errorf("pod %q is listed twice", p.Key)
		}
		seen[p.Key] = true
		if p.Finished {
			continue
		}
		class := Classify(p.Record, target)
		plan.Classes[p.Key] = class
		plan.Counts.Matched++
		plan.Counts.add(class, p.CountedReady)

		if costs, _ := Costs(p); costs {
			plan.Unavailable++
		}
		if p.Terminating {
			continue
		}
		live++
		if !p.Upgrading && !p.Failed && (class == ClassInPlace || p.Drifted || class == ClassNotUpgradable && lim.evict) {
			plan.Counts.Waiting++
		}
		switch {
		case p.Upgrading:
			plan.Continue = append(plan.Continue, p.Key)
			atTarget++
			continue
		case p.Failed:
			plan.Failed = append(plan.Failed, p.Key)
			plan.Counts.Failed++
			continue
		case class == ClassUpToDate && !p.Drifted:
			atTarget++
			continue
		case p.HeldBy != "":
			plan.Counts.Held++
			continue
		case p.BackingOff:
			if p.DisruptionBlocked != "" {
				plan.DisruptionBlocked = append(plan.DisruptionBlocked, p.Key+": "+p.DisruptionBlocked)
			}
			continue
		}
		switch {
		case p.Drifted:
			atTarget++ // at the target revision: the partition does not hold it back
			candidates = append(candidates, p)
		case (class == ClassInPlace || class == ClassNotUpgradable && lim.evict) && lim.canary.Matches(labels.Set(p.Labels)):
			candidates = append(candidates, p)
		}
	}
	slices.Sort(plan.Continue)
	slices.Sort(plan.Failed)
	slices.Sort(plan.DisruptionBlocked)
	return candidates, live, atTarget, nil
}

// budgets are the unavailability budgets of one plan: one per workload and the
// optional total.
type budgets struct {
	workloads map[string]*budget
	total     *budget // nil: no cap
}

// budget is what one bound allows and which pods spend it.
type budget struct {
	limit   int
	holders []Holder
}

func (b *budget) left() int { return b.limit - len(b.holders) }

// newBudgets resolves maxUnavailable per workload over the workload's pods (finished
// ones left out) and counts the pods that cost (Costs) against their workload and the
// total. lim.maxUnavailable was checked by resolveLimits.
func newBudgets(pods []Pod, lim limits) budgets {
	b := budgets{workloads: map[string]*budget{}}
	if lim.total > 0 {
		b.total = &budget{limit: lim.total}
	}
	sizes := map[string]int{}
	for _, p := range pods {
		if !p.Finished {
			sizes[p.Workload]++
		}
	}
	for w, n := range sizes {
		limit, _ := scaled(lim.maxUnavailable, n)
		// A percentage is rounded up, and even an integer 0 from an object that skipped
		// validation becomes 1: a budget of 0 would stall the rollout for good.
		b.workloads[w] = &budget{limit: max(1, limit)}
	}
	for _, p := range pods {
		if p.Finished {
			continue
		}
		if costs, why := Costs(p); costs {
			h := Holder{Key: p.Key, Why: why}
			b.workloads[p.Workload].holders = append(b.workloads[p.Workload].holders, h)
			// A pod being deleted holds its own workload only: a tenant's pod kept
			// terminating (a finalizer) must not spend every workload's total.
			if b.total != nil && !p.Terminating {
				b.total.holders = append(b.total.holders, h)
			}
		}
	}
	return b
}

// choose orders the candidates — not-ready first, then spread across workloads (each
// workload's first pod, then each workload's second...), then by key — and moves the
// first allowed of them to Start or Evict. A Ready candidate costs one of its
// workload's budget and one of the total's: when either is spent it waits, and the
// candidates behind it still may go. The plan names the pods that spend the budgets
// that held a candidate back (Holding).
func (plan *Plan) choose(candidates []Pod, allowed int, b budgets) {
	slices.SortFunc(candidates, func(a, b Pod) int { return cmp.Compare(a.Key, b.Key) })
	rank := make(map[string]int, len(candidates))
	perWorkload := map[string]int{}
	for _, p := range candidates {
		rank[p.Key] = perWorkload[p.Workload]
		perWorkload[p.Workload]++
	}
	slices.SortFunc(candidates, func(a, b Pod) int {
		if a.Ready != b.Ready {
			if a.Ready {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(rank[a.Key], rank[b.Key]), cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Key, b.Key))
	})
	heldBy := map[string]bool{} // workloads whose budget held a candidate back
	for _, p := range candidates {
		if !p.Drifted {
			if allowed == 0 {
				continue // the partition holds the rest of the revision's candidates
			}
			allowed--
		}
		if p.Ready {
			w := b.workloads[p.Workload]
			switch {
			case w.left() <= 0:
				heldBy[p.Workload] = true
				if !p.Drifted {
					allowed++ // not started: its place in the partition goes to the next
				}
				continue
			case b.total != nil && b.total.left() <= 0:
				plan.TotalHeld = true
				if !p.Drifted {
					allowed++
				}
				continue
			}
			h := Holder{Key: p.Key, Why: "upgrading"}
			w.holders = append(w.holders, h)
			if b.total != nil {
				b.total.holders = append(b.total.holders, h)
			}
		}
		if plan.Classes[p.Key] == ClassNotUpgradable {
			plan.Evict = append(plan.Evict, p.Key)
		} else {
			plan.Start = append(plan.Start, p.Key)
		}
	}
	plan.Holding = holding(b, heldBy, plan.TotalHeld)
}

// holding lists, by key, the pods counted against the budgets that held candidates.
func holding(b budgets, heldBy map[string]bool, totalHeld bool) []Holder {
	var out []Holder
	for w := range heldBy {
		out = append(out, b.workloads[w].holders...)
	}
	if totalHeld {
		out = append(out, b.total.holders...)
	}
	slices.SortFunc(out, func(a, b Holder) int { return cmp.Compare(a.Key, b.Key) })
	return slices.CompactFunc(out, func(a, b Holder) bool { return a.Key == b.Key })
}

func (c *Counts) add(class Class, ready bool) {
	switch class {
	case ClassUpToDate:
		c.UpToDate++
		if ready {
			c.UpToDateReady++
		}
	case ClassInPlace:
		c.InPlace++
	case ClassNotUpgradable:
		c.NotUpgradable++
	case ClassMissing:
		c.Missing++
	}
	if ready {
		c.Ready++
	}
}

// scaled resolves an int or a percentage of total, rounding a percentage up: for
// maxUnavailable that keeps the budget above 0, for partition it keeps more pods on
// the old revision, the safe side of both. Negative values and percentages above 100
// are refused rather than clamped, since they can only come from an object that
// skipped validation.
func scaled(v intstr.IntOrString, total int) (int, error) {
	switch v.Type {
	case intstr.Int:
		if v.IntVal < 0 {
			return 0, fmt.Errorf("%d is negative", v.IntVal)
		}
	case intstr.String:
		n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
		if err != nil || !strings.HasSuffix(v.StrVal, "%") || n < 0 || n > 100 {
			return 0, fmt.Errorf("%q is not a percentage from 0%% to 100%%", v.StrVal)
		}
	}
	return intstr.GetScaledValueFromIntOrPercent(&v, total, true)
}

// selector reads updateStrategy.selector; absent selects every pod.
func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}
