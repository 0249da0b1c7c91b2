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
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/podcache"
	"github.com/outrigger-dev/outrigger/internal/revision"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

// The pods under test are injected by the SidecarSet "mesh": a run-to-completion init
// container "init-net" and a native sidecar "proxy". The kubelet reports image digests
// as imageIDs; a new imageID is how an upgrade is confirmed.
const (
	proxyV1   = "example.com/proxy:v1"
	proxyV1_5 = "example.com/proxy:v1.5"
	proxyV2   = "example.com/proxy:v2"
	initV1    = "example.com/init:v1"
	initV2    = "example.com/init:v2"

	proxyIDv1   = "example.com/proxy@sha256:1111"
	proxyIDv1_5 = "example.com/proxy@sha256:1515"
	proxyIDv2   = "example.com/proxy@sha256:2222"
	initIDv1    = "example.com/init@sha256:1111"
	appID       = "example.com/app@sha256:aaaa"

	infeasible = "Node didn't have enough capacity: cpu, requested: 200, capacity: 100"

	deadlineMsg = "container proxy is not ready on image " + proxyV2 + ": ImagePullBackOff: Back-off pulling image after the progress deadline of 10m0s"
	crashMsg    = "container proxy is not ready on image " + proxyV2 + ": CrashLoopBackOff: back-off 5m0s restarting failed container after the progress deadline of 10m0s"
	deferredMsg = "the resize of container proxy is pending (Deferred): Node didn't have enough resource: cpu after the progress deadline of 10m0s"
)

var (
	now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

	meshV1   = meshSet(testingutil.MakeSidecar("proxy", proxyV1)).Obj()
	meshV1_5 = meshSet(testingutil.MakeSidecar("proxy", proxyV1_5)).Obj()
	meshV2   = meshSet(testingutil.MakeSidecar("proxy", proxyV2)).Obj()
	// shortV2 names the v2 image as the runtime does not: "proxy:v2".
	shortV2 = meshSet(testingutil.MakeSidecar("proxy", "proxy:v2")).Obj()

	meshV1NoGate = meshSet(testingutil.MakeSidecar("proxy", proxyV1)).ReadinessGate(false).Obj()
	meshV2NoGate = meshSet(testingutil.MakeSidecar("proxy", proxyV2)).ReadinessGate(false).Obj()

	// The init container's image changes along with the proxy's, or alone.
	meshV2NewInit = withInitImage(meshV2, initV2)
	meshV1NewInit = withInitImage(meshV1, initV2)

	// Resources differ between the revisions of these sets, images do not.
	sizedV1       = meshSet(sizedProxy("100m", "64Mi")).Obj()
	sizedV1NoGate = meshSet(sizedProxy("100m", "64Mi")).ReadinessGate(false).Obj()
	cpuV2         = meshSet(sizedProxy("200m", "64Mi")).Obj()
	memoryV2      = meshSet(sizedProxy("100m", "128Mi")).Obj()

	// The proxy declares its own resizePolicy for one resource; injection adds the
	// default (cpu NotRequired, memory RestartContainer) for the other.
	cpuRestartsV1   = meshSet(resizePolicy(sizedProxy("100m", "64Mi"), corev1.ResourceCPU, corev1.RestartContainer)).Obj()
	cpuRestartsV2   = meshSet(resizePolicy(sizedProxy("200m", "64Mi"), corev1.ResourceCPU, corev1.RestartContainer)).Obj()
	memoryInPlaceV1 = meshSet(resizePolicy(sizedProxy("100m", "64Mi"), corev1.ResourceMemory, corev1.NotRequired)).Obj()
	memoryInPlaceV2 = meshSet(resizePolicy(sizedProxy("100m", "128Mi"), corev1.ResourceMemory, corev1.NotRequired)).Obj()

	// A set that injected nothing into the pods under test.
	logging = testingutil.MakeSidecarSet("logging").
		Sidecar(testingutil.MakeSidecar("logger", "example.com/logger:v1").Obj()).Obj()

	// The proxy takes a tenth of the app's CPU.
	perApp = meshSet(testingutil.MakeSidecar("proxy", proxyV1).ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
		CPU: &sidecarsv1alpha1.ResourceRule{Percent: 10},
	})).Obj()

	cpuV2Resources    = corev1.ResourceRequirements{Requests: resourceList("200m", "64Mi"), Limits: resourceList("", "64Mi")}
	memoryV2Resources = corev1.ResourceRequirements{Requests: resourceList("100m", "128Mi"), Limits: resourceList("", "128Mi")}

	quantityEqual = gocmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })
)

func meshSet(proxy *testingutil.SidecarWrapper) *testingutil.SidecarSetWrapper {
	return testingutil.MakeSidecarSet("mesh").
		InitContainer(corev1.Container{Name: "init-net", Image: initV1}).
		Sidecar(proxy.Obj())
}

// sizedProxy is the proxy at v1 with fixed requests, and a memory limit equal to its
// request.
func sizedProxy(cpu, memory string) *testingutil.SidecarWrapper {
	return testingutil.MakeSidecar("proxy", proxyV1).Resources(resourceList(cpu, memory), resourceList("", memory))
}

// resizePolicy has the sidecar declare how the kubelet applies a resize of name.
func resizePolicy(w *testingutil.SidecarWrapper, name corev1.ResourceName, p corev1.ResourceResizeRestartPolicy) *testingutil.SidecarWrapper {
	w.ResizePolicy = append(w.ResizePolicy, corev1.ContainerResizePolicy{ResourceName: name, RestartPolicy: p})
	return w
}

func withInitImage(set *sidecarsv1alpha1.SidecarSet, img string) *sidecarsv1alpha1.SidecarSet {
	s := set.DeepCopy()
	s.Spec.InitContainers[0].Image = img
	return s
}

// resourceList has cpu and memory, each only when not "".
func resourceList(cpu, memory string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		l[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return l
}

// targetOf is the set's current spec as the controller targets it.
func targetOf(set *sidecarsv1alpha1.SidecarSet) Target {
	spec := revision.SpecOf(set)
	return Target{
		Revision:      revision.Name(set.Name, spec, set.Status.CollisionCount),
		Hash:          revision.Hash(spec),
		ImageFreeHash: revision.ImageFreeHash(spec),
	}
}

// injected is pod as the webhook returns it with the sets injected.
func injected(t *testing.T, pod *corev1.Pod, from ...*sidecarsv1alpha1.SidecarSet) *corev1.Pod {
	t.Helper()
	var sources []inject.Source
	for _, s := range from {
		sources = append(sources, inject.SourceOf(s))
	}
	res, err := inject.Inject(pod, sources)
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return res.Pod
}

// stateFor is the upgrade state of "mesh" to the current spec of to, as Begin records
// it, changed by edits.
func stateFor(to *sidecarsv1alpha1.SidecarSet, edits ...func(*State)) *State {
	tg := targetOf(to)
	s := &State{Set: to.Name, Revision: tg.Revision, Hash: tg.Hash, ImageFreeHash: tg.ImageFreeHash}
	for _, edit := range edits {
		edit(s)
	}
	return s
}

// proxyToV2 is the upgrade of the proxy from v1 to v2 on a pod with the readiness gate.
func proxyToV2(edits ...func(*State)) *State {
	return stateFor(meshV2, append([]func(*State){withImage("proxy", proxyV2), draining}, edits...)...)
}

func withImage(name, image string) func(*State) {
	return func(s *State) {
		if s.Images == nil {
			s.Images = map[string]string{}
		}
		s.Images[name] = image
	}
}

// proxyRanBefore records the run of the proxy the swap replaced.
func proxyRanBefore(run ContainerRun) func(*State) {
	return func(s *State) {
		if s.Before == nil {
			s.Before = map[string]ContainerRun{}
		}
		s.Before["proxy"] = run
	}
}

// swappedAgo marks the state swapped ago before now, without a record of what ran.
func swappedAgo(ago time.Duration) func(*State) {
	return func(s *State) {
		s.Swapped = true
		s.SwappedAt = &metav1.Time{Time: now.Add(-ago)}
	}
}

// proxyResources records the resources the state asks of the proxy sidecar.
func proxyResources(r corev1.ResourceRequirements) func(*State) {
	return func(s *State) {
		if s.Resources == nil {
			s.Resources = map[string]corev1.ResourceRequirements{}
		}
		s.Resources["proxy"] = r
	}
}

func draining(s *State) { s.Drain = true }
func noDrain(s *State)  { s.Drain = false }

// isSwapped is the state Next's swap records at now on a pod onV1: the proxy ran from
// proxyIDv1 (when the state replaces it).
func isSwapped(s *State) {
	s.Swapped = true
	s.SwappedAt = &metav1.Time{Time: now}
	if _, ok := s.Images["proxy"]; ok {
		proxyRanBefore(ContainerRun{ImageID: proxyIDv1})(s)
	}
}

func failedWith(reason string) func(*State) {
	return func(s *State) { s.Failed = reason }
}

func otherSet(s *State) { s.Set = "other" }

// noRevision is a state begun for a target known by hash alone.
func noRevision(s *State) { s.Revision = "" }

// podChange is something the kubelet reported, or someone changed, on a pod.
type podChange func(*corev1.Pod)

func isInit(pod *corev1.Pod, name string) bool {
	return slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name })
}

