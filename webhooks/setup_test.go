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

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// With the admission policy engine the API server's policy has injected the pod before
// the webhook sees it, byte for byte as the injector would: the webhook then adds
// nothing. A pod the policy did not inject (not yet loaded while an install switches
// engines) gets its sidecars from the webhook.
func TestPodWebhookAddsNothingToAPodThePolicyInjected(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	reader := benchReader(t, 20)
	hook := podWebhook(scheme, reader, nil, memorySets{reader}, Options{OperatorNamespace: "outrigger-system"})
	request := func(raw []byte) admission.Request {
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Create, Namespace: "shop", Object: runtime.RawExtension{Raw: raw},
		}}
	}
	bare, err := json.Marshal(benchPod())
	if err != nil {
		t.Fatal(err)
	}
	resp := hook.Handle(t.Context(), request(bare))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("a pod nothing injected: allowed %v, %d patches, want it injected", resp.Allowed, len(resp.Patches))
	}
	// The pod as the policy leaves it: what the injector returns for the same pod.
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	injected, err := patch.Apply(bare)
	if err != nil {
		t.Fatal(err)
	}
	resp = hook.Handle(t.Context(), request(injected))
	if !resp.Allowed {
		t.Fatalf("refused: %+v", resp.Result)
	}
	if len(resp.Patches) != 0 {
		t.Errorf("patches to a pod already injected: %v", resp.Patches)
	}
}
