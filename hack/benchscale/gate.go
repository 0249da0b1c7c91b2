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

package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

// The readiness gate's cost (`make bench-gate`, -phases=gate): what the API server pays
// per kubelet status write for config/policy's sidecars-ready MutatingAdmissionPolicy,
// against the alternative, the operator writing the gate (one more status write per new
// pod, from every replica that tries). No manager runs in this phase and there is no
// node: the writes are made as the kubelet makes them (strategic merge patches of
// pods/status), in blocks of one kind each, first with the policy's binding and then
// without it, so each kind has its baseline from the same run.

const phaseGate = "gate"

// The containers of the gate phase's pods.
const (
	gateApp     = "web"
	gateSidecar = "proxy"
)

// gatePolicy is the name config/policy gives the policy and its binding (the bench
// installs config/policy without config/default's name prefix).
const gatePolicy = "sidecars-ready.sidecars.outrigger.dev"

// gateBlock is one kind of status write, timed pod by pod, with the API server's time
// in the MutatingAdmissionPolicy plugin over the block.
type gateBlock struct {
	what   string
	policy bool
	lat    []time.Duration
	plugin time.Duration
}

// gateWrite is one kind of write: which pods (plain or injected), which containers the
// kubelet reports ready, or the operator's gate write.
type gateWrite struct {
	what     string
	injected bool
	ready    []string
	operator bool
}

var gateWrites = []gateWrite{
	{what: "kubelet write, pod Outrigger did not inject", ready: []string{gateApp}},
	{what: "kubelet write, injected pod, sidecar not ready", injected: true},
	{what: "kubelet write, injected pod, sidecar turns ready", injected: true, ready: []string{gateSidecar}},
	{what: "operator's gate write (the alternative), per replica that writes", injected: true, operator: true},
	{what: "kubelet write, injected pod, gate already True", injected: true, ready: []string{gateSidecar, gateApp}},
}

func (b *bench) gate(ctx context.Context) error {
	b.stopOperator()
	// With no operator the pod webhook fails closed, opted-out namespaces included (a
	// Required set ignores the opt-out): the hand-made injected pods need it gone.
	restore, err := localcluster.RemovePodWebhook(ctx, b.c)
	if err != nil {
		return fmt.Errorf("removing the pod webhook: %w", err)
	}
	defer func() { _ = restore(ctx) }()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gate-bench",
		Labels: map[string]string{sidecarsv1alpha1.InjectLabel: "false"}}}
	if err := client.IgnoreAlreadyExists(b.c.Create(ctx, ns)); err != nil {
		return err
	}
	n := b.o.latencyPods
	for _, withPolicy := range []bool{true, false} {
		if !withPolicy {
			binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: gatePolicy}}
			if err := b.c.Delete(ctx, binding); err != nil {
				return fmt.Errorf("deleting the policy's binding: %w", err)
			}
		}
		if err := b.waitGateActs(ctx, ns.Name, withPolicy); err != nil {
			return err
		}
		tag := "p"
		if !withPolicy {
			tag = "n"
		}
		say("Creating %d injected and %d plain pods (policy installed: %t)", n, n, withPolicy)
		plain, injected := make([]*corev1.Pod, n), make([]*corev1.Pod, n)
		for i := range n {
			plain[i], injected[i] = gatePod(ns.Name, fmt.Sprintf("%s-plain-%d", tag, i), false), gatePod(ns.Name, fmt.Sprintf("%s-inj-%d", tag, i), true)
			for _, p := range []*corev1.Pod{plain[i], injected[i]} {
				if err := b.c.Create(ctx, p); err != nil {
					return err
				}
			}
		}
		for _, w := range gateWrites {
			if w.operator && withPolicy {
				continue // the policy wrote the gate already
			}
			pods := plain
			if w.injected {
				pods = injected
			}
			blk, err := b.gateBlock(ctx, w, pods)
			if err != nil {
				return fmt.Errorf("%s: %w", w.what, err)
			}
			blk.policy = withPolicy
			say("  %s, policy %t: p50 %s, p99 %s, MutatingAdmissionPolicy %s per write", w.what, withPolicy,
				ms(percentile(blk.lat, 50)), ms(percentile(blk.lat, 99)), ms(blk.plugin/time.Duration(len(blk.lat))))
			b.gateBlocks = append(b.gateBlocks, blk)
		}
	}
	return nil
}