// upsertStatus replaces the status of st.Name, or adds it to the list its container is in.
func upsertStatus(pod *corev1.Pod, st corev1.ContainerStatus) {
	list := &pod.Status.ContainerStatuses
	if isInit(pod, st.Name) {
		list = &pod.Status.InitContainerStatuses
	}
	if i := slices.IndexFunc(*list, func(s corev1.ContainerStatus) bool { return s.Name == st.Name }); i >= 0 {
		(*list)[i] = st
		return
	}
	*list = append(*list, st)
}

// running reports the container started from imageID.
func running(name, imageID string, ready bool) podChange {
	return func(pod *corev1.Pod) {
		started := true
		upsertStatus(pod, corev1.ContainerStatus{
			Name: name, ImageID: imageID, Ready: ready, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-time.Hour))}},
		})
	}
}

// runningAs reports the container running and ready with the given identity.
func runningAs(name, containerID, imageID string, restarts int32) podChange {
	return func(pod *corev1.Pod) {
		running(name, imageID, true)(pod)
		for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
			for i := range list {
				if list[i].Name == name {
					list[i].ContainerID, list[i].RestartCount = containerID, restarts
				}
			}
		}
	}
}

// runningImage reports the container restarted, running and ready on image.
func runningImage(name, image, imageID string) podChange {
	return func(pod *corev1.Pod) {
		runningAs(name, "containerd://new", imageID, 1)(pod)
		for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
			for i := range list {
				if list[i].Name == name {
					list[i].Image = image
				}
			}
		}
	}
}

// proxyPullFails reports the kubelet unable to pull the proxy's image: it never ran.
func proxyPullFails() podChange {
	return func(pod *corev1.Pod) {
		upsertStatus(pod, corev1.ContainerStatus{Name: "proxy", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"},
		}})
	}
}

// oldRunStopped reports the container's last run, from imageID, terminated: the
// kubelet stopped it for the new spec and has not started the new one.
func oldRunStopped(name, imageID string) podChange {
	return func(pod *corev1.Pod) {
		upsertStatus(pod, corev1.ContainerStatus{Name: name, ImageID: imageID,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}})
	}
}

// crashLooping reports the container restarted on imageID and crashing since.
func crashLooping(name, imageID string) podChange {
	return func(pod *corev1.Pod) {
		upsertStatus(pod, corev1.ContainerStatus{Name: name, ImageID: imageID, ContainerID: "containerd://crashed", RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: "back-off 5m0s restarting failed container"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
		})
	}
}

// completed reports a run-to-completion init container done: never Ready.
func completed(name, imageID string) podChange {
	return func(pod *corev1.Pod) {
		upsertStatus(pod, corev1.ContainerStatus{
			Name: name, ImageID: imageID,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}},
		})
	}
}

// proxyRunsWith reports the resources the kubelet actuated for the proxy.
func proxyRunsWith(r corev1.ResourceRequirements) podChange {
	return func(pod *corev1.Pod) {
		for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
			for i := range list {
				if list[i].Name == "proxy" {
					list[i].Resources = r.DeepCopy()
				}
			}
		}
	}
}

func noStatus(name string) podChange {
	return func(pod *corev1.Pod) {
		drop := func(s corev1.ContainerStatus) bool { return s.Name == name }
		pod.Status.InitContainerStatuses = slices.DeleteFunc(pod.Status.InitContainerStatuses, drop)
		pod.Status.ContainerStatuses = slices.DeleteFunc(pod.Status.ContainerStatuses, drop)
	}
}

// podCondition sets a condition that last changed since ago.
func podCondition(t corev1.PodConditionType, status corev1.ConditionStatus, since time.Duration, reason, message string) podChange {
	return func(pod *corev1.Pod) {
		c := corev1.PodCondition{Type: t, Status: status, LastTransitionTime: metav1.NewTime(now.Add(-since)), Reason: reason, Message: message}
		if i := slices.IndexFunc(pod.Status.Conditions, func(p corev1.PodCondition) bool { return p.Type == t }); i >= 0 {
			pod.Status.Conditions[i] = c
			return
		}
		pod.Status.Conditions = append(pod.Status.Conditions, c)
	}
}

func sidecarsReadySince(status corev1.ConditionStatus, since time.Duration) podChange {
	return podCondition(sidecarsv1alpha1.SidecarsReadyCondition, status, since, "", "")
}

func noCondition(t corev1.PodConditionType) podChange {
	return func(pod *corev1.Pod) {
		pod.Status.Conditions = slices.DeleteFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == t })
	}
}

// proxyImage is the controller's patch of the proxy sidecar's image.
func proxyImage(img string) podChange {
	return func(pod *corev1.Pod) {
		for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range list {
				if list[i].Name == "proxy" {
					list[i].Image = img
				}
			}
		}
	}
}

// annotation sets an annotation on the pod.
func annotation(k, v string) podChange {
	return func(pod *corev1.Pod) { pod.Annotations[k] = v }
}

// proxyRequests is the controller's resize of the proxy's requests.
func proxyRequests(r corev1.ResourceList) podChange {
	return func(pod *corev1.Pod) {
		if c := findContainer(pod, "proxy"); c != nil {
			c.Resources.Requests = r
		}
	}
}

// appRequests is an in-place resize of the app container's requests.
func appRequests(r corev1.ResourceList) podChange {
	return func(pod *corev1.Pod) {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == "app" {
				pod.Spec.Containers[i].Resources.Requests = r
			}
		}
	}
}

// onV1 is what the kubelet reports for an injected pod before any upgrade: the init
// container done, the proxy and the app ready on their first images, the sidecars-ready
// condition and the pod's Ready condition True for an hour.
var onV1 = []podChange{
	completed("init-net", initIDv1),
	running("proxy", proxyIDv1, true),
	running("app", appID, true),
	sidecarsReadySince(corev1.ConditionTrue, time.Hour),
	podCondition(corev1.PodReady, corev1.ConditionTrue, time.Hour, "", ""),
}

func apply(pod *corev1.Pod, changes ...[]podChange) *corev1.Pod {
	for _, list := range changes {
		for _, c := range list {
			c(pod)
		}
	}
	return pod
}

// appWithOneCPU is a pod whose app container requests one CPU.
func appWithOneCPU() *corev1.Pod {
	return testingutil.MakePod("web", "ns").Containers(corev1.Container{
		Name: "app", Image: "example.com/app:1",
		Resources: corev1.ResourceRequirements{Requests: resourceList("1", "")},
	}).Obj()
}

