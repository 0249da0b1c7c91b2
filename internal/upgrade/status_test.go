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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

// statusGeneration is the generation of the SidecarSets these tests describe.
const statusGeneration = 4

var (
	statusT1 = metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	statusT2 = metav1.NewTime(time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC))

	ignoreConditions  = cmpopts.IgnoreFields(sidecarsv1alpha1.SidecarSetStatus{}, "Conditions")
	ignoreMessage     = cmpopts.IgnoreFields(metav1.Condition{}, "Message")
	ignoreMessageTime = cmpopts.IgnoreFields(metav1.Condition{}, "Message", "LastTransitionTime")
	byType            = cmpopts.SortSlices(func(a, b metav1.Condition) bool { return a.Type < b.Type })
)

// statusSet builds the SidecarSet at statusGeneration.
func statusSet(edits ...func(*sidecarsv1alpha1.SidecarSet)) *sidecarsv1alpha1.SidecarSet {
	s := testingutil.MakeSidecarSet("proxy").Obj()
	s.Generation = statusGeneration
	for _, edit := range edits {
		edit(s)
	}
	return s
}

func rolloutPaused(s *sidecarsv1alpha1.SidecarSet)   { s.Spec.UpdateStrategy.Paused = true }
func injectionPaused(s *sidecarsv1alpha1.SidecarSet) { s.Spec.Injection.Paused = true }
func onPodRestart(s *sidecarsv1alpha1.SidecarSet) {
	s.Spec.UpdateStrategy.Type = sidecarsv1alpha1.OnPodRestartStrategyType
}
func evictImmutable(s *sidecarsv1alpha1.SidecarSet) {
	s.Spec.UpdateStrategy.OnImmutableChange = sidecarsv1alpha1.ImmutableChangeEvict
}

// movingToV2 is the status of a set whose pods last all ran proxy-v1 and whose spec is
// now proxy-v2.
func movingToV2() sidecarsv1alpha1.SidecarSetStatus {
	return sidecarsv1alpha1.SidecarSetStatus{CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2"}
}

func setCondition(t string, s metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, ObservedGeneration: statusGeneration}
}

func readyCond(s metav1.ConditionStatus, reason string) metav1.Condition {
	return setCondition(sidecarsv1alpha1.ConditionReady, s, reason)
}

func progressingCond(s metav1.ConditionStatus, reason string) metav1.Condition {
	return setCondition(sidecarsv1alpha1.ConditionProgressing, s, reason)
}

func pausedCond(s metav1.ConditionStatus, reason string) metav1.Condition {
	return setCondition(sidecarsv1alpha1.ConditionPaused, s, reason)
}

func degradedCond(s metav1.ConditionStatus, reason string) metav1.Condition {
	return setCondition(sidecarsv1alpha1.ConditionDegraded, s, reason)
}

var (
	notPaused    = pausedCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonNotPaused)
	notDegraded  = degradedCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonAsExpected)
	notRolling   = progressingCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonRolloutComplete)
	rollingOut   = progressingCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonRollingOut)
	readyRolling = readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonRollingOut)
	readyDone    = readyCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonRolloutComplete)
)

// The plans in these tests count pods the way Compute does: a pod being upgraded keeps
// its old injection record until it finishes, so it is in Counts.InPlace as well as in
// Continue, and a pod whose upgrade failed is in Counts.InPlace and Counts.Failed.
// countWaiting fills Counts.Waiting as Compute counts it for plans whose in-flight and
// failed pods are all of ClassInPlace: the pods the rollout has yet to begin.
func countWaiting(plan Plan, set *sidecarsv1alpha1.SidecarSet) Plan {
	c := &plan.Counts
	c.Waiting = c.InPlace - len(plan.Continue) - c.Failed
	if set.Spec.UpdateStrategy.EffectiveOnImmutableChange() == sidecarsv1alpha1.ImmutableChangeEvict {
		c.Waiting += c.NotUpgradable
	}
	return plan
}

