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

package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/resources"
	"github.com/outrigger-dev/outrigger/internal/revision"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// report collects a pass's events about its SidecarSet, emitted once the status write
// succeeded.
type report struct {
	events []setEvent
}

type setEvent struct {
	eventType, reason, action, message string
	related                            runtime.Object
}

func (rep *report) normal(reason, action, format string, args ...any) {
	rep.events = append(rep.events, setEvent{eventType: corev1.EventTypeNormal, reason: reason, action: action, message: fmt.Sprintf(format, args...)})
}

func (rep *report) warn(reason, action, format string, args ...any) {
	rep.events = append(rep.events, setEvent{eventType: corev1.EventTypeWarning, reason: reason, action: action, message: fmt.Sprintf(format, args...)})
}

func (rep *report) emit(recorder events.EventRecorder, set *sidecarsv1alpha1.SidecarSet) {
	for _, e := range rep.events {
		recorder.Eventf(set, e.related, e.eventType, e.reason, e.action, "%s", e.message)
	}
	rep.events = nil
}

// actor applies one pass's decisions to pods and remembers what to report.
type actor struct {
	r      *SidecarSetReconciler
	set    *sidecarsv1alpha1.SidecarSet
	spec   revision.Spec
	target upgrade.Target
	now    time.Time
	report *report
	// awaitingCache are pods whose cached copy predates this process's last write to
	// them (their upgrade's beginning included): not driven until the cache catches up.
	awaitingCache map[string]bool

	// mu guards what follows: the pass drives its pods side by side.
	mu                         sync.Mutex
	outcome                    upgrade.Outcome
	requeueAfter               time.Duration
	started, finished, evicted []string
	podErrors                  []string
}

// errDisruptionBlocked is a drain a PodDisruptionBudget holds now: the pod backs off
// (upgrade.Memory's Disruption) and the next passes move on to the pods behind it.
type errDisruptionBlocked struct{ why string }

func (e *errDisruptionBlocked) Error() string { return e.why }

// parallelPods is how many pods one pass writes to at once: a batch of a large
// rollout is begun, swapped and finished in a few round trips, not one per pod.
const parallelPods = 16

// locked runs f holding the actor's lock.
func (a *actor) locked(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f()
}

// act drives the upgrades in flight and those the plan starts, evicts, looks at failed
// upgrades (a late kubelet finishes them), and keeps the upgradable condition of the
// other pods. Each pod's errors stay that pod's.
func (a *actor) act(ctx context.Context, plan upgrade.Plan, pods map[string]upgrade.Observed) {
	driven := map[string]bool{}
	sem := make(chan struct{}, parallelPods)
	var wg sync.WaitGroup
	for _, key := range slices.Concat(plan.Continue, plan.Start, plan.Failed) {
		driven[key] = true
		if a.awaitingCache[key] {
			a.requeue(time.Second) // its event brings the pass back sooner
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a.podDone(ctx, key, a.drive(ctx, pods[key]))
		})
	}
	wg.Wait()
	for _, key := range plan.Evict {
		driven[key] = true
		a.podDone(ctx, key, a.evict(ctx, pods[key]))
	}
	for _, key := range slices.Sorted(maps.Keys(plan.Classes)) {
		if o := pods[key]; o.Pod != nil && !driven[key] {
			a.podDone(ctx, key, a.keepUpgradable(ctx, o, plan.Classes[key]))
		}
	}
}

// podDone settles one pod's outcome: a conflict (our cache was behind) is retried
// shortly; other errors are logged, reported and retried with the pod's own backoff.
func (a *actor) podDone(ctx context.Context, key string, err error) {
	var blocked *errDisruptionBlocked
	switch {
	case err == nil || apierrors.IsNotFound(err):
		a.r.memory.Succeeded(a.set.Name, key)
	case errors.As(err, &blocked):
		a.requeue(a.r.memory.Blocked(a.set.Name, key, blocked.why, a.now))
	case apierrors.IsConflict(err):
		a.requeue(time.Second)
	default:
		ctrl.LoggerFrom(ctx).Error(err, "Failed to update a pod; retrying it with backoff", "pod", key)
		metrics.PodErrorsTotal.WithLabelValues(a.set.Name).Inc()
		a.locked(func() { a.podErrors = append(a.podErrors, fmt.Sprintf("%s: %v", key, err)) })
		a.requeue(a.r.memory.Failed(a.set.Name, key, a.now))
	}
}

