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
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/metrics"
)

// The hostile-load phase (make bench-hostile): what a tenant who may only create pods in
// their own namespace can make the manager hold, and whether the webhook still admits
// real pods while anyone who reaches its port floods it. Everything is bounded in count
// and time, and sent to loopback only.
const (
	phaseHostile    = "hostile"
	tenantNamespace = "hostile-tenant"
	// hostileAnnotation is the size of each tenant pod's one unique annotation: the
	// issue's load (400 pods) at ten times the count.
	hostileAnnotation   = 200 << 10
	stormRequests       = 1000
	stormRealPods       = 100
	stormRealRate       = 10 // real pod creates per second during the storm
	hostileSectionBegin = "<!-- bench-hostile:begin (written by make bench-hostile) -->"
	hostileSectionEnd   = "<!-- bench-hostile:end -->"
)

// memory is the manager's RSS, and its Go heap in use right after a collection.
type memory struct{ rss, heap float64 }

func (b *bench) memoryNow(ctx context.Context, settle time.Duration) (memory, error) {
	select {
	case <-ctx.Done():
		return memory{}, ctx.Err()
	case <-time.After(settle):
	}
	rss, err := b.probe.rss()
	if err != nil {
		return memory{}, err
	}
	// The heap after a collection: what the manager holds, not the garbage it has yet to
	// collect (the allocations of decoding 200 KiB objects).
	if _, err := httpGet(ctx, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?gc=1", b.probe.pprofPort)); err != nil {
		return memory{}, err
	}
	heap, err := b.probe.heap(ctx)
	return memory{rss, heap}, err
}

// peakRSS samples the manager's RSS every 100ms until stop is called, which returns
// the highest.
func (b *bench) peakRSS() (stop func() float64) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if rss, err := b.probe.rss(); err == nil && int64(rss) > peak.Load() {
				peak.Store(int64(rss))
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak.Load())
	}
}

func (b *bench) hostile(ctx context.Context) error {
	// Some ordinary work for the manager: ten sets, each selecting the same pods.
	say("Creating %d SidecarSets and %d injected pods", setsPerGroup, stormRealPods)
	if err := b.createSets(ctx, 0, setsPerGroup); err != nil {
		return err
	}
	var retried atomic.Int64
	var ordinary []*corev1.Pod
	for i := range stormRealPods {
		ordinary = append(ordinary, appPod(fmt.Sprintf("ordinary-%04d", i), groupOf(0), "", false))
	}
	if err := createPods(ctx, b.c, 8, ordinary, &retried); err != nil {
		return err
	}
	if err := client.IgnoreAlreadyExists(b.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenantNamespace}})); err != nil {
		return err
	}

	base, err := b.memoryNow(ctx, 20*time.Second)
	if err != nil {
		return err
	}
	// Heap profiles at rest and once the tenant's pods are gone: their difference is
	// what the load left behind (reportHostile writes it to the docs).
	if err := b.probe.profile(ctx, "heap?gc=1", filepath.Join(b.o.workDir, "hostile-heap-base.pprof")); err != nil {
		return err
	}
	say("  baseline: RSS %s, heap %s", mib(base.rss), mib(base.heap))

	n := b.o.hostilePods
	say("Creating %d tenant pods, each with a unique %d KiB annotation, in a namespace no set selects", n, hostileAnnotation>>10)
	stopPeak := b.peakRSS()
	if err := createPods(ctx, b.c, 8, tenantPods(n), &retried); err != nil {
		stopPeak()
		return err
	}
	during, err := b.memoryNow(ctx, 20*time.Second)
	peak := stopPeak()
	if err != nil {
		return err
	}
	say("  with them: RSS %s (peak %s), heap %s", mib(during.rss), mib(peak), mib(during.heap))

	say("Deleting them")
	// One by one: a DeleteCollection would answer with all of them, 800 MB.
	if err := deletePods(ctx, b.c, tenantNamespace, "tenant-%05d", n); err != nil {
		return err
	}
	after, err := b.memoryNow(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	say("  after: RSS %s, heap %s", mib(after.rss), mib(after.heap))
	if err := b.probe.profile(ctx, "heap?gc=1", filepath.Join(b.o.workDir, "hostile-heap-after.pprof")); err != nil {
		return err
	}

	b.rows = append(b.rows,
		row{What: fmt.Sprintf("manager RSS with %d tenant pods of one unique %d KiB annotation each (peak while creating)", n, hostileAnnotation>>10),
			Baseline: mib(base.rss), Result: fmt.Sprintf("%s (+%s; peak %s)", mib(during.rss), mib(during.rss-base.rss), mib(peak)),
			Target: "+20 MiB", Met: metOrNot(during.rss-base.rss < 20<<20)},
		row{What: "manager Go heap in use with them, after a GC", Baseline: mib(base.heap),
			Result: fmt.Sprintf("%s (+%s)", mib(during.heap), mib(during.heap-base.heap))},
		row{What: "manager RSS once they are deleted", Baseline: mib(base.rss),
			Result: fmt.Sprintf("%s (%+.0f MiB)", mib(after.rss), (after.rss-base.rss)/(1<<20)),
			Target: "+20 MiB", Met: metOrNot(after.rss-base.rss < 20<<20)},
		row{What: "manager Go heap in use once they are deleted, after a GC (nothing kept)", Baseline: mib(base.heap),
			Result: fmt.Sprintf("%s (%+.1f MiB)", mib(after.heap), (after.heap-base.heap)/(1<<20)),
			Target: "+2 MiB", Met: metOrNot(after.heap-base.heap < 2<<20)},
	)
	return b.storm(ctx, base)
}

