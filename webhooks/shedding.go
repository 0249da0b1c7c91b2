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
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/outrigger-dev/outrigger/internal/metrics"
)

// The API server refuses request bodies above 3 MiB (its MaxRequestBodyBytes), so no
// object it admits is larger; an AdmissionReview carries one object for a pod CREATE,
// two for a SidecarSet UPDATE, and a few KiB around them.
const (
	apiServerMaxBody = 3 << 20
	reviewEnvelope   = 64 << 10
	// podReviewMaxBody bounds the pod webhook's requests: it is called on CREATE only.
	podReviewMaxBody = apiServerMaxBody + reviewEnvelope
	// reviewMaxBody bounds the other webhooks' requests (UPDATE: object and oldObject).
	reviewMaxBody = 2*apiServerMaxBody + reviewEnvelope
	// bodyReadTimeout bounds the reading of a body once admitted to the budget: the API
	// server sends its review at once, a caller trickling one would hold the budget.
	bodyReadTimeout = 5 * time.Second
	// minWeight is what a request costs the budget at least: what decoding and answering
	// it holds besides its body.
	minWeight = 64 << 10
	// ordinaryMaxBody is the largest review of the ordinary class. Pod reviews are a few
	// KiB to a few hundred; larger ones (or of unknown length) share a budget of their
	// own, one of the largest at a time, so a flood of large bodies never holds up the
	// ordinary reviews the API server sends.
	ordinaryMaxBody = 512 << 10
)

// ShedOptions bound what callers of the webhook server can make the manager hold.
type ShedOptions struct {
	// InFlightBytes is the budget of ordinary requests (up to 512 KiB) admitted at once;
	// a request costs its Content-Length, and at least 64 KiB. The default, 8 MiB, admits
	// 128 pod reviews of ordinary size at once. Larger requests, or of unknown length,
	// have a budget of their own: one review of the largest size.
	InFlightBytes int64
	// Wait is how long a request waits for the budget before it is answered 429 with a
	// Retry-After, which the API server's webhook client retries within the webhook's
	// timeout. Default 2s.
	Wait time.Duration
}

// SheddingServer is the manager's webhook server with each webhook behind a budget:
// bodies larger than the API server can send are refused before they are read, and
// requests past the budget wait, then are answered 429 (the API server retries),
// counted in outrigger_webhook_shed_total. Nothing a caller of port 9443 sends can
// make the manager hold more than the budgets' worth of requests.
type SheddingServer struct {
	webhook.Server
	ordinary, large *semaphore.Weighted
	wait            time.Duration
}

var _ webhook.Server = (*SheddingServer)(nil)

// NewSheddingServer wraps inner, the server the webhooks register with.
func NewSheddingServer(inner webhook.Server, opts ShedOptions) *SheddingServer {
	if opts.InFlightBytes <= 0 {
		opts.InFlightBytes = 8 << 20
	}
	opts.InFlightBytes = max(opts.InFlightBytes, ordinaryMaxBody) // any ordinary review fits
	if opts.Wait <= 0 {
		opts.Wait = 2 * time.Second
	}
	return &SheddingServer{Server: inner, wait: opts.Wait,
		ordinary: semaphore.NewWeighted(opts.InFlightBytes), large: semaphore.NewWeighted(reviewMaxBody)}
}

// Register registers hook at path behind the budget.
func (s *SheddingServer) Register(path string, hook http.Handler) {
	limit := int64(reviewMaxBody)
	if path == podInjectionPath {
		limit = podReviewMaxBody
	}
	s.Server.Register(path, s.shed(path, limit, hook))
}

func (s *SheddingServer) shed(path string, limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			metrics.WebhookShedTotal.WithLabelValues(path, metrics.ShedTooLarge).Inc()
			http.Error(w, fmt.Sprintf("request body of %d bytes is larger than the %d bytes an admission review can be",
				r.ContentLength, limit), http.StatusRequestEntityTooLarge)
			return
		}
		weight, budget := limit, s.large // unknown length: as large as it may be
		if r.ContentLength >= 0 {
			weight = max(r.ContentLength, minWeight)
		}
		if weight <= ordinaryMaxBody {
			budget = s.ordinary
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.wait)
		err := budget.Acquire(ctx, weight)
		cancel()
		if err != nil {
			metrics.WebhookShedTotal.WithLabelValues(path, metrics.ShedOverloaded).Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "the webhook server is at its in-flight budget; retry", http.StatusTooManyRequests)
			return
		}
		defer budget.Release(weight)
		// ErrNotSupported only where there is no connection (tests' recorders).
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