func TestSetStatus(t *testing.T) {
	cases := map[string]struct {
		set    *sidecarsv1alpha1.SidecarSet
		status sidecarsv1alpha1.SidecarSetStatus
		plan   Plan
		// outcome is what acting on the plan found.
		outcome Outcome
		// wantStatus is compared without its conditions; wantConditions by type,
		// status, reason and observedGeneration.
		wantStatus     sidecarsv1alpha1.SidecarSetStatus
		wantConditions []metav1.Condition
	}{
		"no matched pods is ready": {
			set:    statusSet(),
			status: movingToV2(),
			plan:   Plan{MaxUnavailable: "1"},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				CurrentRevision:    "proxy-v2", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonNoMatchingPods),
				notRolling, notPaused, notDegraded,
			},
		},
		"all pods up to date and ready completes the rollout": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 3, UpToDate: 3, Ready: 3, UpToDateReady: 3,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 3, ReadyPods: 3, UpdatedReadyPods: 3,
				CurrentRevision: "proxy-v2", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{readyDone, notRolling, notPaused, notDegraded},
		},
		"rollout in progress keeps the current revision": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Continue: []string{"ns/b"}, Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 2, UpToDateReady: 1, InPlace: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 2, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{readyRolling, rollingOut, notPaused, notDegraded},
		},
		"an upgrade in flight on an up-to-date pod keeps the current revision": {
			// Another set's upgrade holds a pod this set has already brought to v2.
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Continue: []string{"ns/b"}, Counts: Counts{
				Matched: 2, UpToDate: 2, Ready: 1, UpToDateReady: 1,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        2, UpdatedPods: 2, ReadyPods: 1, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonPodsNotReady),
				rollingOut, notPaused, notDegraded,
			},
		},
		"paused rollout with pods waiting stops progressing": {
			set:    statusSet(rolloutPaused),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Blocked: BlockedPaused, Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 3, UpToDateReady: 1, InPlace: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling,
				progressingCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonRolloutPaused),
				pausedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonRolloutPaused),
				notDegraded,
			},
		},
		"paused rollout with an upgrade in flight still progresses": {
			set:    statusSet(rolloutPaused),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Blocked: BlockedPaused, Continue: []string{"ns/b"}, Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 2, UpToDateReady: 1, InPlace: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 2, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling, rollingOut,
				pausedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonRolloutPaused),
				notDegraded,
			},
		},
		"OnPodRestart with pods waiting does not progress": {
			set:    statusSet(onPodRestart),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Blocked: BlockedOnPodRestart, Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 3, UpToDateReady: 1, InPlace: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling,
				progressingCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonOnPodRestart),
				notPaused, notDegraded,
			},
		},
		"OnPodRestart wins over a paused rollout for Progressing": {
			set:    statusSet(onPodRestart, rolloutPaused),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Blocked: BlockedOnPodRestart, Counts: Counts{
				Matched: 2, UpToDate: 1, Ready: 2, UpToDateReady: 1, InPlace: 1,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        2, UpdatedPods: 1, ReadyPods: 2, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling,
				progressingCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonOnPodRestart),
				pausedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonRolloutPaused),
				notDegraded,
			},
		},
		"paused injection is reported while the rollout is complete": {
			set:    statusSet(injectionPaused),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 2, UpToDate: 2, Ready: 2, UpToDateReady: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        2, UpdatedPods: 2, ReadyPods: 2, UpdatedReadyPods: 2,
				CurrentRevision: "proxy-v2", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyDone, notRolling,
				pausedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonInjectionPaused),
				notDegraded,
			},
		},
		"a paused rollout is named before paused injection": {
			set:    statusSet(rolloutPaused, injectionPaused),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Blocked: BlockedPaused, Counts: Counts{
				Matched: 1, UpToDate: 1, Ready: 1, UpToDateReady: 1,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        1, UpdatedPods: 1, ReadyPods: 1, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v2", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyDone, notRolling,
				pausedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonRolloutPaused),
				notDegraded,
			},
		},
		"not upgradable and failed pods degrade the set": {
			// ns/b is upgrading, ns/c failed its upgrade, ns/d needs more than an
			// in-place change; onImmutableChange is Skip.
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Continue: []string{"ns/b"}, Counts: Counts{
				Matched: 4, UpToDate: 1, Ready: 3, UpToDateReady: 1, InPlace: 2, NotUpgradable: 1, Failed: 1,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        4, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1, NotUpgradablePods: 2,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling, rollingOut, notPaused,
				degradedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonUpgradeFailed),
			},
		},
		"Skip leaves not upgradable pods out of the rollout": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 3, UpToDateReady: 1, NotUpgradable: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1, NotUpgradablePods: 2,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonPodsNotUpgradable), notRolling, notPaused,
				degradedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonPodsNotUpgradable),
			},
		},
		"pods held by the partition stop the rollout without progress": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Blocked: BlockedPartition, Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 3, UpToDateReady: 1, InPlace: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling, progressingCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonPartitionHeld), notPaused,
				degradedCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonAsExpected),
			},
		},
		"pods outside the canary selector are held": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 3, UpToDateReady: 1, InPlace: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling, progressingCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonRolloutHeld), notPaused,
				degradedCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonAsExpected),
			},
		},
		"a failed upgrade with nothing left to roll: not ready, degraded for the failure": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 2, UpToDate: 1, Ready: 2, UpToDateReady: 1, InPlace: 1, Failed: 1,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        2, UpdatedPods: 1, ReadyPods: 2, UpdatedReadyPods: 1, NotUpgradablePods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonUpgradeFailed), notRolling, notPaused,
				degradedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonUpgradeFailed),
			},
		},
		"failed upgrades holding the budget with pods waiting: the rollout stopped at its deadline": {
			// ns/b and ns/c failed (a broken image) and spend maxUnavailable 2; ns/d and ns/e wait.
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "2", Unavailable: 2, Blocked: BlockedBudget, Failed: []string{"ns/b", "ns/c"}, Counts: Counts{
				Matched: 5, UpToDate: 1, Ready: 3, UpToDateReady: 1, InPlace: 4, Failed: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        5, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1, NotUpgradablePods: 2,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling,
				{Type: sidecarsv1alpha1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonProgressDeadlineExceeded, ObservedGeneration: statusGeneration},
				notPaused,
				degradedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonUpgradeFailed),
			},
		},
		"a PodDisruptionBudget holding every pod next in line stops progress and says so": {
			set:     statusSet(),
			status:  movingToV2(),
			plan:    Plan{MaxUnavailable: "1", Start: []string{"ns/b"}, Counts: Counts{Matched: 2, UpToDate: 1, Ready: 2, UpToDateReady: 1, InPlace: 1}},
			outcome: Outcome{DisruptionBlocked: 1},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        2, UpdatedPods: 1, ReadyPods: 2, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling,
				{Type: sidecarsv1alpha1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonDisruptionBudget, ObservedGeneration: statusGeneration},
				notPaused, notDegraded,
			},
		},
		"Evict counts not upgradable pods as rollable": {
			set:    statusSet(evictImmutable),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Evict: []string{"ns/b"}, Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 3, UpToDateReady: 1, NotUpgradable: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1, NotUpgradablePods: 2,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyRolling, rollingOut, notPaused,
				degradedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonPodsNotUpgradable),
			},
		},
		"missing pods are not ready and degrade the set": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 3, UpToDate: 2, Ready: 3, UpToDateReady: 2, Missing: 1,
			}},
			// Missing pods never reached the update revision: currentRevision stays.
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 2, ReadyPods: 3, UpdatedReadyPods: 2, MissingPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonPodsMissing),
				notRolling, notPaused,
				degradedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonPodsMissing),
			},
		},
		"missing pods come before a rollout in Ready, not upgradable pods before missing ones in Degraded": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 3, UpToDate: 1, Ready: 3, UpToDateReady: 1, NotUpgradable: 1, Missing: 1,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 1, ReadyPods: 3, UpdatedReadyPods: 1, NotUpgradablePods: 1, MissingPods: 1,
				CurrentRevision: "proxy-v1", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonPodsMissing),
				notRolling, notPaused,
				degradedCond(metav1.ConditionTrue, sidecarsv1alpha1.ReasonPodsNotUpgradable),
			},
		},
		"up to date pods not all ready are not ready": {
			set:    statusSet(),
			status: movingToV2(),
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 3, UpToDate: 3, Ready: 2, UpToDateReady: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        3, UpdatedPods: 3, ReadyPods: 2, UpdatedReadyPods: 2,
				CurrentRevision: "proxy-v2", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{
				readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonPodsNotReady),
				notRolling, notPaused, notDegraded,
			},
		},
		"no update revision leaves currentRevision alone": {
			set:    statusSet(),
			status: sidecarsv1alpha1.SidecarSetStatus{CurrentRevision: "proxy-v1"},
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 1, UpToDate: 1, Ready: 1, UpToDateReady: 1,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        1, UpdatedPods: 1, ReadyPods: 1, UpdatedReadyPods: 1,
				CurrentRevision: "proxy-v1",
			},
			wantConditions: []metav1.Condition{readyDone, notRolling, notPaused, notDegraded},
		},
		"observedGeneration follows the set's generation": {
			set: statusSet(),
			status: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration - 1,
				MatchedPods:        5, UpdatedPods: 5, ReadyPods: 5, UpdatedReadyPods: 5,
				CurrentRevision: "proxy-v2", UpdateRevision: "proxy-v2",
				Conditions: []metav1.Condition{
					{Type: sidecarsv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: sidecarsv1alpha1.ReasonRolloutComplete, ObservedGeneration: statusGeneration - 1, LastTransitionTime: statusT1},
					{Type: sidecarsv1alpha1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonRolloutComplete, ObservedGeneration: statusGeneration - 1, LastTransitionTime: statusT1},
					{Type: sidecarsv1alpha1.ConditionPaused, Status: metav1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonNotPaused, ObservedGeneration: statusGeneration - 1, LastTransitionTime: statusT1},
					{Type: sidecarsv1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonAsExpected, ObservedGeneration: statusGeneration - 1, LastTransitionTime: statusT1},
				},
			},
			plan: Plan{MaxUnavailable: "1", Counts: Counts{
				Matched: 2, UpToDate: 2, Ready: 2, UpToDateReady: 2,
			}},
			wantStatus: sidecarsv1alpha1.SidecarSetStatus{
				ObservedGeneration: statusGeneration,
				MatchedPods:        2, UpdatedPods: 2, ReadyPods: 2, UpdatedReadyPods: 2,
				CurrentRevision: "proxy-v2", UpdateRevision: "proxy-v2",
			},
			wantConditions: []metav1.Condition{readyDone, notRolling, notPaused, notDegraded},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status := tc.status.DeepCopy()
			SetStatus(status, tc.set, countWaiting(tc.plan, tc.set), tc.outcome, statusT2)
			if diff := cmp.Diff(tc.wantStatus, *status, ignoreConditions); diff != "" {
				t.Errorf("SetStatus() status mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantConditions, status.Conditions, ignoreMessageTime, byType); diff != "" {
				t.Errorf("SetStatus() conditions mismatch (-want +got):\n%s", diff)
			}
			for _, c := range status.Conditions {
				if c.Status == metav1.ConditionTrue && c.Message == "" {
					t.Errorf("SetStatus() left condition %s True without a message", c.Type)
				}
			}
		})
	}
}