// deletePods deletes the pods of namespace named by format for i in [0, n), 8 at a time.
func deletePods(ctx context.Context, c client.Client, namespace, format string, n int) error {
	names := make(chan string)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for name := range names {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
				if err := client.IgnoreNotFound(c.Delete(ctx, pod, client.GracePeriodSeconds(0))); err != nil {
					select {
					case errs <- fmt.Errorf("deleting pod %s/%s: %w", namespace, name, err):
					default:
					}
				}
			}
		})
	}
	for i := range n {
		names <- fmt.Sprintf(format, i)
	}
	close(names)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// tenantPods are the hostile tenant's n pods.
func tenantPods(n int) []*corev1.Pod {
	pods := make([]*corev1.Pod, 0, n)
	for i := range n {
		pods = append(pods, tenantPod(i))
	}
	return pods
}

// tenantPod is pod i of the hostile tenant: one unique annotation of hostileAnnotation
// bytes, unschedulable (there is no node), so it only exists.
func tenantPod(i int) *corev1.Pod {
	blob := make([]byte, hostileAnnotation/2)
	_, _ = rand.Read(blob)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenantNamespace, Name: fmt.Sprintf("tenant-%05d", i),
			Labels:      map[string]string{appLabel: "tenant"},
			Annotations: map[string]string{"tenant.example.com/blob": hex.EncodeToString(blob)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1"}}},
	}
}

// storm sends stormRequests hostile requests at once to the webhook port, on loopback,
// while real pods are created through the API server at stormRealRate per second.
func (b *bench) storm(ctx context.Context, base memory) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	before, err := b.probe.metrics(ctx)
	if err != nil {
		return err
	}
	say("Storm: %d concurrent hostile requests to the webhook port (loopback), %d real pods created at %d/s meanwhile",
		stormRequests, stormRealPods, stormRealRate)
	stopPeak := b.peakRSS()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the bench's own manager on loopback
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := fmt.Sprintf("https://127.0.0.1:%d/mutate--v1-pod", b.op.WebhookPort)
	codes := make([]int, stormRequests)
	var wg sync.WaitGroup
	for i := range stormRequests {
		wg.Go(func() { codes[i] = hostileRequest(ctx, hc, url, i) })
	}

	var failures []string
	var mu sync.Mutex
	admitted, failed := paced(ctx, stormRealPods, stormRealRate, stormRealPods, func(ctx context.Context, i int) error {
		pod := appPod(fmt.Sprintf("storm-%04d", i), groupOf(0), "", false)
		err := b.c.Create(ctx, pod)
		if err == nil && len(pod.Spec.InitContainers) < setsPerGroup {
			err = fmt.Errorf("pod %s got %d sidecars, want %d", pod.Name, len(pod.Spec.InitContainers), setsPerGroup)
		}
		if err != nil {
			mu.Lock()
			failures = append(failures, err.Error())
			mu.Unlock()
		}
		return err
	})
	wg.Wait()
	peak := stopPeak()
	after, err := b.probe.metrics(ctx)
	if err != nil {
		return err
	}
	byCode := map[int]int{}
	for _, c := range codes {
		byCode[c]++
	}
	shed := func(reason string) float64 {
		return promSum(after, "outrigger_webhook_shed_total", map[string]string{"reason": reason}) -
			promSum(before, "outrigger_webhook_shed_total", map[string]string{"reason": reason})
	}
	tooLarge, overloaded := shed(metrics.ShedTooLarge), shed(metrics.ShedOverloaded)
	say("  hostile answers by status: %v; shed: %.0f too large, %.0f overloaded; peak RSS %s",
		byCode, tooLarge, overloaded, mib(peak))
	p50, p99 := ms(percentile(admitted, 50)), ms(percentile(admitted, 99))
	say("  real pods: %d injected, %d failed; p50 %s, p99 %s", len(admitted), failed, p50, p99)
	for _, f := range failures[:min(len(failures), 5)] {
		b.notes = append(b.notes, "storm, a real pod: "+f)
	}
	b.rows = append(b.rows,
		row{What: fmt.Sprintf("manager peak RSS during %d concurrent hostile requests (%s)", stormRequests, statusSummary(byCode)),
			Baseline: mib(base.rss), Result: fmt.Sprintf("%s (shed: %.0f too large, %.0f overloaded)", mib(peak), tooLarge, overloaded),
			Target: "≤ 256 MiB (the shipped limit)", Met: metOrNot(peak <= 256<<20)},
		row{What: fmt.Sprintf("real pods created meanwhile (%d/s), injected", stormRealRate),
			Result: fmt.Sprintf("%d of %d; p50 %s, p99 %s", len(admitted), stormRealPods, p50, p99),
			Target: "all", Met: metOrNot(len(admitted) == stormRealPods)},
	)
	return nil
}

