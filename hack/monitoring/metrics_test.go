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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	// What main.go wires: the manager's registry holds the same collectors.
	_ "github.com/outrigger-dev/outrigger/controllers"
	"github.com/outrigger-dev/outrigger/internal/dashboard"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	_ "github.com/outrigger-dev/outrigger/webhooks"
)

// selectorMetric finds the metric of each selector (name{...}) in a query.
var selectorMetric = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// leaderOnly are metrics only a replica that wins the election exports; the test has no
// election (the e2e Prometheus spec sees them from the deployed manager).
var leaderOnly = map[string]bool{"leader_election_master_status": true}

// served are the metric names the manager's registry serves on /metrics, once each
// family has a series: one of each of Outrigger's, recorded through the same calls the
// manager makes, and one admission request through controller-runtime's webhook server.
func served(t *testing.T) map[string]bool {
	t.Helper()
	metrics.ObserveInjection(time.Now(), []string{"set"}, metrics.ResultInjected)
	metrics.SidecarSetPods.WithLabelValues("set", "updated").Set(1)
	metrics.UpgradesTotal.WithLabelValues("set", metrics.UpgradeStarted).Inc()
	metrics.PodErrorsTotal.WithLabelValues("set").Inc()
	metrics.ReleasedPodsTotal.WithLabelValues("set").Inc()
	metrics.WebhookShedTotal.WithLabelValues("/mutate--v1-pod", metrics.ShedOverloaded).Inc()

	srv := webhook.NewServer(webhook.Options{})
	srv.Register("/mutate--v1-pod", &admission.Webhook{Handler: admission.HandlerFunc(
		func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })})
	review, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &admissionv1.AdmissionRequest{UID: types.UID("1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/mutate--v1-pod", bytes.NewReader(review))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.WebhookMux().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("the webhook answered %d: %s", rec.Code, rec.Body)
	}

	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

func checkQueries(t *testing.T, what string, queries []string, names map[string]bool) {
	t.Helper()
	for _, q := range queries {
		found := selectorMetric.FindAllStringSubmatch(q, -1)
		if len(found) == 0 {
			t.Errorf("%s: query names no metric as name{...}: %s", what, q)
		}
		for _, m := range found {
			if !names[m[1]] && !leaderOnly[m[1]] {
				t.Errorf("%s: %s is not served on the manager's /metrics (query %s)", what, m[1], q)
			}
		}
	}
}

// TestDashboardQueriesExist: every query of the dashboard, its variable's included,
// reads a metric the manager serves.
func TestDashboardQueriesExist(t *testing.T) {
	names := served(t)
	var queries []string
	for _, row := range dashboard.Rows {
		for _, p := range row.Panels {
			for _, q := range p.Queries {
				queries = append(queries, q.Expr)
			}
		}
	}
	queries = append(queries, dashboard.VariableQuery)
	checkQueries(t, "dashboard", queries, names)

	// And the JSON written is of these queries.
	d, err := dashboard.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries[:len(queries)-1] {
		b, _ := json.Marshal(q)
		if !bytes.Contains(d, b[1:len(b)-1]) {
			t.Errorf("the dashboard JSON lacks query %s", q)
		}
	}
}

// TestAlertQueriesExist: every alert's expression reads metrics the manager serves.
func TestAlertQueriesExist(t *testing.T) {
	names := served(t)
	b, err := os.ReadFile("../../config/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	var n int
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			n++
			checkQueries(t, r.Alert, []string{r.Expr}, names)
			if !strings.HasPrefix(r.Alert, "Outrigger") {
				t.Errorf("alert %s is not prefixed Outrigger", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts read")
	}
}
