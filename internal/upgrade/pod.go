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
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
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
	// OldImageIDs are the imageIDs those containers ran before: a different one proves
	// the kubelet restarted them on the new image.
	OldImageIDs map[string]string `json:"oldImageIDs,omitempty"`
	// Resources are the new resources of the containers being resized.
	Resources map[string]corev1.ResourceRequirements `json:"resources,omitempty"`
	// Drain says the pod leaves Service endpoints (readiness gate False) first.
	Drain bool `json:"drain,omitempty"`
	// Swapped says the images are patched and the resize requested.
	Swapped bool `json:"swapped,omitempty"`
	// Failed says why the upgrade stopped; a failed upgrade is not retried until the
	// set's target changes.
	Failed string `json:"failed,omitempty"`
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
		panic(err) // plain strings and resource lists always marshal
	}
	return string(b)
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
	// ActionWait: wait Step.After for load balancers to stop sending traffic.
	ActionWait Action = "Wait"
	// ActionSwap: patch Step.State.Images and resize to Step.State.Resources, and record
	// Step.State (now Swapped).
	ActionSwap Action = "Swap"
	// ActionAwait: wait for the kubelet to run the new containers and report them ready.
	ActionAwait Action = "Await"
	// ActionFinish: write the new injection record, clear the state; then ActionMarkReady.
	ActionFinish Action = "Finish"
	// ActionFail: record Step.State (with Failed) and report it; the pod goes back to
	// endpoints.
	ActionFail Action = "Fail"
	// ActionMarkReady: set the sidecars-ready condition True.
	ActionMarkReady Action = "MarkReady"
)

// Step is the outcome of Next.
type Step struct {
	Action Action
	// State to write for ActionBegin, ActionSwap and ActionFail.
	State *State
	// After is how long to wait for ActionWait.
	After time.Duration
	// Reason explains ActionAwait and ActionFail.
	Reason string
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
	Now          time.Time
}

// Next decides the next step of an in-place upgrade of in.Pod to in.Target. Each step
// is decided from the pod as it is, so running it again, or after a restart, is safe.
func Next(in Input) Step {
	s := in.State
	if s != nil && (s.Set != in.Set || s.Revision != in.Target.Revision || s.Hash != in.Target.Hash) && (!s.Swapped || s.Failed != "") {
		// A stale state (another target, not yet swapped, or failed): start over for this
		// target. A swapped one is confirmed first; its pod then moves on from there.
		s = nil
	}
	if s == nil {
		return begin(in)
	}
	if s.Failed != "" {
		return Step{Action: ActionNone, Reason: s.Failed}
	}
	if !s.Swapped {
		if s.Drain {
			cond := condition(in.Pod, sidecarsv1alpha1.SidecarsReadyCondition)
			if cond == nil || cond.Status != corev1.ConditionFalse {
				return Step{Action: ActionDrain}
			}
			if left := cond.LastTransitionTime.Add(time.Duration(in.DrainSeconds) * time.Second).Sub(in.Now); left > 0 {
				return Step{Action: ActionWait, After: left}
			}
		}
		swapped := *s
		swapped.Swapped = true
		return Step{Action: ActionSwap, State: &swapped}
	}
	if reason, failed := resizeFailed(in.Pod, s); failed {
		f := *s
		f.Failed = reason
		return Step{Action: ActionFail, State: &f, Reason: reason}
	}
	if waiting := notRunningYet(in.Pod, s); waiting != "" {
		return Step{Action: ActionAwait, Reason: waiting}
	}
	return Step{Action: ActionFinish, State: s}
}

// begin works out what changes and whether the pod must drain first.
func begin(in Input) Step {
	images, res, err := Changes(in.Pod, in.Set, in.Spec)
	if err != nil {
		return Step{Action: ActionNone, Reason: err.Error()}
	}
	s := &State{
		Set: in.Set, Revision: in.Target.Revision, Hash: in.Target.Hash, ImageFreeHash: in.Target.ImageFreeHash,
		Images: images, Resources: res,
	}
	if len(images) == 0 && len(res) == 0 {
		// The pod already runs what the target asks (e.g. a change the containers do
		// not see): only the record moves.
		return Step{Action: ActionFinish, State: s}
	}
	statuses := containerStatuses(in.Pod)
	for name := range images {
		if st, ok := statuses[name]; ok && st.ImageID != "" {
			if s.OldImageIDs == nil {
				s.OldImageIDs = map[string]string{}
			}
			s.OldImageIDs[name] = st.ImageID
		}
	}
	s.Drain = HasReadinessGate(in.Pod) && (len(images) > 0 || resizeRestarts(in.Pod, res))
	return Step{Action: ActionBegin, State: s}
}

