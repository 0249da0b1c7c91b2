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

// Package upgrade owns the in-place rollout of a SidecarSet as pure functions, file by
// concern:
//
//   - plan.go: which selected pods are up to date, which can be upgraded in place, and
//     which to upgrade or evict now within the partition and unavailability budget;
//   - observed.go: what the planner needs of each pod the controller observed
//     (PlannerPods, with the controller's Memory of its own writes), and which sets a
//     pod event wakes;
//   - pod.go: one pod's upgrade, a state machine kept in the pod's upgrade annotation
//     (Next decides the step from the pod as it is);
//   - kubelet.go: what the kubelet reports of a replaced container, quoted into a
//     failure's reason;
//   - conditions.go: the pod conditions and readiness gate Outrigger reads and writes;
//   - disruption.go: PodDisruptionBudget accounting for drains;
//   - guarded_patch.go: status writes guarded by what they were decided on;
//   - status.go: SidecarSet status and when to write it.
//
// What keeps state (expectations, backoff) is the controller's (controllers/); the
// resources a resourcesPolicy sidecar follows are internal/resources'.
package upgrade
