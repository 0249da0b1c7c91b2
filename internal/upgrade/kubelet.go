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
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/internal/resources"
)

// notRunningYet says which replaced container the kubelet has not yet restarted on its
// new spec, or not yet reported ready, and what the kubelet says of it; "" when all are.
// trouble says the kubelet reports a reason it is not there (a pull failing, a crash
// loop, a stopped container, a pending resize), not just that it has yet to act.
func notRunningYet(pod *corev1.Pod, s *State) (waiting string, trouble bool) {
	statuses := containerStatuses(pod)
	for _, name := range slices.Sorted(maps.Keys(s.Images)) {
		st, ok := statuses[name]
		before, ran := s.Before[name]
		switch {
		case !ok && !ran:
			// It never ran (the pod is not started yet): it will start on the new image.
			continue
		case !ok:
			return fmt.Sprintf("container %s has no status yet", name), false
		case notRestarted(st, before, ran, s.Images[name]):
			if st.State.Terminated != nil {
				// The kubelet stopped the old container and cannot start the new one; it
				// says why in the pod's events only (ErrImagePull, ImagePullBackOff...).
				return fmt.Sprintf("container %s stopped and has not started on image %s", name, s.Images[name]), true
			}
			return fmt.Sprintf("container %s has not restarted on image %s yet%s", name, s.Images[name], kubeletSays(st)), kubeletSays(st) != ""
		case !SameImage(st.Image, s.Images[name]):
			return fmt.Sprintf("container %s runs image %s, not %s yet%s", name, st.Image, s.Images[name], kubeletSays(st)), kubeletSays(st) != ""
		case !st.Ready:
			return fmt.Sprintf("container %s is not ready on image %s%s", name, s.Images[name], kubeletSays(st)), kubeletSays(st) != ""
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Resources)) {
		if st, ok := statuses[name]; ok && !st.Ready {
			return fmt.Sprintf("container %s is not ready after its resize%s", name, kubeletSays(st)), kubeletSays(st) != ""
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Resources)) {
		if cond := condition(pod, corev1.PodResizeInProgress); cond != nil && cond.Status == corev1.ConditionTrue {
			return fmt.Sprintf("the kubelet is resizing container %s", name), false
		}
		if cond := condition(pod, corev1.PodResizePending); cond != nil && cond.Status == corev1.ConditionTrue {
			return fmt.Sprintf("the resize of container %s is pending (%s): %s", name, cond.Reason, cond.Message), true
		}
		if st, ok := statuses[name]; ok && st.Resources != nil &&
			!resources.Same(*st.Resources, s.Resources[name]) {
			return fmt.Sprintf("container %s does not run with its new resources yet", name), false
		}
	}
	return "", false
}

// stoppedNotStarted says the kubelet stopped a replaced container's old run and has not
// started it on its new image: why is in the pod's events only.
func stoppedNotStarted(pod *corev1.Pod, s *State) bool {
	statuses := containerStatuses(pod)
	for name := range s.Images {
		st, ok := statuses[name]
		before, ran := s.Before[name]
		if ok && notRestarted(st, before, ran, s.Images[name]) && st.State.Terminated != nil {
			return true
		}
	}
	return false
}

// notRestarted says the status st still reports the run before, from before the swap to
// image: the kubelet has not restarted the container yet. Unless that run already was
// on image: a revert that reached the pod before the kubelet acted on the change it
// reverts restarts nothing.
func notRestarted(st corev1.ContainerStatus, before ContainerRun, ran bool, image string) bool {
	return ran && before.same(st) && !reportsImage(before.Image, image)
}

// kubeletSays is what the kubelet reports of a container that is not running well:
// the reason it waits (ErrImagePull, ImagePullBackOff, CrashLoopBackOff...) or why its
// last run ended, with its message.
func kubeletSays(st corev1.ContainerStatus) string {
	var reason, msg string
	switch {
	case st.State.Waiting != nil && st.State.Waiting.Reason != "":
		reason, msg = st.State.Waiting.Reason, st.State.Waiting.Message
	case st.State.Terminated != nil:
		reason, msg = st.State.Terminated.Reason, st.State.Terminated.Message
	case st.LastTerminationState.Terminated != nil && !st.Ready:
		reason, msg = st.LastTerminationState.Terminated.Reason, st.LastTerminationState.Terminated.Message
	}
	switch {
	case reason == "":
		return ""
	case msg == "":
		return ": " + reason
	default:
		return ": " + reason + ": " + msg
	}
}

// KubeletWarnings quotes what the kubelet's Warning events on a pod say about the named
// containers, newest first, each distinct message once: for a sidecar the kubelet
// stopped and cannot start again (an image it cannot pull), its events are the only
// place it says why. "" when it said nothing.
func KubeletWarnings(events []corev1.Event, containers []string) string {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
	var notes []string
	for _, name := range slices.Sorted(slices.Values(containers)) {
		var msgs []string
		for _, e := range sorted {
			if e.Type != corev1.EventTypeWarning || !strings.HasSuffix(e.InvolvedObject.FieldPath, "{"+name+"}") {
				continue
			}
			msg := e.Message
			if len(msg) > maxKubeletNote {
				msg = msg[:maxKubeletNote] + "..."
			}
			if !slices.Contains(msgs, msg) && len(msgs) < 3 {
				msgs = append(msgs, msg)
			}
		}
		if len(msgs) > 0 {
			notes = append(notes, fmt.Sprintf("the kubelet reports for container %s: %s", name, strings.Join(msgs, "; ")))
		}
	}
	return strings.Join(notes, "; ")
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// SameImage says whether the image a container status reports is the image a spec
// names. The kubelet may report a reference the runtime normalised (docker.io/library/,
// :latest) or, on some runtimes, an image ID; those are not told apart from the spec and
// count as the same.
func SameImage(reported, spec string) bool {
	if reported == "" || reported == spec || strings.HasPrefix(reported, "sha256:") {
		return true
	}
	return normalizeImage(reported) == normalizeImage(spec)
}

// reportsImage is SameImage for a reported reference that names an image: an empty or
// ID-only report proves nothing.
func reportsImage(reported, spec string) bool {
	return reported != "" && !strings.HasPrefix(reported, "sha256:") && SameImage(reported, spec)
}

func normalizeImage(ref string) string {
	name, rest := ref, ""
	if i := strings.IndexAny(ref, "@"); i >= 0 {
		name, rest = ref[:i], ref[i:]
	} else if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, rest = ref[:i], ref[i:]
	} else {
		rest = ":latest"
	}
	first, _, found := strings.Cut(name, "/")
	if !found || !strings.ContainsAny(first, ".:") && first != "localhost" {
		if !found {
			name = "library/" + name
		}
		name = "docker.io/" + name
	}
	return name + rest
}

// resizeFailed reports a resize of the state's containers that the kubelet refuses:
// pending as Infeasible, or in progress with an Error. Retrying it would change nothing.
func resizeFailed(pod *corev1.Pod, s *State) (string, bool) {
	if len(s.Resources) == 0 {
		return "", false // a resize of other containers is none of this upgrade's business
	}
	if cond := condition(pod, corev1.PodResizePending); cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason == corev1.PodReasonInfeasible {
		return fmt.Sprintf("the kubelet reports the resize as infeasible: %s", cond.Message), true
	}
	if cond := condition(pod, corev1.PodResizeInProgress); cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason == corev1.PodReasonError {
		return fmt.Sprintf("the kubelet failed to resize: %s", cond.Message), true
	}
	return "", false
}