// reportPass turns what the pass did into events, emitted after the status write.
func (a *actor) reportPass() {
	if len(a.started) > 0 {
		a.report.normal("UpgradeStarted", "Upgrade", "Started the in-place upgrade of %s to revision %s: %s",
			podCount(len(a.started)), a.target.Revision, strings.Join(a.started, ", "))
	}
	if len(a.evicted) > 0 {
		a.report.normal("PodsEvicted", "Evict", "Evicted %s whose change cannot be applied in place: %s",
			podCount(len(a.evicted)), strings.Join(a.evicted, ", "))
	}
	if len(a.finished) > 0 {
		a.report.normal("UpgradeFinished", "Upgrade", "Finished the in-place upgrade of %s to revision %s: %s",
			podCount(len(a.finished)), a.target.Revision, strings.Join(a.finished, ", "))
	}
	if blocked := a.outcome.Blocked; len(blocked) > 0 {
		slices.Sort(blocked)
		a.report.normal("DrainBlocked", "Drain", "A PodDisruptionBudget keeps %s from draining now; each is retried later: %s",
			podCount(len(blocked)), strings.Join(blocked, "; "))
	}
	if len(a.podErrors) > 0 {
		a.report.warn("PodUpdateFailed", "Upgrade", "Could not update %s; retrying with backoff: %s",
			podCount(len(a.podErrors)), strings.Join(a.podErrors, "; "))
	}
}

func podCount(n int) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

// wrote notes a write to a pod. The pass's status was computed before it, from the
// cache, and a write that changed nothing on the server brings no event: look again
// shortly, so status always catches up with what this pass did.
func (a *actor) wrote() { a.requeue(time.Second) }

func (a *actor) requeue(d time.Duration) {
	a.locked(func() {
		if a.requeueAfter == 0 || d < a.requeueAfter {
			a.requeueAfter = d
		}
	})
}

// drive moves one pod's upgrade forward as far as it can go now. Each step is decided
// from the pod as the API server returned it after the previous write, and every write
// of the upgrade state carries the pod's resourceVersion: a step decided on a stale
// cache fails with a conflict instead of undoing a newer one.
func (a *actor) drive(ctx context.Context, o upgrade.Observed) error {
	if o.Pod == nil {
		return nil
	}
	if o.State != nil && o.State.Set != a.set.Name {
		return nil // another SidecarSet is upgrading this pod; it comes back when that one is done
	}
	// The observed pod is the cache's: each write below changes the pod it is given.
	pod, state := o.Pod.DeepCopy(), o.State
	strategy := &a.set.Spec.UpdateStrategy
	// The versions this pass's writes replace: until the cache shows another, later
	// passes leave the pod alone rather than redo a step (upgrade.PlannerPods).
	var replaced []string
	defer func() {
		a.r.memory.Wrote(a.set.Name, client.ObjectKeyFromObject(pod).String(), replaced, pod.ResourceVersion, a.now)
	}()
	for range 6 {
		if v := pod.ResourceVersion; len(replaced) == 0 || replaced[len(replaced)-1] != v {
			replaced = append(replaced, v)
		}
		step := upgrade.Next(upgrade.Input{
			Pod: pod, State: state, Set: a.set.Name, Spec: a.spec, Target: a.target,
			DrainSeconds: strategy.Drain.EffectiveSeconds(), ProgressDeadline: strategy.EffectiveProgressDeadline(), Now: a.now,
		})
		next, err := a.take(ctx, pod, state, step)
		if next == nil || err != nil {
			return err
		}
		state = next
	}
	return nil
}

