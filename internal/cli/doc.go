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

// Package cli is kubectl-outrigger, the kubectl plugin: inject (what the webhook would
// do to a manifest), why (why a pod gets a set's sidecars or not), status (where each
// pod stands in its sets' rollouts) and rollout (status, pause, resume, undo, history).
// It decides nothing itself: injection is the webhook's own handler, pod states are
// read with internal/upgrade's parsers and step function.
package cli
