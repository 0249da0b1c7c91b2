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

package controllers

import (
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"k8s.io/client-go/util/flowcontrol"
	testingclock "k8s.io/utils/clock/testing"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestExpectations(t *testing.T) {
	var e expectations
	if e.Pending("mesh", "ns/a", false, now) {
		t.Fatal("Pending without Begun")
	}
	e.Begun("mesh", "ns/a", now)
	if !e.Pending("mesh", "ns/a", false, now.Add(time.Second)) {
		t.Error("not Pending while the cache lags")
	}
	if e.Pending("other", "ns/a", false, now) || e.Pending("mesh", "ns/b", false, now) {
		t.Error("Pending for another set or pod")
	}
	if e.Pending("mesh", "ns/a", true, now.Add(time.Second)) {
		t.Error("Pending once the cache shows the upgrade")
	}
	if e.Pending("mesh", "ns/a", false, now.Add(2*time.Second)) {
		t.Error("Pending after it was forgotten")
	}
	e.Begun("mesh", "ns/a", now)
	if e.Pending("mesh", "ns/a", false, now.Add(expectationTimeout)) {
		t.Error("Pending past expectationTimeout")
	}
	e.Begun("mesh", "ns/a", now)
	e.ForgetSet("mesh")
	if e.Pending("mesh", "ns/a", false, now) {
		t.Error("Pending after ForgetSet")
	}
}

// TestexpectationsStale: a cached pod at a version this process's writes replaced is
// stale until the cache shows any other version.
func TestExpectationsStale(t *testing.T) {
	cases := []struct {
		name   string
		wrote  func(e *expectations)
		cached string
		at     time.Duration
		want   bool
	}{
		{name: "nothing written", wrote: func(*expectations) {}, cached: "1"},
		{name: "cache before the first write", cached: "1", want: true,
			wrote: func(e *expectations) { e.Wrote("mesh", "ns/a", []string{"1", "2"}, "3", now) }},
		{name: "cache between two writes", cached: "2", want: true,
			wrote: func(e *expectations) { e.Wrote("mesh", "ns/a", []string{"1", "2"}, "3", now) }},
		{name: "cache shows the last write", cached: "3",
			wrote: func(e *expectations) { e.Wrote("mesh", "ns/a", []string{"1", "2"}, "3", now) }},
		{name: "cache past the last write (the kubelet wrote)", cached: "9",
			wrote: func(e *expectations) { e.Wrote("mesh", "ns/a", []string{"1", "2"}, "3", now) }},
		{name: "two passes' writes accumulate", cached: "1", want: true,
			wrote: func(e *expectations) {
				e.Wrote("mesh", "ns/a", []string{"1"}, "2", now)
				e.Wrote("mesh", "ns/a", []string{"2"}, "3", now)
			}},
		{name: "another pod", cached: "1",
			wrote: func(e *expectations) { e.Wrote("mesh", "ns/b", []string{"1"}, "2", now) }},
		{name: "another set", cached: "1",
			wrote: func(e *expectations) { e.Wrote("other", "ns/a", []string{"1"}, "2", now) }},
		{name: "expired", cached: "1", at: expectationTimeout,
			wrote: func(e *expectations) { e.Wrote("mesh", "ns/a", []string{"1"}, "2", now) }},
		{name: "set forgotten", cached: "1",
			wrote: func(e *expectations) {
				e.Wrote("mesh", "ns/a", []string{"1"}, "2", now)
				e.ForgetSet("mesh")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e expectations
			tc.wrote(&e)
			if got := e.Stale("mesh", "ns/a", tc.cached, now.Add(tc.at)); got != tc.want {
				t.Errorf("Stale(%q) = %v, want %v", tc.cached, got, tc.want)
			}
		})
	}
	var e expectations
	e.Wrote("mesh", "ns/a", []string{"1"}, "2", now)
	if e.Stale("mesh", "ns/a", "2", now) || e.Stale("mesh", "ns/a", "1", now) {
		t.Error("Stale after the cache showed a newer version once: the pod should be forgotten")
	}
}

// TestBackoff: a pod's failing writes wait 1s doubling to 5m, per set and pod; a
// success forgets them.
func TestBackoff(t *testing.T) {
	clock := testingclock.NewFakeClock(now)
	b := backoff{backoff: flowcontrol.NewFakeBackOff(time.Second, maxBackoff, clock)}
	if b.Waiting("mesh", "ns/a", now) {
		t.Fatal("Waiting before any failure")
	}
	var waits []time.Duration
	for range 12 {
		waits = append(waits, b.Failed("mesh", "ns/a", now))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if diff := gocmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if !b.Waiting("mesh", "ns/a", now.Add(time.Minute)) || b.Waiting("mesh", "ns/a", now.Add(5*time.Minute)) {
		t.Error("Waiting does not follow the last wait")
	}
	if b.Waiting("other", "ns/a", now) || b.Waiting("mesh", "ns/b", now) {
		t.Error("Waiting for another set or pod")
	}
	b.Succeeded("mesh", "ns/a")
	if b.Waiting("mesh", "ns/a", now) || b.Failed("mesh", "ns/a", now) != time.Second {
		t.Error("Succeeded did not forget the failures")
	}
	clock.Step(2*maxBackoff + time.Second)
	b.ForgetSet("mesh")
	if b.backoff.Get("mesh/ns/a") != 0 {
		t.Error("ForgetSet kept an expired entry")
	}
}

// TestBackoffForADisruptionBudget: a pod whose drain a PodDisruptionBudget holds waits
// 1s doubling to 30s and says why while it waits; a failed write does not say a budget
// holds it; a success forgets both.
func TestBackoffForADisruptionBudget(t *testing.T) {
	clock := testingclock.NewFakeClock(now)
	b := backoff{
		backoff: flowcontrol.NewFakeBackOff(time.Second, maxBackoff, clock),
		paused:  flowcontrol.NewFakeBackOff(time.Second, maxBlockedBackoff, clock),
	}
	const why = "PodDisruptionBudget web allows no disruption now"
	var waits []time.Duration
	for range 7 {
		waits = append(waits, b.Blocked("mesh", "ns/a", why, now))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if diff := gocmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := b.Wait("mesh", "ns/a"); got != 30*time.Second {
		t.Errorf("Wait = %s, want the current wait of 30s", got)
	}
	if !b.Waiting("mesh", "ns/a", now.Add(10*time.Second)) || b.Disruption("mesh", "ns/a", now.Add(10*time.Second)) != why {
		t.Error("a blocked pod does not wait, or does not say why")
	}
	if b.Waiting("mesh", "ns/a", now.Add(31*time.Second)) || b.Disruption("mesh", "ns/a", now.Add(31*time.Second)) != "" {
		t.Error("a blocked pod still waits after its wait")
	}
	b.Blocked("mesh", "ns/gone", why, now)
	b.Blocked("mesh", "ns/later", why, now.Add(time.Minute))
	if _, kept := b.why["mesh/ns/gone"]; kept {
		t.Error("a block kept the reason of a pod whose wait is over")
	}
	b.Failed("mesh", "ns/b", now)
	if !b.Waiting("mesh", "ns/b", now) || b.Disruption("mesh", "ns/b", now) != "" {
		t.Error("a failed write is taken for a budget's block")
	}
	b.Succeeded("mesh", "ns/a")
	if b.Waiting("mesh", "ns/a", now) || b.Disruption("mesh", "ns/a", now) != "" || b.Blocked("mesh", "ns/a", why, now) != time.Second {
		t.Error("Succeeded did not forget the block")
	}
}

// TestSettling: a pod whose upgrade finished is settling until the cache shows it Ready,
// or for at most expectationTimeout.
func TestSettling(t *testing.T) {
	var e expectations
	if e.Settling("mesh", "ns/a", false, now) {
		t.Fatal("settling before any finish")
	}
	e.Finished("mesh", "ns/a", now)
	e.Finished("mesh", "ns/b", now)
	if !e.Settling("mesh", "ns/a", false, now.Add(time.Second)) || e.Settling("other", "ns/a", false, now) {
		t.Error("a finished pod not Ready yet is not settling, or settles for another set")
	}
	if e.Settling("mesh", "ns/a", true, now.Add(time.Second)) || e.Settling("mesh", "ns/a", false, now.Add(2*time.Second)) {
		t.Error("a pod seen Ready once still settles")
	}
	if e.Settling("mesh", "ns/b", false, now.Add(expectationTimeout)) {
		t.Error("a pod settles past expectationTimeout")
	}
	e.Finished("mesh", "ns/gone", now)
	e.Finished("mesh", "ns/c", now.Add(expectationTimeout))
	if _, kept := e.settling[expectationKey{"mesh", "ns/gone"}]; kept {
		t.Error("a finish kept the entry of a pod never asked about past expectationTimeout")
	}
	e.ForgetSet("mesh")
	if e.Settling("mesh", "ns/c", false, now) {
		t.Error("ForgetSet kept a settling pod")
	}
}
