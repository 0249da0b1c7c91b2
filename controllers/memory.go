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
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/util/flowcontrol"
)

// expectationTimeout bounds how long an upgrade this process began is counted while the
// cache does not show it: an informer that lags that long has bigger problems, and a
// forgotten expectation must not hold the budget for good.
const expectationTimeout = time.Minute

// expectations remember the upgrades this process began until the cache shows them.
// controller-runtime's cache may lag a write: without them, the next pass would see the
// pod as not upgrading and start another one, over maxUnavailable. A restarted process
// has none and needs none: its cache starts from a fresh list.
type expectations struct {
	mu    sync.Mutex
	begun map[expectationKey]time.Time
	// superseded are, per pod, the resourceVersions this process's latest writes
	// replaced: a cached pod at one of them predates a write of ours.
	superseded map[expectationKey]supersededVersions
	// settling are the pods whose upgrade this process finished, that were Ready when
	// it began, until they are Ready again: the rollout took them down, so they still
	// count against maxUnavailable.
	settling map[expectationKey]time.Time
}

type supersededVersions struct {
	versions []string
	at       time.Time
}

// maxSuperseded bounds the versions kept per pod: one pass writes a pod a few times.
const maxSuperseded = 8

type expectationKey struct{ set, pod string }

// Begun notes that the set's upgrade of pod (namespace/name) was written at now.
func (e *expectations) Begun(set, pod string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.begun == nil {
		e.begun = map[expectationKey]time.Time{}
	}
	e.begun[expectationKey{set, pod}] = now
}

// Pending says whether an upgrade begun by this process is still to be counted: the
// cache has not caught up (cacheShows false: neither the state nor a record at the
// target is in it) and the expectation is younger than expectationTimeout. Once the
// cache shows the upgrade, or the expectation expires, it is forgotten.
func (e *expectations) Pending(set, pod string, cacheShows bool, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := expectationKey{set, pod}
	at, ok := e.begun[key]
	if !ok {
		return false
	}
	if cacheShows || now.Sub(at) >= expectationTimeout {
		delete(e.begun, key)
		return false
	}
	return true
}

// Wrote notes that the set's writes to pod (namespace/name) at now replaced its
// resourceVersions from, oldest first; to is what the last write returned.
func (e *expectations) Wrote(set, pod string, from []string, to string, now time.Time) {
	if len(from) == 0 || to == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.superseded == nil {
		e.superseded = map[expectationKey]supersededVersions{}
	}
	key := expectationKey{set, pod}
	versions := append(e.superseded[key].versions, from...)
	versions = slices.DeleteFunc(versions, func(v string) bool { return v == to })
	if len(versions) == 0 {
		return // nothing written: the pod's last write, if any, stands as noted
	}
	if len(versions) > maxSuperseded {
		versions = versions[len(versions)-maxSuperseded:]
	}
	e.superseded[key] = supersededVersions{versions: versions, at: now}
}

// Stale says whether the cached copy of pod, at resourceVersion cached, predates a
// write of the set's in this process: driving it would decide a step already taken
// and be refused with a conflict. Once the cache shows another version, or
// expectationTimeout passed, the pod is forgotten.
func (e *expectations) Stale(set, pod, cached string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := expectationKey{set, pod}
	s, ok := e.superseded[key]
	if !ok {
		return false
	}
	if now.Sub(s.at) >= expectationTimeout || !slices.Contains(s.versions, cached) {
		delete(e.superseded, key)
		return false
	}
	return true
}

// Finished notes that the set's upgrade of pod, which was Ready when it began, finished
// at now.
func (e *expectations) Finished(set, pod string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.settling == nil {
		e.settling = map[expectationKey]time.Time{}
	}
	// A pod deleted before it was seen Ready again is never asked about: its entry goes
	// here, once it could no longer count. The map holds the pods of a few batches.
	for k, at := range e.settling {
		if now.Sub(at) >= expectationTimeout {
			delete(e.settling, k)
		}
	}
	e.settling[expectationKey{set, pod}] = now
}

// Settling says whether a pod whose upgrade this process finished is yet to be Ready
// again (ready false), for at most expectationTimeout after the finish: a pod whose app
// never comes back is a matter for its workload, not one to hold the budget for good.
// Once the pod is Ready, or the time is up, it is forgotten.
func (e *expectations) Settling(set, pod string, ready bool, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := expectationKey{set, pod}
	at, ok := e.settling[key]
	if !ok {
		return false
	}
	if ready || now.Sub(at) >= expectationTimeout {
		delete(e.settling, key)
		return false
	}
	return true
}

