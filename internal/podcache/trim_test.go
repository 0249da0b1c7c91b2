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

package podcache

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

func requests(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
}

// fullPod is a pod as the API server returns it, with fields the controllers never read.
func fullPod(name string) *corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "shop", UID: "uid-" + "name", ResourceVersion: "42",
			Labels:      map[string]string{"app": "web", "sidecars.outrigger.dev/injected": "true"},
			Annotations: map[string]string{"sidecars.outrigger.dev/injected": `{"mesh":{"revision":"mesh-1"}}`},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate,
				FieldsV1: metav1.NewFieldsV1(`{"f:status":{}}`)}},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9", UID: "rs", Controller: new(true)}},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name: "proxy", Image: "example.com/proxy:v1", RestartPolicy: &always,
				Resources:    corev1.ResourceRequirements{Requests: requests("10m", "32Mi")},
				ResizePolicy: []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer}},
				Env:          []corev1.EnvVar{{Name: "MESH", Value: "on"}},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
			}},
			Containers: []corev1.Container{{
				Name: "app", Image: "example.com/app:v1", Command: []string{"/app"},
				Resources:    corev1.ResourceRequirements{Requests: requests("100m", "64Mi")},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				Ports:        []corev1.ContainerPort{{ContainerPort: 8080}},
			}},
			Volumes:        []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "sidecars.outrigger.dev/sidecars-ready"}},
			NodeName:       "node-1",
			Tolerations:    []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			Resources:      &corev1.ResourceRequirements{Limits: requests("1", "1Gi")},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			PodIP:      "198.18.0.20",
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "proxy", Ready: true, Started: new(true), RestartCount: 1,
				Image: "example.com/proxy:v1", ImageID: "example.com/proxy@sha256:1", ContainerID: "containerd://p1",
				State:              corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				Resources:          &corev1.ResourceRequirements{Requests: requests("10m", "32Mi")},
				AllocatedResources: requests("10m", "32Mi"),
				VolumeMounts:       []corev1.VolumeMountStatus{{Name: "data", MountPath: "/data"}},
			}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", Ready: true, Image: "example.com/app:v1", ImageID: "example.com/app@sha256:2", ContainerID: "containerd://a1",
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled"}},
			}},
		},
	}
}

func TestTrim(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	got := Trim(fullPod("web-1"), NewInterner(1<<20, 16))
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "shop", UID: "uid-" + "name", ResourceVersion: "42",
			Labels:          map[string]string{"app": "web", "sidecars.outrigger.dev/injected": "true"},
			Annotations:     map[string]string{"sidecars.outrigger.dev/injected": `{"mesh":{"revision":"mesh-1"}}`},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9", UID: "rs", Controller: new(true)}},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name: "proxy", Image: "example.com/proxy:v1", RestartPolicy: &always,
				Resources:    corev1.ResourceRequirements{Requests: requests("10m", "32Mi")},
				ResizePolicy: []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer}},
			}},
			Containers:     []corev1.Container{{Name: "app", Image: "example.com/app:v1", Resources: corev1.ResourceRequirements{Requests: requests("100m", "64Mi")}}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "sidecars.outrigger.dev/sidecars-ready"}},
			NodeName:       "node-1",
			Resources:      &corev1.ResourceRequirements{Limits: requests("1", "1Gi")},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "proxy", Ready: true, Started: new(true), RestartCount: 1,
				Image: "example.com/proxy:v1", ImageID: "example.com/proxy@sha256:1", ContainerID: "containerd://p1",
				State:     corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				Resources: &corev1.ResourceRequirements{Requests: requests("10m", "32Mi")},
			}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", Ready: true, Image: "example.com/app:v1", ImageID: "example.com/app@sha256:2", ContainerID: "containerd://a1",
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled"}},
			}},
		},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("Trim (-want +got):\n%s", diff)
	}
}

