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
	took := time.Since(b.started).Round(time.Second)
	fmt.Println()
	fmt.Print(textTable(b.rows))
	for _, n := range b.notes {
		fmt.Println("note:", n)
	}
	fmt.Printf("\nmake bench-scale: %s (without building binaries)\n", took)
	if b.o.doc == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(b.o.outDir, "profiles"), 0o755); err != nil {
		return err
	}
	var lat []series
	colors := []string{"#2ca02c", "#1f77b4", "#98df8a", "#aec7e8"}
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