// ForgetSet drops the expectations of a deleted set.
func (e *expectations) ForgetSet(set string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.settling {
		if k.set == set {
			delete(e.settling, k)
		}
	}
	for k := range e.begun {
		if k.set == set {
			delete(e.begun, k)
		}
	}
	for k := range e.superseded {
		if k.set == set {
			delete(e.superseded, k)
		}
	}
}

// backoff spaces out the retries of one pod's failing writes, per set: a pod the API
// server keeps refusing is retried at growing intervals (1s doubling to 5m), and while
// it waits it is no candidate, so it cannot take the budget of the pods behind it. A pod
// whose drain a PodDisruptionBudget holds waits the same way, up to maxBlockedBackoff:
// the planner moves on to the pods behind it, and comes back to it soon after the
// budget allows a disruption again.
type backoff struct {
	// writes and blocked are created on first use, unless a test set them.
	once            sync.Once
	backoff, paused *flowcontrol.Backoff

	// mu guards why: why a PodDisruptionBudget holds the drain of a pod that waits for
	// it, by set/pod.
	mu  sync.Mutex
	why map[string]string
}

// maxBlockedBackoff is the longest a pod a PodDisruptionBudget holds waits.
const maxBlockedBackoff = 30 * time.Second

func (b *backoff) of() (writes, blocked *flowcontrol.Backoff) {
	b.once.Do(func() {
		if b.backoff == nil {
			b.backoff = flowcontrol.NewBackOff(time.Second, maxBackoff)
		}
		if b.paused == nil {
			b.paused = flowcontrol.NewBackOff(time.Second, maxBlockedBackoff)
		}
	})
	return b.backoff, b.paused
}

// Failed notes a failure at now and returns how long the pod waits.
func (b *backoff) Failed(set, pod string, now time.Time) time.Duration {
	writes, _ := b.of()
	writes.Next(set+"/"+pod, now)
	return writes.Get(set + "/" + pod)
}

// Blocked notes that a PodDisruptionBudget holds the pod's drain at now, for why, and
// returns how long the pod waits.
func (b *backoff) Blocked(set, pod, why string, now time.Time) time.Duration {
	_, blocked := b.of()
	blocked.Next(set+"/"+pod, now)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.why == nil {
		b.why = map[string]string{}
	}
	// A pod deleted while it waited is never tried again: its reason goes here.
	for k := range b.why {
		if !blocked.IsInBackOffSinceUpdate(k, now) {
			delete(b.why, k)
		}
	}
	b.why[set+"/"+pod] = why
	return blocked.Get(set + "/" + pod)
}

// Disruption is why a PodDisruptionBudget held the pod's drain while the pod waits
// for it at now, "" otherwise.
func (b *backoff) Disruption(set, pod string, now time.Time) string {
	if _, blocked := b.of(); !blocked.IsInBackOffSinceUpdate(set+"/"+pod, now) {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.why[set+"/"+pod]
}

// Wait is how long the pod waits at most from now, for a failed write or a block: the
// longer of its two current waits (the time its wait began is the backoff's own).
func (b *backoff) Wait(set, pod string) time.Duration {
	writes, blocked := b.of()
	return max(writes.Get(set+"/"+pod), blocked.Get(set+"/"+pod))
}

// Succeeded forgets the pod's failures and blocks.
func (b *backoff) Succeeded(set, pod string) {
	writes, blocked := b.of()
	writes.Reset(set + "/" + pod)
	blocked.Reset(set + "/" + pod)
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.why, set+"/"+pod)
}

// Waiting says whether the pod is backing off at now, for a failed write or a block.
func (b *backoff) Waiting(set, pod string, now time.Time) bool {
	writes, blocked := b.of()
	return writes.IsInBackOffSinceUpdate(set+"/"+pod, now) || blocked.IsInBackOffSinceUpdate(set+"/"+pod, now)
}

// maxBackoff is the longest a failing pod waits.
const maxBackoff = 5 * time.Minute

// ForgetSet lets the entries of a deleted set go: they expire (twice the longest wait
// after their last failure) and are collected with every other expired entry.
func (b *backoff) ForgetSet(set string) {
	writes, blocked := b.of()
	writes.GC()
	blocked.GC()
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.why {
		if strings.HasPrefix(k, set+"/") {
			delete(b.why, k)
		}
	}
}
