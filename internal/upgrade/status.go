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
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Outcome is what acting on a plan found that the plan could not know.
type Outcome struct {
	// DisruptionBlocked counts the pods of Plan.Start a PodDisruptionBudget kept from
	// draining.
	DisruptionBlocked int
	// Blocked are those pods, each with the budget's reason, by key.
	Blocked []string
	// Kubelet are the upgrades in flight waiting for the kubelet, each with what it
	// reports (ImagePullBackOff, CrashLoopBackOff, a resize Deferred...), by key.
	Kubelet []string
}

// MaxListed is how many pods a condition message names; the rest are counted.
const MaxListed = 5

// listed joins the first MaxListed items and counts the others.
func listed(items []string) string {
	if len(items) <= MaxListed {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:MaxListed], "; "), len(items)-MaxListed)
}

// budgetText is the rollout's budgets as the strategy sets them.
func budgetText(plan Plan) string {
	if plan.MaxUnavailableTotal > 0 {
		return fmt.Sprintf("maxUnavailable %s per workload, %d in all", plan.MaxUnavailable, plan.MaxUnavailableTotal)
	}
	return fmt.Sprintf("maxUnavailable %s per workload", plan.MaxUnavailable)
}

// heldText names what keeps waiting pods from starting, "" when nothing does.
func heldText(plan Plan, outcome Outcome) string {
	var parts []string
	if len(plan.Holding) > 0 {
		holders := make([]string, len(plan.Holding))
		for i, h := range plan.Holding {
			holders[i] = h.Key + " (" + h.Why + ")"
		}
		what := "their workloads' maxUnavailable"
		if plan.TotalHeld {
			what = "maxUnavailableTotal"
		}
		parts = append(parts, fmt.Sprintf(" Waiting for %s, spent by: %s.", what, listed(holders)))
	}
	if blocked := slices.Concat(outcome.Blocked, plan.DisruptionBlocked); len(blocked) > 0 {
		slices.Sort(blocked)
		parts = append(parts, fmt.Sprintf(" A PodDisruptionBudget keeps from draining: %s.", listed(blocked)))
	}
	if len(outcome.Kubelet) > 0 {
		parts = append(parts, fmt.Sprintf(" The kubelet reports: %s.", listed(slices.Sorted(slices.Values(outcome.Kubelet)))))
	}
	return strings.Join(parts, "")
}

// SetStatus writes the plan's counters and the Ready, Progressing, Paused and Degraded
// conditions into status. A condition keeps its lastTransitionTime while its status
// stays; now stamps the ones that change.
func SetStatus(status *sidecarsv1alpha1.SidecarSetStatus, set *sidecarsv1alpha1.SidecarSet, plan Plan, outcome Outcome, now metav1.Time) {
	c := plan.Counts
	status.ObservedGeneration = set.Generation
	status.MatchedPods = int32(c.Matched)
	status.UpdatedPods = int32(c.UpToDate)
	status.ReadyPods = int32(c.Ready)
	status.UpdatedReadyPods = int32(c.UpToDateReady)
	status.NotUpgradablePods = int32(c.NotUpgradable + c.Failed)
	status.MissingPods = int32(c.Missing)
	injected := c.Matched - c.Missing
	if c.UpToDate == injected && c.Missing == 0 && len(plan.Continue) == 0 && status.UpdateRevision != "" {
		status.CurrentRevision = status.UpdateRevision
	}

	setCondition := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg,
			ObservedGeneration: set.Generation, LastTransitionTime: now,
		})
	}

	setReady(setCondition, plan, status.UpdateRevision)
	setProgressing(setCondition, plan, outcome)
	setPaused(setCondition, set)
	setDegraded(setCondition, plan)
}

// conditionSetter sets one condition of the status being written.
type conditionSetter func(t string, ok bool, reason, msg string)

