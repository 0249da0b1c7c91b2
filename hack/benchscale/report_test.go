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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAddedVerdict(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name                    string
		added, baseline, target time.Duration
		want                    string
	}{
		{name: "quiet baseline, within target", added: 8 * ms, baseline: 15 * ms, target: 10 * ms, want: "met"},
		{name: "quiet baseline, above target", added: 60 * ms, baseline: 15 * ms, target: 10 * ms, want: "not met"},
		{name: "saturated baseline, negative difference", added: -123 * ms, baseline: 964 * ms, target: 10 * ms, want: notIsolated},
		{name: "saturated baseline, positive difference", added: 183 * ms, baseline: 1400 * ms, target: 20 * ms, want: notIsolated},
		{name: "at the bound", added: 5 * ms, baseline: 100 * ms, target: 10 * ms, want: "met"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := addedVerdict(tc.added, tc.baseline, tc.target); got != tc.want {
				t.Errorf("addedVerdict(%v, %v, %v) = %q, want %q", tc.added, tc.baseline, tc.target, got, tc.want)
			}
		})
	}
}

// millis are durations of v milliseconds each.
func millis(v ...int) []time.Duration {
	var out []time.Duration
	for _, x := range v {
		out = append(out, time.Duration(x)*time.Millisecond)
	}
	return out
}

func TestPercentile(t *testing.T) {
	cases := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{name: "no samples", p: 50, want: 0},
		{name: "one sample", samples: millis(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of unsorted", samples: millis(5, 1, 3, 2, 4), p: 50, want: 3 * time.Millisecond},
		{name: "p99 of 100 is the 99th", samples: millis(func() []int {
			var v []int
			for i := 100; i >= 1; i-- {
				v = append(v, i)
			}
			return v
		}()...), p: 99, want: 99 * time.Millisecond},
		{name: "p100 is the largest", samples: millis(1, 9, 4), p: 100, want: 9 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.samples, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.samples, tc.p, got, tc.want)
			}
		})
	}
}

func TestReplaceSection(t *testing.T) {
	const begin, end = "<!-- b -->", "<!-- e -->"
	cases := []struct {
		name, doc, want string
	}{
		{name: "no markers: appended", doc: "# Title\n", want: "# Title\n\n<!-- b -->\nnew\n<!-- e -->\n"},
		{name: "markers: replaced between", doc: "a\n<!-- b -->\nold\n<!-- e -->\nz\n", want: "a\n<!-- b -->\nnew\n<!-- e -->\nz\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, replaceSection(tc.doc, begin, end, "new\n")); diff != "" {
				t.Errorf("replaceSection (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPromSum(t *testing.T) {
	const text = `# HELP rest_client_requests_total Number of HTTP requests
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:1",method="GET"} 40
rest_client_requests_total{code="200",host="127.0.0.1:1",method="PATCH"} 7
rest_client_requests_total{code="201",host="127.0.0.1:1",method="POST"} 3
rest_client_requests_total{code="409",host="127.0.0.1:1",method="PATCH"} 1
rest_client_requests_total_other{method="PATCH"} 100
go_memstats_heap_alloc_bytes 1.5e+06
`
	cases := []struct {
		name   string
		metric string
		want   map[string]string
		sum    float64
	}{
		{name: "writes", metric: "rest_client_requests_total", want: map[string]string{"method": "POST|PUT|PATCH|DELETE"}, sum: 11},
		{name: "reads", metric: "rest_client_requests_total", want: map[string]string{"method": "GET"}, sum: 40},
		{name: "all", metric: "rest_client_requests_total", sum: 51},
		{name: "no labels", metric: "go_memstats_heap_alloc_bytes", sum: 1.5e6},
		{name: "absent", metric: "nothing", sum: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := promSum(text, tc.metric, tc.want); got != tc.sum {
				t.Errorf("promSum = %v, want %v", got, tc.sum)
			}
		})
	}
}

func TestLineChart(t *testing.T) {
	svg := lineChart("T <1>", "x", "y", []series{{Name: "a", Color: "red", X: []float64{0, 1, 2}, Y: []float64{0, 3, 7}}})
	for _, want := range []string{"<svg", "T &lt;1&gt;", `stroke="red"`, "</svg>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%s", want, svg)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 7: 10, 13: 20, 100: 100, 420: 500} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestCountWrites(t *testing.T) {
	log := strings.Join([]string{
		`{"stage":"ResponseComplete","verb":"patch","user":{"username":"outrigger"},"objectRef":{"resource":"pods"}}`,
		`{"stage":"ResponseComplete","verb":"patch","user":{"username":"outrigger"},"objectRef":{"resource":"pods","subresource":"status"}}`,
		`{"stage":"ResponseComplete","verb":"patch","user":{"username":"outrigger"},"objectRef":{"resource":"pods"}}`,
		`{"stage":"ResponseStarted","verb":"patch","user":{"username":"outrigger"},"objectRef":{"resource":"pods"}}`,
		`{"stage":"ResponseComplete","verb":"patch","user":{"username":"kwok"},"objectRef":{"resource":"pods"}}`,
		`not json`,
	}, "\n")
	got, err := countWrites(strings.NewReader(log), "outrigger")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"pods patch": 2, "pods/status patch": 1}, got); diff != "" {
		t.Errorf("countWrites (-want +got):\n%s", diff)
	}
	if got, want := breakdown(got, 2), "pods patch 1.00, pods/status patch 0.50"; got != want {
		t.Errorf("breakdown = %q, want %q", got, want)
	}
}

func TestEngineRows(t *testing.T) {
	runs := []engineRun{
		{
			engine: enginePolicy, sets: 1000, inPolicy: 423,
			injected: millis(40, 40, 40, 60), bypassed: millis(10, 10, 10, 20),
			pluginTime:  map[string]time.Duration{"MutatingAdmissionPolicy": 200 * time.Millisecond},
			propagation: 2500 * time.Millisecond,
		},
		{
			engine: engineWebhook, sets: 100, inPolicy: 100,
			injected: millis(12, 12), bypassed: millis(10, 10), propagation: 50 * time.Millisecond,
		},
	}
	var got []string
	for _, r := range engineRows(runs) {
		got = append(got, strings.Join([]string{r.What, r.Baseline, r.Result, r.Target, r.Met}, " | "))
	}
	want := []string{
		"1000 sets (423 in the policy), AdmissionPolicy engine: pod create p50 / p99 | 10.0 ms / 20.0 ms | 40.0 ms / 60.0 ms |  | ",
		"1000 sets (423 in the policy), AdmissionPolicy engine: admission-added p50 / p99 |  | 30.0 ms / 40.0 ms | p99 ≤ 20.0 ms | not met",
		"1000 sets (423 in the policy), AdmissionPolicy engine: API server time in mutating admission per injected pod |  | MutatingAdmissionPolicy 50.0 ms |  | ",
		"1000 sets (423 in the policy), AdmissionPolicy engine: a set's change to the first pod injected from it |  | 2.50 s |  | ",
		"100 sets, Webhook engine: pod create p50 / p99 | 10.0 ms / 10.0 ms | 12.0 ms / 12.0 ms |  | ",
		"100 sets, Webhook engine: admission-added p50 / p99 |  | 2.0 ms / 2.0 ms | p99 ≤ 10.0 ms | met",
		"100 sets, Webhook engine: API server time in mutating admission per injected pod |  | – |  | ",
		"100 sets, Webhook engine: a set's change to the first pod injected from it |  | 0.05 s |  | ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("engineRows (-want +got):\n%s", diff)
	}
}
