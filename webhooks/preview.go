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
	"context"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Preview answers the CREATE of a pod in namespace as the pod webhook answers the API
// server: raw is the pod as JSON, the response carries the webhook's JSON patch (or its
// refusal). It runs the webhook's own handler with injector's sets, so kubectl-outrigger
// inject shows what the webhook would store, with no cluster write.
func Preview(ctx context.Context, injector *PodInjector, scheme *runtime.Scheme, namespace string, raw []byte) admission.Response {
	h := &podAdmission{injector: injector, decoder: admission.NewDecoder(scheme), scheme: scheme}
	return h.Handle(ctx, admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create,
		Namespace: namespace,
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Object:    runtime.RawExtension{Raw: raw},
	}})
}