// take takes one step of a pod's upgrade; next is the state to decide the following
// step from, nil when the pass is done with the pod.
func (a *actor) take(ctx context.Context, pod *corev1.Pod, state *upgrade.State, step upgrade.Step) (next *upgrade.State, err error) {
	switch step.Action {
	case upgrade.ActionBegin:
		if begun, err := a.begin(ctx, pod, step.State); !begun || err != nil {
			return nil, err
		}
		return step.State, nil
	case upgrade.ActionDrain:
		// A state begun without the gate (by an earlier version, or a gate another
		// writer turned True): drain now.
		_, err := a.setCondition(ctx, pod, sidecarsv1alpha1.SidecarsReadyCondition, false, "Upgrading", drainMessage(a.set.Name))
		return state, err
	case upgrade.ActionWaitDrain:
		a.requeue(step.After)
		return nil, nil
	case upgrade.ActionSwap:
		if swapped, err := a.swap(ctx, pod, state, step.State); !swapped || err != nil {
			return nil, err
		}
		return step.State, nil
	case upgrade.ActionWaitKubelet:
		ctrl.LoggerFrom(ctx).V(2).Info("Waiting for the kubelet", "pod", klog.KObj(pod), "reason", step.Reason)
		if step.Trouble {
			a.kubeletTrouble(ctx, pod, step)
		}
		a.requeue(a.untilDeadline(step.State))
		// The state as Next recomputed it: its resources come from the set, not the annotation.
		return nil, a.ensureResized(ctx, pod, step.State)
	case upgrade.ActionFinish:
		return nil, a.finish(ctx, pod, step.State)
	case upgrade.ActionFail:
		return nil, a.fail(ctx, pod, step)
	default:
		return nil, nil
	}
}

// begin claims a disruption for a drain, then writes the upgrade state and, for a drain,
// the gate False that takes the pod out of its Services, in one write (the drain wait
// runs from it). begun false: a PodDisruptionBudget holds the drain now.
func (a *actor) begin(ctx context.Context, pod *corev1.Pod, state *upgrade.State) (begun bool, err error) {
	if state.Drain {
		if ok, err := a.claimDisruption(ctx, pod); !ok || err != nil {
			return false, err
		}
	}
	if err := a.patchStatus(ctx, pod, func(p *corev1.Pod) {
		setAnnotation(p, sidecarsv1alpha1.UpgradeAnnotation, state.String())
		if state.Drain {
			upgrade.SetPodCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, false, "Upgrading", drainMessage(a.set.Name), a.now)
		}
	}); err != nil {
		return false, err
	}
	a.r.memory.Begun(a.set.Name, client.ObjectKeyFromObject(pod).String(), a.now)
	a.locked(func() { a.started = append(a.started, klog.KObj(pod).String()) })
	metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeStarted).Inc()
	ctrl.LoggerFrom(ctx).V(1).Info("Began the in-place upgrade", "pod", klog.KObj(pod), "revision", state.Revision, "drain", state.Drain)
	return true, nil
}

// refused says whether the API server refused a write for what it asks, not for when:
// admission (a policy, a webhook) or validation; asking again changes nothing.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)
}

// untilDeadline is when to look again at a pod waiting for the kubelet: in 5 seconds,
// or at its progress deadline if that comes first.
func (a *actor) untilDeadline(state *upgrade.State) time.Duration {
	wait := 5 * time.Second
	if state != nil && state.SwappedAt != nil {
		left := state.SwappedAt.Add(a.set.Spec.UpdateStrategy.EffectiveProgressDeadline()).Sub(a.now)
		wait = min(wait, max(left, 100*time.Millisecond))
	}
	return wait
}

