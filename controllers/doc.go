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

// Package controllers holds Outrigger's reconcilers: SidecarSet (the rollout, as named
// phases over one pass), Pod (the readiness gate) and AdmissionPolicy (the policy
// engine). They stay thin: read the caches, call the pure packages under internal/,
// write with patches or server-side apply, and write a SidecarSet's status once per
// pass (status.go: one field manager per controller). What keeps state between passes
// is here too: the expectations of writes the cache may not show yet, and the backoff
// of pods whose writes fail (memory.go). docs/architecture.md walks through it.
package controllers