func setReady(setCondition conditionSetter, plan Plan, rev string) {
	c := plan.Counts
	injected := c.Matched - c.Missing
	pending := injected - c.UpToDate
	waiting := c.Waiting
	switch {
	case c.Matched == 0:
		setCondition(sidecarsv1alpha1.ConditionReady, true, sidecarsv1alpha1.ReasonNoMatchingPods, "No pod matches the SidecarSet.")
	case c.Missing > 0:
		setCondition(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonPodsMissing,
			fmt.Sprintf("%d matched pods were never injected.", c.Missing))
	case pending > 0 && c.Failed > 0 && waiting+len(plan.Continue) == 0:
		setCondition(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonUpgradeFailed,
			fmt.Sprintf("%d of %d pods run revision %s; the upgrade of %d failed.", c.UpToDate, injected, rev, c.Failed))
	case pending > 0 && waiting+len(plan.Continue) == 0:
		setCondition(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonPodsNotUpgradable,
			fmt.Sprintf("%d of %d pods run revision %s; the others cannot be updated in place.", c.UpToDate, injected, rev))
	case pending > 0:
		setCondition(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonRollingOut,
			fmt.Sprintf("%d of %d pods run revision %s.", c.UpToDate, injected, rev))
	case c.UpToDateReady < c.Matched:
		setCondition(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonPodsNotReady,
			fmt.Sprintf("%d of %d pods are ready.", c.UpToDateReady, c.Matched))
	default:
		setCondition(sidecarsv1alpha1.ConditionReady, true, sidecarsv1alpha1.ReasonRolloutComplete,
			fmt.Sprintf("All %d pods run revision %s and are ready.", c.Matched, rev))
	}
}

func setProgressing(setCondition conditionSetter, plan Plan, outcome Outcome) {
	c := plan.Counts
	waiting := c.Waiting
	started := len(plan.Start) - outcome.DisruptionBlocked
	active := len(plan.Continue)+started+len(plan.Evict) > 0 ||
		plan.Blocked == BlockedBudget && c.Failed == 0 && outcome.DisruptionBlocked == 0 && len(plan.DisruptionBlocked) == 0
	held := heldText(plan, outcome)
	switch {
	case active:
		setCondition(sidecarsv1alpha1.ConditionProgressing, true, sidecarsv1alpha1.ReasonRollingOut,
			fmt.Sprintf("%d pods upgrading, %d waiting; %s.%s",
				len(plan.Continue)+started, max(0, waiting-started), budgetText(plan), held))
	case c.Failed > 0 && waiting > 0 && plan.Blocked != BlockedPaused && plan.Blocked != BlockedOnPodRestart:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonProgressDeadlineExceeded,
			fmt.Sprintf("The rollout stopped: %d pods failed to upgrade and count against %s, %d pods wait; "+
				"change the target (revert the images, or pin spec.injection.revision) to go on.%s", c.Failed, budgetText(plan), waiting, held))
	case outcome.DisruptionBlocked+len(plan.DisruptionBlocked) > 0:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonDisruptionBudget,
			fmt.Sprintf("A PodDisruptionBudget allows no disruption of the %d pods next in line; %d pods wait.%s",
				outcome.DisruptionBlocked+len(plan.DisruptionBlocked), waiting, held))
	case waiting <= 0:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonRolloutComplete,
			"No pod is waiting for an in-place update.")
	case plan.Blocked == BlockedOnPodRestart:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonOnPodRestart,
			fmt.Sprintf("%d pods get the new sidecars when they are recreated (updateStrategy.type OnPodRestart).", waiting))
	case plan.Blocked == BlockedPaused:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonRolloutPaused,
			fmt.Sprintf("The rollout is paused with %d pods waiting.", waiting))
	case plan.Blocked == BlockedPartition:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonPartitionHeld,
			fmt.Sprintf("updateStrategy.partition keeps %d pods on older revisions.", waiting))
	case c.Held > 0:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonRolloutHeld,
			fmt.Sprintf("%d pods wait for another SidecarSet's upgrade of them to end.", c.Held))
	default:
		setCondition(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonRolloutHeld,
			fmt.Sprintf("%d pods wait outside updateStrategy.selector.", waiting))
	}
}

