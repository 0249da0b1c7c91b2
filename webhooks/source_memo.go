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

package webhooks

import (
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// sourceMemo keeps each SidecarSet's Source (spec copy and hashes) for one generation,
// so a pod costs matching, not hashing. It holds one entry per live set: keyed by UID, a
// new generation replaces the entry, and entries of deleted sets are swept within
// sweepInterval (at the next pod after it), or at once when the entries outnumber the
// sets.
type sourceMemo struct {
	entries   sync.Map // types.UID -> *memoSource
	size      atomic.Int64
	lastSweep atomic.Int64 // unix nanoseconds
}

// sweepInterval bounds how long a deleted set's entry may stay; sweeping costs a pass
// over the sets, so it is not done per pod.
const sweepInterval = time.Minute

type memoSource struct {
	generation     int64
	collisionCount int32
	source         inject.Source
}

func (m *sourceMemo) load(uid types.UID, generation int64, collisionCount int32) (inject.Source, bool) {
	v, ok := m.entries.Load(uid)
	if !ok {
		return inject.Source{}, false
	}
	e := v.(*memoSource)
	if e.generation != generation || e.collisionCount != collisionCount {
		return inject.Source{}, false
	}
	return e.source, true
}

func (m *sourceMemo) store(uid types.UID, generation int64, collisionCount int32, src inject.Source) {
	if _, replaced := m.entries.Swap(uid, &memoSource{generation: generation, collisionCount: collisionCount, source: src}); !replaced {
		m.size.Add(1)
	}
}

// retain drops the entries of sets not among items, when one can be stale: after
// sweepInterval, or when there are more entries than sets.
func (m *sourceMemo) retain(items []*sidecarsv1alpha1.SidecarSet, now time.Time) {
	last := m.lastSweep.Load()
	if m.size.Load() <= int64(len(items)) && now.UnixNano()-last < int64(sweepInterval) {
		return
	}
	if !m.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return // another request sweeps
	}
	live := sets.New[types.UID]()
	for _, set := range items {
		live.Insert(set.UID)
	}
	m.entries.Range(func(k, v any) bool {
		if uid := k.(types.UID); !live.Has(uid) && m.entries.CompareAndDelete(k, v) {
			m.size.Add(-1)
		}
		return true
	})
}

func (m *sourceMemo) len() int {
	return int(m.size.Load())
}