func TestTrimMetadata(t *testing.T) {
	in := NewInterner(1<<20, 16)
	for name, tc := range map[string]struct {
		labels          map[string]string
		wantAnnotations map[string]string
	}{
		"an injected pod: its annotations are in the typed cache": {labels: map[string]string{"sidecars.outrigger.dev/injected": "true"}},
		"a pod never injected keeps Outrigger's annotations only": {
			labels:          map[string]string{"app": "web"},
			wantAnnotations: map[string]string{"sidecars.outrigger.dev/injected": `{"mesh":{"revision":"mesh-1"}}`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			meta := &metav1.PartialObjectMetadata{ObjectMeta: *fullPod("web").ObjectMeta.DeepCopy()}
			meta.Labels = tc.labels
			meta.Annotations["tenant.example.com/blob"] = strings.Repeat("x", 200<<10)
			got := NewTrimmer(in).Metadata(meta)
			if got.ManagedFields != nil {
				t.Errorf("managedFields kept: %v", got.ManagedFields)
			}
			if diff := cmp.Diff(tc.wantAnnotations, got.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.labels, got.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

// What a tenant writes into a pod beyond what the controllers read never reaches the
// cache: foreign annotations, finalizers, labels past the budget, oversized images.
func TestTrimDropsWhatTenantsGrow(t *testing.T) {
	hostile := func() *corev1.Pod {
		pod := fullPod("web-1")
		pod.Annotations["tenant.example.com/blob"] = strings.Repeat("x", 200<<10)
		pod.Annotations["sidecars.outrigger.dev/not-a-record"] = "x"
		pod.Finalizers = []string{"tenant.example.com/hold"}
		return pod
	}
	manyLabels := func(pod *corev1.Pod) {
		for i := range 200 {
			pod.Labels[fmt.Sprintf("tenant.example.com/label-%03d", i)] = strings.Repeat("v", 60)
		}
		pod.Labels["tier"] = "front"
		pod.Labels["sidecars.outrigger.dev/inject"] = "true"
	}
	longImage := "example.com/" + strings.Repeat("a", 64<<10)
	for name, tc := range map[string]struct {
		mutate       func(*corev1.Pod)
		selectorKeys []string
		wantLabels   map[string]string
		wantImage    string
	}{
		"foreign annotations and finalizers are dropped": {
			wantLabels: map[string]string{"app": "web", "sidecars.outrigger.dev/injected": "true"},
			wantImage:  "example.com/app:v1",
		},
		"labels past the budget: only those selectors read and Outrigger's": {
			mutate:       manyLabels,
			selectorKeys: []string{"tier", "absent"},
			wantLabels:   map[string]string{"tier": "front", "sidecars.outrigger.dev/injected": "true", "sidecars.outrigger.dev/inject": "true"},
			wantImage:    "example.com/app:v1",
		},
		"an oversized image is kept as its digest": {
			mutate:     func(p *corev1.Pod) { p.Spec.Containers[0].Image = longImage },
			wantLabels: map[string]string{"app": "web", "sidecars.outrigger.dev/injected": "true"},
			wantImage:  OversizedImagePrefix + fmt.Sprintf("%x", sha256.Sum256([]byte(longImage))),
		},
	} {
		t.Run(name, func(t *testing.T) {
			pod := hostile()
			if tc.mutate != nil {
				tc.mutate(pod)
			}
			tr := NewTrimmer(NewInterner(1<<20, 16))
			tr.AddSelectorKeys(tc.selectorKeys...)
			got := tr.Pod(pod)
			wantAnnotations := map[string]string{"sidecars.outrigger.dev/injected": `{"mesh":{"revision":"mesh-1"}}`}
			if diff := cmp.Diff(wantAnnotations, got.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			if got.Finalizers != nil {
				t.Errorf("finalizers kept: %v", got.Finalizers)
			}
			if diff := cmp.Diff(tc.wantLabels, got.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if img := got.Spec.Containers[0].Image; img != tc.wantImage {
				t.Errorf("image = %.100q, want %.100q", img, tc.wantImage)
			}
		})
	}
}

// Two pods with the same oversized image compare equal in the cache, as they are.
func TestOversizedImagesStayComparable(t *testing.T) {
	in := NewInterner(1<<20, 16)
	long := func(c byte) string { return "example.com/" + strings.Repeat(string(c), 64<<10) }
	a, b, c := in.image(long('a')), in.image(long('a')), in.image(long('b'))
	if a != b || a == c || len(a) > 128 {
		t.Errorf("image(a)=%q image(a)=%q image(b)=%q: want the first two equal, the third different, all short", a, b, c)
	}
}

// Pods of one workload share their strings and resource lists, and the input is not
// changed (the informer hands over its own decoded copy, but a transform must not rely on it).
func TestTrimShares(t *testing.T) {
	in := NewInterner(1<<20, 64)
	a, b := fullPod("web-1"), fullPod("web-2")
	before := a.DeepCopy()
	ta, tb := Trim(a, in), Trim(b, in)
	if diff := cmp.Diff(before, a); diff != "" {
		t.Errorf("Trim changed its input (-before +after):\n%s", diff)
	}
	if !sameString(ta.Spec.Containers[0].Image, tb.Spec.Containers[0].Image) {
		t.Error("the two pods' app images are separate copies")
	}
	rec := "sidecars.outrigger.dev/injected"
	if !sameString(ta.Annotations[rec], tb.Annotations[rec]) {
		t.Error("the two pods' injection records are separate copies")
	}
	if reflect.ValueOf(ta.Spec.InitContainers[0].Resources.Requests).Pointer() != reflect.ValueOf(tb.Spec.InitContainers[0].Resources.Requests).Pointer() {
		t.Error("the two pods' proxy requests are separate maps")
	}
	if reflect.ValueOf(ta.Spec.InitContainers[0].Resources.Requests).Pointer() == reflect.ValueOf(ta.Spec.Containers[0].Resources.Requests).Pointer() {
		t.Error("different requests share one map")
	}
}

func sameString(a, b string) bool { return a == b && unsafe.StringData(a) == unsafe.StringData(b) }

// The interner is bounded in bytes, shares no string longer than MaxString, and
// what it handed out stays right.
func TestInternerIsBounded(t *testing.T) {
	in := NewInterner(3*(8+entryOverhead), 2)
	for _, s := range []string{"aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd", "eeeeeeee"} {
		if got := in.String(s); got != s {
			t.Errorf("String(%q) = %q", s, got)
		}
	}
	if n, bytes := in.Held(); n > 3 || bytes > 3*(8+entryOverhead) {
		t.Errorf("the interner holds %d strings (%d bytes), more than its bound of %d bytes", n, bytes, 3*(8+entryOverhead))
	}
	long := strings.Repeat("x", MaxString+1)
	if a, b := in.String(long), in.String(strings.Clone(long)); sameString(a, b) {
		t.Error("a string longer than MaxString was shared")
	}
	for _, cpu := range []string{"1", "2", "3"} {
		l := in.resources(requests(cpu, "1Gi"))
		if q := l[corev1.ResourceCPU]; q.Cmp(resource.MustParse(cpu)) != 0 {
			t.Errorf("resources for cpu %s gave %s", cpu, q.String())
		}
	}
	if len(in.lists) > 2 {
		t.Errorf("the interner holds %d resource lists, more than its bound of 2", len(in.lists))
	}
}

// What no object holds any more is forgotten: after the pods that held ten thousand
// distinct label values are gone, the interner holds none of them.
func TestInternerForgetsWhatNoObjectHolds(t *testing.T) {
	in := NewInterner(64<<20, 16)
	tr := NewTrimmer(in)
	kept := tr.Pod(fullPod("kept"))
	func() { // the pods, alive until it returns
		pods := make([]*corev1.Pod, 0, 10000)
		for i := range 10000 {
			pod := fullPod(fmt.Sprintf("web-%d", i))
			pod.Labels["pod-template-hash"] = fmt.Sprintf("hash-%08d", i)
			pods = append(pods, tr.Pod(pod))
		}
		if n, _ := in.Held(); n < 10000 {
			t.Fatalf("the interner holds %d strings, want at least the 10000 label values", n)
		}
		runtime.KeepAlive(pods)
	}()
	var n, bytes int
	for range 50 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if n, bytes = in.Held(); n < 100 {
			break
		}
	}
	if n >= 100 {
		t.Errorf("after the pods are gone the interner holds %d strings (%d bytes), want only the kept pod's", n, bytes)
	}
	if got := in.String("example.com/proxy:v1"); !sameString(got, kept.Spec.InitContainers[0].Image) {
		t.Error("a string a live object holds is no longer shared")
	}
	runtime.KeepAlive(kept)
}

// The controller's writes are strategic merge patches computed between two trimmed
// copies: applied to the whole pod, they change what they name and nothing else.
func TestPatchFromTrimmedKeepsThePod(t *testing.T) {
	full := fullPod("web-1")
	orig := Trim(full, NewInterner(1<<20, 16))
	changed := orig.DeepCopy()
	changed.Spec.InitContainers[0].Image = "example.com/proxy:v2"
	changed.Annotations["sidecars.outrigger.dev/upgrade"] = `{"set":"mesh"}`
	changed.Status.Conditions = append(changed.Status.Conditions, corev1.PodCondition{Type: "sidecars.outrigger.dev/sidecars-ready", Status: corev1.ConditionFalse})

	patch, err := strategicpatch.CreateTwoWayMergePatch(mustJSON(t, orig), mustJSON(t, changed), corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	patched, err := strategicpatch.StrategicMergePatch(mustJSON(t, full), patch, corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	got := &corev1.Pod{}
	if err := json.Unmarshal(patched, got); err != nil {
		t.Fatal(err)
	}
	want := full.DeepCopy()
	want.Spec.InitContainers[0].Image = "example.com/proxy:v2"
	want.Annotations["sidecars.outrigger.dev/upgrade"] = `{"set":"mesh"}`
	want.Status.Conditions = append(want.Status.Conditions, corev1.PodCondition{Type: "sidecars.outrigger.dev/sidecars-ready", Status: corev1.ConditionFalse})
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("the patched pod (-want +got):\n%s\npatch: %s", diff, patch)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// At start the pods' informer may list before the SidecarSets' one: a pod over the
// label budget waits for the sets' keys instead of being cached without its labels.
func TestTrimWaitsForSelectorKeys(t *testing.T) {
	tr := NewTrimmer(NewInterner(1<<20, 16))
	var synced atomic.Bool
	tr.SyncSelectorKeys(synced.Load)
	go func() {
		time.Sleep(100 * time.Millisecond)
		tr.AddSelectorKeys("tier")
		synced.Store(true)
	}()
	pod := fullPod("web-1")
	for i := range 200 {
		pod.Labels[fmt.Sprintf("tenant.example.com/label-%03d", i)] = strings.Repeat("v", 60)
	}
	pod.Labels["tier"] = "front"
	if got := tr.Pod(pod).Labels["tier"]; got != "front" {
		t.Errorf("label tier = %q, want front: the pod was trimmed before the sets' keys were known", got)
	}
}