// claimDisruption spends one disruption of the PodDisruptionBudget covering pod, as an
// eviction would, before the pod is drained. ok false means a budget holds the drain now.
func (a *actor) claimDisruption(ctx context.Context, pod *corev1.Pod) (ok bool, err error) {
	var pdbs policyv1.PodDisruptionBudgetList
	if err := a.r.Client.List(ctx, &pdbs, client.InNamespace(pod.Namespace)); err != nil {
		return false, err
	}
	claim, blocked := upgrade.ClaimDisruption(pod, pdbs.Items, a.now)
	if blocked != "" {
		a.locked(func() {
			a.outcome.DisruptionBlocked++
			a.outcome.Blocked = append(a.outcome.Blocked, fmt.Sprintf("%s: %s", klog.KObj(pod), blocked))
		})
		return false, &errDisruptionBlocked{why: blocked}
	}
	if claim == nil {
		return true, nil
	}
	// An Update carries the budget's resourceVersion: a claim decided on a stale copy,
	// or racing an eviction, conflicts instead of spending the same disruption twice.
	if err := a.r.Client.Status().Update(ctx, claim); err != nil {
		return false, err
	}
	return true, nil
}

// releaseDisruption takes a pod whose upgrade finished out of the disruptedPods of the
// budgets that hold it, so it counts as healthy again as soon as it is Ready. Best
// effort: an entry left behind expires after two minutes.
func (a *actor) releaseDisruption(ctx context.Context, pod *corev1.Pod) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var pdbs policyv1.PodDisruptionBudgetList
		if err := a.r.APIReader.List(ctx, &pdbs, client.InNamespace(pod.Namespace)); err != nil {
			return err
		}
		for _, released := range upgrade.ReleaseDisruption(pod, pdbs.Items) {
			if err := a.r.Client.Status().Update(ctx, released); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Could not release the pod's disruption; it expires in two minutes", "pod", klog.KObj(pod))
	}
}

func drainMessage(set string) string {
	return fmt.Sprintf("SidecarSet %s is replacing sidecars; the pod left its Services first.", set)
}

// swap patches the images and records the swap in one write, then resizes. A swap the
// API server refuses (an admission policy refuses the new image) is a failed upgrade:
// retrying cannot help, and the pod must not stay drained. swapped false: it failed.
func (a *actor) swap(ctx context.Context, pod *corev1.Pod, from, state *upgrade.State) (swapped bool, err error) {
	if err := a.swapImages(ctx, pod, state); err != nil {
		if !refused(err) {
			return false, err
		}
		failed := *from
		failed.Failed = fmt.Sprintf("the API server refused the image swap: %v", err)
		return false, a.fail(ctx, pod, upgrade.Step{Action: upgrade.ActionFail, State: &failed, Reason: failed.Failed})
	}
	return true, nil
}

func (a *actor) swapImages(ctx context.Context, pod *corev1.Pod, state *upgrade.State) error {
	err := a.patchPod(ctx, pod, func(p *corev1.Pod) {
		for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for i := range list {
				if image, ok := state.Images[list[i].Name]; ok {
					list[i].Image = image
				}
			}
		}
		setAnnotation(p, sidecarsv1alpha1.UpgradeAnnotation, state.String())
	})
	if err != nil {
		return err
	}
	return a.ensureResized(ctx, pod, state)
}

// ensureResized asks for the state's resources through the pods/resize subresource,
// unless the pod's spec already has them; so a resize lost to a crash is sent again.
func (a *actor) ensureResized(ctx context.Context, pod *corev1.Pod, state *upgrade.State) error {
	if state == nil || len(state.Resources) == 0 {
		return nil
	}
	orig := pod.DeepCopy()
	changed := false
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			want, ok := state.Resources[list[i].Name]
			if !ok || resources.Same(want, list[i].Resources) {
				continue
			}
			list[i].Resources.Requests, list[i].Resources.Limits = want.Requests, want.Limits
			changed = true
		}
	}
	if !changed {
		return nil
	}
	a.wrote()
	return a.r.Client.SubResource("resize").Patch(ctx, pod, client.StrategicMergeFrom(orig))
}

