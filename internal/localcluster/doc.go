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

// Package localcluster runs Outrigger on this machine without deploying it: what `make
// run` (hack/localcluster), the e2e suites (test/e2e) and the benchmarks
// (hack/benchscale) share.
//
//   - Cluster drives the single-node cluster of hack/cluster.sh (Up, Down, Get): a real
//     kubelet, containerd and control plane on this machine;
//   - Operator installs what the manager expects (CRDs, webhook configurations pointing
//     at localhost, the pod-metadata policy) and runs bin/manager as a process, its
//     webhook certificate put on disk by SecretVolumeStandIn as a kubelet would mount it;
//   - PolicyEnginePodWebhook and RemovePodWebhook give the live pod webhook what
//     config/admission-policy gives it, or take it away, for the specs and benchmarks
//     of the admission-policy injection engine;
//   - RunProcess runs any binary for as long as a context lasts;
//   - Render is `kustomize build`, in process, so every user of config/ applies what a
//     deployment applies.
package localcluster