func setPaused(setCondition conditionSetter, set *sidecarsv1alpha1.SidecarSet) {
	switch {
	case set.Spec.UpdateStrategy.Paused:
		setCondition(sidecarsv1alpha1.ConditionPaused, true, sidecarsv1alpha1.ReasonRolloutPaused, "updateStrategy.paused is true.")
	case set.Spec.Injection.Paused:
		setCondition(sidecarsv1alpha1.ConditionPaused, true, sidecarsv1alpha1.ReasonInjectionPaused, "injection.paused is true: new pods are not injected.")
	default:
		setCondition(sidecarsv1alpha1.ConditionPaused, false, sidecarsv1alpha1.ReasonNotPaused, "")
	}
}

func setDegraded(setCondition conditionSetter, plan Plan) {
	c := plan.Counts
	switch {
	case c.Failed > 0:
		setCondition(sidecarsv1alpha1.ConditionDegraded, true, sidecarsv1alpha1.ReasonUpgradeFailed,
			fmt.Sprintf("The in-place upgrade of %d pods failed; see their %s condition and events.", c.Failed, sidecarsv1alpha1.UpgradableCondition))
	case c.NotUpgradable > 0:
		setCondition(sidecarsv1alpha1.ConditionDegraded, true, sidecarsv1alpha1.ReasonPodsNotUpgradable,
			fmt.Sprintf("%d pods cannot be updated in place; see their %s condition.", c.NotUpgradable, sidecarsv1alpha1.UpgradableCondition))
	case c.Missing > 0:
		setCondition(sidecarsv1alpha1.ConditionDegraded, true, sidecarsv1alpha1.ReasonPodsMissing,
			fmt.Sprintf("%d matched pods were never injected (created while the webhook was unavailable, or while injection was paused).", c.Missing))
	default:
		setCondition(sidecarsv1alpha1.ConditionDegraded, false, sidecarsv1alpha1.ReasonAsExpected, "")
	}
}

// StatusWrite is when to write a changed status: now, or after a delay.
type StatusWrite struct {
	// Now says write it in this pass.
	Now bool
	// After is when to look again, for a change held back; zero otherwise.
	After time.Duration
}

// WhenToWrite decides whether a pass writes want over have. A change of what users
// and tools act on — observed generation, revisions, collision count, any condition's
// status or reason — is written at once; a change of pod counts and condition
// messages alone, which every pod event of a rollout brings, at most once per interval
// since the last write: a 1,000-pod rollout then writes its set's status a few times a
// batch instead of once per pod step.
func WhenToWrite(have, want *sidecarsv1alpha1.SidecarSetStatus, lastWrite, now time.Time, interval time.Duration) StatusWrite {
	if equality.Semantic.DeepEqual(have, want) {
		return StatusWrite{}
	}
	if statusShape(have) != statusShape(want) || interval <= 0 {
		return StatusWrite{Now: true}
	}
	if elapsed := now.Sub(lastWrite); elapsed < interval {
		return StatusWrite{After: interval - elapsed}
	}
	return StatusWrite{Now: true}
}

// statusShape is what of a status is written without delay.
func statusShape(s *sidecarsv1alpha1.SidecarSetStatus) string {
	var b strings.Builder
	collisions := int32(0)
	if s.CollisionCount != nil {
		collisions = *s.CollisionCount
	}
	fmt.Fprintf(&b, "%d|%s|%s|%d", s.ObservedGeneration, s.CurrentRevision, s.UpdateRevision, collisions)
	for _, c := range s.Conditions {
		fmt.Fprintf(&b, "|%s=%s/%s/%d", c.Type, c.Status, c.Reason, c.ObservedGeneration)
	}
	return b.String()
}