// gateBlock makes write w on every pod, one after the other, and checks the gate where
// the policy or the operator should have set it.
func (b *bench) gateBlock(ctx context.Context, w gateWrite, pods []*corev1.Pod) (gateBlock, error) {
	blk := gateBlock{what: w.what}
	before, err := b.pluginSeconds(ctx)
	if err != nil {
		return blk, err
	}
	for _, p := range pods {
		orig := p.DeepCopy()
		patch := client.StrategicMergeFrom(orig)
		if w.operator {
			// As controllers/pod_controller.go writes it (patchPodStatus): the gate, guarded
			// by the pod's resourceVersion.
			upgrade.SetPodCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, true, "SidecarsReady", "", time.Now())
			patch = client.StrategicMergeFrom(orig, client.MergeFromWithOptimisticLock{})
		} else {
			kubeletStatus(p, w.ready)
		}
		start := time.Now()
		if err := b.c.Status().Patch(ctx, p, patch); err != nil {
			return blk, err
		}
		blk.lat = append(blk.lat, time.Since(start))
	}
	after, err := b.pluginSeconds(ctx)
	if err != nil {
		return blk, err
	}
	blk.plugin = time.Duration((after["MutatingAdmissionPolicy"] - before["MutatingAdmissionPolicy"]) * float64(time.Second))
	return blk, nil
}

// waitGateActs waits until the API server has loaded (or dropped) the policy: a dry-run
// kubelet write of a probe pod gets the gate, or does not.
func (b *bench) waitGateActs(ctx context.Context, namespace string, acts bool) error {
	probe := gatePod(namespace, fmt.Sprintf("probe-%t", acts), true)
	if err := b.c.Create(ctx, probe); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p := probe.DeepCopy()
		orig := p.DeepCopy()
		kubeletStatus(p, []string{gateSidecar})
		if err := b.c.Status().Patch(ctx, p, client.StrategicMergeFrom(orig), client.DryRunAll); err != nil {
			return false, err
		}
		return upgrade.HasCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue) == acts, nil
	})
}

// gatePod is an app pod; injected, as the injection leaves it: a native sidecar proxy
// recorded, the injected label, the readiness gate.
func gatePod(namespace, name string, injected bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{appLabel: "gate"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: gateApp, Image: "example.com/app:1"}}}}
	if injected {
		always := corev1.ContainerRestartPolicyAlways
		p.Labels[sidecarsv1alpha1.InjectedLabel] = sidecarsv1alpha1.InjectedLabelValue
		p.Annotations = map[string]string{sidecarsv1alpha1.InjectedAnnotation: sidecarsv1alpha1.InjectionRecords{
			"mesh": {Revision: "mesh-1", Hash: "h", ImageFreeHash: "f", Containers: []string{gateSidecar}}}.String()}
		p.Spec.InitContainers = []corev1.Container{{Name: gateSidecar, Image: "example.com/proxy:1", RestartPolicy: &always}}
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}}
	}
	return p
}

// kubeletStatus sets p's status as the kubelet reports it: running, the named
// containers ready, Initialized, ContainersReady and Ready computed from them.
func kubeletStatus(p *corev1.Pod, ready []string) {
	isReady := func(name string) bool { return slices.Contains(ready, name) }
	status := func(c corev1.Container) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sha256:" + c.Name, Ready: isReady(c.Name),
			Started: new(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: p.CreationTimestamp}}}
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.InitContainerStatuses, p.Status.ContainerStatuses = nil, nil
	all := true
	for _, c := range p.Spec.InitContainers {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, status(c))
		all = all && isReady(c.Name)
	}
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, status(c))
		all = all && isReady(c.Name)
	}
	gates := !upgrade.HasReadinessGate(p) || upgrade.HasCondition(p, sidecarsv1alpha1.SidecarsReadyCondition, corev1.ConditionTrue)
	now := time.Now()
	upgrade.SetPodCondition(p, string(corev1.PodInitialized), true, "", "", now)
	upgrade.SetPodCondition(p, string(corev1.ContainersReady), all, "", "", now)
	upgrade.SetPodCondition(p, string(corev1.PodReady), all && gates, "", "", now)
}

// gateRows: per kind of write, p50 / p99 without the policy (the baseline) and with it,
// and the API server's time in the policy plugin per write.
func gateRows(blocks []gateBlock) []row {
	var rows []row
	base := map[string]gateBlock{}
	for _, blk := range blocks {
		if !blk.policy {
			base[blk.what] = blk
		}
	}
	for _, blk := range blocks {
		r := row{What: blk.what + ": p50 / p99; MutatingAdmissionPolicy plugin per write",
			Result: fmt.Sprintf("%s / %s; %s", ms(percentile(blk.lat, 50)), ms(percentile(blk.lat, 99)), ms(blk.plugin/time.Duration(len(blk.lat))))}
		if !blk.policy {
			r.What = blk.what + ", no policy: p50 / p99"
			r.Result = fmt.Sprintf("%s / %s", ms(percentile(blk.lat, 50)), ms(percentile(blk.lat, 99)))
		} else if bl, ok := base[blk.what]; ok {
			r.Baseline = fmt.Sprintf("%s / %s", ms(percentile(bl.lat, 50)), ms(percentile(bl.lat, 99)))
		}
		rows = append(rows, r)
	}
	return rows
}
