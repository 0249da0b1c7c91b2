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

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// SetStatus writes the plan's counters and the Ready, Progressing, Paused and Degraded
// conditions into status. A condition keeps its lastTransitionTime while its status
// stays; now stamps the ones that change.
func SetStatus(status *sidecarsv1alpha1.SidecarSetStatus, set *sidecarsv1alpha1.SidecarSet, plan Plan, now metav1.Time) {
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
	pending := injected - c.UpToDate
	// In-place candidates not yet begun; a pod whose upgrade failed waits for a new target.
	waiting := c.InPlace - len(plan.Continue) - c.Failed
	if set.Spec.UpdateStrategy.EffectiveOnImmutableChange() == sidecarsv1alpha1.ImmutableChangeEvict {
		waiting += c.NotUpgradable
	}

	set1 := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg,
			ObservedGeneration: set.Generation, LastTransitionTime: now,
		})
	}

	switch {
	case c.Matched == 0:
		set1(sidecarsv1alpha1.ConditionReady, true, sidecarsv1alpha1.ReasonNoMatchingPods, "No pod matches the SidecarSet.")
	case c.Missing > 0:
		set1(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonPodsMissing,
			fmt.Sprintf("%d matched pods were never injected.", c.Missing))
	case pending > 0 && waiting+len(plan.Continue) == 0:
		set1(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonPodsNotUpgradable,
			fmt.Sprintf("%d of %d pods run revision %s; the others cannot be updated in place.", c.UpToDate, injected, status.UpdateRevision))
	case pending > 0:
		set1(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonRollingOut,
			fmt.Sprintf("%d of %d pods run revision %s.", c.UpToDate, injected, status.UpdateRevision))
	case c.UpToDateReady < c.Matched:
		set1(sidecarsv1alpha1.ConditionReady, false, sidecarsv1alpha1.ReasonPodsNotReady,
			fmt.Sprintf("%d of %d pods are ready.", c.UpToDateReady, c.Matched))
	default:
		set1(sidecarsv1alpha1.ConditionReady, true, sidecarsv1alpha1.ReasonRolloutComplete,
			fmt.Sprintf("All %d pods run revision %s and are ready.", c.Matched, status.UpdateRevision))
	}

	active := len(plan.Continue)+len(plan.Start)+len(plan.Evict) > 0 || plan.Blocked == BlockedBudget
	switch {
	case active:
		set1(sidecarsv1alpha1.ConditionProgressing, true, sidecarsv1alpha1.ReasonRollingOut,
			fmt.Sprintf("%d pods upgrading, %d waiting; maxUnavailable %d.",
				len(plan.Continue)+len(plan.Start), max(0, waiting-len(plan.Start)), plan.MaxUnavailable))
	case waiting <= 0:
		set1(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonRolloutComplete,
			"No pod is waiting for an in-place update.")
	case plan.Blocked == BlockedOnPodRestart:
		set1(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonOnPodRestart,
			fmt.Sprintf("%d pods get the new sidecars when they are recreated (updateStrategy.type OnPodRestart).", waiting))
	case plan.Blocked == BlockedPaused:
		set1(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonRolloutPaused,
			fmt.Sprintf("The rollout is paused with %d pods waiting.", waiting))
	case plan.Blocked == BlockedPartition:
		set1(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonPartitionHeld,
			fmt.Sprintf("updateStrategy.partition keeps %d pods on older revisions.", waiting))
	default:
		set1(sidecarsv1alpha1.ConditionProgressing, false, sidecarsv1alpha1.ReasonRolloutHeld,
			fmt.Sprintf("%d pods wait outside updateStrategy.selector.", waiting))
	}

	switch {
	case set.Spec.UpdateStrategy.Paused:
		set1(sidecarsv1alpha1.ConditionPaused, true, sidecarsv1alpha1.ReasonRolloutPaused, "updateStrategy.paused is true.")
	case set.Spec.Injection.Paused:
		set1(sidecarsv1alpha1.ConditionPaused, true, sidecarsv1alpha1.ReasonInjectionPaused, "injection.paused is true: new pods are not injected.")
	default:
		set1(sidecarsv1alpha1.ConditionPaused, false, sidecarsv1alpha1.ReasonNotPaused, "")
	}

	switch {
	case c.NotUpgradable+c.Failed > 0:
		set1(sidecarsv1alpha1.ConditionDegraded, true, sidecarsv1alpha1.ReasonPodsNotUpgradable,
			fmt.Sprintf("%d pods cannot be updated in place; see their %s condition.", c.NotUpgradable+c.Failed, sidecarsv1alpha1.UpgradableCondition))
	case c.Missing > 0:
		set1(sidecarsv1alpha1.ConditionDegraded, true, sidecarsv1alpha1.ReasonPodsMissing,
			fmt.Sprintf("%d matched pods were never injected (created while the webhook was unavailable, or while injection was paused).", c.Missing))
	default:
		set1(sidecarsv1alpha1.ConditionDegraded, false, sidecarsv1alpha1.ReasonAsExpected, "")
	}
}
