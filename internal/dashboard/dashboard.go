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

// Package dashboard builds Outrigger's Grafana dashboard with the Grafana Foundation SDK
// from the metrics of internal/metrics (and controller-runtime's webhook latency).
// make monitoring writes it to config/grafana/outrigger.json; the Helm chart ships it.
package dashboard

import (
	"encoding/json"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's uid, stable so that links to it keep working.
const UID = "outrigger-sidecarsets"

// unitShort is Grafana's plain number unit.
const unitShort = "short"

// sel selects the SidecarSets the dashboard's variable picks.
const sel = `sidecarset=~"$sidecarset"`

// Panel is one panel of the dashboard: its title, unit and queries (PromQL, with
// Grafana's $sidecarset and $__rate_interval), each with its legend.
type Panel struct {
	Title, Description, Unit string
	Stacked                  bool
	Queries                  []Query
}

// Query is one PromQL target of a panel.
type Query struct {
	Expr, Legend string
}

// Rows are the dashboard's rows and their panels.
var Rows = []struct {
	Title  string
	Panels []Panel
}{
	{"Rollouts", []Panel{
		{
			Title: "Pods by state",
			Description: "Pods each SidecarSet selects, by state: updated, pending (yet to begin), upgrading, failed, " +
				"not_upgradable, missing (never injected).",
			Unit: unitShort, Stacked: true,
			Queries: []Query{{`sum by (sidecarset, state) (outrigger_sidecarset_pods{` + sel + `})`, "{{sidecarset}} {{state}}"}},
		},
		{
			Title:       "Upgrades per minute",
			Description: "In-place sidecar upgrades of running pods, by result (started, finished, failed, evicted).",
			Unit:        unitShort,
			Queries: []Query{{`sum by (sidecarset, result) (rate(outrigger_upgrades_total{` + sel + `}[$__rate_interval])) * 60`,
				"{{sidecarset}} {{result}}"}},
		},
		{
			Title:       "Failures",
			Description: "Pods whose upgrade failed (the rollout is Degraded), and upgrades failing per minute.",
			Unit:        unitShort,
			Queries: []Query{
				{`sum by (sidecarset) (outrigger_sidecarset_pods{` + sel + `, state="failed"})`, "{{sidecarset}} failed pods"},
				{`sum by (sidecarset) (rate(outrigger_upgrades_total{` + sel + `, result="failed"}[$__rate_interval])) * 60`,
					"{{sidecarset}} failing per minute"},
			},
		},
		{
			Title:       "Pod errors and released pods per minute",
			Description: "Writes to pods a rollout could not make (retried with backoff), and pods let go mid-upgrade because they left the set.",
			Unit:        unitShort,
			Queries: []Query{
				{`sum by (sidecarset) (rate(outrigger_pod_errors_total{` + sel + `}[$__rate_interval])) * 60`, "{{sidecarset}} errors"},
				{`sum by (sidecarset) (rate(outrigger_released_pods_total{` + sel + `}[$__rate_interval])) * 60`, "{{sidecarset}} released"},
			},
		},
	}},
	{"Injection", []Panel{
		{
			Title:       "Injections per second",
			Description: "Pods the webhook injected, and pods refused because of a set, per SidecarSet.",
			Unit:        "reqps",
			Queries: []Query{{`sum by (sidecarset, result) (rate(outrigger_injections_total{` + sel + `}[$__rate_interval]))`,
				"{{sidecarset}} {{result}}"}},
		},
		{
			Title: "Injection latency",
			Description: "Time the pod webhook takes to match and inject one pod (percentiles), and the pod webhook's whole " +
				"request (99th percentile; its timeout is 5 s).",
			Unit: "s",
			Queries: []Query{
				{`histogram_quantile(0.5, sum by (le) (rate(outrigger_injection_duration_seconds_bucket{}[$__rate_interval])))`, "p50"},
				{`histogram_quantile(0.9, sum by (le) (rate(outrigger_injection_duration_seconds_bucket{}[$__rate_interval])))`, "p90"},
				{`histogram_quantile(0.99, sum by (le) (rate(outrigger_injection_duration_seconds_bucket{}[$__rate_interval])))`, "p99"},
				{`histogram_quantile(0.99, sum by (le) (rate(controller_runtime_webhook_latency_seconds_bucket{webhook="/mutate--v1-pod"}[$__rate_interval])))`,
					"webhook request p99"},
			},
		},
	}},
}

// VariableQuery lists the SidecarSets for the $sidecarset variable.
const VariableQuery = `label_values(outrigger_sidecarset_pods{}, sidecarset)`

// Build builds the dashboard, in the classic dashboard JSON (schema v1) that Grafana's
// import and its dashboard sidecar read; the SDK prefers its v2 schema, which only
// Grafana 12 with its v2 API reads.
//
//nolint:staticcheck // the classic schema on purpose, see above.
func Build() (dashboard.Dashboard, error) {
	ds := common.DataSourceRef{Type: new("prometheus"), Uid: new("${datasource}")}
	b := dashboard.NewDashboardBuilder("Outrigger"). //nolint:staticcheck // the classic schema, see Build.
								Uid(UID).
								Description("SidecarSet rollouts and sidecar injection (docs/operations.md).").
								Tags([]string{"outrigger", "kubernetes"}).
								Refresh("30s").
								Time("now-1h", "now").
								Timezone(common.TimeZoneBrowser).
								WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
								WithVariable(dashboard.NewQueryVariableBuilder("sidecarset").Label("SidecarSet").
									Datasource(ds).
									Query(dashboard.StringOrMap{String: new(VariableQuery)}).
									Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
									Multi(true).IncludeAll(true).AllValue(".*"))
	for _, row := range Rows {
		b = b.WithRow(dashboard.NewRowBuilder(row.Title))
		for _, p := range row.Panels {
			pb := timeseries.NewPanelBuilder().
				Title(p.Title).Description(p.Description).Unit(p.Unit).Min(0).
				Datasource(ds).Height(8).Span(12)
			if p.Stacked {
				pb = pb.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(30)
			}
			for _, q := range p.Queries {
				pb = pb.WithTarget(prometheus.NewDataqueryBuilder().Expr(q.Expr).LegendFormat(q.Legend).Range())
			}
			b = b.WithPanel(pb)
		}
	}
	return b.Build()
}

// JSON is the dashboard as Grafana imports it.
func JSON() ([]byte, error) {
	d, err := Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
