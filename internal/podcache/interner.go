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

package podcache

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"
	"weak"

	corev1 "k8s.io/api/core/v1"
)

// Interner shares equal strings and resource lists between the pods it trims: ten
// thousand pods carry a few dozen distinct images, injection records and resource
// lists.
//
// Its strings are held weakly: an entry lives only as long as some cached object holds
// its string, so what deleted pods held is forgotten with them. What it holds is bounded
// in bytes whatever tenants write: a string longer than MaxString is never shared (it
// stays its pod's own), and once the shared strings reach maxBytes new ones are not
// shared until some are forgotten. Resource lists are few and small: it keeps up to
// maxLists of them, forgetting all once full; what it handed out stays right.
type Interner struct {
	mu       sync.Mutex
	seed     maphash.Seed
	maxBytes int
	bytes    int
	strs     map[uint64][]weakString

	maxLists int
	lists    map[string]corev1.ResourceList
	scratch  strings.Builder
}

// MaxString is the length of the longest string an Interner shares. Names, images,
// label values and injection records are far shorter; what is longer is a tenant's
// own, and sharing it would let one pod hold memory beyond its life.
const MaxString = 4 << 10

// entryOverhead approximates what an entry costs besides its bytes (map slot, slice
// element, weak handle and cleanup records), so that many tiny strings count too.
const entryOverhead = 96

// weakString is a shared string the Interner does not keep alive.
type weakString struct {
	data weak.Pointer[byte]
	n    int
}

// NewInterner returns an Interner that shares up to maxBytes of strings and up to
// maxLists resource lists.
func NewInterner(maxBytes, maxLists int) *Interner {
	return &Interner{seed: maphash.MakeSeed(), maxBytes: maxBytes, strs: map[uint64][]weakString{},
		maxLists: maxLists, lists: map[string]corev1.ResourceList{}}
}

// String returns the shared copy of s, or s itself when it is not to be shared.
func (in *Interner) String(s string) string {
	if s == "" || in == nil || len(s) > MaxString {
		return s
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stringLocked(s)
}

func (in *Interner) stringLocked(s string) string {
	if s == "" || len(s) > MaxString {
		return s
	}
	h := maphash.String(in.seed, s)
	for _, w := range in.strs[h] {
		if p := w.data.Value(); p != nil && w.n == len(s) {
			if shared := unsafe.String(p, w.n); shared == s {
				return shared
			}
		}
	}
	if in.bytes+len(s)+entryOverhead > in.maxBytes {
		return s
	}
	// The shared copy is an allocation of its own, so that its life is the life of the
	// cached objects that hold it, not of whatever buffer s was decoded into.
	c := strings.Clone(s)
	p := unsafe.StringData(c)
	in.strs[h] = append(in.strs[h], weakString{data: weak.Make(p), n: len(c)})
	in.bytes += len(c) + entryOverhead
	runtime.AddCleanup(p, in.forget, h)
	return c
}

// forget drops the entries of bucket h whose strings no object holds any more.
func (in *Interner) forget(h uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	kept := in.strs[h][:0]
	for _, w := range in.strs[h] {
		if w.data.Value() == nil {
			in.bytes -= w.n + entryOverhead
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		delete(in.strs, h)
		return
	}
	in.strs[h] = slices.Clip(kept)
}

// Held is what the Interner holds now: the number of shared strings and the bytes it
// counts for them.
func (in *Interner) Held() (strs, bytes int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, b := range in.strs {
		strs += len(b)
	}
	return strs, in.bytes
}

// image returns the shared copy of an image reference. One longer than MaxString (no
// registry serves such a name, but the API server accepts it) is kept as its digest:
// equal images stay equal, and a tenant's pod costs a few bytes, not megabytes.
func (in *Interner) image(s string) string {
	if len(s) <= MaxString {
		return in.String(s)
	}
	sum := sha256.Sum256([]byte(s))
	return in.String(OversizedImagePrefix + hex.EncodeToString(sum[:]))
}

// OversizedImagePrefix starts what a cached pod holds for an image reference longer
// than MaxString.
const OversizedImagePrefix = "oversized.invalid/image@sha256:"

func (in *Interner) stringMap(m map[string]string) map[string]string {
	if m == nil || in == nil {
		return m
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[in.stringLocked(k)] = in.stringLocked(v)
	}
	return out
}

// resources returns the shared copy of l (equal names and quantities, by value).
func (in *Interner) resources(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 || in == nil {
		return l
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.scratch.Reset()
	for _, name := range slices.Sorted(maps.Keys(l)) {
		q := l[name]
		in.scratch.WriteString(string(name))
		in.scratch.WriteByte('=')
		in.scratch.WriteString(q.String())
		in.scratch.WriteByte(',')
	}
	if in.scratch.Len() > MaxString {
		return l
	}
	key := in.scratch.String()
	if v, ok := in.lists[key]; ok {
		return v
	}
	if len(in.lists) >= in.maxLists {
		clear(in.lists)
	}
	in.lists[key] = l
	return l
}