func TestNext(t *testing.T) {
	tests := map[string]struct {
		// pod is injected from from (meshV1 when nil), then changed by changes, after
		// the kubelet's report onV1.
		pod     *corev1.Pod
		from    *sidecarsv1alpha1.SidecarSet
		changes []podChange
		// state is written to the pod's annotation and read back with ParseState.
		state *State
		// to is the set whose current spec is the target; meshV2 when nil.
		to           *sidecarsv1alpha1.SidecarSet
		drainSeconds int32
		// revisionless targets to by hash alone (an empty Target.Revision).
		revisionless bool
		// now is the clock; the package's now when zero.
		now  time.Time
		want Step
	}{
		"no state, new image, readiness gate: begins with a drain and the old imageID": {
			want: Step{Action: ActionBegin, State: proxyToV2()},
		},
		"no state, new image, no readiness gate: begins without a drain": {
			from: meshV1NoGate,
			to:   meshV2NoGate,
			want: Step{Action: ActionBegin, State: stateFor(meshV2NoGate, withImage("proxy", proxyV2))},
		},
		"no state, the proxy has no status yet: begins without an old imageID": {
			changes: []podChange{noStatus("proxy")},
			want:    Step{Action: ActionBegin, State: stateFor(meshV2, withImage("proxy", proxyV2), draining)},
		},
		"no state, Container-mode sidecar: begins with the imageID of the regular container": {
			from: meshSet(testingutil.MakeSidecar("proxy", proxyV1).Mode(sidecarsv1alpha1.SidecarModeContainer)).Obj(),
			to:   meshSet(testingutil.MakeSidecar("proxy", proxyV2).Mode(sidecarsv1alpha1.SidecarModeContainer)).Obj(),
			want: Step{Action: ActionBegin, State: stateFor(
				meshSet(testingutil.MakeSidecar("proxy", proxyV2).Mode(sidecarsv1alpha1.SidecarModeContainer)).Obj(),
				withImage("proxy", proxyV2), draining)},
		},
		"new image of the run-to-completion init container: not in Images": {
			to:   meshV2NewInit,
			want: Step{Action: ActionBegin, State: stateFor(meshV2NewInit, withImage("proxy", proxyV2), draining)},
		},
		"only the init container's image changes: nothing to replace, finishes": {
			to:   meshV1NewInit,
			want: Step{Action: ActionFinish, State: stateFor(meshV1NewInit)},
		},
		"only podMetadata changes: finishes at once": {
			to:   meshSet(testingutil.MakeSidecar("proxy", proxyV1)).PodMetadata(map[string]string{"mesh": "on"}, nil).Obj(),
			want: Step{Action: ActionFinish, State: stateFor(meshSet(testingutil.MakeSidecar("proxy", proxyV1)).PodMetadata(map[string]string{"mesh": "on"}, nil).Obj())},
		},
		"the pod overrides the proxy: its own container is left alone": {
			pod: testingutil.MakePod("web", "ns").Containers(
				corev1.Container{Name: "app", Image: "example.com/app:1"},
				corev1.Container{Name: "proxy", Image: "example.com/my-proxy:1"},
			).Obj(),
			want: Step{Action: ActionFinish, State: stateFor(meshV2)},
		},
		"no state, the set never injected the pod: nothing to do": {
			to:   logging,
			want: Step{Action: ActionNone, Reason: "SidecarSet logging never injected the pod"},
		},
		"no state, a malformed injection record: nothing to do": {
			changes: []podChange{annotation(sidecarsv1alpha1.InjectedAnnotation, `{"mesh":`)},
			want: Step{Action: ActionNone,
				Reason: "annotation " + sidecarsv1alpha1.InjectedAnnotation + " is not a valid injection record: unexpected end of JSON input"},
		},
		"drain state, sidecars-ready True: drains": {
			state: proxyToV2(),
			want:  Step{Action: ActionDrain},
		},
		"drain state, no sidecars-ready condition: drains": {
			changes: []podChange{noCondition(sidecarsv1alpha1.SidecarsReadyCondition)},
			state:   proxyToV2(),
			want:    Step{Action: ActionDrain},
		},
		"drain state, sidecars-ready Unknown: drains": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionUnknown, time.Minute)},
			state:   proxyToV2(),
			want:    Step{Action: ActionDrain},
		},
		"drained 1s ago, drain 5s: waits the other 4s": {
			changes:      []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Second)},
			state:        proxyToV2(),
			drainSeconds: 5,
			want:         Step{Action: ActionWaitDrain, After: 4 * time.Second},
		},
		"drained exactly the drain time ago: swaps": {
			changes:      []podChange{sidecarsReadySince(corev1.ConditionFalse, 5*time.Second)},
			state:        proxyToV2(),
			drainSeconds: 5,
			want:         Step{Action: ActionSwap, State: proxyToV2(isSwapped)},
		},
		"drained long ago: swaps": {
			changes:      []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:        proxyToV2(),
			drainSeconds: 5,
			want:         Step{Action: ActionSwap, State: proxyToV2(isSwapped)},
		},
		"drained just now, drain 0s: swaps": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, 0)},
			state:   proxyToV2(),
			want:    Step{Action: ActionSwap, State: proxyToV2(isSwapped)},
		},
		// The annotation is writable where no pod-metadata policy guards it (an install
		// without config/policy): it says which of the set's sidecars are replaced,
		// never with what, nor anything about other containers.
		"a state with another image for the proxy: swaps to the target's image": {
			changes:      []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:        proxyToV2(withImage("proxy", "example.com/noop:1")),
			drainSeconds: 5,
			want:         Step{Action: ActionSwap, State: proxyToV2(isSwapped)},
		},
		"a state naming the app container: dropped, begins afresh": {
			changes:      []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:        proxyToV2(withImage("app", "example.com/miner:1")),
			drainSeconds: 5,
			want:         Step{Action: ActionBegin, State: proxyToV2()},
		},
		"a state resizing the app container: dropped, begins afresh": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state: proxyToV2(func(s *State) {
				s.Resources = map[string]corev1.ResourceRequirements{"app": {Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")}}}
			}),
			drainSeconds: 5,
			want:         Step{Action: ActionBegin, State: proxyToV2()},
		},
		"no drain: swaps directly although sidecars-ready is True": {
			state:        proxyToV2(noDrain),
			drainSeconds: 5,
			want:         Step{Action: ActionSwap, State: proxyToV2(noDrain, isSwapped)},
		},
		"swapped, the kubelet still runs the old imageID: awaits": {
			changes: []podChange{proxyImage(proxyV2), sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:   proxyToV2(isSwapped),
			want:    Step{Action: ActionWaitKubelet, Reason: "container proxy has not restarted on image " + proxyV2 + " yet"},
		},
		"swapped, the proxy has no status: awaits": {
			changes: []podChange{proxyImage(proxyV2), noStatus("proxy")},
			state:   proxyToV2(isSwapped),
			want:    Step{Action: ActionWaitKubelet, Reason: "container proxy has no status yet"},
		},
		"swapped, new imageID, not ready: awaits": {
			changes: []podChange{proxyImage(proxyV2), running("proxy", proxyIDv2, false)},
			state:   proxyToV2(isSwapped),
			want:    Step{Action: ActionWaitKubelet, Reason: "container proxy is not ready on image " + proxyV2},
		},
		"swapped, new imageID and ready: finishes": {
			changes: []podChange{proxyImage(proxyV2), running("proxy", proxyIDv2, true)},
			state:   proxyToV2(isSwapped),
			want:    Step{Action: ActionFinish, State: proxyToV2(isSwapped)},
		},
		"swapped without an old imageID, ready: finishes": {
			changes: []podChange{proxyImage(proxyV2), running("proxy", proxyIDv2, true)},
			state:   stateFor(meshV2, withImage("proxy", proxyV2), draining, isSwapped),
			want:    Step{Action: ActionFinish, State: stateFor(meshV2, withImage("proxy", proxyV2), draining, isSwapped)},
		},
		"CPU-only resize of fixed resources, readiness gate: begins without a drain": {
			from: sizedV1,
			to:   cpuV2,
			want: Step{Action: ActionBegin, State: stateFor(cpuV2, proxyResources(cpuV2Resources))},
		},
		"memory resize of fixed resources, readiness gate: begins with a drain": {
			from: sizedV1,
			to:   memoryV2,
			want: Step{Action: ActionBegin, State: stateFor(memoryV2, proxyResources(memoryV2Resources), draining)},
		},
		"CPU resize, the sidecar declares cpu RestartContainer: begins with a drain": {
			from: cpuRestartsV1,
			to:   cpuRestartsV2,
			want: Step{Action: ActionBegin, State: stateFor(cpuRestartsV2, proxyResources(cpuV2Resources), draining)},
		},
		"memory resize, the sidecar declares memory NotRequired: begins without a drain": {
			from: memoryInPlaceV1,
			to:   memoryInPlaceV2,
			want: Step{Action: ActionBegin, State: stateFor(memoryInPlaceV2, proxyResources(memoryV2Resources))},
		},
		"memory resize, no readiness gate: begins without a drain": {
			from: sizedV1NoGate,
			to:   memoryV2,
			want: Step{Action: ActionBegin, State: stateFor(memoryV2, proxyResources(memoryV2Resources))},
		},
		"resourcesPolicy, the app's requests grew: begins a resize to the recomputed resources": {
			pod:     appWithOneCPU(),
			from:    perApp,
			changes: []podChange{appRequests(resourceList("2", ""))},
			to:      perApp,
			want:    Step{Action: ActionBegin, State: stateFor(perApp, proxyResources(corev1.ResourceRequirements{Requests: resourceList("200m", "")}))},
		},
		"resourcesPolicy, the app is unchanged: finishes at once": {
			pod:  appWithOneCPU(),
			from: perApp,
			to:   perApp,
			want: Step{Action: ActionFinish, State: stateFor(perApp)},
		},
		"a failed resize, the app resized again since: begins again for the new size": {
			pod:     appWithOneCPU(),
			from:    perApp,
			changes: []podChange{appRequests(resourceList("3", ""))},
			state: stateFor(perApp, proxyResources(corev1.ResourceRequirements{Requests: resourceList("200m", "")}),
				swappedAgo(time.Hour), failedWith("the kubelet reports the resize as infeasible: x")),
			to:   perApp,
			want: Step{Action: ActionBegin, State: stateFor(perApp, proxyResources(corev1.ResourceRequirements{Requests: resourceList("300m", "")}))},
		},
		"a failed resize, the app unchanged since: stays failed": {
			pod:  appWithOneCPU(),
			from: perApp,
			changes: []podChange{appRequests(resourceList("2", "")), proxyRequests(resourceList("200m", "")),
				proxyRunsWith(corev1.ResourceRequirements{Requests: resourceList("100m", "")})},
			state: stateFor(perApp, proxyResources(corev1.ResourceRequirements{Requests: resourceList("200m", "")}),
				swappedAgo(time.Hour), failedWith("the kubelet reports the resize as infeasible: x")),
			to:   perApp,
			want: Step{Action: ActionNone, Reason: "the kubelet reports the resize as infeasible: x"},
		},
		"swapped resize, pending Infeasible: fails": {
			from: sizedV1,
			changes: []podChange{podCondition(corev1.PodResizePending, corev1.ConditionTrue, time.Second,
				corev1.PodReasonInfeasible, infeasible)},
			state: stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped),
			to:    cpuV2,
			want: Step{
				Action: ActionFail,
				State: stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped,
					failedWith("the kubelet reports the resize as infeasible: "+infeasible)),
				Reason: "the kubelet reports the resize as infeasible: " + infeasible,
			},
		},
		"swapped resize, pending Deferred: awaits": {
			from: sizedV1,
			changes: []podChange{podCondition(corev1.PodResizePending, corev1.ConditionTrue, time.Second,
				corev1.PodReasonDeferred, "Node didn't have enough resource: cpu")},
			state: stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped),
			to:    cpuV2,
			want: Step{Action: ActionWaitKubelet,
				Reason: "the resize of container proxy is pending (Deferred): Node didn't have enough resource: cpu", Trouble: true},
		},
		"swapped resize, in progress: awaits": {
			from:    sizedV1,
			changes: []podChange{podCondition(corev1.PodResizeInProgress, corev1.ConditionTrue, time.Second, "", "")},
			state:   stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped),
			to:      cpuV2,
			want:    Step{Action: ActionWaitKubelet, Reason: "the kubelet is resizing container proxy"},
		},
		"swapped resize, in progress with an Error: fails": {
			from: sizedV1,
			changes: []podChange{podCondition(corev1.PodResizeInProgress, corev1.ConditionTrue, time.Second,
				corev1.PodReasonError, "failed to update the container's cgroup")},
			state: stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped),
			to:    cpuV2,
			want: Step{
				Action: ActionFail,
				State: stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped,
					failedWith("the kubelet failed to resize: failed to update the container's cgroup")),
				Reason: "the kubelet failed to resize: failed to update the container's cgroup",
			},
		},
		"swapped image upgrade, another container's resize pending Infeasible: finishes": {
			changes: []podChange{proxyImage(proxyV2), running("proxy", proxyIDv2, true),
				podCondition(corev1.PodResizePending, corev1.ConditionTrue, time.Second, corev1.PodReasonInfeasible, infeasible)},
			state: proxyToV2(isSwapped),
			want:  Step{Action: ActionFinish, State: proxyToV2(isSwapped)},
		},
		"swapped image upgrade, another container's resize in progress with an Error: finishes": {
			changes: []podChange{proxyImage(proxyV2), running("proxy", proxyIDv2, true),
				podCondition(corev1.PodResizeInProgress, corev1.ConditionTrue, time.Second, corev1.PodReasonError, "x")},
			state: proxyToV2(isSwapped),
			want:  Step{Action: ActionFinish, State: proxyToV2(isSwapped)},
		},
		"swapped resize, new resources but the proxy not ready: awaits": {
			from:    sizedV1,
			changes: []podChange{running("proxy", proxyIDv1, false), proxyRunsWith(cpuV2Resources)},
			state:   stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped),
			to:      cpuV2,
			want:    Step{Action: ActionWaitKubelet, Reason: "container proxy is not ready after its resize"},
		},
		"swapped resize, the kubelet still reports the old resources: awaits": {
			from: sizedV1,
			changes: []podChange{proxyRunsWith(corev1.ResourceRequirements{
				Requests: resourceList("100m", "64Mi"), Limits: resourceList("", "64Mi")})},
			state: stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped),
			to:    cpuV2,
			want:  Step{Action: ActionWaitKubelet, Reason: "container proxy does not run with its new resources yet"},
		},
		"swapped resize, the kubelet reports the new resources: finishes": {
			from:    sizedV1,
			changes: []podChange{proxyRunsWith(cpuV2Resources)},
			state:   stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped),
			to:      cpuV2,
			want:    Step{Action: ActionFinish, State: stateFor(cpuV2, proxyResources(cpuV2Resources), isSwapped)},
		},
		"failed for this revision: nothing to do": {
			state: proxyToV2(isSwapped, failedWith("the kubelet reports the resize as infeasible: x")),
			want:  Step{Action: ActionNone, Reason: "the kubelet reports the resize as infeasible: x"},
		},
		"failed before the swap (the API server refused it), drained: nothing to do, never drains or swaps again": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:   proxyToV2(draining, failedWith("the API server refused the image swap: denied")),
			want:    Step{Action: ActionNone, Reason: "the API server refused the image swap: denied"},
		},
		"failed before the swap, gate back True: nothing to do": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionTrue, time.Minute)},
			state:   proxyToV2(draining, failedWith("the API server refused the image swap: denied")),
			want:    Step{Action: ActionNone, Reason: "the API server refused the image swap: denied"},
		},
		"failed before the swap for an older revision: begins again": {
			state: stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining, failedWith("the API server refused the image swap: denied")),
			want:  Step{Action: ActionBegin, State: proxyToV2()},
		},
		"failed for an older revision: begins again": {
			state: stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining, isSwapped,
				failedWith("the kubelet reports the resize as infeasible: x")),
			want: Step{Action: ActionBegin, State: proxyToV2()},
		},
		"unswapped state for an older revision: begins again for this one": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:   stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining),
			want:    Step{Action: ActionBegin, State: proxyToV2()},
		},
		"swapped state for an older revision, old image still running: goes straight to this target": {
			changes: []podChange{proxyImage(proxyV1_5)},
			state:   stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining, isSwapped),
			want:    Step{Action: ActionBegin, State: proxyToV2()},
		},
		"swapped state for an older revision, confirmed: goes straight to this target": {
			changes: []podChange{proxyImage(proxyV1_5), running("proxy", proxyIDv1_5, true)},
			state:   stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining, isSwapped),
			want:    Step{Action: ActionBegin, State: proxyToV2()},
		},
		"revisionless target, failed for an older spec: begins again": {
			state: stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining, isSwapped, noRevision,
				failedWith("the kubelet reports the resize as infeasible: x")),
			revisionless: true,
			want:         Step{Action: ActionBegin, State: proxyToV2(noRevision)},
		},
		"revisionless target, unswapped state for an older spec: begins again for this one": {
			changes:      []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:        stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining, noRevision),
			revisionless: true,
			want:         Step{Action: ActionBegin, State: proxyToV2(noRevision)},
		},
		"revisionless target, failed for this spec: nothing to do": {
			state:        proxyToV2(isSwapped, noRevision, failedWith("the kubelet reports the resize as infeasible: x")),
			revisionless: true,
			want:         Step{Action: ActionNone, Reason: "the kubelet reports the resize as infeasible: x"},
		},
		// A changed target re-drives a pod from whatever step it reached (here: back to v1).
		"revert before the drain: the pod runs v1 already, only the state goes": {
			state: proxyToV2(),
			to:    meshV1,
			want:  Step{Action: ActionFinish, State: stateFor(meshV1)},
		},
		"revert while drained: the pod runs v1 already, only the state goes": {
			changes: []podChange{sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:   proxyToV2(),
			to:      meshV1,
			want:    Step{Action: ActionFinish, State: stateFor(meshV1)},
		},
		"revert after the swap to an image that never started: swaps v1 back": {
			changes: []podChange{proxyImage(proxyV2), proxyPullFails(), sidecarsReadySince(corev1.ConditionFalse, time.Minute)},
			state:   proxyToV2(isSwapped),
			to:      meshV1,
			want:    Step{Action: ActionBegin, State: stateFor(meshV1, withImage("proxy", proxyV1), draining)},
		},
		"revert of a failed upgrade: swaps v1 back": {
			changes: []podChange{proxyImage(proxyV2), proxyPullFails(), sidecarsReadySince(corev1.ConditionFalse, time.Hour)},
			state:   proxyToV2(swappedAgo(time.Hour), failedWith("x")),
			to:      meshV1,
			want:    Step{Action: ActionBegin, State: stateFor(meshV1, withImage("proxy", proxyV1), draining)},
		},
		"re-driven while drained long ago: swaps at once, recording the broken run": {
			changes:      []podChange{proxyImage(proxyV2), proxyPullFails(), sidecarsReadySince(corev1.ConditionFalse, time.Hour)},
			state:        stateFor(meshV1, withImage("proxy", proxyV1), draining),
			to:           meshV1,
			drainSeconds: 5,
			want: Step{Action: ActionSwap, State: stateFor(meshV1, withImage("proxy", proxyV1), draining,
				swappedAgo(0))},
		},
		"a new target mid-swap: goes straight to it": {
			changes: []podChange{proxyImage(proxyV1_5)},
			state:   stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining, isSwapped),
			want:    Step{Action: ActionBegin, State: proxyToV2()},
		},
		"swapped, image pull failing within the deadline: waits, saying why": {
			changes: []podChange{proxyImage(proxyV2), proxyPullFails()},
			state:   proxyToV2(swappedAgo(time.Minute)),
			want: Step{Action: ActionWaitKubelet,
				Reason: "container proxy is not ready on image " + proxyV2 + ": ImagePullBackOff: Back-off pulling image", Trouble: true},
		},
		"swapped, image pull failing past the deadline: fails naming the kubelet's reason": {
			changes: []podChange{proxyImage(proxyV2), proxyPullFails()},
			state:   proxyToV2(swappedAgo(10 * time.Minute)),
			want: Step{Action: ActionFail, State: proxyToV2(swappedAgo(10*time.Minute), failedWith(deadlineMsg)),
				Reason: deadlineMsg},
		},
		"swapped, crash looping past the deadline: fails naming the crash": {
			changes: []podChange{proxyImage(proxyV2), crashLooping("proxy", proxyIDv2)},
			state:   proxyToV2(isSwapped),
			now:     now.Add(10 * time.Minute),
			want:    Step{Action: ActionFail, State: proxyToV2(isSwapped, failedWith(crashMsg)), Reason: crashMsg},
		},
		"swapped, the kubelet stopped the old container and cannot start the new one: waits, saying so": {
			changes: []podChange{proxyImage(proxyV2), oldRunStopped("proxy", proxyIDv1)},
			state:   proxyToV2(isSwapped),
			want: Step{Action: ActionWaitKubelet,
				Reason: "container proxy stopped and has not started on image " + proxyV2, Trouble: true, InEvents: true},
		},
		"failed for this target, the kubelet got there after all: finishes": {
			changes: []podChange{proxyImage(proxyV2), running("proxy", proxyIDv2, true)},
			state:   proxyToV2(isSwapped, failedWith("x")),
			want:    Step{Action: ActionFinish, State: proxyToV2(isSwapped, failedWith("x"))},
		},
		"swapped, a tag re-pointed to the same digest: a new container ID confirms": {
			changes: []podChange{proxyImage(proxyV2), runningAs("proxy", "containerd://2", proxyIDv1, 0)},
			state:   proxyToV2(isSwapped, proxyRanBefore(ContainerRun{ContainerID: "containerd://1", ImageID: proxyIDv1})),
			want: Step{Action: ActionFinish,
				State: proxyToV2(isSwapped, proxyRanBefore(ContainerRun{ContainerID: "containerd://1", ImageID: proxyIDv1}))},
		},
		"swapped, only the restart count moved: confirms": {
			changes: []podChange{proxyImage(proxyV2), runningAs("proxy", "", proxyIDv1, 1)},
			state:   proxyToV2(isSwapped),
			want:    Step{Action: ActionFinish, State: proxyToV2(isSwapped)},
		},
		"swapped, the same container ID, image ID and restart count: waits": {
			changes: []podChange{proxyImage(proxyV2), runningAs("proxy", "containerd://1", proxyIDv1, 0)},
			state:   proxyToV2(isSwapped, proxyRanBefore(ContainerRun{ContainerID: "containerd://1", ImageID: proxyIDv1})),
			want:    Step{Action: ActionWaitKubelet, Reason: "container proxy has not restarted on image " + proxyV2 + " yet"},
		},
		"swapped back before the kubelet restarted anything: the run already on the target confirms": {
			changes: []podChange{runningImage("proxy", proxyV1, proxyIDv1)},
			state: stateFor(meshV1, withImage("proxy", proxyV1), draining, isSwapped,
				proxyRanBefore(ContainerRun{ContainerID: "containerd://new", ImageID: proxyIDv1, RestartCount: 1, Image: proxyV1})),
			to: meshV1,
			want: Step{Action: ActionFinish, State: stateFor(meshV1, withImage("proxy", proxyV1), draining, isSwapped,
				proxyRanBefore(ContainerRun{ContainerID: "containerd://new", ImageID: proxyIDv1, RestartCount: 1, Image: proxyV1}))},
		},
		"swapped, the same run on an unreported image: waits": {
			changes: []podChange{proxyImage(proxyV2), runningAs("proxy", "containerd://1", proxyIDv1, 0)},
			state:   proxyToV2(isSwapped, proxyRanBefore(ContainerRun{ContainerID: "containerd://1", ImageID: proxyIDv1, Image: "sha256:1111"})),
			want:    Step{Action: ActionWaitKubelet, Reason: "container proxy has not restarted on image " + proxyV2 + " yet"},
		},
		"swapped, restarted but on another image than the spec's: waits": {
			changes: []podChange{proxyImage(proxyV2), runningImage("proxy", proxyV1_5, proxyIDv1_5)},
			state:   proxyToV2(isSwapped),
			want: Step{Action: ActionWaitKubelet,
				Reason: "container proxy runs image " + proxyV1_5 + ", not " + proxyV2 + " yet"},
		},
		"swapped, the runtime reports a normalised image name: confirms": {
			changes: []podChange{proxyImage("proxy:v2"), runningImage("proxy", "docker.io/library/proxy:v2", proxyIDv2)},
			state:   stateFor(shortV2, withImage("proxy", "proxy:v2"), draining, isSwapped),
			to:      shortV2,
			want:    Step{Action: ActionFinish, State: stateFor(shortV2, withImage("proxy", "proxy:v2"), draining, isSwapped)},
		},
		"swapped resize, pending Deferred past the deadline: fails": {
			from: sizedV1,
			changes: []podChange{podCondition(corev1.PodResizePending, corev1.ConditionTrue, time.Hour,
				corev1.PodReasonDeferred, "Node didn't have enough resource: cpu")},
			state: stateFor(cpuV2, proxyResources(cpuV2Resources), swappedAgo(time.Hour)),
			to:    cpuV2,
			want: Step{Action: ActionFail,
				State:  stateFor(cpuV2, proxyResources(cpuV2Resources), swappedAgo(time.Hour), failedWith(deferredMsg)),
				Reason: deferredMsg},
		},
		"no state, the pod is not Ready: begins, and says the pod was unavailable before": {
			changes: []podChange{podCondition(corev1.PodReady, corev1.ConditionFalse, time.Minute, "ContainersNotReady", "")},
			want: Step{Action: ActionBegin, State: func() *State {
				s := proxyToV2()
				s.UnavailableBefore = true
				return s
			}()},
		},
		"a drained pod's state for an older target: begins again as available as that state found it": {
			state:   stateFor(meshV1_5, withImage("proxy", proxyV1_5), draining),
			changes: []podChange{podCondition(corev1.PodReady, corev1.ConditionFalse, time.Minute, "ReadinessGatesNotReady", "")},
			want:    Step{Action: ActionBegin, State: proxyToV2()},
		},
		"unswapped state of another set: begins for this set": {
			state: stateFor(meshV2, otherSet, withImage("logger", "example.com/logger:v2"), draining),
			want:  Step{Action: ActionBegin, State: proxyToV2()},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			from, to := tc.from, tc.to
			if from == nil {
				from = meshV1
			}
			if to == nil {
				to = meshV2
			}
			pod := tc.pod
			if pod == nil {
				pod = testingutil.MakePod("web", "ns").Obj()
			}
			pod = apply(injected(t, pod, from), onV1, tc.changes)
			if tc.state != nil {
				pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = tc.state.String()
			}
			state, err := ParseState(pod)
			if err != nil {
				t.Fatalf("ParseState: %v", err)
			}
			before := pod.DeepCopy()
			target := targetOf(to)
			if tc.revisionless {
				target.Revision = ""
			}

			// The controller decides on the pod as its cache keeps it: the same step.
			for form, pod := range fullAndCached(pod) {
				got := Next(Input{
					Pod: pod, State: state, Set: to.Name, Spec: revision.SpecOf(to), Target: target,
					DrainSeconds: tc.drainSeconds, ProgressDeadline: 10 * time.Minute, Now: cmp.Or(tc.now, now),
				})
				if got.Action == ActionWaitKubelet {
					if got.State == nil {
						t.Errorf("Next on the %s pod: WaitKubelet without the state waited on", form)
					}
					if tc.want.State == nil {
						got.State = nil // the state waited on: the input's, recomputed
					}
				}
				if diff := gocmp.Diff(tc.want, got, quantityEqual); diff != "" {
					t.Errorf("Next on the %s pod (-want +got):\n%s", form, diff)
				}
			}
			if diff := gocmp.Diff(before, pod, quantityEqual); diff != "" {
				t.Errorf("Next changed the pod (-before +after):\n%s", diff)
			}
		})
	}
}

