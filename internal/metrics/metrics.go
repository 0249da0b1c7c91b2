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

// Package metrics owns Outrigger's Prometheus collectors (all prefixed outrigger_),
// registered on controller-runtime's registry so the manager's /metrics serves them.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// sidecarSetLabel is the label that names the SidecarSet of a series.
const sidecarSetLabel = "sidecarset"

// Injection results, the values of the result label of InjectionsTotal.
const (
	ResultInjected = "injected"
	ResultError    = "error"
)

var (
	// InjectionsTotal counts injections per SidecarSet and result. A pod refused because
	// of one set counts an error for that set.
	InjectionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outrigger_injections_total",
		Help: "Sidecar injections into new pods, by SidecarSet and result (injected, error).",
	}, []string{sidecarSetLabel, "result"})

	// InjectionDuration is the time the pod webhook spends on one pod, matching
	// included; its buckets reach down to 50µs because injection reads only the cache.
	InjectionDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "outrigger_injection_duration_seconds",
		Help:    "Time the pod webhook took to match and inject one pod.",
		Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1},
	})
)

// Reasons a webhook request was shed, the values of the reason label of WebhookShedTotal.
const (
	ShedTooLarge   = "TooLarge"
	ShedOverloaded = "Overloaded"
)

// WebhookShedTotal counts webhook requests answered without being served: bodies larger
// than an admission review can be (413), and requests past the in-flight budget (429,
// which the API server retries).
var WebhookShedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "outrigger_webhook_shed_total",
	Help: "Webhook requests refused before being served, by webhook path and reason (TooLarge, Overloaded).",
}, []string{"path", "reason"})

func init() {
	crmetrics.Registry.MustRegister(InjectionsTotal, InjectionDuration, WebhookShedTotal)
}

// ObserveInjection records one pod's injection.
func ObserveInjection(start time.Time, sets []string, result string) {
	InjectionDuration.Observe(time.Since(start).Seconds())
	for _, s := range sets {
		InjectionsTotal.WithLabelValues(s, result).Inc()
	}
}

// Upgrade results, the values of the result label of UpgradesTotal.
const (
	UpgradeStarted  = "started"
	UpgradeFinished = "finished"
	UpgradeFailed   = "failed"
	UpgradeEvicted  = "evicted"
)

var (
	// SidecarSetPods is the number of matched pods per SidecarSet and state.
	SidecarSetPods = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outrigger_sidecarset_pods",
		Help: "Pods a SidecarSet selects, by state (updated, pending, upgrading, failed, not_upgradable, missing).",
	}, []string{sidecarSetLabel, "state"})

	// UpgradesTotal counts in-place upgrades of pods by SidecarSet and result.
	UpgradesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outrigger_upgrades_total",
		Help: "In-place sidecar upgrades of running pods, by SidecarSet and result (started, finished, failed, evicted).",
	}, []string{sidecarSetLabel, "result"})

	// PodErrorsTotal counts the writes to pods a rollout pass could not make (other
	// than conflicts with a newer pod); the pod is retried with backoff.
	PodErrorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outrigger_pod_errors_total",
		Help: "Failed writes to pods during a SidecarSet's rollout, retried with backoff, by SidecarSet.",
	}, []string{sidecarSetLabel})

	// ReleasedPodsTotal counts the pods whose upgrade was abandoned because they left
	// the SidecarSet upgrading them (deleted, or no longer selecting them).
	ReleasedPodsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outrigger_released_pods_total",
		Help: "Pods let go mid-upgrade (state cleared, readiness gate True) because they left the SidecarSet upgrading them.",
	}, []string{sidecarSetLabel})
)

func init() {
	crmetrics.Registry.MustRegister(SidecarSetPods, UpgradesTotal, PodErrorsTotal, ReleasedPodsTotal)
}

// perSidecarSet are the families with a sidecarset label.
var perSidecarSet = []interface {
	DeletePartialMatch(prometheus.Labels) int
}{InjectionsTotal, SidecarSetPods, UpgradesTotal, PodErrorsTotal, ReleasedPodsTotal}

// ForgetSidecarSet drops every series of a deleted SidecarSet.
func ForgetSidecarSet(name string) {
	for _, family := range perSidecarSet {
		family.DeletePartialMatch(prometheus.Labels{sidecarSetLabel: name})
	}
}
