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
	"sync"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// recordsMemo keeps the injection records parsed from annotation values. Every pass
// reads the record of every pod its set selects, and the pods of one workload carry
// the same value: parsing it once, not once per pod per pass, is most of a pass's
// allocation at scale (docs/benchmarks.md). What it returns is shared: read only.
type recordsMemo struct {
	mu     sync.Mutex
	parsed map[string]recordsOrError
}

type recordsOrError struct {
	records sidecarsv1alpha1.InjectionRecords
	err     error
}

// injectionRecords is the memo every reader of cached pods' records shares: the SidecarSet
// passes and the index of pods by recorded set, which runs on every pod event.
var injectionRecords recordsMemo

// recordsMemoSize bounds the memo; past it, it starts over.
const recordsMemoSize = 4096

func (m *recordsMemo) of(value string) (sidecarsv1alpha1.InjectionRecords, error) {
	if value == "" {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.parsed[value]; ok {
		return r.records, r.err
	}
	records, err := sidecarsv1alpha1.ParseInjectionRecords(map[string]string{sidecarsv1alpha1.InjectedAnnotation: value})
	if m.parsed == nil || len(m.parsed) >= recordsMemoSize {
		m.parsed = map[string]recordsOrError{}
	}
	m.parsed[value] = recordsOrError{records, err}
	return records, err
}
