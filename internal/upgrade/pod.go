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
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/resources"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// State is an in-flight in-place upgrade of one pod's sidecars, kept in the pod's
// UpgradeAnnotation so a restarted controller resumes where it was.
type State struct {
	// Set is the SidecarSet upgrading the pod; one upgrade runs on a pod at a time.
	Set string `json:"set"`
	// Revision, Hash and ImageFreeHash are the target; they become the pod's injection
	// record when the upgrade finishes.
	Revision      string `json:"revision"`
	Hash          string `json:"hash"`
	ImageFreeHash string `json:"imageFreeHash"`
	// Images are the new images of the containers being replaced.
	Images map[string]string `json:"images,omitempty"`
	// Resources are the new resources of the containers being resized.
	Resources map[string]corev1.ResourceRequirements `json:"resources,omitempty"`
	// Drain says the pod leaves Service endpoints (readiness gate False) first.
	Drain bool `json:"drain,omitempty"`
	// Swapped says the images are patched and the resize requested.
	Swapped bool `json:"swapped,omitempty"`
	// SwappedAt is when they were; the progress deadline runs from it.
	SwappedAt *metav1.Time `json:"swappedAt,omitempty"`
	// Before are the replaced containers as the kubelet ran them just before the swap.
	// A change of any of their container ID, restart count or image ID proves the
	// kubelet restarted them: a tag re-pointed to the same digest keeps the image ID but
	// not the container ID.
	Before map[string]ContainerRun `json:"before,omitempty"`
	// UnavailableBefore says the pod was not Ready when the upgrade began (Pending, its
	// app not Ready): the rollout did not take it down, so neither its upgrade nor its
	// failure counts against maxUnavailable.
	UnavailableBefore bool `json:"unavailableBefore,omitempty"`
	// Failed says why the upgrade stopped. A failed upgrade is not driven again until
	// the set's target changes, and finishes by itself if the kubelet gets there after
	// all (an image pushed late).
	Failed string `json:"failed,omitempty"`
}

// ContainerRun identifies one run of a container, as its status reports it.
type ContainerRun struct {
	ContainerID  string `json:"containerID,omitempty"`
	ImageID      string `json:"imageID,omitempty"`
	RestartCount int32  `json:"restartCount,omitempty"`
	// Image is the image the run was started from, as the kubelet reported it.
	Image string `json:"image,omitempty"`
}

// same says whether st reports this run.
func (r ContainerRun) same(st corev1.ContainerStatus) bool {
	return r.ContainerID == st.ContainerID && r.ImageID == st.ImageID && r.RestartCount == st.RestartCount
}

// ParseState reads a pod's upgrade state; nil when none is in flight.
func ParseState(pod *corev1.Pod) (*State, error) {
	raw, ok := pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation]
	if !ok || raw == "" {
		return nil, nil
	}
	s := &State{}
	if err := json.Unmarshal([]byte(raw), s); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", sidecarsv1alpha1.UpgradeAnnotation, err)
	}
	return s, nil
}

// String is the annotation value.
func (s *State) String() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // plain strings, times and resource lists always marshal
	}
	return string(b)
}

// Targets says whether the state moves the pod to target.
func (s *State) Targets(target Target) bool {
	return s.Revision == target.Revision && s.Hash == target.Hash
}

// Action is the next thing to do to a pod.
type Action string

const (
	// ActionNone: nothing to do now.
	ActionNone Action = "None"
	// ActionBegin: record Step.State on the pod.
	ActionBegin Action = "Begin"
	// ActionDrain: set the sidecars-ready condition False, so the pod leaves endpoints.
	ActionDrain Action = "Drain"
	// ActionWaitDrain: wait Step.After for load balancers to stop sending traffic.
	ActionWaitDrain Action = "WaitDrain"
	// ActionSwap: patch Step.State.Images and resize to Step.State.Resources, and record
	// Step.State (now Swapped).
	ActionSwap Action = "Swap"
	// ActionWaitKubelet: wait for the kubelet to run the new containers and report them
	// ready; Step.Reason says what is missing, Step.State is the state to resize to.
	ActionWaitKubelet Action = "WaitKubelet"
	// ActionFinish: write the new injection record, clear the state, and set the
	// sidecars-ready condition True.
	ActionFinish Action = "Finish"
	// ActionFail: record Step.State (with Failed) and report Step.Reason; the pod keeps
	// its state, so it counts against the budget until the target changes.
	ActionFail Action = "Fail"
)

