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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admissionpolicy"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
)

// The engine comparison (`make bench-admission`, -phases=engines): the admission latency
// of the two injection engines, each against pods that no admission injects, created in
// alternation in the same seconds. There is no KWOK and no node in this mode: the pods
// stay unscheduled, so the API server serves only the creates, the manager and nothing
// else, and a few milliseconds resolve (the scale run's KWOK traffic puts the baseline
// p99 near a second on this machine).

// engine is one of the manager's --injection-engine values.
type engine string

const (
	engineWebhook engine = "Webhook"
	enginePolicy  engine = "AdmissionPolicy"
)

// engineRun is one block of paired series: pods injected by one engine and bypassed
// pods, alternating.
type engineRun struct {
	engine             engine
	sets, inPolicy     int
	groups             int
	injected, bypassed []time.Duration
	// pluginTime is the API server's time in each mutating admission plugin over the
	// block, by plugin name (its admission_controller metrics).
	pluginTime map[string]time.Duration
	// propagation is the time from a SidecarSet change to a pod injected from it.
	propagation time.Duration
	// managerCPU and passes are the manager's CPU time and its SidecarSet passes over
	// the measured series (process_cpu_seconds_total and
	// controller_runtime_reconcile_total{controller="sidecarset"}).
	managerCPU time.Duration
	passes     float64
	seriesTime time.Duration
}

// profilePods is the size of the series the API server's CPU profile covers.
const profilePods = 300

// tag names the block's pods and files: w-100, a-1000.
func (r engineRun) tag() string {
	return fmt.Sprintf("%s-%d", strings.ToLower(string(r.engine[:1])), r.sets)
}

// engines runs, at 100 sets and then at all of them, a block with the policy engine
// and then one with the webhook engine, over the same groups of pods: those whose every
// set the generated policy injects.
func (b *bench) engines(ctx context.Context) error {
	b.engineBase = slices.Clone(b.op.Args)
	created := 0
	for _, sets := range slices.Compact([]int{min(100, b.o.sets), b.o.sets}) {
		say("Creating SidecarSets up to %d", sets)
		if err := b.createSets(ctx, created, sets); err != nil {
			return err
		}
		created = sets
		if err := b.switchEngine(ctx, enginePolicy); err != nil {
			return err
		}
		groups, inPolicy, err := b.policyGroups(ctx, sets)
		if err != nil {
			return err
		}
		if len(groups) == 0 {
			return fmt.Errorf("at %d sets the policy injects no group of pods whole", sets)
		}
		for _, e := range []engine{enginePolicy, engineWebhook} {
			if err := b.switchEngine(ctx, e); err != nil {
				return err
			}
			if err := b.waitGroupsInjected(ctx, groups); err != nil {
				return fmt.Errorf("%s engine: %w", e, err)
			}
			run, err := b.engineBlock(ctx, e, sets, groups)
			if err != nil {
				return err
			}
			run.inPolicy = inPolicy
			b.engineRuns = append(b.engineRuns, run)
		}
	}
	return nil
}

// switchEngine restarts the manager with engine e and makes the pod webhook what that
// engine's install has: config/admission-policy's (failurePolicy Ignore, not called for
// pods the policy injected) for the policy engine, config/default's for the webhook
// engine.
func (b *bench) switchEngine(ctx context.Context, e engine) error {
	if b.currentEngine == e {
		return nil
	}
	say("Switching to the %s engine", e)
	b.stopOperator()
	b.op.Args = append(slices.Clone(b.engineBase), "--injection-engine="+string(e))
	switch e {
	case enginePolicy:
		restore, err := localcluster.PolicyEnginePodWebhook(ctx, b.c, "config")
		if err != nil {
			return err
		}
		b.restorePodWebhook = restore
	case engineWebhook:
		if b.restorePodWebhook != nil {
			if err := b.restorePodWebhook(ctx); err != nil {
				return err
			}
			b.restorePodWebhook = nil
		}
	}
	if err := b.runManager(ctx); err != nil {
		return err
	}
	b.currentEngine = e
	if e == engineWebhook {
		// The webhook engine deletes the generated policy; until then both would inject.
		return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			err := b.c.Get(ctx, client.ObjectKey{Name: admissionpolicy.Name}, &admissionregistrationv1.MutatingAdmissionPolicy{})
			return apierrors.IsNotFound(err), nil
		})
	}
	return nil
}