// finish records the new revision (and the resources it resized to) on the pod, clears
// the upgrade state and, when its sidecars are ready, turns the readiness gate True, in
// one write (a gate left False, e.g. sidecars not ready yet, is PodReconciler's); then
// releases the disruption the drain claimed.
func (a *actor) finish(ctx context.Context, pod *corev1.Pod, state *upgrade.State) error {
	if err := a.patchStatus(ctx, pod, finished(a.set.Name, state, a.now)); err != nil {
		return err
	}
	if !state.UnavailableBefore {
		a.r.memory.Finished(a.set.Name, client.ObjectKeyFromObject(pod).String(), a.now)
	}
	a.locked(func() { a.finished = append(a.finished, klog.KObj(pod).String()) })
	metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeFinished).Inc()
	a.releaseDisruption(ctx, pod)
	return nil
}

// finished is the change finish writes to a pod.
func finished(set string, state *upgrade.State, now time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		records, _ := sidecarsv1alpha1.ParseInjectionRecords(p.Annotations)
		rec := records[set]
		rec.Revision, rec.Hash, rec.ImageFreeHash = state.Revision, state.Hash, state.ImageFreeHash
		for name, r := range state.Resources {
			if rec.Resized == nil {
				rec.Resized = map[string]corev1.ResourceRequirements{}
			}
			rec.Resized[name] = r
		}
		records[set] = rec
		setAnnotation(p, sidecarsv1alpha1.InjectedAnnotation, records.String())
		delete(p.Annotations, sidecarsv1alpha1.UpgradeAnnotation)
		if upgrade.HasReadinessGate(p) && upgrade.SidecarsReady(p) {
			upgrade.SetPodCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, true, "SidecarsReady", "", now)
		}
	}
}

// fail records a failed upgrade on the pod, then says so: the upgradable condition,
// events on the pod and the set, the metric.
func (a *actor) fail(ctx context.Context, pod *corev1.Pod, step upgrade.Step) error {
	// A swap refused by the API server left the kubelet nothing to warn about.
	if step.State.Swapped {
		if why := a.kubeletWarnings(ctx, pod, step.State); why != "" {
			step.Reason += "; " + why
			step.State.Failed = step.Reason
		}
	}
	msg := fmt.Sprintf("The in-place upgrade by SidecarSet %s to revision %s failed: %s", a.set.Name, step.State.Revision, step.Reason)
	// One write: the failed state and the upgradable condition saying why.
	if err := a.patchStatus(ctx, pod, func(p *corev1.Pod) {
		setAnnotation(p, sidecarsv1alpha1.UpgradeAnnotation, step.State.String())
		upgrade.SetPodCondition(p, sidecarsv1alpha1.UpgradableCondition, false, sidecarsv1alpha1.ReasonUpgradeFailed, msg, a.now)
		if !step.State.Swapped && upgrade.HasReadinessGate(p) && upgrade.SidecarsReady(p) {
			// Never swapped: the old sidecars still serve, so the pod goes back into its Services.
			upgrade.SetPodCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, true, sidecarsv1alpha1.ReasonUpgradeFailed,
				"The upgrade failed before the sidecars were replaced; they still run.", a.now)
		}
	}); err != nil {
		return err
	}
	metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeFailed).Inc()
	a.r.Recorder.Eventf(pod, a.set, corev1.EventTypeWarning, sidecarsv1alpha1.ReasonUpgradeFailed, "Upgrade", "%s", msg)
	a.locked(func() {
		a.report.events = append(a.report.events, setEvent{eventType: corev1.EventTypeWarning, reason: sidecarsv1alpha1.ReasonUpgradeFailed,
			action: "Upgrade", related: pod, message: fmt.Sprintf("The in-place upgrade of pod %s failed: %s", klog.KObj(pod), step.Reason)})
	})
	return nil
}