// Step is the outcome of Next.
type Step struct {
	Action Action
	// State to write for ActionBegin, ActionSwap, ActionFinish and ActionFail; for
	// ActionWaitKubelet, the state waited on.
	State *State
	// After is how long to wait for ActionWaitDrain.
	After time.Duration
	// Reason explains ActionWaitKubelet, ActionFail and ActionNone.
	Reason string
	// Trouble says, for ActionWaitKubelet, that the kubelet reports why it is not there
	// (ImagePullBackOff, CrashLoopBackOff, a resize Deferred...), not just that it has
	// yet to act: the set's Progressing condition names such pods.
	Trouble bool
	// InEvents says the kubelet gives the reason in the pod's events only: it stopped a
	// replaced container and cannot start the new one (an image it cannot pull), and the
	// status shows the old run's end.
	InEvents bool
}

// Input is everything Next looks at.
type Input struct {
	Pod *corev1.Pod
	// State is the pod's upgrade state (ParseState); nil when none is in flight.
	State *State
	// Set is the SidecarSet name; Spec its target spec, stored as Target.
	Set    string
	Spec   revision.Spec
	Target Target
	// DrainSeconds is updateStrategy.drain.seconds.
	DrainSeconds int32
	// ProgressDeadline is updateStrategy.progressDeadlineSeconds; 0 means none.
	ProgressDeadline time.Duration
	Now              time.Time
}

// Next decides the next step of an in-place upgrade of in.Pod to in.Target. Each step
// is decided from the pod as it is, so running it again, or after a restart, is safe.
//
// No state is terminal. A state for another target — whatever step it reached, swapped
// to an image that never started or failed included — is dropped and the pod is driven
// from what its spec runs now straight to the new target: reverting a broken image
// swaps the old one back. A failed state for this target finishes if the kubelet gets
// there after all.
func Next(in Input) Step {
	s := in.State
	if s != nil && (s.Set != in.Set || !s.Targets(in.Target) || s.Failed != "" && resizeMoved(in, s)) {
		s = nil
	}
	if s != nil {
		s = recomputed(in, s)
	}
	if s == nil {
		return begin(in)
	}
	if !s.Swapped {
		if s.Failed != "" {
			// The swap itself was refused (an admission policy on images): the old
			// sidecars still run; only a new target tries again.
			return Step{Action: ActionNone, Reason: s.Failed}
		}
		if s.Drain {
			cond := condition(in.Pod, sidecarsv1alpha1.SidecarsReadyCondition)
			if cond == nil || cond.Status != corev1.ConditionFalse {
				return Step{Action: ActionDrain}
			}
			if left := cond.LastTransitionTime.Add(time.Duration(in.DrainSeconds) * time.Second).Sub(in.Now); left > 0 {
				return Step{Action: ActionWaitDrain, After: left}
			}
		}
		swapped := *s
		swapped.Swapped = true
		swapped.SwappedAt = &metav1.Time{Time: in.Now.Truncate(time.Second)}
		swapped.Before = runsOf(in.Pod, s.Images)
		return Step{Action: ActionSwap, State: &swapped}
	}
	waiting, trouble := notRunningYet(in.Pod, s)
	if s.Failed != "" {
		if waiting == "" {
			return Step{Action: ActionFinish, State: s}
		}
		return Step{Action: ActionNone, Reason: s.Failed}
	}
	if reason, failed := resizeFailed(in.Pod, s); failed {
		return fail(s, reason)
	}
	if waiting == "" {
		return Step{Action: ActionFinish, State: s}
	}
	if in.ProgressDeadline > 0 && s.SwappedAt != nil && !in.Now.Before(s.SwappedAt.Add(in.ProgressDeadline)) {
		return fail(s, fmt.Sprintf("%s after the progress deadline of %s", waiting, in.ProgressDeadline))
	}
	return Step{Action: ActionWaitKubelet, Reason: waiting, State: s, Trouble: trouble, InEvents: stoppedNotStarted(in.Pod, s)}
}