// policyGroups waits until each of sets [0, sets) has an AdmissionPolicy condition for
// its generation and returns the groups all of whose sets are in the policy, and how
// many sets are.
func (b *bench) policyGroups(ctx context.Context, sets int) (groups []int, inPolicy int, err error) {
	err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list sidecarsv1alpha1.SidecarSetList
		if err := b.c.List(ctx, &list); err != nil {
			return false, nil
		}
		kept := map[int]int{}
		inPolicy = 0
		seen := 0
		for _, s := range list.Items {
			var i int
			if _, err := fmt.Sscanf(s.Name, "scale-%04d", &i); err != nil || i >= sets {
				continue
			}
			c := meta.FindStatusCondition(s.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
			if c == nil || c.ObservedGeneration != s.Generation {
				return false, nil
			}
			seen++
			if c.Status == "True" {
				inPolicy++
				kept[i/setsPerGroup]++
			}
		}
		if seen < sets {
			return false, nil
		}
		groups = groups[:0]
		for g, n := range kept {
			if n == setsPerGroup {
				groups = append(groups, g)
			}
		}
		slices.Sort(groups)
		return true, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("waiting for the AdmissionPolicy condition of %d sets: %w", sets, err)
	}
	say("  %d of %d sets in the policy; %d groups of pods injected by it whole", inPolicy, sets, len(groups))
	return groups, inPolicy, nil
}

// waitGroupsInjected waits until a dry-run pod of each group gets its sets' sidecars.
func (b *bench) waitGroupsInjected(ctx context.Context, groups []int) error {
	for _, g := range groups {
		if err := b.waitInjects(ctx, fmt.Sprintf("g%03d", g), setsPerGroup); err != nil {
			return fmt.Errorf("pods of group g%03d not injected: %w", g, err)
		}
	}
	return nil
}

// pluginMetric is the API server's time in each admission plugin.
const pluginMetric = "apiserver_admission_controller_admission_duration_seconds_sum"

// mutatingPlugins are the plugins that inject with each engine.
var mutatingPlugins = []string{"MutatingAdmissionWebhook", "MutatingAdmissionPolicy"}

// pluginSeconds reads the API server's cumulative time in the mutating plugins.
func (b *bench) pluginSeconds(ctx context.Context) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(b.cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, p := range mutatingPlugins {
		out[p] = promSum(string(raw), pluginMetric, map[string]string{"name": p, "type": "admit"})
	}
	return out, nil
}

// apiserverProfile writes the API server's CPU profile over secs seconds to file.
func (b *bench) apiserverProfile(ctx context.Context, secs int, file string) error {
	cs, err := kubernetes.NewForConfig(b.cfg)
	if err != nil {
		return err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(secs)).
		Timeout(time.Duration(secs+60) * time.Second).DoRaw(ctx)
	if err != nil {
		return err
	}
	return os.WriteFile(file, raw, 0o644)
}

// engineBlock measures one engine: paired series over groups, the API server's time
// in the mutating plugins over them, and the time a set's change takes to reach pods.
func (b *bench) engineBlock(ctx context.Context, e engine, sets int, groups []int) (engineRun, error) {
	run := engineRun{engine: e, sets: sets, groups: len(groups), pluginTime: map[string]time.Duration{}}
	before, err := b.pluginSeconds(ctx)
	if err != nil {
		return run, fmt.Errorf("the API server's metrics: %w", err)
	}
	tag := run.tag()
	cpuBefore, passesBefore, err := b.probe.work(ctx)
	if err != nil {
		return run, fmt.Errorf("the manager's metrics: %w", err)
	}
	start := time.Now()
	run.injected, run.bypassed, err = b.pairedSeries(ctx, tag, b.o.latencyPods, groups, b.o.engineRate, false,
		fmt.Sprintf("the %s engine (%d sets, %d groups)", e, sets, len(groups)))
	if err != nil {
		return run, err
	}
	run.seriesTime = time.Since(start)
	cpuAfter, passesAfter, err := b.probe.work(ctx)
	if err != nil {
		return run, fmt.Errorf("the manager's metrics: %w", err)
	}
	run.managerCPU = time.Duration((cpuAfter - cpuBefore) * float64(time.Second))
	run.passes = passesAfter - passesBefore
	after, err := b.pluginSeconds(ctx)
	if err != nil {
		return run, fmt.Errorf("the API server's metrics: %w", err)
	}
	for _, p := range mutatingPlugins {
		run.pluginTime[p] = time.Duration((after[p] - before[p]) * float64(time.Second))
	}
	if run.propagation, err = b.propagation(ctx, groups[len(groups)-1], tag); err != nil {
		return run, err
	}
	// Where the engine's time goes: the API server's CPU profile over a further, shorter
	// series, so that the profiler does not weigh on the measured one.
	n := min(profilePods, b.o.latencyPods)
	profDone := make(chan error, 1)
	go func() {
		secs := max(int(float64(2*n)/b.o.engineRate)-1, 1)
		profDone <- b.apiserverProfile(ctx, secs, filepath.Join(b.o.workDir, fmt.Sprintf("apiserver-%s.cpu.pprof", tag)))
	}()
	if _, _, err := b.pairedSeries(ctx, tag+"-profiled", n, groups, b.o.engineRate, false,
		fmt.Sprintf("the %s engine (%d sets), profiled", e, sets)); err != nil {
		return run, err
	}
	if err := <-profDone; err != nil {
		b.notes = append(b.notes, fmt.Sprintf("the API server's CPU profile of series %s: %v", tag, err))
	}
	say("  p50 %s (bypassed %s), p99 %s (bypassed %s); a set's change reaches pods in %s",
		ms(percentile(run.injected, 50)), ms(percentile(run.bypassed, 50)),
		ms(percentile(run.injected, 99)), ms(percentile(run.bypassed, 99)), run.propagation.Round(10*time.Millisecond))
	return run, nil
}

