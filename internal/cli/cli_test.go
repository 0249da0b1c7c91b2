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
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const opNS = "outrigger-system"

// now is the fixtures' clock.
var now = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// run runs the plugin on a fake cluster holding objs and returns what it printed on
// stdout, then stderr and its exit code.
func run(t *testing.T, c client.Client, stdin string, args ...string) string {
	t.Helper()
	return runContext(context.Background(), t, c, stdin, args...)
}

// runContext is run until ctx ends.
func runContext(ctx context.Context, t *testing.T, c client.Client, stdin string, args ...string) string {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: test, context: {cluster: test, namespace: payments}}]
current-context: test
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	o := &Options{
		Streams:           genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut},
		Flags:             flags,
		OperatorNamespace: opNS,
		NewClient:         func() (client.Client, error) { return c, nil },
		Now:               func() time.Time { return now },
		PollInterval:      time.Millisecond,
	}
	code := Execute(ctx, o, args)
	s := out.String()
	if errOut.Len() > 0 {
		s += "--- stderr\n" + errOut.String()
	}
	return s + fmt.Sprintf("--- exit code %d\n", code)
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// fixture is a cluster in the middle of the rollout of proxy from v1 to v2.
type fixture struct {
	objs []client.Object
	// extra are the sets why explains besides proxy.
	extra      []client.Object
	proxy      *sidecarsv1alpha1.SidecarSet
	rev1, rev2 *appsv1.ControllerRevision
}