// fullAndCached yields pod as the API server has it and as the controller's cache
// keeps it (podcache.Trim): every decision must be the same on both.
func fullAndCached(pod *corev1.Pod) iter.Seq2[string, *corev1.Pod] {
	return func(yield func(string, *corev1.Pod) bool) {
		if yield("full", pod) {
			yield("cached", podcache.Trim(pod.DeepCopy(), podcache.NewInterner(1<<20, 64)))
		}
	}
}

// A whole upgrade, step by step, as the controller would drive it.
func TestNextWalksAnUpgrade(t *testing.T) {
	pod := apply(injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1), onV1)
	spec, tg := revision.SpecOf(meshV2), targetOf(meshV2)
	next := func(at time.Time) Step {
		t.Helper()
		state, err := ParseState(pod)
		if err != nil {
			t.Fatalf("ParseState: %v", err)
		}
		return Next(Input{Pod: pod, State: state, Set: "mesh", Spec: spec, Target: tg, DrainSeconds: 5, Now: at})
	}
	record := func(s *State) { pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = s.String() }

	var actions []Action
	step := next(now)
	actions = append(actions, step.Action)
	record(step.State) // Begin

	step = next(now)
	actions = append(actions, step.Action)
	apply(pod, []podChange{sidecarsReadySince(corev1.ConditionFalse, 0)}) // Drain

	step = next(now.Add(2 * time.Second))
	actions = append(actions, step.Action) // Wait 3s
	if step.After != 3*time.Second {
		t.Errorf("Wait After = %v, want 3s", step.After)
	}

	step = next(now.Add(5 * time.Second))
	actions = append(actions, step.Action)
	apply(pod, []podChange{proxyImage(proxyV2)}) // Swap
	record(step.State)

	step = next(now.Add(6 * time.Second))
	actions = append(actions, step.Action) // Await: still the old imageID
	apply(pod, []podChange{running("proxy", proxyIDv2, true)})

	step = next(now.Add(7 * time.Second))
	actions = append(actions, step.Action) // Finish
	if diff := gocmp.Diff(proxyToV2(isSwapped, swappedAgo(-5*time.Second), proxyRanBefore(ContainerRun{ImageID: proxyIDv1})), step.State); diff != "" {
		t.Errorf("finished state (-want +got):\n%s", diff)
	}

	want := []Action{ActionBegin, ActionDrain, ActionWaitDrain, ActionSwap, ActionWaitKubelet, ActionFinish}
	if diff := gocmp.Diff(want, actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestChanges(t *testing.T) {
	logger := testingutil.MakeSidecarSet("logging").
		Sidecar(testingutil.MakeSidecar("logger", "example.com/logger:v1").Obj()).Obj()
	loggerV2 := testingutil.MakeSidecarSet("logging").
		Sidecar(testingutil.MakeSidecar("logger", "example.com/logger:v2").Obj()).Obj()

	tests := map[string]struct {
		pod           *corev1.Pod
		set           string
		spec          revision.Spec
		wantImages    map[string]string
		wantResources map[string]corev1.ResourceRequirements
		wantErr       bool
	}{
		"new sidecar image": {
			pod:        injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1),
			set:        "mesh",
			spec:       revision.SpecOf(meshV2),
			wantImages: map[string]string{"proxy": proxyV2},
		},
		"the same spec: nothing": {
			pod:  injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1),
			set:  "mesh",
			spec: revision.SpecOf(meshV1),
		},
		"new init container image: run-to-completion init containers are never replaced": {
			pod:        injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1),
			set:        "mesh",
			spec:       revision.SpecOf(meshV2NewInit),
			wantImages: map[string]string{"proxy": proxyV2},
		},
		"overridden container: the pod's own is left alone": {
			pod: injected(t, testingutil.MakePod("web", "ns").Containers(
				corev1.Container{Name: "app", Image: "example.com/app:1"},
				corev1.Container{Name: "proxy", Image: "example.com/my-proxy:1",
					Resources: corev1.ResourceRequirements{Requests: resourceList("1", "")}},
			).Obj(), meshV1),
			set:  "mesh",
			spec: revision.SpecOf(meshV2),
		},
		"another set's sidecar in the spec: left alone": {
			pod:  injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1, logger),
			set:  "mesh",
			spec: revision.SpecOf(loggerV2),
		},
		"two sets on the pod: only the named set's containers change": {
			pod:        injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1, logger),
			set:        "logging",
			spec:       revision.SpecOf(loggerV2),
			wantImages: map[string]string{"logger": "example.com/logger:v2"},
		},
		"not injected by the set: an error": {
			pod:     testingutil.MakePod("web", "ns").Obj(),
			set:     "mesh",
			spec:    revision.SpecOf(meshV2),
			wantErr: true,
		},
		"injected by another set only: an error": {
			pod:     injected(t, testingutil.MakePod("web", "ns").Obj(), logger),
			set:     "mesh",
			spec:    revision.SpecOf(meshV2),
			wantErr: true,
		},
		"a malformed injection record: an error": {
			pod:     testingutil.MakePod("web", "ns").Annotation(sidecarsv1alpha1.InjectedAnnotation, `{"mesh":`).Obj(),
			set:     "mesh",
			spec:    revision.SpecOf(meshV2),
			wantErr: true,
		},
		"fixed resources changed: the new resources": {
			pod:           injected(t, testingutil.MakePod("web", "ns").Obj(), sizedV1),
			set:           "mesh",
			spec:          revision.SpecOf(cpuV2),
			wantResources: map[string]corev1.ResourceRequirements{"proxy": cpuV2Resources},
		},
		"image and resources changed: both": {
			pod: injected(t, testingutil.MakePod("web", "ns").Obj(), sizedV1),
			set: "mesh",
			spec: func() revision.Spec {
				s := revision.SpecOf(cpuV2)
				s.Containers[0].Image = proxyV2
				return s
			}(),
			wantImages:    map[string]string{"proxy": proxyV2},
			wantResources: map[string]corev1.ResourceRequirements{"proxy": cpuV2Resources},
		},
		"resources equal in another form: nothing": {
			pod: injected(t, testingutil.MakePod("web", "ns").Obj(), sizedV1),
			set: "mesh",
			spec: revision.SpecOf(meshSet(testingutil.MakeSidecar("proxy", proxyV1).Resources(
				resourceList("0.1", "65536Ki"), resourceList("", "67108864"))).Obj()),
		},
		"empty resource lists equal none: nothing": {
			pod:  injected(t, testingutil.MakePod("web", "ns").Obj(), meshSet(testingutil.MakeSidecar("proxy", proxyV1).Resources(corev1.ResourceList{}, corev1.ResourceList{})).Obj()),
			set:  "mesh",
			spec: revision.SpecOf(meshV1),
		},
		"resourcesPolicy, the app's requests grew: recomputed from the app containers": {
			pod:  apply(injected(t, appWithOneCPU(), perApp), []podChange{appRequests(resourceList("2", ""))}),
			set:  "mesh",
			spec: revision.SpecOf(perApp),
			wantResources: map[string]corev1.ResourceRequirements{
				"proxy": {Requests: resourceList("200m", "")},
			},
		},
		"resourcesPolicy, the app is unchanged: nothing": {
			pod:  injected(t, appWithOneCPU(), perApp),
			set:  "mesh",
			spec: revision.SpecOf(perApp),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for form, pod := range fullAndCached(tc.pod) {
				images, res, err := Changes(pod, tc.set, tc.spec)
				if (err != nil) != tc.wantErr {
					t.Fatalf("Changes on the %s pod: error = %v, want error %v", form, err, tc.wantErr)
				}
				if diff := gocmp.Diff(tc.wantImages, images); diff != "" {
					t.Errorf("images on the %s pod (-want +got):\n%s", form, diff)
				}
				if diff := gocmp.Diff(tc.wantResources, res, quantityEqual); diff != "" {
					t.Errorf("resources on the %s pod (-want +got):\n%s", form, diff)
				}
			}
		})
	}
}