// Changes compares the set's containers on the pod with spec: the images to replace and
// the resources to resize, by container name. Containers the pod overrides, and
// run-to-completion init containers (never restarted), are left alone.
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
	app := inject.AppContainers(pod, records)
	current := map[string]corev1.Container{}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		current[c.Name] = c
	}
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
		want := sc.Resources
		if sc.ResourcesPolicy != nil {
			want = resources.Compute(sc.ResourcesPolicy, app)
		}
		if !equality.Semantic.DeepEqual(normalize(want), normalize(c.Resources)) {
			if res == nil {
				res = map[string]corev1.ResourceRequirements{}
			}
			res[sc.Name] = want
		}
	}
	return images, res, nil
}

// normalize drops what only differs in form: empty lists, and claims, which a resize
// cannot change.
func normalize(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{}
	if len(r.Requests) > 0 {
		out.Requests = r.Requests
	}
	if len(r.Limits) > 0 {
		out.Limits = r.Limits
	}
	return out
}

// resizeRestarts says whether the kubelet restarts a container to apply res: a resource
// that changes and whose resizePolicy is RestartContainer (unset means NotRequired).
func resizeRestarts(pod *corev1.Pod, res map[string]corev1.ResourceRequirements) bool {
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		want, ok := res[c.Name]
		if !ok {
			continue
		}
		for _, p := range c.ResizePolicy {
			if p.RestartPolicy != corev1.RestartContainer {
				continue
			}
			if !c.Resources.Requests.Name(p.ResourceName, resource.DecimalSI).Equal(*want.Requests.Name(p.ResourceName, resource.DecimalSI)) ||
				!c.Resources.Limits.Name(p.ResourceName, resource.DecimalSI).Equal(*want.Limits.Name(p.ResourceName, resource.DecimalSI)) {
				return true
			}
		}
	}
	return false
}

// notRunningYet says which replaced container the kubelet has not yet restarted on its
// new image, or not yet reported ready; "" when all are.
func notRunningYet(pod *corev1.Pod, s *State) string {
	statuses := containerStatuses(pod)
	for _, name := range sortedKeys(s.Images) {
		st, ok := statuses[name]
		switch {
		case !ok && s.OldImageIDs[name] == "":
			// It never ran (the pod is not started yet): it will start on the new image.
			continue
		case !ok:
			return fmt.Sprintf("container %s has no status yet", name)
		case s.OldImageIDs[name] != "" && st.ImageID == s.OldImageIDs[name]:
			return fmt.Sprintf("container %s still runs its old image", name)
		case !st.Ready:
			// A replaced container restarted: wait until it is ready again.
			return fmt.Sprintf("container %s is not ready on its new image", name)
		}
	}
	for _, name := range sortedKeys(s.Resources) {
		if st, ok := statuses[name]; ok && !st.Ready {
			return fmt.Sprintf("container %s is not ready after its resize", name)
		}
	}
	for _, name := range sortedKeys(s.Resources) {
		if cond := condition(pod, corev1.PodResizeInProgress); cond != nil && cond.Status == corev1.ConditionTrue {
			return fmt.Sprintf("the kubelet is resizing container %s", name)
		}
		if cond := condition(pod, corev1.PodResizePending); cond != nil && cond.Status == corev1.ConditionTrue {
			return fmt.Sprintf("the resize of container %s is pending: %s", name, cond.Message)
		}
		if st, ok := statuses[name]; ok && st.Resources != nil &&
			!equality.Semantic.DeepEqual(normalize(*st.Resources), normalize(s.Resources[name])) {
			return fmt.Sprintf("container %s does not run with its new resources yet", name)
		}
	}
	return ""
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
