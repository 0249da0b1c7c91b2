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
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// BenchmarkAdmission measures what the webhook server does per pod CREATE after the
// HTTP layer: decode the pod from the AdmissionRequest, inject, and build the JSON
// patch of the response — the whole handler, where BenchmarkInject measures Default.
func BenchmarkAdmission(b *testing.B) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(benchPod())
	if err != nil {
		b.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Namespace: "shop",
		Object: runtime.RawExtension{Raw: raw},
	}}
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("sets=%d", n), func(b *testing.B) {
			injector := benchInjector(benchReader(b, n))
			handler := podHandler(scheme, injector)
			ctx := context.Background()
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				resp := handler.Handle(ctx, req)
				durations = append(durations, time.Since(start))
				if !resp.Allowed || len(resp.Patches) == 0 {
					b.Fatalf("the benchmark pod was not injected: %+v", resp.Result)
				}
			}
			b.StopTimer()
			slices.Sort(durations)
			b.ReportMetric(float64(durations[len(durations)*50/100].Microseconds()), "p50-µs")
			b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds()), "p99-µs")
		})
	}
}