// recomputed is the stored state s with its images and resources recomputed from the
// target's spec, or nil when s names a container that is not one of the set's sidecars
// the pod's record says the set injected: the annotation says which of the set's
// sidecars an upgrade in flight replaces, never with what, nor that it drives anything
// else (an app container, a container the pod overrides). A state written by anyone but
// the operator, which the pod-metadata policy refuses where it is installed, can so at
// worst move the set's own sidecars to the target.
func recomputed(in Input, s *State) *State {
	records, err := sidecarsv1alpha1.ParseInjectionRecords(in.Pod.Annotations)
	if err != nil {
		return nil
	}
	rec, ok := records[in.Set]
	if !ok {
		return nil
	}
	ours := sets.New(rec.Containers...)
	sidecars := map[string]*sidecarsv1alpha1.SidecarContainer{}
	for i := range in.Spec.Containers {
		if sc := &in.Spec.Containers[i]; ours.Has(sc.Name) {
			sidecars[sc.Name] = sc
		}
	}
	out := *s
	out.Images, out.Resources = nil, nil
	for name := range s.Images {
		sc, ok := sidecars[name]
		if !ok {
			return nil
		}
		if out.Images == nil {
			out.Images = map[string]string{}
		}
		out.Images[name] = sc.Image
	}
	sized := PolicyResources(in.Pod, records, in.Spec, sets.KeySet(s.Resources))
	for name := range s.Resources {
		sc, ok := sidecars[name]
		if !ok {
			return nil
		}
		want := targetResources(sc, sized, rec)
		if out.Resources == nil {
			out.Resources = map[string]corev1.ResourceRequirements{}
		}
		out.Resources[name] = want
	}
	return &out
}

// resizeMoved says whether a failed resize asked for other resources than the pod's
// app now calls for: the app was resized again since, so the sidecars try again
// rather than wait for a new target.
func resizeMoved(in Input, s *State) bool {
	if len(s.Resources) == 0 {
		return false
	}
	records, err := sidecarsv1alpha1.ParseInjectionRecords(in.Pod.Annotations)
	if err != nil {
		return false
	}
	sized := PolicyResources(in.Pod, records, in.Spec, sets.KeySet(s.Resources))
	for name, want := range sized {
		if !resources.Same(s.Resources[name], inject.OverriddenResources(want, records[in.Set].Overrides[name].Resources)) {
			return true
		}
	}
	return false
}

// targetResources are the resources sc gets on the pod rec records: the set's, or
// what its resourcesPolicy makes of the app (sized), with what the pod overrode on top.
func targetResources(sc *sidecarsv1alpha1.SidecarContainer, sized map[string]corev1.ResourceRequirements,
	rec sidecarsv1alpha1.InjectionRecord) corev1.ResourceRequirements {
	want := sc.Resources
	if sc.ResourcesPolicy != nil {
		want = sized[sc.Name]
	}
	return inject.OverriddenResources(want, rec.Overrides[sc.Name].Resources)
}

func fail(s *State, reason string) Step {
	f := *s
	f.Failed = reason
	return Step{Action: ActionFail, State: &f, Reason: reason}
}

// begin works out what changes and whether the pod must drain first.
func begin(in Input) Step {
	images, res, err := Changes(in.Pod, in.Set, in.Spec)
	if err != nil {
		return Step{Action: ActionNone, Reason: err.Error()}
	}
	s := &State{
		Set: in.Set, Revision: in.Target.Revision, Hash: in.Target.Hash, ImageFreeHash: in.Target.ImageFreeHash,
		Images: images, Resources: res, UnavailableBefore: !podReady(in.Pod),
	}
	if in.State != nil && in.State.Set == in.Set {
		// Re-driven to a new target: the pod may be drained by the upgrade it replaces,
		// and was as available as that one found it.
		s.UnavailableBefore = in.State.UnavailableBefore
	}
	if len(images) == 0 && len(res) == 0 {
		// The pod already runs what the target asks (e.g. a change the containers do
		// not see, or a revert before the swap): only the record moves.
		return Step{Action: ActionFinish, State: s}
	}
	s.Drain = HasReadinessGate(in.Pod) && (len(images) > 0 || resources.ResizeRestarts(in.Pod, res))
	return Step{Action: ActionBegin, State: s}
}

