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

// Package cacheview reads an informer's store directly. A cache List builds, on every
// call, a slice of every object it returns and a copy of each object's struct into the
// list's Items; at ten thousand pods that was most of a pass's allocation and most of
// the manager's live heap (docs/benchmarks.md). A View hands out the store's own
// objects, which are shared: read only.
package cacheview
