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

package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cacheview"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// Pod states, as status prints them.
const (
	StateUpdated       = "Updated"
	StatePending       = "Pending"
	StateDraining      = "Draining"
	StateSwapping      = "Swapping"
	StateFailed        = "Failed"
	StateNotUpgradable = "NotUpgradable"
	StateMissing       = "Missing"
)

// PodStatus is where one pod stands in one SidecarSet's rollout.
type PodStatus struct {
	SidecarSet string `json:"sidecarSet"`
	Namespace  string `json:"namespace"`
	Pod        string `json:"pod"`
	// Workload is the pod's controller: its Deployment, StatefulSet, ... ("" for a bare pod).
	Workload string `json:"workload,omitempty"`
	// Revision is the revision the set's record on the pod names.
	Revision string `json:"revision,omitempty"`
	State    string `json:"state"`
	// Reason says why a pod is not updated: the kubelet's reason for a failed or
	// waiting upgrade, what holds a pending one, what keeps it from being upgradable.
	Reason string `json:"reason,omitempty"`
	// Since is when the pod reached its state, as far as the pod says.
	Since *metav1.Time `json:"since,omitempty"`
}

// target is what the set's pods move to: the rule the controller applies.
func target(ctx context.Context, c client.Reader, operatorNS string, set *sidecarsv1alpha1.SidecarSet) (inject.Source, error) {
	return inject.Resolve(set, cacheview.Revisions(ctx, c, operatorNS))
}

// podStatus says where pod stands in set's rollout to src. events reads the pod's events,
// where the kubelet says why it cannot start a swapped container; nil reads none.
func podStatus(set *sidecarsv1alpha1.SidecarSet, src inject.Source, pod *corev1.Pod, events func() []corev1.Event) PodStatus {
	ps := PodStatus{SidecarSet: set.Name, Namespace: pod.Namespace, Pod: pod.Name}
	records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		ps.State, ps.Reason = StateNotUpgradable, err.Error()
		return ps
	}
	state, err := upgrade.ParseState(pod)
	if err != nil {
		ps.State, ps.Reason = StateNotUpgradable, err.Error()
		return ps
	}
	record, injected := records[set.Name]
	if injected {
		ps.Revision = record.Revision
	}
	created := pod.CreationTimestamp
	if state != nil && state.Set == set.Name {
		ps.Revision = record.Revision
		switch {
		case state.Failed != "":
			ps.State, ps.Reason = StateFailed, state.Failed
			if says := kubeletReason(pod, state); says != "" && !strings.Contains(state.Failed, says) {
				ps.Reason += "; now: " + says
			}
			ps.Since = conditionSince(pod, sidecarsv1alpha1.UpgradableCondition, state.SwappedAt)
		case state.Swapped:
			ps.State, ps.Reason = StateSwapping, "to "+state.Revision+waitingFor(pod, state, events)
			ps.Since = state.SwappedAt
		default:
			ps.State, ps.Reason = StateDraining, "to "+state.Revision
			ps.Since = conditionSince(pod, sidecarsv1alpha1.SidecarsReadyCondition, &created)
		}
		return ps
	}
	if !injected {
		ps.State, ps.Since = StateMissing, &created
		if pod.CreationTimestamp.Before(&set.CreationTimestamp) {
			ps.Reason = "created before the SidecarSet: gets its sidecars when recreated"
		} else {
			ps.Reason = "never injected: created while the webhook was unavailable or injection paused"
		}
		return ps
	}
	switch upgrade.Classify(&record, upgrade.Target{Revision: src.Revision, Hash: src.Hash, ImageFreeHash: src.ImageFreeHash}) {
	case upgrade.ClassUpToDate:
		ps.State = StateUpdated
		ps.Since = conditionSince(pod, sidecarsv1alpha1.SidecarsReadyCondition, &created)
	case upgrade.ClassInPlace:
		ps.State, ps.Since = StatePending, &created
		ps.Reason = pendingReason(set, state)
	default:
		ps.State = StateNotUpgradable
		ps.Since = conditionSince(pod, sidecarsv1alpha1.UpgradableCondition, &created)
		ps.Reason = "the change is more than images and resources"
		if c := podCondition(pod, sidecarsv1alpha1.UpgradableCondition); c != nil && c.Status == corev1.ConditionFalse && c.Message != "" {
			ps.Reason = c.Message
		}
	}
	return ps
}

// pendingReason is what keeps a pod that can be upgraded in place waiting.
func pendingReason(set *sidecarsv1alpha1.SidecarSet, state *upgrade.State) string {
	switch {
	case state != nil:
		return "held by SidecarSet " + state.Set + "'s upgrade of the pod"
	case set.Spec.UpdateStrategy.EffectiveType() == sidecarsv1alpha1.OnPodRestartStrategyType:
		return "updateStrategy OnPodRestart: gets the new sidecars when recreated"
	case set.Spec.UpdateStrategy.Paused:
		return "the rollout is paused"
	}
	return "waits for its turn (maxUnavailable, partition, updateStrategy.selector)"
}

