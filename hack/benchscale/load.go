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
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

const (
	groupLabel = "scale.outrigger.dev/group"
	// appLabel names the application of the bench's pods.
	appLabel   = "app"
	fleetLabel = "scale.outrigger.dev/fleet"
	// inFleet is fleetLabel's value on the rollout's pods.
	inFleet = "true"
	// setsPerGroup sets select each group: every injected pod gets that many sidecars,
	// as in the measurement (10 of the sets select the pod).
	setsPerGroup = 10
	fleetSet     = "scale-fleet"
)

func setName(i int) string { return fmt.Sprintf("scale-%04d", i) }

func groupOf(set int) string { return fmt.Sprintf("g%03d", set/setsPerGroup) }

// sidecarSet is set i: one native sidecar, selecting its group.
func sidecarSet(i int) *sidecarsv1alpha1.SidecarSet {
	return &sidecarsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: setName(i)},
		Spec: sidecarsv1alpha1.SidecarSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{groupLabel: groupOf(i)}},
			Containers: []sidecarsv1alpha1.SidecarContainer{{Container: corev1.Container{
				Name:  fmt.Sprintf("sc-%04d", i),
				Image: fmt.Sprintf("registry.local/sidecar-%04d:v1", i),
				Env:   []corev1.EnvVar{{Name: "SIDECAR_INDEX", Value: fmt.Sprint(i)}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("8Mi"),
				}},
			}}},
		},
	}
}

// fleet is the set the rollout changes: it selects the pods labelled fleet.
func fleet(drainSeconds int32) *sidecarsv1alpha1.SidecarSet {
	return &sidecarsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetSet},
		Spec: sidecarsv1alpha1.SidecarSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{fleetLabel: inFleet}},
			Containers: []sidecarsv1alpha1.SidecarContainer{{Container: corev1.Container{
				Name: "fleet-proxy", Image: fleetImage("v1"),
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("8Mi"),
				}},
			}}},
			UpdateStrategy: sidecarsv1alpha1.UpdateStrategy{
				MaxUnavailable: new(intstr.FromString("10%")),
				Drain:          sidecarsv1alpha1.DrainPolicy{Seconds: new(drainSeconds)},
			},
		},
	}
}

func fleetImage(tag string) string { return "registry.local/fleet-proxy:" + tag }

// appPod is an application pod of the injected namespace, bound to a simulated node
// (there is no scheduler).
func appPod(name, group, node string, ofFleet bool) *corev1.Pod {
	labels := map[string]string{appLabel: "scale", groupLabel: group}
	if ofFleet {
		labels[fleetLabel] = inFleet
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: injectedNamespace, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName: node,
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.local/app:1",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
				}},
			}},
			// KWOK's simulated nodes carry this taint by default in other setups; tolerate it.
			Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

// paced calls create(i) for i in [0, n) at rate calls per second, at most concurrency
// at a time, and returns how long each call took. It stops early when ctx ends; the
// calls that did not run have no sample.
func paced(ctx context.Context, n int, rate float64, concurrency int, create func(ctx context.Context, i int) error) ([]time.Duration, int64) {
	lat := make([]time.Duration, n)
	done := make([]bool, n)
	var failed atomic.Int64
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
loop:
	for i := range n {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(d):
			}
		}
		next = next.Add(interval)
		select {
		case <-ctx.Done():
			break loop
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			if err := create(ctx, i); err != nil {
				failed.Add(1)
				return
			}
			lat[i], done[i] = time.Since(start), true
		})
	}
	wg.Wait()
	out := make([]time.Duration, 0, n)
	for i := range lat {
		if done[i] {
			out = append(out, lat[i])
		}
	}
	return out, failed.Load()
}

// createPods creates pods through c, as fast as workers allow. A refused create is
// retried (a webhook timing out under load refuses it) up to 5 times, a second apart;
// retried counts them. An error after that stops it.
func createPods(ctx context.Context, c client.Client, workers int, pods []*corev1.Pod, retried *atomic.Int64) error {
	ch := make(chan *corev1.Pod)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p := range ch {
				var err error
				for attempt := range 6 {
					if attempt > 0 {
						retried.Add(1)
						time.Sleep(time.Second)
					}
					if err = client.IgnoreAlreadyExists(c.Create(ctx, p.DeepCopy())); err == nil || ctx.Err() != nil {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("creating pod %s/%s: %w", p.Namespace, p.Name, err)
					return
				}
			}
		})
	}
	var err error
feed:
	for _, p := range pods {
		select {
		case ch <- p:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}
