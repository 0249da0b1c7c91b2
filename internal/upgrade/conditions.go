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
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// SidecarsReady says every container the SidecarSets recorded on the pod runs and is
// ready (run-to-completion init containers are done, not ready), so the sidecars-ready
// condition may go True.
func SidecarsReady(pod *corev1.Pod) bool {
	records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		return false
	}
	statuses := containerStatuses(pod)
	restartable := sets.New[string]()
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			restartable.Insert(c.Name)
		}
	}
	regular := sets.New[string]()
	for _, c := range pod.Spec.Containers {
		regular.Insert(c.Name)
	}
	for _, r := range records {
		for _, name := range r.Containers {
			if !restartable.Has(name) && !regular.Has(name) {
				continue // a run-to-completion init container
			}
			if st, ok := statuses[name]; !ok || !st.Ready {
				return false
			}
		}
	}
	return true
}

func containerStatuses(pod *corev1.Pod) map[string]corev1.ContainerStatus {
	out := map[string]corev1.ContainerStatus{}
	for _, st := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		out[st.Name] = st
	}
	return out
}

// HasReadinessGate says whether the pod has Outrigger's sidecars-ready readiness gate.
func HasReadinessGate(pod *corev1.Pod) bool {
	return slices.Contains(pod.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition})
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(pod *corev1.Pod) bool {
	cond := condition(pod, corev1.PodReady)
	return cond != nil && cond.Status == corev1.ConditionTrue
}

// HasCondition says whether the pod has condition t with status; false when absent.
func HasCondition(pod *corev1.Pod, t corev1.PodConditionType, status corev1.ConditionStatus) bool {
	cond := condition(pod, t)
	return cond != nil && cond.Status == status
}

// SetPodCondition sets condition t of pod to ok (True or False) with reason and
// message, as of now; a condition already at that status is left as it is. It says
// whether it changed the pod.
func SetPodCondition(pod *corev1.Pod, t string, ok bool, reason, msg string, now time.Time) bool {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	if HasCondition(pod, corev1.PodConditionType(t), status) {
		return false
	}
	cond := corev1.PodCondition{Type: corev1.PodConditionType(t), Status: status, Reason: reason, Message: msg,
		LastTransitionTime: metav1.NewTime(now), LastProbeTime: metav1.NewTime(now)}
	if i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return string(c.Type) == t }); i >= 0 {
		pod.Status.Conditions[i] = cond
	} else {
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
	}
	return true
}