// kubeletTrouble notes what the kubelet reports of a pod it has not brought to the
// target, for the set's Progressing condition. Where the reason is in the pod's events
// only, they are read for the first few such pods of the pass (the condition names
// upgrade.MaxListed of them).
func (a *actor) kubeletTrouble(ctx context.Context, pod *corev1.Pod, step upgrade.Step) {
	reason := step.Reason
	var listed int
	a.locked(func() { listed = len(a.outcome.Kubelet) })
	if step.InEvents && step.State != nil && listed < upgrade.MaxListed {
		if w := a.kubeletWarnings(ctx, pod, step.State); w != "" {
			reason += ": " + w
		}
	}
	a.locked(func() { a.outcome.Kubelet = append(a.outcome.Kubelet, klog.KObj(pod).String()+": "+reason) })
}

// kubeletWarnings quotes the kubelet's Warning events about the containers a failed
// upgrade replaced: a sidecar it stopped and cannot start (an image it cannot pull)
// shows why nowhere else. Read past the cache, once per failure.
func (a *actor) kubeletWarnings(ctx context.Context, pod *corev1.Pod, state *upgrade.State) string {
	var warnings corev1.EventList
	err := a.r.APIReader.List(ctx, &warnings, client.InNamespace(pod.Namespace), client.MatchingFieldsSelector{
		Selector: fields.SelectorFromSet(fields.Set{"involvedObject.uid": string(pod.UID), "type": corev1.EventTypeWarning}),
	})
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Cannot read the pod's events for the failure's cause", "pod", klog.KObj(pod))
		return ""
	}
	return upgrade.KubeletWarnings(warnings.Items, slices.Collect(maps.Keys(state.Images)))
}

// evict evicts a pod through the Eviction API, so PodDisruptionBudgets decide.
func (a *actor) evict(ctx context.Context, o upgrade.Observed) error {
	if o.Pod == nil {
		return nil
	}
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: o.Pod.Name, Namespace: o.Pod.Namespace}}
	err := a.r.Client.SubResource("eviction").Create(ctx, o.Pod, eviction)
	switch {
	case err == nil:
		a.wrote()
		a.evicted = append(a.evicted, klog.KObj(o.Pod).String())
		metrics.UpgradesTotal.WithLabelValues(a.set.Name, metrics.UpgradeEvicted).Inc()
		return nil
	case apierrors.IsTooManyRequests(err):
		// A PodDisruptionBudget forbids it now; try again later.
		a.report.events = append(a.report.events, setEvent{eventType: corev1.EventTypeNormal, reason: "EvictionBlocked",
			action: "Evict", related: o.Pod, message: fmt.Sprintf("Pod %s cannot be evicted now: %v", klog.KObj(o.Pod), err)})
		a.requeue(10 * time.Second)
		return nil
	default:
		return err
	}
}

// keepUpgradable keeps the upgradable condition of a pod the pass does not drive
// telling whether the set can reach it in place.
func (a *actor) keepUpgradable(ctx context.Context, o upgrade.Observed, class upgrade.Class) error {
	want := upgrade.UpgradableCondition(a.set, a.target, class)
	if want == nil {
		if !upgrade.HasCondition(o.Pod, sidecarsv1alpha1.UpgradableCondition, corev1.ConditionFalse) {
			return nil
		}
		_, err := a.setCondition(ctx, o.Pod.DeepCopy(), sidecarsv1alpha1.UpgradableCondition, true, sidecarsv1alpha1.ReasonAsExpected, "")
		return err
	}
	if upgrade.HasCondition(o.Pod, sidecarsv1alpha1.UpgradableCondition, corev1.ConditionFalse) {
		return nil // the observed pod is the cache's: copied only to be written
	}
	changed, err := a.setCondition(ctx, o.Pod.DeepCopy(), sidecarsv1alpha1.UpgradableCondition, false, want.Reason, want.Message)
	if err == nil && changed {
		a.r.Recorder.Eventf(o.Pod, a.set, corev1.EventTypeWarning, "NotUpgradable", "Upgrade", "%s", want.Message)
	}
	return err
}

