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

package inject

import (
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// PerSet keeps one value computed from each SidecarSet for as long as the set's spec
// and collisionCount (which names its revision) stay what they were: its Selector,
// its Source. It holds one entry per live set: keyed by UID, a new version replaces
// the entry, and Retain drops the entries of deleted sets. Safe for concurrent use.
// What it returns is shared: read only.
type PerSet[V any] struct {
	entries   sync.Map // types.UID -> *perSetEntry[V] (pointers: CompareAndDelete compares them)
	size      atomic.Int64
	lastSweep atomic.Int64 // unix nanoseconds
}

type perSetEntry[V any] struct {
	generation     int64
	collisionCount int32
	value          V
}

// SweepInterval bounds how long a deleted set's entry may stay when another set took
// its place (the entries do not outnumber the sets); a sweep costs a pass over the
// sets, so it is not done on every call.
const SweepInterval = time.Minute

// Of is the value for set: the one kept for its version, or compute's, kept when it
// succeeds (an error, say a revision that could not be read, is not). A set without a
// UID (not from the API server) is computed every time.
func (m *PerSet[V]) Of(set *sidecarsv1alpha1.SidecarSet, compute func() (V, error)) (V, error) {
	collisionCount := ptr.Deref(set.Status.CollisionCount, 0)
	if v, ok := m.entries.Load(set.UID); ok && set.UID != "" {
		if e := v.(*perSetEntry[V]); e.generation == set.Generation && e.collisionCount == collisionCount {
			return e.value, nil
		}
	}
	value, err := compute()
	if err != nil || set.UID == "" {
		return value, err
	}
	entry := &perSetEntry[V]{generation: set.Generation, collisionCount: collisionCount, value: value}
	if _, replaced := m.entries.Swap(set.UID, entry); !replaced {
		m.size.Add(1)
	}
	return value, nil
}

// Retain drops the entries of sets not among items, when one can be stale: when the
// entries outnumber the sets, or SweepInterval after the last sweep.
func (m *PerSet[V]) Retain(items []*sidecarsv1alpha1.SidecarSet, now time.Time) {
	last := m.lastSweep.Load()
	if m.size.Load() <= int64(len(items)) && now.UnixNano()-last < int64(SweepInterval) {
		return
	}
	if !m.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return // another caller sweeps
	}
	live := make(map[types.UID]bool, len(items))
	for _, set := range items {
		live[set.UID] = true
	}
	m.entries.Range(func(k, v any) bool {
		if !live[k.(types.UID)] && m.entries.CompareAndDelete(k, v) {
			m.size.Add(-1)
		}
		return true
	})
}

// Len is how many sets have an entry.
func (m *PerSet[V]) Len() int { return int(m.size.Load()) }