// runsOf records the current run of each container about to be replaced; a container
// that has not run yet (no container ID) has none and starts on the new image.
func runsOf(pod *corev1.Pod, images map[string]string) map[string]ContainerRun {
	statuses := containerStatuses(pod)
	var out map[string]ContainerRun
	for name := range images {
		st, ok := statuses[name]
		if !ok || st.ContainerID == "" && st.ImageID == "" {
			continue
		}
		if out == nil {
			out = map[string]ContainerRun{}
		}
		out[name] = ContainerRun{ContainerID: st.ContainerID, ImageID: st.ImageID, RestartCount: st.RestartCount, Image: st.Image}
	}
	return out
}

// Changes compares the set's containers on the pod with spec: the images to replace and
// the resources to resize, by container name. Containers the pod overrides, and
// run-to-completion init containers (never restarted), are left alone. A
// resourcesPolicy sidecar's resources are computed from what the app containers run
// with now (PolicyResources), so an app resized in place is followed.
func Changes(pod *corev1.Pod, set string, spec revision.Spec) (map[string]string, map[string]corev1.ResourceRequirements, error) {
	records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		return nil, nil, err
	}
	rec, ok := records[set]
	if !ok {
		return nil, nil, fmt.Errorf("SidecarSet %s never injected the pod", set)
	}
	ours := sets.New(rec.Containers...)
	current := map[string]corev1.Container{}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		current[c.Name] = c
	}
	sized := PolicyResources(pod, records, spec, ours)
	var images map[string]string
	var res map[string]corev1.ResourceRequirements
	for _, sc := range spec.Containers {
		c, ok := current[sc.Name]
		if !ok || !ours.Has(sc.Name) {
			continue
		}
		if c.Image != sc.Image {
			if images == nil {
				images = map[string]string{}
			}
			images[sc.Name] = sc.Image
		}
		want := targetResources(&sc, sized, rec)
		if !resources.Same(want, c.Resources) {
			if res == nil {
				res = map[string]corev1.ResourceRequirements{}
			}
			res[sc.Name] = want
		}
	}
	return images, res, nil
}

// PolicyResources computes the resources of spec's resourcesPolicy sidecars on pod
// (those in ours) from the app containers as they run (resources.ForPolicies).
func PolicyResources(pod *corev1.Pod, records sidecarsv1alpha1.InjectionRecords, spec revision.Spec,
	ours sets.Set[string]) map[string]corev1.ResourceRequirements {
	var policies []sidecarsv1alpha1.SidecarContainer
	for _, sc := range spec.Containers {
		if sc.ResourcesPolicy != nil && ours.Has(sc.Name) && findContainer(pod, sc.Name) != nil {
			policies = append(policies, sc)
		}
	}
	if len(policies) == 0 {
		// Most sets size nothing from the app: no copy of the pod on every pass.
		return nil
	}
	return resources.ForPolicies(pod, inject.AppContainers(pod, records), policies)
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// Drift lists the resourcesPolicy sidecars of a pod already at the set's target whose
// resources, computed from the app as it runs now (PolicyResources), moved past the
// hysteresis: the app was resized in place and they follow it.
func Drift(pod *corev1.Pod, records sidecarsv1alpha1.InjectionRecords, set string, spec revision.Spec) []string {
	if !slices.ContainsFunc(spec.Containers, func(c sidecarsv1alpha1.SidecarContainer) bool { return c.ResourcesPolicy != nil }) {
		return nil // nothing follows the app
	}
	rec, ok := records[set]
	if !ok {
		return nil
	}
	var drifted []string
	for name, want := range PolicyResources(pod, records, spec, sets.New(rec.Containers...)) {
		want = inject.OverriddenResources(want, rec.Overrides[name].Resources)
		if c := findContainer(pod, name); c != nil && resources.BeyondStep(c.Resources, want) {
			drifted = append(drifted, name)
		}
	}
	slices.Sort(drifted)
	return drifted
}

// maxKubeletNote bounds each kubelet message quoted in a failure.
const maxKubeletNote = 300
