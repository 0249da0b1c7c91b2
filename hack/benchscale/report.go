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
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Pure helpers of the report: percentiles, the figures table, the SVG pictures and the
// section of docs/benchmarks.md they go to. No I/O here.

// percentile is the p-th percentile (0 < p ≤ 100, nearest rank) of samples; 0 for none.
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// row is one line of the figures table.
type row struct {
	What, Baseline, Result, Target string
	// Met is "met", "not met" or "" (no target).
	Met string
}

func markdownTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| figure | baseline (same run) | result | target | |\n|---|---:|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.What, dash(r.Baseline), dash(r.Result), dash(r.Target), r.Met)
	}
	return b.String()
}

// textTable is markdownTable for a terminal: aligned columns.
func textTable(rows []row) string {
	cells := [][]string{{"figure", "baseline", "result", "target", ""}}
	for _, r := range rows {
		cells = append(cells, []string{r.What, dash(r.Baseline), dash(r.Result), dash(r.Target), r.Met})
	}
	width := make([]int, 5)
	for _, c := range cells {
		for i, v := range c {
			width[i] = max(width[i], len([]rune(v)))
		}
	}
	var b strings.Builder
	for _, c := range cells {
		for i, v := range c {
			fmt.Fprintf(&b, "%-*s  ", width[i], v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(bytes float64) string { return fmt.Sprintf("%.0f MiB", bytes/(1<<20)) }

// notIsolated is the verdict of an added latency the run cannot resolve.
const notIsolated = "not isolated"

// isolationFactor bounds the baseline p99 against which an added latency is still
// read: a difference of p99s resolves a target only if the baseline's own p99 is
// within a few times that target (the measurement without KWOK: 12–17 ms
// against 10 ms). Past it, run-to-run swings of the baseline exceed the target.
const isolationFactor = 10

// addedVerdict says whether a latency added to a baseline meets target, or that the
// run cannot tell.
func addedVerdict(added, baselineP99, target time.Duration) string {
	if baselineP99 > isolationFactor*target {
		return notIsolated
	}
	return metOrNot(added <= target)
}

func metOrNot(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// replaceSection puts content between the lines begin and end of doc, or appends both
// markers and content when doc has none.
func replaceSection(doc, begin, end, content string) string {
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return strings.TrimRight(doc, "\n") + "\n\n" + begin + "\n" + content + end + "\n"
	}
	return doc[:i] + begin + "\n" + content + doc[j:]
}

// series is one line of a chart.
type series struct {
	Name  string
	Color string
	X, Y  []float64
}

// lineChart draws series as an SVG line chart, axes from 0 to the largest value.
func lineChart(title, xLabel, yLabel string, all []series) string {
	const w, h, left, right, top, bottom = 640.0, 360.0, 64.0, 16.0, 32.0, 48.0
	maxX, maxY := 0.0, 0.0
	for _, s := range all {
		for i := range s.X {
			maxX, maxY = max(maxX, s.X[i]), max(maxY, s.Y[i])
		}
	}
	maxX, maxY = niceCeil(maxX), niceCeil(maxY)
	px := func(x float64) float64 { return left + x/maxX*(w-left-right) }
	py := func(y float64) float64 { return h - bottom - y/maxY*(h-top-bottom) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" `+
		`font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="20" text-anchor="middle" font-size="14">%s</text>`+"\n", w/2, esc(title))
	for i := 0; i <= 4; i++ {
		x, y := maxX*float64(i)/4, maxY*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, py(y), w-right, py(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, py(y)+4, num(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), h-bottom+16, num(x))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, top, left, h-bottom)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", (left+w-right)/2, h-8, esc(xLabel))
	mid := (top + h - bottom) / 2
	fmt.Fprintf(&b, `<text x="14" y="%.0f" text-anchor="middle" transform="rotate(-90 14 %.0f)">%s</text>`+"\n", mid, mid, esc(yLabel))
	for i, s := range all {
		var pts []string
		for j := range s.X {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", s.Color, strings.Join(pts, " "))
		ly := top + 6 + float64(i)*16
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", w-right-190, ly, w-right-170, ly, s.Color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", w-right-165, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// cdf is the empirical distribution of samples in milliseconds: x the latency, y the
// percentage of samples at or below it.
func cdf(samples []time.Duration) (x, y []float64) {
	s := slices.Clone(samples)
	slices.Sort(s)
	for i, d := range s {
		x = append(x, float64(d)/float64(time.Millisecond))
		y = append(y, 100*float64(i+1)/float64(len(s)))
	}
	return x, y
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// promSum sums the samples of metric in a Prometheus text exposition whose labels
// include every pair of want (values separated by | are alternatives).
func promSum(text, metric string, want map[string]string) float64 {
	total := 0.0
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, metric) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(metric):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // a longer metric name
		}
		if !labelsMatch(labels, want) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(rest), &v); err == nil {
			total += v
		}
	}
	return total
}

func labelsMatch(labels string, want map[string]string) bool {
	got := map[string]string{}
	for pair := range strings.SplitSeq(labels, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if ok {
			got[strings.TrimSpace(k)] = strings.Trim(v, `"`)
		}
	}
	for k, alternatives := range want {
		if !slices.Contains(strings.Split(alternatives, "|"), got[k]) {
			return false
		}
	}
	return true
}
