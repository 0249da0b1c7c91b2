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

// Package testing holds builders of the objects Outrigger's tests use:
// MakeSidecarSet(...).Obj() and MakePod(...).Obj(). Each builder starts from a small
// valid object and each method changes one thing, so a test reads as the case it checks.
//
// It imports nothing beyond the API types: every package whose tests use the builders
// links it, and fuzzing instruments all it links (what needs a cluster is in
// internal/localcluster).
package testing