// waitingFor is what the kubelet says of the containers a swap waits for: their
// status, or else its warnings about them since the swap (a container it stopped and
// cannot start again, for an image it cannot pull, says why in events only).
func waitingFor(pod *corev1.Pod, state *upgrade.State, events func() []corev1.Event) string {
	if says := kubeletReason(pod, state); says != "" {
		return "; kubelet: " + says
	}
	if events == nil {
		return ""
	}
	var recent []corev1.Event
	for _, e := range events() {
		if e.InvolvedObject.UID == pod.UID && (state.SwappedAt == nil || !eventTime(e).Before(state.SwappedAt.Time)) {
			recent = append(recent, e)
		}
	}
	names := make([]string, 0, len(state.Images))
	for n := range state.Images {
		names = append(names, n)
	}
	if says := upgrade.KubeletWarnings(recent, names); says != "" {
		return "; " + says
	}
	return ""
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

// kubeletReason is the kubelet's reason for the replaced containers that do not run:
// "proxy: ImagePullBackOff: Back-off pulling image ...".
func kubeletReason(pod *corev1.Pod, state *upgrade.State) string {
	names := make([]string, 0, len(state.Images)+len(state.Resources))
	for n := range state.Images {
		names = append(names, n)
	}
	for n := range state.Resources {
		if _, ok := state.Images[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var says []string
	for _, n := range names {
		for _, st := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
			if st.Name != n {
				continue
			}
			var reason, msg string
			switch {
			case st.State.Waiting != nil && st.State.Waiting.Reason != "":
				reason, msg = st.State.Waiting.Reason, st.State.Waiting.Message
			case st.State.Terminated != nil && st.State.Terminated.Reason != "Completed":
				// Completed is the replaced container's end, which says nothing of the new one.
				reason, msg = st.State.Terminated.Reason, st.State.Terminated.Message
			}
			if reason == "" {
				continue
			}
			s := n + ": " + reason
			if msg != "" {
				s += ": " + msg
			}
			says = append(says, s)
		}
	}
	return strings.Join(says, "; ")
}

func podCondition(pod *corev1.Pod, t string) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if string(pod.Status.Conditions[i].Type) == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// conditionSince is when the pod condition t last changed, or else fallback.
func conditionSince(pod *corev1.Pod, t string, fallback *metav1.Time) *metav1.Time {
	if c := podCondition(pod, t); c != nil && !c.LastTransitionTime.IsZero() {
		return &c.LastTransitionTime
	}
	return fallback
}

// selected are the pods set selects (selectors, not excluded) among pods, in the
// namespaces ns holds, as the controller counts them: finished pods left out.
func selected(set *sidecarsv1alpha1.SidecarSet, pods []corev1.Pod, ns map[string]*metav1.PartialObjectMetadata,
	operatorNS string) ([]*corev1.Pod, error) {
	sel, err := inject.NewSelector(set)
	if err != nil {
		return nil, fmt.Errorf("SidecarSet %s: %w", set.Name, err)
	}
	var out []*corev1.Pod
	for i := range pods {
		pod := &pods[i]
		n, ok := ns[pod.Namespace]
		if !ok || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if inject.Excluded(n, operatorNS) != "" || !inject.Applies(set, inject.OptedOut(pod, n)) {
			continue
		}
		if ok, err := sel.Matches(pod, n); err != nil || !ok {
			continue
		}
		out = append(out, pod)
	}
	return out, nil
}

// workloads names pods' controllers, a ReplicaSet's Deployment rather than the ReplicaSet.
type workloads struct {
	c   client.Reader
	ctx context.Context
	rs  map[string]string
}

func (w *workloads) of(pod *corev1.Pod) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return ""
	}
	if ref.Kind != "ReplicaSet" {
		return ref.Kind + "/" + ref.Name
	}
	key := pod.Namespace + "/" + ref.Name
	if name, ok := w.rs[key]; ok {
		return name
	}
	name := "ReplicaSet/" + ref.Name
	rs := &appsv1.ReplicaSet{}
	if err := w.c.Get(w.ctx, client.ObjectKey{Namespace: pod.Namespace, Name: ref.Name}, rs); err == nil {
		if owner := metav1.GetControllerOf(rs); owner != nil {
			name = owner.Kind + "/" + owner.Name
		}
	}
	w.rs[key] = name
	return name
}

// age is kubectl's age of t.
func age(now time.Time, t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "<unknown>"
	}
	return humanDuration(now.Sub(t.Time))
}

// namespaceEvents reads each namespace's events once, when a pod's status needs them.
type namespaceEvents struct {
	c    client.Reader
	ctx  context.Context
	byNS map[string][]corev1.Event
}

func (n *namespaceEvents) of(ns string) func() []corev1.Event {
	return func() []corev1.Event {
		if evs, ok := n.byNS[ns]; ok {
			return evs
		}
		list := &corev1.EventList{}
		if err := n.c.List(n.ctx, list, client.InNamespace(ns)); err != nil {
			return nil // the status says less, nothing wrong
		}
		n.byNS[ns] = list.Items
		return list.Items
	}
}
