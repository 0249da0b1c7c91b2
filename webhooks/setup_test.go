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
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// With the admission policy engine the pod webhook admits a pod the sets select
// unchanged; the injector it replaces patches the same request.
func TestPodWebhookStandsAsideWhenThePolicyInjects(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(benchPod())
	if err != nil {
		t.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Namespace: "shop", Object: runtime.RawExtension{Raw: raw},
	}}
	reader := benchReader(t, 20)
	for _, tc := range []struct {
		name        string
		opts        Options
		wantPatches bool
	}{
		{"the webhook engine injects", Options{OperatorNamespace: "outrigger-system"}, true},
		{"the admission policy engine admits unchanged", Options{OperatorNamespace: "outrigger-system", PolicyInjects: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := podWebhook(scheme, reader, memorySets{reader}, tc.opts).Handle(t.Context(), req)
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			if got := len(resp.Patches) > 0; got != tc.wantPatches {
				t.Errorf("patches %v, want patches: %v", resp.Patches, tc.wantPatches)
			}
		})
	}
}