// setCondition sets a pod condition through the status subresource when it differs, and
// says whether it wrote.
func (a *actor) setCondition(ctx context.Context, pod *corev1.Pod, t string, ok bool, reason, msg string) (bool, error) {
	changed, err := setPodCondition(ctx, a.r.Client, pod, t, ok, reason, msg, a.now)
	if changed {
		a.wrote()
	}
	return changed, err
}

// patchPod patches what mutate changes to the pod's spec and metadata, with the pod's
// resourceVersion. A strategic merge patch names containers by name: the cached pod is
// trimmed (internal/podcache), so a patch that replaced whole lists would strip the pod.
func (a *actor) patchPod(ctx context.Context, pod *corev1.Pod, mutate func(*corev1.Pod)) error {
	if err := patchPod(ctx, a.r.Client, pod, mutate); err != nil {
		return err
	}
	a.wrote()
	return nil
}

// patchStatus writes what mutate changes to the pod's metadata and status in one write
// of the status subresource (which takes metadata too), with the pod's resourceVersion.
func (a *actor) patchStatus(ctx context.Context, pod *corev1.Pod, mutate func(*corev1.Pod)) error {
	if err := patchPodStatus(ctx, a.r.Client, pod, mutate); err != nil {
		return err
	}
	a.wrote()
	return nil
}

// patchPod and patchPodStatus leave pod as the server returned it, or as it was when
// the write failed.
func patchPod(ctx context.Context, c client.Client, pod *corev1.Pod, mutate func(*corev1.Pod)) error {
	orig := pod.DeepCopy()
	mutate(pod)
	err := c.Patch(ctx, pod, client.StrategicMergeFrom(orig, client.MergeFromWithOptimisticLock{}))
	if err != nil {
		*pod = *orig
	}
	return err
}

// patchPodStatus guards the write with what it was decided on where it can
// (upgrade.GuardedStatusPatch), so the kubelet's reports in between do not refuse it;
// otherwise with the pod's resourceVersion. A guard that failed is a conflict.
func patchPodStatus(ctx context.Context, c client.Client, pod *corev1.Pod, mutate func(*corev1.Pod)) error {
	orig := pod.DeepCopy()
	mutate(pod)
	patch := client.StrategicMergeFrom(orig, client.MergeFromWithOptimisticLock{})
	guarded, isGuarded := upgrade.GuardedStatusPatch(orig, pod)
	if isGuarded {
		patch = client.RawPatch(types.JSONPatchType, guarded)
	}
	err := c.Status().Patch(ctx, pod, patch)
	if err != nil {
		*pod = *orig
	}
	if isGuarded && guardFailed(err) {
		return apierrors.NewConflict(corev1.Resource("pods"), pod.Name, err)
	}
	return err
}

// guardFailed says whether the API server refused a guarded JSON patch because it did
// not apply to the pod as it is now (a failed test): 422 without the field causes a
// validation error carries.
func guardFailed(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) {
		return false
	}
	details := status.Status().Details
	return details == nil || len(details.Causes) == 0
}

// setPodCondition sets a pod condition through the status subresource when it differs,
// and says whether it wrote.
func setPodCondition(ctx context.Context, c client.Client, pod *corev1.Pod, t string, ok bool, reason, msg string, now time.Time) (bool, error) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	if upgrade.HasCondition(pod, corev1.PodConditionType(t), status) {
		return false, nil
	}
	orig := pod.DeepCopy()
	upgrade.SetPodCondition(pod, t, ok, reason, msg, now)
	if err := c.Status().Patch(ctx, pod, client.StrategicMergeFrom(orig)); err != nil {
		return false, err
	}
	return true, nil
}

func setAnnotation(pod *corev1.Pod, key, value string) {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[key] = value
}
