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
	corev1 "k8s.io/api/core/v1"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Sidecar is the container Inject builds from sc for a pod with restartPolicy Always and
// no app containers: restart policy, preStop drain and resize policy included, nothing
// derived from the app (resourcesPolicy, shareVolumes, transferEnv). The admission policy
// compiler starts from it and derives the rest inside the API server.
func Sidecar(sc *sidecarsv1alpha1.SidecarContainer, drainSeconds int32) corev1.Container {
	bare := sc.DeepCopy()
	bare.ResourcesPolicy, bare.ShareVolumes, bare.TransferEnv = nil, false, nil
	return build(bare, podContext{restart: corev1.RestartPolicyAlways, drainSeconds: drainSeconds})
}