func statusSummary(byCode map[int]int) string {
	var parts []string
	for _, code := range []int{http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, 0} {
		if n := byCode[code]; n > 0 {
			name := fmt.Sprint(code)
			if code == 0 {
				name = "cut off"
			}
			parts = append(parts, fmt.Sprintf("%d × %s", n, name))
		}
	}
	return strings.Join(parts, ", ")
}

// hostileRequest is request i of the storm, one of five kinds: a declared body far past
// any review; a 3 MiB body of garbage; an 8 MiB body of unknown length; a 1 MiB body
// trickled at 16 KiB/s; a 32 KiB body of garbage, of the size of a real review. It
// returns the status, 0 if the connection was cut.
func hostileRequest(ctx context.Context, hc *http.Client, url string, i int) int {
	var body io.Reader
	length := int64(-1)
	switch i % 5 {
	case 0:
		length = 64 << 20
		body = io.LimitReader(zeros{}, length)
	case 1:
		length = 3 << 20
		body = strings.NewReader(`{"request":"` + strings.Repeat("a", int(length)-14) + `"}`)
	case 2:
		body = io.MultiReader(io.LimitReader(zeros{}, 8<<20)) // no length: chunked
	case 3:
		length = 1 << 20
		body = &trickle{left: length, ctx: ctx}
	case 4:
		length = 32 << 10
		body = strings.NewReader(`{"request":"` + strings.Repeat("a", int(length)-14) + `"}`)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return 0
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// trickle is a body sent at 16 KiB a second.
type trickle struct {
	left int64
	ctx  context.Context
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.left <= 0 {
		return 0, io.EOF
	}
	select {
	case <-t.ctx.Done():
		return 0, t.ctx.Err()
	case <-time.After(time.Second):
	}
	n := min(int64(len(p)), 16<<10, t.left)
	clear(p[:n])
	t.left -= n
	return int(n), nil
}

// reportHostile prints the hostile phase's table and writes it to the docs.
func (b *bench) reportHostile() error {
	took := b.printRows("bench-hostile", b.rows)
	if b.o.doc == "" {
		return nil
	}
	rel, _ := filepath.Rel(filepath.Dir(b.o.doc), b.o.outDir)
	left := filepath.Join(b.o.outDir, "profiles", "hostile-heap-left.txt")
	if err := os.MkdirAll(filepath.Dir(left), 0o755); err != nil {
		return err
	}
	// What the load left: the heap once the pods are gone, less the heap at rest.
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", "-sample_index=inuse_space",
		"-base", filepath.Join(b.o.workDir, "hostile-heap-base.pprof"), b.o.manager,
		filepath.Join(b.o.workDir, "hostile-heap-after.pprof")).Output()
	if err != nil {
		b.notes = append(b.notes, fmt.Sprintf("pprof of what the load left: %v", err))
	} else if err := os.WriteFile(left, out, 0o644); err != nil {
		return err
	}
	var s strings.Builder
	fmt.Fprintf(&s, "Run of %s on %s: the envtest control plane, no node; the manager as shipped (GOMEMLIMIT=%s), %d SidecarSets, "+
		"%d injected pods; `make bench-hostile` took %s after the binaries were built.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), b.o.managerMemLimit, setsPerGroup, stormRealPods, took)
	s.WriteString(markdownTable(b.rows))
	fmt.Fprintf(&s, "\nWhat the load left in the heap (after a GC, once the pods were deleted, less the heap at rest): "+
		"`%s/profiles/hostile-heap-left.txt`.\n", rel)
	for _, n := range b.notes {
		fmt.Fprintf(&s, "\nNote: %s\n", n)
	}
	doc, err := os.ReadFile(b.o.doc)
	if err != nil {
		return err
	}
	return os.WriteFile(b.o.doc, []byte(replaceSection(string(doc), hostileSectionBegin, hostileSectionEnd, s.String())), 0o644)
}