func proxySet(image string) *sidecarsv1alpha1.SidecarSet {
	set := utiltesting.MakeSidecarSet("proxy").NamespaceSelector(map[string]string{"team": "payments"}).
		Sidecar(utiltesting.MakeSidecar("proxy", image).Obj()).DrainSeconds(5).ProgressDeadlineSeconds(600).Obj()
	set.Spec.Containers[0].Mode = sidecarsv1alpha1.SidecarModeNative
	set.CreationTimestamp = ago(7 * 24 * time.Hour)
	return set
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	v1 := proxySet("example.com/proxy:v1")
	var err error
	if f.rev1, err = revision.NewControllerRevision(v1, opNS, 1); err != nil {
		t.Fatal(err)
	}
	f.proxy = proxySet("example.com/proxy:v2")
	f.proxy.Generation, f.proxy.UID = 2, "proxy-uid"
	if f.rev2, err = revision.NewControllerRevision(f.proxy, opNS, 2); err != nil {
		t.Fatal(err)
	}
	f.rev1.OwnerReferences, f.rev2.OwnerReferences = nil, nil
	f.proxy.Status = sidecarsv1alpha1.SidecarSetStatus{
		ObservedGeneration: 2, MatchedPods: 8, UpdatedPods: 1, ReadyPods: 6, UpdatedReadyPods: 1, NotUpgradablePods: 2, MissingPods: 2,
		CurrentRevision: f.rev1.Name, UpdateRevision: f.rev2.Name,
		Conditions: []metav1.Condition{
			{Type: sidecarsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonPodsMissing, Message: "2 matched pods were never injected."},
			{Type: sidecarsv1alpha1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: sidecarsv1alpha1.ReasonRollingOut, Message: "2 pods upgrading, 1 waiting; maxUnavailable 1."},
			{Type: sidecarsv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: sidecarsv1alpha1.ReasonUpgradeFailed, Message: "The in-place upgrade of 1 pods failed; see their sidecars.outrigger.dev/sidecars-upgradable condition and events."},
		},
	}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "payments", UID: "deploy-uid"}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f", Namespace: "payments", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(deploy, appsv1.SchemeGroupVersion.WithKind("Deployment"))}}}
	src1 := inject.NewSource(f.proxy, f.rev1.Name, revision.SpecOf(v1))
	src2 := inject.NewSource(f.proxy, f.rev2.Name, revision.SpecOf(f.proxy))
	injected := func(name string, src inject.Source, created time.Duration) *corev1.Pod {
		pod := utiltesting.MakePod(name, "payments").Obj()
		pod.CreationTimestamp = ago(created)
		pod.UID = types.UID("uid-" + pod.Name)
		pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
		res, err := inject.Inject(pod, []inject.Source{src})
		if err != nil {
			t.Fatal(err)
		}
		pod = res.Pod
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			{Type: sidecarsv1alpha1.SidecarsReadyCondition, Status: corev1.ConditionTrue, LastTransitionTime: ago(20 * time.Hour)},
		}
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Image: src.Spec.Containers[0].Image, Ready: true,
			ContainerID: "containerd://" + name, ImageID: "sha256:" + src.Spec.Containers[0].Image,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		return pod
	}
	withState := func(pod *corev1.Pod, s *upgrade.State) *corev1.Pod {
		pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = s.String()
		return pod
	}
	state := func() *upgrade.State {
		return &upgrade.State{Set: "proxy", Revision: src2.Revision, Hash: src2.Hash, ImageFreeHash: src2.ImageFreeHash,
			Images: map[string]string{"proxy": "example.com/proxy:v2"}, Drain: true}
	}
	updated := injected("web-updated", src2, 24*time.Hour)
	pending := injected("web-pending", src1, 30*time.Hour)
	draining := withState(injected("web-draining", src1, 30*time.Hour), state())
	draining.Status.Conditions[1] = corev1.PodCondition{Type: sidecarsv1alpha1.SidecarsReadyCondition, Status: corev1.ConditionFalse, LastTransitionTime: ago(3 * time.Second)}
	swapState := state()
	swapState.Swapped, swapState.SwappedAt = true, new(ago(90*time.Second))
	swapState.Before = map[string]upgrade.ContainerRun{"proxy": {ContainerID: "containerd://web-swapping", ImageID: "sha256:example.com/proxy:v1", Image: "example.com/proxy:v1"}}
	swapping := withState(injected("web-swapping", src1, 30*time.Hour), swapState)
	swapping.Spec.InitContainers[0].Image = "example.com/proxy:v2"
	swapping.Status.InitContainerStatuses[0].Ready = false
	swapping.Status.InitContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ImagePullBackOff", Message: `Back-off pulling image "example.com/proxy:v2"`}}
	// The kubelet stopped this one's proxy and cannot start it again: it says why in
	// events only.
	stopped := withState(injected("web-stopped", src1, 30*time.Hour), swapState)
	stopped.Spec.InitContainers[0].Image = "example.com/proxy:v2"
	stopped.Status.InitContainerStatuses[0].Ready = false
	stopped.Status.InitContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}
	pullEvent := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-stopped.1", Namespace: "payments"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "payments", Name: "web-stopped", UID: stopped.UID,
			FieldPath: "spec.initContainers{proxy}"},
		Type: corev1.EventTypeWarning, Reason: "ErrImageNeverPull", LastTimestamp: ago(30 * time.Second),
		Message: `Container image "example.com/proxy:v2" is not present with pull policy of Never`,
	}
	staleEvent := pullEvent.DeepCopy()
	staleEvent.Name, staleEvent.Message, staleEvent.LastTimestamp = "web-stopped.0", "an older rollout's warning", ago(time.Hour)
	failState := *swapState
	failState.Failed = "container proxy has not restarted on image example.com/proxy:v2 yet: ImagePullBackOff after the progress deadline of 10m0s"
	failed := withState(injected("web-failed", src1, 30*time.Hour), &failState)
	failed.Spec.InitContainers[0].Image = "example.com/proxy:v2"
	failed.Status.InitContainerStatuses[0].State = swapping.Status.InitContainerStatuses[0].State
	failed.Status.Conditions = append(failed.Status.Conditions, corev1.PodCondition{Type: sidecarsv1alpha1.UpgradableCondition,
		Status: corev1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonUpgradeFailed, LastTransitionTime: ago(5 * time.Minute)})
	// A pod whose record differs in more than images: its set once had another sidecar.
	notUpgradable := injected("web-other-spec", src1, 40*time.Hour)
	recs, _ := sidecarsv1alpha1.ParseInjectionRecords(notUpgradable.Annotations)
	rec := recs["proxy"]
	rec.Revision, rec.Hash, rec.ImageFreeHash = "proxy-0ld", "0ld0ld0ld0ld0ld0", "0ld0ld0ld0ld0ld0"
	recs["proxy"] = rec
	notUpgradable.Annotations[sidecarsv1alpha1.InjectedAnnotation] = recs.String()
	notUpgradable.Status.Conditions = append(notUpgradable.Status.Conditions, corev1.PodCondition{Type: sidecarsv1alpha1.UpgradableCondition,
		Status: corev1.ConditionFalse, Reason: sidecarsv1alpha1.ReasonPodsNotUpgradable, LastTransitionTime: ago(2 * time.Hour),
		Message: "SidecarSet proxy changed more than images and resources; recreate the pod to update it"})
	missing := utiltesting.MakePod("web-missing", "payments").Obj()
	missing.CreationTimestamp = ago(2 * time.Hour)
	old := utiltesting.MakePod("web-before-set", "payments").Obj()
	old.CreationTimestamp = ago(30 * 24 * time.Hour)
	optedOut := utiltesting.MakePod("web-opted-out", "payments").Label(sidecarsv1alpha1.InjectLabel, "false").Obj()
	other := utiltesting.MakePod("web-elsewhere", "other").Obj()
	for _, p := range []*corev1.Pod{missing, old, optedOut, other} {
		p.UID = types.UID("uid-" + p.Name)
	}

	paused := utiltesting.MakeSidecarSet("paused").Sidecar(utiltesting.MakeSidecar("paused", "example.com/paused:1").Obj()).InjectionPaused().Obj()
	api := utiltesting.MakeSidecarSet("api-only").MatchLabels(map[string]string{"app": "api"}).
		Sidecar(utiltesting.MakeSidecar("api", "example.com/api:1").Obj()).Obj()
	pinned := utiltesting.MakeSidecarSet("pinned").Sidecar(utiltesting.MakeSidecar("pinned", "example.com/pinned:2").Obj()).Obj()
	pinnedV1 := utiltesting.MakeSidecarSet("pinned").Sidecar(utiltesting.MakeSidecar("pinned", "example.com/pinned:1").Obj()).Obj()
	pinRev, err := revision.NewControllerRevision(pinnedV1, opNS, 1)
	if err != nil {
		t.Fatal(err)
	}
	pinned.Spec.Injection.Revision = pinRev.Name
	gone := utiltesting.MakeSidecarSet("pin-gone").Sidecar(utiltesting.MakeSidecar("gone", "example.com/gone:1").Obj()).Obj()
	gone.Spec.Injection.Revision = "pin-gone-5d8b9c"
	mounts := utiltesting.MakeSidecarSet("mounts").Sidecar(utiltesting.MakeSidecar("mounter", "example.com/mounter:1").Mount("data", "/data").Obj()).Obj()
	logger := utiltesting.MakeSidecarSet("logger").Priority(10).
		Sidecar(utiltesting.MakeSidecar("logger", "example.com/logger:1").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).Obj()
	logger.Status.Conditions = []metav1.Condition{{Type: sidecarsv1alpha1.ConditionAdmissionPolicy, Status: metav1.ConditionFalse,
		Reason: sidecarsv1alpha1.ReasonNotExpressible, Message: "transferEnv cannot be expressed in CEL"}}
	for _, s := range []*sidecarsv1alpha1.SidecarSet{paused, api, pinned, gone, mounts, logger} {
		s.CreationTimestamp = ago(7 * 24 * time.Hour)
	}

	f.objs = []client.Object{
		utiltesting.MakeNamespace("payments", map[string]string{"team": "payments"}),
		utiltesting.MakeNamespace("other", nil),
		utiltesting.MakeNamespace("quiet", map[string]string{"team": "payments", sidecarsv1alpha1.InjectLabel: "false"}),
		utiltesting.MakeNamespace(opNS, nil),
		utiltesting.MakeNamespace("kube-system", nil),
		f.proxy, f.rev1, f.rev2, deploy, rs,
		updated, pending, draining, swapping, stopped, pullEvent, staleEvent, failed, notUpgradable, missing, old, optedOut, other,
	}
	f.extra = []client.Object{paused, api, pinned, pinRev, gone, mounts, logger}
	return f
}

func (f *fixture) client(withAllSets bool) client.Client {
	objs := f.objs
	if withAllSets {
		objs = append(slices.Clip(objs), f.extra...)
	}
	return fake.NewClientBuilder().WithScheme(Scheme).WithObjects(objs...).
		WithStatusSubresource(&sidecarsv1alpha1.SidecarSet{}).Build()
}
