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
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// follower watches the rollout's pods, as a reader of the rollout would: how many run
// the new sidecar and are Ready, how many are not Ready.
type follower struct {
	cache cache.Cache
	n     int
	stop  context.CancelFunc
}

type sample struct {
	at                   time.Duration
	updated, unavailable int
}

func newFollower(ctx context.Context, cfg *rest.Config, scheme *kruntime.Scheme, n int) (*follower, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{fleetLabel: inFleet})},
	}})
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { _ = c.Start(cctx) }()
	// A List before the cache has started fails; the first one that succeeds has synced.
	err = wait.PollUntilContextTimeout(cctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		return c.List(ctx, &pods) == nil, nil
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("the rollout's pods did not sync: %w", err)
	}
	return &follower{cache: c, n: n, stop: cancel}, nil
}

// until samples every 250 ms until n pods run image Ready, or timeout.
func (f *follower) until(ctx context.Context, start time.Time, image string, timeout time.Duration) ([]sample, error) {
	deadline := time.Now().Add(timeout)
	var out []sample
	for {
		var pods corev1.PodList
		if err := f.cache.List(ctx, &pods, client.UnsafeDisableDeepCopy); err != nil {
			return out, err
		}
		s := sample{at: time.Since(start)}
		for i := range pods.Items {
			updated, ready := rolledOut(&pods.Items[i], image)
			if updated && ready {
				s.updated++
			}
			if !ready {
				s.unavailable++
			}
		}
		out = append(out, s)
		if s.updated >= f.n {
			return out, nil
		}
		if time.Now().After(deadline) {
			return out, fmt.Errorf("rollout: %d of %d pods updated after %s", s.updated, f.n, timeout)
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// rolledOut says whether pod runs image in some container (by its status) and is Ready.
func rolledOut(pod *corev1.Pod, image string) (updated, ready bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, st := range list {
			if st.Image == image && st.Ready {
				updated = true
			}
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	return updated, ready
}
