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
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/outrigger-dev/outrigger/internal/metrics"
)

// registry is a webhook.Server that only records what registers with it.
type registry struct {
	webhook.Server
	hooks map[string]http.Handler
}

func (r *registry) Register(path string, hook http.Handler) { r.hooks[path] = hook }

func shedding(t *testing.T, opts ShedOptions, next http.Handler) http.Handler {
	t.Helper()
	inner := &registry{hooks: map[string]http.Handler{}}
	NewSheddingServer(inner, opts).Register(podInjectionPath, next)
	return inner.hooks[podInjectionPath]
}

func post(h http.Handler, body io.Reader, length int64) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, podInjectionPath, body)
	req.ContentLength = length
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSheddingServer(t *testing.T) {
	served := 0
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	h := shedding(t, ShedOptions{Wait: 50 * time.Millisecond}, echo)

	tooLarge := testutil.ToFloat64(metrics.WebhookShedTotal.WithLabelValues(podInjectionPath, metrics.ShedTooLarge))
	// Refused on its Content-Length, before a byte of it is read.
	if rec := post(h, strings.NewReader(""), podReviewMaxBody+1); rec.Code != http.StatusRequestEntityTooLarge || served != 0 {
		t.Errorf("a declared body past the limit: status %d, served %d; want 413, not served", rec.Code, served)
	}
	if got := testutil.ToFloat64(metrics.WebhookShedTotal.WithLabelValues(podInjectionPath, metrics.ShedTooLarge)); got != tooLarge+1 {
		t.Errorf("outrigger_webhook_shed_total{reason=TooLarge} = %v, want %v", got, tooLarge+1)
	}
	// A body of unknown length is cut at the limit: the handler's read fails.
	if rec := post(h, bytes.NewReader(make([]byte, podReviewMaxBody+1)), -1); rec.Code != http.StatusBadRequest {
		t.Errorf("a chunked body past the limit: status %d, want the handler's read to fail (400)", rec.Code)
	}
	if rec := post(h, strings.NewReader("{}"), 2); rec.Code != http.StatusOK {
		t.Errorf("an ordinary review: status %d, want 200", rec.Code)
	}
}

// Past the in-flight budget a request waits, then is answered 429 with a Retry-After
// (the API server's webhook client retries on it); once the budget frees it is served.
// Large requests have a budget of their own: one holding it holds up no ordinary one.
func TestSheddingServerBudget(t *testing.T) {
	for name, tc := range map[string]struct {
		held, refused, served int64 // lengths: the request holding its budget, one refused, one served meanwhile
	}{
		"a large review holds the large budget":       {held: podReviewMaxBody, refused: podReviewMaxBody, served: 2},
		"ordinary reviews hold the ordinary budget":   {held: ordinaryMaxBody, refused: 2},
		"unknown length counts as large as it can be": {held: -1, refused: podReviewMaxBody, served: ordinaryMaxBody},
	} {
		t.Run(name, func(t *testing.T) {
			release, entered := make(chan struct{}), make(chan struct{}, 1)
			holding := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Hold") != "" {
					entered <- struct{}{}
					<-release
				}
			})
			// The smallest budgets: one ordinary review of the largest size, one review of
			// the largest size.
			h := shedding(t, ShedOptions{InFlightBytes: 1, Wait: 50 * time.Millisecond}, holding)
			done := make(chan int)
			go func() {
				req := httptest.NewRequest(http.MethodPost, podInjectionPath, strings.NewReader(""))
				req.ContentLength, req.Header = tc.held, http.Header{"X-Hold": {"1"}}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				done <- rec.Code
			}()
			select {
			case <-entered:
			case code := <-done:
				t.Fatalf("the request to hold the budget was answered %d without being served", code)
			}
			overloaded := testutil.ToFloat64(metrics.WebhookShedTotal.WithLabelValues(podInjectionPath, metrics.ShedOverloaded))
			rec := post(h, strings.NewReader(""), tc.refused)
			if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
				t.Errorf("a request past the budget: status %d, Retry-After %q; want 429 with a Retry-After", rec.Code, rec.Header().Get("Retry-After"))
			}
			if got := testutil.ToFloat64(metrics.WebhookShedTotal.WithLabelValues(podInjectionPath, metrics.ShedOverloaded)); got != overloaded+1 {
				t.Errorf("outrigger_webhook_shed_total{reason=Overloaded} = %v, want %v", got, overloaded+1)
			}
			if tc.served > 0 {
				if rec := post(h, strings.NewReader(""), tc.served); rec.Code != http.StatusOK {
					t.Errorf("a request of the other budget meanwhile: status %d, want 200", rec.Code)
				}
			}
			close(release)
			if code := <-done; code != http.StatusOK {
				t.Errorf("the request holding the budget: status %d, want 200", code)
			}
			if rec := post(h, strings.NewReader(""), tc.refused); rec.Code != http.StatusOK {
				t.Errorf("after the budget freed: status %d, want 200", rec.Code)
			}
		})
	}
}