// propagation changes the image of the first set of group and times until a dry-run
// pod of the group gets the new image.
func (b *bench) propagation(ctx context.Context, group int, tag string) (time.Duration, error) {
	name := setName(group * setsPerGroup)
	image := fmt.Sprintf("registry.local/sidecar-%04d:%s", group*setsPerGroup, tag)
	start := time.Now()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set := &sidecarsv1alpha1.SidecarSet{}
		if err := b.c.Get(ctx, client.ObjectKey{Name: name}, set); err != nil {
			return err
		}
		set.Spec.Containers[0].Image = image
		return b.c.Update(ctx, set)
	})
	if err != nil {
		return 0, err
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pod := appPod("probe", fmt.Sprintf("g%03d", group), "", false)
		if err := b.c.Create(ctx, pod, client.DryRunAll); err != nil {
			return false, nil
		}
		return slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Image == image }), nil
	})
	if err != nil {
		return 0, fmt.Errorf("set %s changed to %s: no pod injected with it: %w", name, image, err)
	}
	return time.Since(start), nil
}

// engineRows are the comparison's table: per set count and engine, the creates'
// p50/p99 beside the bypassed ones of the same block, the difference, the API server's
// time in the mutating plugins per injected pod, and the propagation of a change.
func engineRows(runs []engineRun) []row {
	var rows []row
	for _, r := range runs {
		what := fmt.Sprintf("%d sets, %s engine", r.sets, r.engine)
		if r.engine == enginePolicy {
			what = fmt.Sprintf("%d sets (%d in the policy), %s engine", r.sets, r.inPolicy, r.engine)
		}
		p50i, p50b := percentile(r.injected, 50), percentile(r.bypassed, 50)
		p99i, p99b := percentile(r.injected, 99), percentile(r.bypassed, 99)
		target := 10 * time.Millisecond
		if r.sets > 100 {
			target = 20 * time.Millisecond
		}
		var plugins []string
		for _, p := range mutatingPlugins {
			if t := r.pluginTime[p]; t > 0 && len(r.injected) > 0 {
				plugins = append(plugins, fmt.Sprintf("%s %s", p, ms(t/time.Duration(len(r.injected)))))
			}
		}
		rows = append(rows,
			row{What: what + ": pod create p50 / p99", Baseline: ms(p50b) + " / " + ms(p99b), Result: ms(p50i) + " / " + ms(p99i)},
			row{What: what + ": admission-added p50 / p99", Result: ms(p50i-p50b) + " / " + ms(p99i-p99b),
				Target: "p99 ≤ " + ms(target), Met: addedVerdict(p99i-p99b, p99b, target)},
			row{What: what + ": API server time in mutating admission per injected pod", Result: dash(strings.Join(plugins, ", "))},
			row{What: what + ": a set's change to the first pod injected from it", Result: fmt.Sprintf("%.2f s", r.propagation.Seconds())},
		)
		if n := len(r.injected); n > 0 && r.seriesTime > 0 {
			rows = append(rows, row{What: what + ": manager CPU per injected pod (cores used over the series); SidecarSet passes per injected pod",
				Result: fmt.Sprintf("%s (%.2f cores); %.2f", ms(r.managerCPU/time.Duration(n)),
					r.managerCPU.Seconds()/r.seriesTime.Seconds(), r.passes/float64(n))})
		}
	}
	return rows
}

// errNoEngineRuns: the comparison ended without a block.
var errNoEngineRuns = errors.New("the engine comparison measured nothing")