func TestSetStatusLastTransitionTime(t *testing.T) {
	rolling := Plan{MaxUnavailable: "1", Continue: []string{"ns/b"}, Counts: Counts{
		Matched: 2, UpToDate: 1, Ready: 1, UpToDateReady: 1, InPlace: 1,
	}}
	upToDateNotReady := Plan{MaxUnavailable: "1", Counts: Counts{
		Matched: 2, UpToDate: 2, Ready: 1, UpToDateReady: 1,
	}}
	complete := Plan{MaxUnavailable: "1", Counts: Counts{
		Matched: 2, UpToDate: 2, Ready: 2, UpToDateReady: 2,
	}}
	at := func(c metav1.Condition, when metav1.Time) metav1.Condition {
		c.LastTransitionTime = when
		return c
	}

	cases := map[string]struct {
		first, second Plan
		// wantConditions are after the first call at statusT1 and the second at statusT2.
		wantConditions []metav1.Condition
	}{
		"the same plan twice keeps every transition time": {
			first:  rolling,
			second: rolling,
			wantConditions: []metav1.Condition{
				at(readyRolling, statusT1), at(rollingOut, statusT1), at(notPaused, statusT1), at(notDegraded, statusT1),
			},
		},
		"a new reason with the same status keeps the transition time": {
			first:  rolling,
			second: upToDateNotReady,
			wantConditions: []metav1.Condition{
				at(readyCond(metav1.ConditionFalse, sidecarsv1alpha1.ReasonPodsNotReady), statusT1),
				at(notRolling, statusT2), at(notPaused, statusT1), at(notDegraded, statusT1),
			},
		},
		"a flipped status takes the new time": {
			first:  rolling,
			second: complete,
			wantConditions: []metav1.Condition{
				at(readyDone, statusT2), at(notRolling, statusT2), at(notPaused, statusT1), at(notDegraded, statusT1),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			sidecarSet := statusSet()
			status := movingToV2()
			SetStatus(&status, sidecarSet, countWaiting(tc.first, sidecarSet), Outcome{}, statusT1)
			SetStatus(&status, sidecarSet, countWaiting(tc.second, sidecarSet), Outcome{}, statusT2)
			if diff := cmp.Diff(tc.wantConditions, status.Conditions, ignoreMessage, byType); diff != "" {
				t.Errorf("SetStatus() conditions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWhenToWrite(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	base := func(edits ...func(*sidecarsv1alpha1.SidecarSetStatus)) *sidecarsv1alpha1.SidecarSetStatus {
		s := &sidecarsv1alpha1.SidecarSetStatus{
			ObservedGeneration: 2, MatchedPods: 10, UpdatedPods: 3, UpdateRevision: "mesh-2", CurrentRevision: "mesh-1",
			Conditions: []metav1.Condition{
				{Type: sidecarsv1alpha1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: "RollingUpdate", Message: "3 of 10 pods updated", ObservedGeneration: 2},
				{Type: sidecarsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Updating", ObservedGeneration: 2},
			},
		}
		for _, e := range edits {
			e(s)
		}
		return s
	}
	counts := func(s *sidecarsv1alpha1.SidecarSetStatus) {
		s.UpdatedPods = 4
		s.Conditions[0].Message = "4 of 10 pods updated"
	}
	tests := map[string]struct {
		want      *sidecarsv1alpha1.SidecarSetStatus
		lastWrite time.Time
		now       time.Time
		wantWrite StatusWrite
	}{
		"nothing changed: no write": {
			want: base(), lastWrite: t0, now: t0.Add(time.Second),
		},
		"counts changed, written a second ago: held for the rest of the interval": {
			want: base(counts), lastWrite: t0, now: t0.Add(time.Second),
			wantWrite: StatusWrite{After: time.Second},
		},
		"counts changed, written an interval ago: now": {
			want: base(counts), lastWrite: t0, now: t0.Add(2 * time.Second),
			wantWrite: StatusWrite{Now: true},
		},
		"counts changed, never written by this process: now": {
			want: base(counts), now: t0,
			wantWrite: StatusWrite{Now: true},
		},
		"a condition's status changed: now, however recent the last write": {
			want: base(counts, func(s *sidecarsv1alpha1.SidecarSetStatus) {
				s.Conditions[1].Status, s.Conditions[1].Reason = metav1.ConditionTrue, "AllUpdated"
			}),
			lastWrite: t0, now: t0.Add(time.Millisecond), wantWrite: StatusWrite{Now: true},
		},
		"a condition's reason changed: now": {
			want:      base(func(s *sidecarsv1alpha1.SidecarSetStatus) { s.Conditions[0].Reason = "ProgressDeadlineExceeded" }),
			lastWrite: t0, now: t0.Add(time.Millisecond), wantWrite: StatusWrite{Now: true},
		},
		"a new generation observed: now": {
			want: base(func(s *sidecarsv1alpha1.SidecarSetStatus) {
				s.ObservedGeneration = 3
				for i := range s.Conditions {
					s.Conditions[i].ObservedGeneration = 3
				}
			}),
			lastWrite: t0, now: t0.Add(time.Millisecond), wantWrite: StatusWrite{Now: true},
		},
		"the revision changed: now": {
			want:      base(func(s *sidecarsv1alpha1.SidecarSetStatus) { s.CurrentRevision = "mesh-2" }),
			lastWrite: t0, now: t0.Add(time.Millisecond), wantWrite: StatusWrite{Now: true},
		},
		"a condition appeared: now": {
			want: base(func(s *sidecarsv1alpha1.SidecarSetStatus) {
				s.Conditions = append(s.Conditions, metav1.Condition{Type: sidecarsv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: "UpgradeFailed"})
			}),
			lastWrite: t0, now: t0.Add(time.Millisecond), wantWrite: StatusWrite{Now: true},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := WhenToWrite(base(), tc.want, tc.lastWrite, tc.now, 2*time.Second)
			if diff := cmp.Diff(tc.wantWrite, got); diff != "" {
				t.Errorf("WhenToWrite (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProgressingNamesWhatHoldsTheRollout(t *testing.T) {
	rolling := Counts{Matched: 4, InPlace: 4, Ready: 4, Waiting: 3}
	cases := map[string]struct {
		plan        Plan
		outcome     Outcome
		wantReason  string
		wantMessage string
	}{
		"pods upgrading, the budget per workload": {
			plan:        Plan{MaxUnavailable: "1", Continue: []string{"a/w1"}, Counts: rolling},
			wantReason:  sidecarsv1alpha1.ReasonRollingOut,
			wantMessage: "1 pods upgrading, 3 waiting; maxUnavailable 1 per workload.",
		},
		"the pods spending a budget that holds others, and what the kubelet reports": {
			plan: Plan{MaxUnavailable: "1", MaxUnavailableTotal: 2, Continue: []string{"a/w1", "b/w1"}, Blocked: BlockedBudget,
				Counts: rolling, Holding: []Holder{{Key: "a/w1", Why: "upgrading"}, {Key: "b/w1", Why: "upgrading"}}, TotalHeld: true},
			outcome: Outcome{Kubelet: []string{
				"b/w1: container proxy is not ready on image proxy:v2: ImagePullBackOff",
				"a/w1: container proxy is not ready on image proxy:v2: CrashLoopBackOff",
			}},
			wantReason: sidecarsv1alpha1.ReasonRollingOut,
			wantMessage: "2 pods upgrading, 3 waiting; maxUnavailable 1 per workload, 2 in all. " +
				"Waiting for maxUnavailableTotal, spent by: a/w1 (upgrading); b/w1 (upgrading). " +
				"The kubelet reports: a/w1: container proxy is not ready on image proxy:v2: CrashLoopBackOff; " +
				"b/w1: container proxy is not ready on image proxy:v2: ImagePullBackOff.",
		},
		"pods a PodDisruptionBudget holds, from this pass and from earlier ones": {
			plan:        Plan{MaxUnavailable: "1", Counts: rolling, DisruptionBlocked: []string{"a/w2: PodDisruptionBudget web allows no disruption now"}},
			outcome:     Outcome{DisruptionBlocked: 1, Blocked: []string{"a/w1: PodDisruptionBudget web allows no disruption now"}},
			wantReason:  sidecarsv1alpha1.ReasonDisruptionBudget,
			wantMessage: "A PodDisruptionBudget allows no disruption of the 2 pods next in line; 3 pods wait. A PodDisruptionBudget keeps from draining: a/w1: PodDisruptionBudget web allows no disruption now; a/w2: PodDisruptionBudget web allows no disruption now.",
		},
		"many holders are counted past the first five": {
			plan: Plan{MaxUnavailable: "1", Blocked: BlockedBudget, Counts: rolling, Holding: []Holder{
				{"a/1", "upgrading"}, {"a/2", "upgrading"}, {"a/3", "upgrading"}, {"a/4", "upgrading"}, {"a/5", "upgrading"}, {"a/6", "upgrading"}, {"a/7", "upgrading"},
			}},
			wantReason: sidecarsv1alpha1.ReasonRollingOut,
			wantMessage: "0 pods upgrading, 3 waiting; maxUnavailable 1 per workload. Waiting for their workloads' maxUnavailable, spent by: " +
				"a/1 (upgrading); a/2 (upgrading); a/3 (upgrading); a/4 (upgrading); a/5 (upgrading); and 2 more.",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var status sidecarsv1alpha1.SidecarSetStatus
			SetStatus(&status, statusSet(), tc.plan, tc.outcome, metav1.Now())
			got := meta.FindStatusCondition(status.Conditions, sidecarsv1alpha1.ConditionProgressing)
			if got == nil {
				t.Fatal("no Progressing condition")
			}
			if got.Reason != tc.wantReason || got.Message != tc.wantMessage {
				t.Errorf("Progressing = %s %q,\nwant %s %q", got.Reason, got.Message, tc.wantReason, tc.wantMessage)
			}
		})
	}
}