func TestAppContainers(t *testing.T) {
	tests := map[string]struct {
		pod  *corev1.Pod
		want []string
	}{
		"native sidecar: the app only": {
			pod:  injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1),
			want: []string{"app"},
		},
		"Container-mode sidecar: not an app container": {
			pod: injected(t, testingutil.MakePod("web", "ns").Obj(),
				meshSet(testingutil.MakeSidecar("proxy", proxyV1).Mode(sidecarsv1alpha1.SidecarModeContainer)).Obj()),
			want: []string{"app"},
		},
		"overridden sidecar: the pod's own container is an app container": {
			pod: injected(t, testingutil.MakePod("web", "ns").Containers(
				corev1.Container{Name: "app", Image: "example.com/app:1"},
				corev1.Container{Name: "proxy", Image: "example.com/my-proxy:1"},
			).Obj(), meshSet(testingutil.MakeSidecar("proxy", proxyV1).Mode(sidecarsv1alpha1.SidecarModeContainer)).Obj()),
			want: []string{"app", "proxy"},
		},
		"not injected: every container": {
			pod: testingutil.MakePod("web", "ns").Containers(
				corev1.Container{Name: "app", Image: "example.com/app:1"},
				corev1.Container{Name: "worker", Image: "example.com/worker:1"},
			).Obj(),
			want: []string{"app", "worker"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			records, err := sidecarsv1alpha1.ParseInjectionRecords(tc.pod.Annotations)
			if err != nil {
				t.Fatalf("ParseInjectionRecords: %v", err)
			}
			var got []string
			for _, c := range inject.AppContainers(tc.pod, records) {
				got = append(got, c.Name)
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AppContainers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSidecarsReady(t *testing.T) {
	native := func() *corev1.Pod { return injected(t, testingutil.MakePod("web", "ns").Obj(), meshV1) }
	container := func() *corev1.Pod {
		return injected(t, testingutil.MakePod("web", "ns").Obj(),
			meshSet(testingutil.MakeSidecar("proxy", proxyV1).Mode(sidecarsv1alpha1.SidecarModeContainer)).Obj())
	}
	tests := map[string]struct {
		pod  *corev1.Pod
		want bool
	}{
		"all ready": {
			pod:  apply(native(), onV1),
			want: true,
		},
		"native sidecar not ready": {
			pod:  apply(native(), onV1, []podChange{running("proxy", proxyIDv1, false)}),
			want: false,
		},
		"native sidecar without a status": {
			pod:  apply(native(), onV1, []podChange{noStatus("proxy")}),
			want: false,
		},
		"run-to-completion init container without a status: ignored": {
			pod:  apply(native(), onV1, []podChange{noStatus("init-net")}),
			want: true,
		},
		"run-to-completion init container running, not ready: ignored": {
			pod:  apply(native(), onV1, []podChange{running("init-net", initIDv1, false)}),
			want: true,
		},
		"app not ready: not a sidecar": {
			pod:  apply(native(), onV1, []podChange{running("app", appID, false)}),
			want: true,
		},
		"Container-mode sidecar ready": {
			pod:  apply(container(), onV1),
			want: true,
		},
		"Container-mode sidecar not ready": {
			pod:  apply(container(), onV1, []podChange{running("proxy", proxyIDv1, false)}),
			want: false,
		},
		"overridden sidecar not ready: the pod's own container": {
			pod: apply(injected(t, testingutil.MakePod("web", "ns").Containers(
				corev1.Container{Name: "app", Image: "example.com/app:1"},
				corev1.Container{Name: "proxy", Image: "example.com/my-proxy:1"},
			).Obj(), meshV1), onV1, []podChange{running("proxy", proxyIDv1, false)}),
			want: true,
		},
		"no injection record": {
			pod:  apply(testingutil.MakePod("web", "ns").Obj(), []podChange{running("app", appID, false)}),
			want: true,
		},
		"malformed injection record": {
			pod: apply(testingutil.MakePod("web", "ns").
				Annotation(sidecarsv1alpha1.InjectedAnnotation, `{"mesh":`).Obj(), []podChange{running("app", appID, true)}),
			want: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := SidecarsReady(tc.pod); got != tc.want {
				t.Errorf("SidecarsReady = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	full := &State{
		Set: "mesh", Revision: "mesh-abc", Hash: "h2", ImageFreeHash: "f1",
		Images:    map[string]string{"proxy": proxyV2},
		Before:    map[string]ContainerRun{"proxy": {ContainerID: "containerd://1", ImageID: proxyIDv1, RestartCount: 2}},
		SwappedAt: &metav1.Time{Time: now},
		Resources: map[string]corev1.ResourceRequirements{
			"proxy": {Requests: resourceList("250m", "96Mi"), Limits: resourceList("", "128Mi")},
		},
		Drain: true, Swapped: true, Failed: "the kubelet reports the resize as infeasible: x",
	}
	tests := map[string]struct {
		annotations map[string]string
		want        *State
		wantErr     string
	}{
		"no annotation: none in flight": {},
		"empty annotation: none in flight": {
			annotations: map[string]string{sidecarsv1alpha1.UpgradeAnnotation: ""},
		},
		"round trip of every field": {
			annotations: map[string]string{sidecarsv1alpha1.UpgradeAnnotation: full.String()},
			want:        full,
		},
		"round trip of a fresh state": {
			annotations: map[string]string{sidecarsv1alpha1.UpgradeAnnotation: proxyToV2().String()},
			want:        proxyToV2(),
		},
		"malformed": {
			annotations: map[string]string{sidecarsv1alpha1.UpgradeAnnotation: `{"set":`},
			wantErr:     sidecarsv1alpha1.UpgradeAnnotation,
		},
		"wrong type": {
			annotations: map[string]string{sidecarsv1alpha1.UpgradeAnnotation: `{"swapped":"yes"}`},
			wantErr:     sidecarsv1alpha1.UpgradeAnnotation,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pod := testingutil.MakePod("web", "ns").Obj()
			pod.Annotations = tc.annotations
			got, err := ParseState(pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseState error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseState: %v", err)
			}
			if diff := gocmp.Diff(tc.want, got, quantityEqual); diff != "" {
				t.Errorf("ParseState (-want +got):\n%s", diff)
			}
			if got != nil && got.String() != tc.want.String() {
				t.Errorf("String after a round trip = %s, want %s", got.String(), tc.want.String())
			}
		})
	}
}

func TestDrift(t *testing.T) {
	withPodLevel := func(cpu string) podChange {
		return func(pod *corev1.Pod) {
			pod.Spec.Resources = &corev1.ResourceRequirements{Requests: resourceList(cpu, "")}
		}
	}
	appEnacted := func(cpu string) podChange {
		return func(pod *corev1.Pod) {
			for i := range pod.Status.ContainerStatuses {
				if pod.Status.ContainerStatuses[i].Name == "app" {
					pod.Status.ContainerStatuses[i].Resources = &corev1.ResourceRequirements{Requests: resourceList(cpu, "")}
				}
			}
		}
	}
	tests := map[string]struct {
		changes []podChange
		spec    revision.Spec
		want    []string
	}{
		"the app is unchanged": {},
		"the app doubled its CPU: the proxy follows": {
			changes: []podChange{appRequests(resourceList("2", ""))},
			want:    []string{"proxy"},
		},
		"the app grew 20%: past the step, the proxy follows": {
			changes: []podChange{appRequests(resourceList("1200m", ""))},
			want:    []string{"proxy"},
		},
		"the app grew 5%: within the step, nothing": {
			changes: []podChange{appRequests(resourceList("1050m", ""))},
		},
		"the app shrank 8%: within the step, nothing": {
			changes: []podChange{appRequests(resourceList("920m", ""))},
		},
		"the app's resize is not enacted yet: followed when the kubelet reports it": {
			changes: []podChange{appRequests(resourceList("2", "")), appEnacted("1")},
		},
		"the kubelet reports the app's resize enacted: the proxy follows": {
			changes: []podChange{appRequests(resourceList("2", "")), appEnacted("2")},
			want:    []string{"proxy"},
		},
		"pod-level requests leave the proxy less than 10% of the grown app: it shrinks to fit": {
			changes: []podChange{withPodLevel("1150m"), appRequests(resourceList("1100m", ""))},
			want:    []string{"proxy"},
		},
		"a set with fixed resources never drifts": {
			changes: []podChange{appRequests(resourceList("2", ""))},
			spec:    revision.SpecOf(sizedV1),
		},
		"a set that never injected the pod": {
			changes: []podChange{annotation(sidecarsv1alpha1.InjectedAnnotation, `{}`)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pod := apply(injected(t, appWithOneCPU(), perApp), onV1, tc.changes)
			spec := tc.spec
			if spec.Containers == nil {
				spec = revision.SpecOf(perApp)
			}
			for form, pod := range fullAndCached(pod) {
				if diff := gocmp.Diff(tc.want, Drift(pod, mustRecords(t, pod), "mesh", spec)); diff != "" {
					t.Errorf("Drift on the %s pod (-want +got):\n%s", form, diff)
				}
			}
		})
	}
}

func TestPolicyResourcesFitPodLevel(t *testing.T) {
	pod := apply(injected(t, appWithOneCPU(), perApp), onV1, []podChange{
		func(pod *corev1.Pod) {
			pod.Spec.Resources = &corev1.ResourceRequirements{Requests: resourceList("1150m", "")}
		},
		appRequests(resourceList("1100m", "")),
	})
	records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	got := PolicyResources(pod, records, revision.SpecOf(perApp), sets.New("proxy", "init-net"))
	want := map[string]corev1.ResourceRequirements{"proxy": {Requests: resourceList("50m", "")}}
	if diff := gocmp.Diff(want, got, quantityEqual); diff != "" {
		t.Errorf("PolicyResources (-want +got):\n%s", diff)
	}
}

func mustRecords(t *testing.T, pod *corev1.Pod) sidecarsv1alpha1.InjectionRecords {
	t.Helper()
	records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	return records
}

// TestChangesKeepsThePodsOverrides: what a pod overrode of a sidecar (recorded at
// injection) stays through an image upgrade and a resources change of the set.
func TestChangesKeepsThePodsOverrides(t *testing.T) {
	cpu := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
	at := func(image, request string) *sidecarsv1alpha1.SidecarSet {
		return meshSet(testingutil.MakeSidecar("proxy", image).Resources(cpu(request), nil).
			Overrides(sidecarsv1alpha1.OverrideResources)).Obj()
	}
	pod := testingutil.MakePod("web", "ns").
		Annotation(sidecarsv1alpha1.OverrideAnnotation("mesh", "proxy", sidecarsv1alpha1.OverrideResources), `{"requests":{"cpu":"50m"}}`).Obj()
	pod = injected(t, pod, at(proxyV1, "100m"))

	images, res, err := Changes(pod, "mesh", revision.SpecOf(at(proxyV2, "100m")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(map[string]string{"proxy": proxyV2}, images); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if len(res) != 0 {
		t.Errorf("resized %v: the pod's override of the cpu request is undone", res)
	}

	_, res, err = Changes(pod, "mesh", revision.SpecOf(at(proxyV1, "300m").DeepCopy()))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 0 {
		t.Errorf("resized %v: the set's new cpu request replaced the pod's override", res)
	}
}
