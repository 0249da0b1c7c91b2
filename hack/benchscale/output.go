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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	sectionBegin = "<!-- bench-scale:begin (written by make bench-scale) -->"
	sectionEnd   = "<!-- bench-scale:end -->"
)

// report prints the table and writes it, the machine, the pictures and the profile
// summaries to the docs.
func (b *bench) report() error {
	took := b.printRows("bench-scale", b.rows)
	if b.o.doc == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(b.o.outDir, "profiles"), 0o755); err != nil {
		return err
	}
	var lat []series
	colors := []string{colorGreen, colorBlue, colorLightGreen, colorLightBlue}
	for i, r := range b.series {
		x, y := cdf(r.injected)
		lat = append(lat, series{Name: fmt.Sprintf("injected, %d sets", r.sets), Color: colors[(2*i+1)%4], X: x, Y: y})
		x, y = cdf(r.bypassed)
		lat = append(lat, series{Name: fmt.Sprintf("webhook bypassed, %d sets", r.sets), Color: colors[(2*i)%4], X: x, Y: y})
	}
	files := map[string]string{
		"latency.svg": lineChart(fmt.Sprintf("Pod create latency at %.0f creates/s (cumulative)", b.o.rate), "latency (ms)", "% of creates", lat),
		"rollout.svg": lineChart("In-place rollout, maxUnavailable 10%", "seconds since the set changed", "pods", b.rollouts),
	}
	for name, svg := range files {
		if err := os.WriteFile(filepath.Join(b.o.outDir, name), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	for _, p := range []struct{ raw, out, flags string }{
		{"webhook.cpu.pprof", "webhook-cpu.txt", "-top -nodecount=30"},
		{"heap.pprof", "heap-inuse.txt", "-top -nodecount=30 -sample_index=inuse_space"},
	} {
		raw := filepath.Join(b.o.workDir, p.raw)
		if _, err := os.Stat(raw); err != nil {
			continue
		}
		args := append([]string{"tool", "pprof"}, strings.Fields(p.flags)...)
		out, err := exec.Command("go", append(args, b.o.manager, raw)...).Output()
		if err != nil {
			b.notes = append(b.notes, fmt.Sprintf("pprof %s: %v", p.raw, err))
			continue
		}
		if err := os.WriteFile(filepath.Join(b.o.outDir, "profiles", p.out), out, 0o644); err != nil {
			return err
		}
	}
	rel, _ := filepath.Rel(filepath.Dir(b.o.doc), b.o.outDir)
	var s strings.Builder
	fmt.Fprintf(&s, "Run of %s on %s: %d simulated nodes, %d injected pods, %d SidecarSets plus the rollout's; "+
		"`make bench-scale` took %s after the binaries were built.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), b.o.nodes, b.injected, b.o.sets, took)
	s.WriteString(markdownTable(b.rows))
	for _, n := range b.notes {
		fmt.Fprintf(&s, "\nNote: %s\n", n)
	}
	fmt.Fprintf(&s, "\n![pod create latency](%s/latency.svg)\n\n![rollout progress](%s/rollout.svg)\n\n", rel, rel)
	doc, err := os.ReadFile(b.o.doc)
	if err != nil {
		return err
	}
	return os.WriteFile(b.o.doc, []byte(replaceSection(string(doc), sectionBegin, sectionEnd, s.String())), 0o644)
}

const (
	engineSectionBegin = "<!-- bench-admission:begin (written by make bench-admission) -->"
	engineSectionEnd   = "<!-- bench-admission:end -->"
)

// printRows prints rows and the notes to the terminal, and how long the run of make
// target took, which it returns.
func (b *bench) printRows(target string, rows []row) time.Duration {
	took := time.Since(b.started).Round(time.Second)
	fmt.Println()
	fmt.Print(textTable(rows))
	for _, n := range b.notes {
		fmt.Println("note:", n)
	}
	fmt.Printf("\nmake %s: %s (without building binaries)\n", target, took)
	return took
}

// reportEngines prints the engine comparison's table and writes it, the machine and
// one picture per set count to the docs.
func (b *bench) reportEngines() error {
	if len(b.engineRuns) == 0 {
		return errNoEngineRuns
	}
	if b.o.doc != "" {
		if err := b.writeProfiles(); err != nil {
			return err
		}
	}
	rows := engineRows(b.engineRuns)
	took := b.printRows("bench-admission", rows)
	if b.o.doc == "" {
		return nil
	}
	if err := os.MkdirAll(b.o.outDir, 0o755); err != nil {
		return err
	}
	rel, _ := filepath.Rel(filepath.Dir(b.o.doc), b.o.outDir)
	var s strings.Builder
	fmt.Fprintf(&s, "Run of %s on %s: no simulated node (the pods stay unscheduled), %d pods injected and %d bypassed per block, "+
		"alternating at %.0f creates/s; `make bench-admission` took %s after the binaries were built.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), b.o.latencyPods, b.o.latencyPods, b.o.engineRate, took)
	s.WriteString(markdownTable(rows))
	fmt.Fprintf(&s, "\nThe API server's CPU profile of each block, over a further series of %d pods (not the measured one: "+
		"the profiler costs CPU), is `%s/profiles/apiserver-cpu-<engine>-<sets>.txt`.\n", min(profilePods, b.o.latencyPods), rel)
	for _, n := range b.notes {
		fmt.Fprintf(&s, "\nNote: %s\n", n)
	}
	colors := map[engine][2]string{engineWebhook: {colorBlue, colorLightBlue}, enginePolicy: {colorGreen, colorLightGreen}}
	var counts []int
	charts := map[int][]series{}
	for _, r := range b.engineRuns {
		if _, ok := charts[r.sets]; !ok {
			counts = append(counts, r.sets)
		}
		x, y := cdf(r.injected)
		charts[r.sets] = append(charts[r.sets], series{Name: string(r.engine) + " engine", Color: colors[r.engine][0], X: x, Y: y})
		x, y = cdf(r.bypassed)
		charts[r.sets] = append(charts[r.sets], series{Name: "bypassed, " + string(r.engine) + " block", Color: colors[r.engine][1], X: x, Y: y})
	}
	s.WriteString("\n")
	for _, n := range counts {
		name := fmt.Sprintf("admission-%d.svg", n)
		svg := lineChart(fmt.Sprintf("Pod create latency, %d SidecarSets (cumulative)", n), "latency (ms)", "% of creates", charts[n])
		if err := os.WriteFile(filepath.Join(b.o.outDir, name), []byte(svg), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&s, "![pod create latency by engine, %d sets](%s/%s)\n\n", n, rel, name)
	}
	doc, err := os.ReadFile(b.o.doc)
	if err != nil {
		return err
	}
	return os.WriteFile(b.o.doc, []byte(replaceSection(string(doc), engineSectionBegin, engineSectionEnd, s.String())), 0o644)
}

// writeProfiles writes the API server's CPU profile of each block to the docs as a
// pprof -top summary: no binary is needed, Go's profiles carry their symbols.
func (b *bench) writeProfiles() error {
	for _, r := range b.engineRuns {
		raw := filepath.Join(b.o.workDir, fmt.Sprintf("apiserver-%s.cpu.pprof", r.tag()))
		if _, err := os.Stat(raw); err != nil {
			continue
		}
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", raw).Output()
		if err != nil {
			b.notes = append(b.notes, fmt.Sprintf("pprof %s: %v", raw, err))
			continue
		}
		if err := os.MkdirAll(filepath.Join(b.o.outDir, "profiles"), 0o755); err != nil {
			return err
		}
		name := fmt.Sprintf("apiserver-cpu-%s-%d.txt", strings.ToLower(string(r.engine)), r.sets)
		if err := os.WriteFile(filepath.Join(b.o.outDir, "profiles", name), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}
