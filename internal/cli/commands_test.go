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
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

func TestStatus(t *testing.T) {
	for name, args := range map[string][]string{
		"status-set":         {"status", "proxy"},
		"status-all-sets":    {"status", "-A"},
		"status-by-workload": {"status", "proxy", "--by", "workload"},
		"status-json":        {"status", "proxy", "-o", "json"},
		"status-bad-output":  {"status", "proxy", "-o", "wide"},
		"status-unknown-set": {"status", "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			golden(t, name, run(t, f.client(false), "", args...))
		})
	}
}

func TestWhy(t *testing.T) {
	podIn := func(ns string, labels string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: new\n  namespace: " + ns + "\n  labels: {app: web" + labels + "}\n" +
			"spec:\n  containers:\n  - {name: app, image: example.com/app:1}\n"
	}
	for name, tc := range map[string]struct {
		args  []string
		stdin string
	}{
		// Every set: selector, paused, pinned, a pin that is gone, a volume rule, NotExpressible.
		"why-new-pod":            {args: []string{"why", "-f", "-"}, stdin: podIn("payments", "")},
		"why-namespace-selector": {args: []string{"why", "-f", "-"}, stdin: podIn("other", "")},
		"why-namespace-opt-out":  {args: []string{"why", "-f", "-"}, stdin: podIn("quiet", "")},
		"why-pod-opt-out":        {args: []string{"why", "web-opted-out"}},
		"why-system-namespace":   {args: []string{"why", "-f", "-"}, stdin: podIn("kube-system", "")},
		"why-operator-namespace": {args: []string{"why", "-f", "-"}, stdin: podIn(opNS, "")},
		"why-before-set":         {args: []string{"why", "web-before-set"}},
		"why-missing":            {args: []string{"why", "web-missing"}},
		"why-updated":            {args: []string{"why", "web-updated"}},
		"why-pending":            {args: []string{"why", "web-pending"}},
		"why-draining":           {args: []string{"why", "web-draining"}},
		"why-swapping":           {args: []string{"why", "web-swapping"}},
		"why-stopped":            {args: []string{"why", "web-stopped"}},
		"why-failed":             {args: []string{"why", "web-failed"}},
		"why-not-upgradable":     {args: []string{"why", "web-other-spec"}},
		"why-json":               {args: []string{"why", "web-swapping", "-o", "json"}},
		"why-no-pod":             {args: []string{"why"}},
		"why-files":              {args: []string{"why", "-f", "testdata/workloads.yaml", "--sidecarsets", "testdata/sets.yaml", "--namespace-labels", "team=payments"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			golden(t, name, run(t, f.client(true), tc.stdin, tc.args...))
		})
	}
}

func TestInject(t *testing.T) {
	workloads, err := os.ReadFile("testdata/workloads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"--sidecarsets", "testdata/sets.yaml", "--namespace-labels", "team=payments"}
	for name, tc := range map[string]struct {
		args    []string
		stdin   string
		cluster bool
	}{
		// Every workload kind, sets from files, no cluster.
		"inject-files":      {args: append([]string{"inject", "-f", "testdata/workloads.yaml"}, files...)},
		"inject-diff":       {args: append([]string{"inject", "-f", "-", "--diff"}, files...), stdin: string(workloads)},
		"inject-json":       {args: append([]string{"inject", "-f", "testdata/pod.yaml", "-o", "json"}, files...)},
		"inject-idempotent": {args: append([]string{"inject", "-f", "testdata/injected-pod.yaml", "--diff"}, files...)},
		"inject-namespaces": {args: []string{"inject", "-f", "testdata/workloads.yaml", "--sidecarsets", "testdata/sets.yaml", "--namespace-labels", "testdata/namespaces.yaml"}},
		// Sets, revisions and namespaces from the cluster.
		"inject-cluster": {args: []string{"inject", "-f", "testdata/pod.yaml"}, cluster: true},
		"inject-refused": {args: []string{"inject", "-f", "testdata/pod.yaml"}, cluster: true},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(name == "inject-refused")
			golden(t, name, run(t, c, tc.stdin, tc.args...))
		})
	}
}

func TestRollout(t *testing.T) {
	complete := func(f *fixture) {
		f.proxy.Status.UpdatedPods, f.proxy.Status.UpdatedReadyPods, f.proxy.Status.MatchedPods = 3, 3, 3
		f.proxy.Status.MissingPods, f.proxy.Status.NotUpgradablePods = 0, 0
		f.proxy.Status.Conditions = []metav1.Condition{
			{Type: sidecarsv1alpha1.ConditionReady, Status: "True", Reason: sidecarsv1alpha1.ReasonRolloutComplete},
			{Type: sidecarsv1alpha1.ConditionDegraded, Status: "False", Reason: sidecarsv1alpha1.ReasonAsExpected},
		}
	}
	rolling := func(f *fixture) {
		f.proxy.Status.Conditions = f.proxy.Status.Conditions[:2]
	}
	for name, tc := range map[string]struct {
		args  []string
		setup func(*fixture)
		check func(*testing.T, client.Client)
	}{
		"rollout-status-degraded": {args: []string{"rollout", "status", "proxy"}},
		"rollout-status-complete": {args: []string{"rollout", "status", "proxy"}, setup: complete},
		"rollout-status-no-watch": {args: []string{"rollout", "status", "proxy", "--watch=false"}, setup: rolling},
		"rollout-status-timeout":  {args: []string{"rollout", "status", "proxy", "--timeout", "20ms"}, setup: rolling},
		"rollout-status-evicting": {args: []string{"rollout", "status", "proxy", "--watch=false"}, setup: func(f *fixture) {
			f.proxy.Spec.UpdateStrategy.OnImmutableChange = sidecarsv1alpha1.ImmutableChangeEvict
			f.proxy.Status.Conditions[2] = metav1.Condition{Type: sidecarsv1alpha1.ConditionDegraded, Status: "True",
				Reason: sidecarsv1alpha1.ReasonPodsNotUpgradable, Message: "1 pods cannot be updated in place."}
		}},
		"rollout-history":          {args: []string{"rollout", "history", "proxy"}},
		"rollout-history-revision": {args: []string{"rollout", "history", "proxy", "--revision", "1"}},
		"rollout-pause": {args: []string{"rollout", "pause", "proxy"}, check: func(t *testing.T, c client.Client) {
			if set := get(t, c); !set.Spec.UpdateStrategy.Paused {
				t.Error("updateStrategy.paused is false after pause")
			}
		}},
		"rollout-resume-not-paused": {args: []string{"rollout", "resume", "proxy"}},
		"rollout-undo": {args: []string{"rollout", "undo", "proxy"}, check: func(t *testing.T, c client.Client) {
			if img := get(t, c).Spec.Containers[0].Image; img != "example.com/proxy:v1" {
				t.Errorf("image after undo = %s, want example.com/proxy:v1", img)
			}
		}},
		"rollout-undo-pin": {args: []string{"rollout", "undo", "proxy", "--to-revision", "1", "--pin"}, check: func(t *testing.T, c client.Client) {
			set := get(t, c)
			if set.Spec.Injection.Revision == "" || set.Spec.Containers[0].Image != "example.com/proxy:v2" {
				t.Errorf("after undo --pin: pin %q, image %s; want a pin and the spec unchanged", set.Spec.Injection.Revision, set.Spec.Containers[0].Image)
			}
		}},
		// Back to what the last complete rollout reached (revision 1), not to the
		// revision numbered before the target (2, never completed).
		"rollout-undo-last-complete": {args: []string{"rollout", "undo", "proxy"}, setup: func(f *fixture) {
			v3 := proxySet("example.com/proxy:v3")
			rev3, err := revision.NewControllerRevision(v3, opNS, 3)
			if err != nil {
				t.Fatal(err)
			}
			rev3.OwnerReferences = nil
			f.proxy.Spec.Containers = v3.Spec.Containers
			f.proxy.Status.UpdateRevision = rev3.Name
			f.objs = append(f.objs, rev3)
		}, check: func(t *testing.T, c client.Client) {
			if img := get(t, c).Spec.Containers[0].Image; img != "example.com/proxy:v1" {
				t.Errorf("image after undo = %s, want example.com/proxy:v1", img)
			}
		}},
		"rollout-undo-current": {args: []string{"rollout", "undo", "proxy", "--to-revision", "2"}},
		"rollout-undo-unknown": {args: []string{"rollout", "undo", "proxy", "--to-revision", "7"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			c := f.client(false)
			golden(t, name, run(t, c, "", tc.args...))
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func get(t *testing.T, c client.Client) *sidecarsv1alpha1.SidecarSet {
	t.Helper()
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "proxy"}, set); err != nil {
		t.Fatal(err)
	}
	return set
}

func TestStatusWatch(t *testing.T) {
	f := newFixture(t)
	c := f.client(false)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Once the first listing is out, web-pending begins its upgrade: -w prints it.
		time.Sleep(50 * time.Millisecond)
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "payments", Name: "web-pending"}, pod); err != nil {
			t.Error(err)
		}
		draining := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "payments", Name: "web-draining"}, draining); err != nil {
			t.Error(err)
		}
		pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = draining.Annotations[sidecarsv1alpha1.UpgradeAnnotation]
		pod.Status.Conditions = draining.Status.Conditions
		if err := c.Update(ctx, pod); err != nil {
			t.Error(err)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	golden(t, "status-watch", runContext(ctx, t, c, "", "status", "proxy", "-n", "payments", "-w"))
}
