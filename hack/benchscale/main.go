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

// Command benchscale is `make bench-scale`: Outrigger at scale, measured end to end on
// the envtest control plane (kube-apiserver + etcd, no node) with simulated nodes from
// KWOK, whose Stages (hack/benchscale/kwok) play the kubelet for what Outrigger needs.
// It runs bin/manager as a process, as `make run` does, creates the load with client-go,
// and prints one table of figures, each beside its baseline from the same run; it writes
// the table, the machine and two SVG pictures into docs/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
)

const (
	operatorNamespace = "outrigger-system"
	injectedNamespace = "scale"
	bypassNamespace   = "scale-bypass"
	// phaseScale and phaseEngines are the values of -phases.
	phaseScale   = "scale"
	phaseEngines = "engines"
	// The plots' colours (matplotlib's tab10 and its light variants).
	colorBlue       = "#1f77b4"
	colorLightBlue  = "#aec7e8"
	colorGreen      = "#2ca02c"
	colorLightGreen = "#98df8a"
	// restartDelay is the simulated restart of kwok/pod-restart.yaml.
	restartDelay = time.Second
)

type options struct {
	manager, kwok, assets, stages string
	doc, outDir, workDir          string
	nodes, pods, sets             int
	latencyPods, rolloutPods      int
	hostilePods                   int
	rate, engineRate              float64
	phases                        string
	drainSeconds                  int32
	steadyWindow                  time.Duration
	managerArgs, managerMemLimit  string
	// gatePolicy keeps config/policy's sidecars-ready MutatingAdmissionPolicy bound;
	// false deletes its binding, for the operator's gate writes as without the policy.
	gatePolicy bool
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func envInt(key string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return fallback
}

func main() {
	var o options
	flag.StringVar(&o.manager, "manager", "bin/manager", "The manager binary.")
	flag.StringVar(&o.kwok, "kwok", "", "The kwok binary (hack/kwok.sh prints it).")
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory holding kube-apiserver and etcd.")
	flag.StringVar(&o.stages, "stages", "hack/benchscale/kwok", "Directory of the KWOK Stages.")
	flag.StringVar(&o.doc, "doc", "docs/benchmarks.md", "Markdown file whose bench-scale section receives the figures; empty: none.")
	flag.StringVar(&o.outDir, "out", "docs/bench-scale", "Directory receiving the SVG pictures and profile summaries.")
	flag.StringVar(&o.workDir, "work", "bin/bench-scale", "Directory for logs, kubeconfig and raw profiles.")
	flag.IntVar(&o.nodes, "nodes", envInt("SCALE_NODES", 100), "Simulated nodes (SCALE_NODES).")
	flag.IntVar(&o.pods, "pods", envInt("SCALE_PODS", 10000), "Injected pods in all (SCALE_PODS).")
	flag.IntVar(&o.sets, "sets", envInt("SCALE_SETS", 1000), "SidecarSets, besides the rollout's (SCALE_SETS).")
	flag.IntVar(&o.latencyPods, "latency-pods", envInt("SCALE_LATENCY_PODS", 1000),
		"Pods per latency series: this many injected and as many with the webhook bypassed (SCALE_LATENCY_PODS).")
	flag.IntVar(&o.rolloutPods, "rollout-pods", envInt("SCALE_ROLLOUT_PODS", 1000), "Pods of the rollout (SCALE_ROLLOUT_PODS).")
	flag.IntVar(&o.hostilePods, "hostile-pods", envInt("SCALE_HOSTILE_PODS", 4000),
		"Tenant pods of the hostile phase, each with a unique 200 KiB annotation (SCALE_HOSTILE_PODS).")
	flag.Float64Var(&o.rate, "rate", 100, "Pod creates per second in the latency series.")
	flag.StringVar(&o.phases, "phases", envOr("SCALE_PHASES", phaseScale),
		"scale: the scale run (make bench-scale); engines: the injection engines' admission latency, without KWOK (make bench-admission); "+
			"hostile: what a tenant and callers of the webhook port can make the manager hold (make bench-hostile); "+
			"gate: what the sidecars-ready admission policy costs a kubelet status write (make bench-gate) (SCALE_PHASES).")
	flag.Float64Var(&o.engineRate, "engine-rate", 20, "Pod creates per second in the engine comparison's series.")
	flag.DurationVar(&o.steadyWindow, "steady-window", 30*time.Second, "How long writes are counted at steady state.")
	flag.StringVar(&o.managerArgs, "manager-args", os.Getenv("SCALE_MANAGER_ARGS"), "Extra manager flags, space separated (SCALE_MANAGER_ARGS).")
	flag.StringVar(&o.managerMemLimit, "manager-memory-limit", envOr("SCALE_MANAGER_GOMEMLIMIT", "512MiB"),
		"GOMEMLIMIT of the manager, as config/manager sets it from the container's limit (SCALE_MANAGER_GOMEMLIMIT).")
	flag.BoolVar(&o.gatePolicy, "gate-policy", envOr("SCALE_GATE_POLICY", "true") == "true",
		"Keep the sidecars-ready admission policy (config/policy) bound; false deletes its binding, so the operator writes every gate (SCALE_GATE_POLICY).")
	o.drainSeconds = 2
	flag.Parse()
	// controller-runtime's own logs (cache, client) are not the report's business.
	ctrllog.SetLogger(logr.Discard())

	// Every phase is bounded; the whole run too.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, 90*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

type bench struct {
	o        options
	c        client.Client // rate limiter off: the load generator
	cfg      *rest.Config
	op       *localcluster.Operator
	probe    managerProbe
	started  time.Time
	expected map[string]int32 // matched pods per set
	injected int
	rows     []row
	notes    []string
	auditLog string
	series   []latencyRun
	// gateBlocks are the gate phase's measurements.
	gateBlocks []gateBlock
	rollouts   []series

	// The engine comparison's state (engines.go).
	engineBase        []string
	currentEngine     engine
	restorePodWebhook func(context.Context) error
	engineRuns        []engineRun
}

func run(ctx context.Context, o options) error {
	switch {
	case o.phases != phaseScale && o.phases != phaseEngines && o.phases != phaseHostile && o.phases != phaseGate:
		return fmt.Errorf("--phases=%s: want scale, engines, hostile or gate", o.phases)
	case o.assets == "" || (o.kwok == "" && o.phases == phaseScale):
		return errors.New("--assets and --kwok are required; run it through `make bench-scale`")
	}
	if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return err
	}
	b := &bench{o: o, started: time.Now(), expected: map[string]int32{}}

	env := &envtest.Environment{BinaryAssetsDirectory: o.assets}
	policy, _ := filepath.Abs(filepath.Join(o.workDir, "audit-policy.yaml"))
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return err
	}
	b.auditLog, _ = filepath.Abs(filepath.Join(o.workDir, "audit.log"))
	_ = os.Remove(b.auditLog)
	env.ControlPlane.GetAPIServer().Configure().
		Set("audit-policy-file", policy).Set("audit-log-path", b.auditLog).Set("audit-log-format", "json")
	say("Starting the control plane (kube-apiserver + etcd from %s)", o.assets)
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	// One user each for the manager, KWOK and the load, so the audit log tells them apart.
	kubeconfigs := map[string]string{}
	users := map[string]*envtest.AuthenticatedUser{}
	for _, name := range []string{managerUser, "kwok", "bench-load"} {
		user, err := env.ControlPlane.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, cfg)
		if err != nil {
			return err
		}
		data, err := user.KubeConfig()
		if err != nil {
			return err
		}
		kubeconfigs[name], _ = filepath.Abs(filepath.Join(o.workDir, name+".kubeconfig"))
		if err := os.WriteFile(kubeconfigs[name], data, 0o600); err != nil {
			return err
		}
		users[name] = user
	}
	kubeconfig := kubeconfigs[managerUser]

	scheme := kruntime.NewScheme()
	for _, add := range []func(*kruntime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, sidecarsv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	loadCfg := rest.CopyConfig(users["bench-load"].Config())
	loadCfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	b.cfg = loadCfg
	if b.c, err = client.New(loadCfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}

	if o.phases == phaseScale {
		kwokLog, err := os.Create(filepath.Join(o.workDir, "kwok.log"))
		if err != nil {
			return err
		}
		defer func() { _ = kwokLog.Close() }()
		kwokCtx, stopKWOK := context.WithCancel(ctx)
		defer stopKWOK()
		if _, err := startKWOK(kwokCtx, o.kwok, kubeconfigs["kwok"], o.stages, kwokLog); err != nil {
			return err
		}
		say("Creating %d simulated nodes (KWOK)", o.nodes)
		if err := createNodes(ctx, b.c, o.nodes); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
	}

	// Installed as the manager's user: the pod-metadata policy names the installing user
	// as the operator.
	installer, err := client.New(users[managerUser].Config(), client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := b.startOperator(ctx, installer, kubeconfig); err != nil {
		return err
	}
	defer b.stopOperator()
	if !o.gatePolicy && o.phases == phaseScale {
		say("Deleting the sidecars-ready policy's binding: the operator writes every gate")
		binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: gatePolicy}}
		if err := b.c.Delete(ctx, binding); err != nil {
			return err
		}
		b.notes = append(b.notes, "run with the sidecars-ready admission policy's binding deleted (SCALE_GATE_POLICY=false)")
	}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: injectedNamespace}},
		{ObjectMeta: metav1.ObjectMeta{Name: bypassNamespace, Labels: map[string]string{sidecarsv1alpha1.InjectLabel: "false"}}},
	} {
		if err := client.IgnoreAlreadyExists(b.c.Create(ctx, ns)); err != nil {
			return err
		}
	}

	return b.runPhases(ctx)
}

// runPhases runs what -phases names on the running operator and reports it.
func (b *bench) runPhases(ctx context.Context) error {
	switch b.o.phases {
	case phaseHostile:
		if err := b.hostile(ctx); err != nil {
			return err
		}
		return b.reportHostile()
	case phaseGate:
		if err := b.gate(ctx); err != nil {
			return err
		}
		b.printRows("bench-gate", gateRows(b.gateBlocks))
		return nil
	case phaseEngines:
		b.currentEngine = engineWebhook
		if err := b.engines(ctx); err != nil {
			return err
		}
		return b.reportEngines()
	}
	for _, phase := range []func(context.Context) error{b.latency, b.bulk, b.steady, b.coldStart, b.rollout} {
		if err := phase(ctx); err != nil {
			return err
		}
	}
	return b.report()
}

var managerRun struct {
	cancel context.CancelFunc
	done   <-chan error
}

// startOperator installs the CRDs and webhooks and runs bin/manager, with its metrics
// and pprof on loopback.
func (b *bench) startOperator(ctx context.Context, installer client.Client, kubeconfig string) error {
	logFile, err := os.OpenFile(filepath.Join(b.o.workDir, "manager.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	b.probe = managerProbe{metricsPort: 18080, pprofPort: 18082}
	b.op = &localcluster.Operator{
		Manager: b.o.manager, Kubeconfig: kubeconfig, Namespace: operatorNamespace,
		CertDir: filepath.Join(b.o.workDir, "certs"), WebhookPort: 19443, ProbePort: 18081, Output: logFile,
		Args: append([]string{
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", b.probe.metricsPort), "--metrics-secure=false",
			fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", b.probe.pprofPort),
		}, strings.Fields(b.o.managerArgs)...),
		// As config/manager runs it: the Go runtime's soft limit is the container's
		// memory limit (512Mi), so the figures are those of the manager as shipped.
		Env: []string{"GOMEMLIMIT=" + b.o.managerMemLimit},
	}
	b.probe.pid = b.op.PID
	say("Installing Outrigger (CRDs, webhooks) and starting %s", b.o.manager)
	if err := b.op.Install(ctx, installer, "config"); err != nil {
		return err
	}
	return b.runManager(ctx)
}

func (b *bench) runManager(ctx context.Context) error {
	mctx, cancel := context.WithCancel(ctx)
	done, err := b.op.Run(mctx, b.c)
	if err != nil {
		cancel()
		return err
	}
	managerRun.cancel, managerRun.done = cancel, done
	return nil
}

func (b *bench) stopOperator() {
	if managerRun.cancel != nil {
		managerRun.cancel()
		if err := <-managerRun.done; err != nil {
			say("The manager stopped: %v", err)
		}
		managerRun.cancel = nil
	}
}

// createSets creates sets [from, to) and waits until the webhook injects the last group.
func (b *bench) createSets(ctx context.Context, from, to int) error {
	for i := from; i < to; i++ {
		if err := client.IgnoreAlreadyExists(b.c.Create(ctx, sidecarSet(i))); err != nil {
			return fmt.Errorf("creating SidecarSet %s: %w", setName(i), err)
		}
	}
	return b.waitInjects(ctx, groupOf(to-1), min(setsPerGroup, to))
}

// waitInjects waits until a pod of group, created in a dry run, gets want sidecars.
func (b *bench) waitInjects(ctx context.Context, group string, want int) error {
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pod := appPod("probe", group, nodeName(0), false)
		if err := b.c.Create(ctx, pod, client.DryRunAll); err != nil {
			return false, nil
		}
		return len(pod.Spec.InitContainers) >= want, nil
	})
}

// latency measures pod creation with the webhook and without it, interleaved at the
// same rate: first with 100 sets, then with all of them.
func (b *bench) latency(ctx context.Context) error {
	first := min(100, b.o.sets)
	say("Creating %d SidecarSets", first)
	if err := b.createSets(ctx, 0, first); err != nil {
		return err
	}
	injected, bypassed, err := b.latencySeries(ctx, "a", first)
	if err != nil {
		return err
	}
	b.latencyRows(first, injected, bypassed, 10*time.Millisecond)
	if err := b.waitCurrent(ctx, "1k pods", 5*time.Minute); err != nil {
		return err
	}
	if err := b.memoryRow(ctx, fmt.Sprintf("manager memory at %d injected pods, %d sets", b.injected, first), 0); err != nil {
		return err
	}

	say("Creating SidecarSets up to %d, and the rollout's set", b.o.sets)
	if err := client.IgnoreAlreadyExists(b.c.Create(ctx, fleet(b.o.drainSeconds))); err != nil {
		return err
	}
	b.expected[fleetSet] = 0
	if err := b.createSets(ctx, first, b.o.sets); err != nil {
		return err
	}
	if err := b.waitCurrent(ctx, "new sets", 10*time.Minute); err != nil {
		return err
	}
	profDone := make(chan error, 1)
	secs := int(float64(2*b.o.latencyPods)/b.o.rate) - 2
	go func() {
		profDone <- b.probe.profile(ctx, fmt.Sprintf("profile?seconds=%d", max(secs, 1)), filepath.Join(b.o.workDir, "webhook.cpu.pprof"))
	}()
	injected, bypassed, err = b.latencySeries(ctx, "b", b.o.sets)
	if err != nil {
		return err
	}
	if err := <-profDone; err != nil {
		b.notes = append(b.notes, "CPU profile of the webhook series: "+err.Error())
	}
	b.latencyRows(b.o.sets, injected, bypassed, 20*time.Millisecond)
	return nil
}

// latencySeries creates latencyPods injected pods and as many in the opted-out
// namespace, alternating, at rate creates per second in all. The bypassed pods already
// carry the sidecars: their spec is what the webhook returns for the same pod.
func (b *bench) latencySeries(ctx context.Context, tag string, sets int) (injected, bypassed []time.Duration, err error) {
	injected, bypassed, err = b.pairedSeries(ctx, tag, b.o.latencyPods, firstGroups(sets), b.o.rate, true, "sets")
	if err != nil {
		return nil, nil, err
	}
	b.series = append(b.series, latencyRun{sets: sets, injected: injected, bypassed: bypassed})
	return injected, bypassed, nil
}

// firstGroups are the groups of pods sets [0, sets) select, one group per setsPerGroup.
func firstGroups(sets int) []int {
	groups := make([]int, max(sets/setsPerGroup, 1))
	for g := range groups {
		groups[g] = g
	}
	return groups
}

// pairedSeries creates n pods of groups (taken in turn) and as many in the
// opted-out namespace, alternating, at rate creates per second in all; onNodes binds
// them to the simulated nodes. The bypassed pods already carry the sidecars: their spec
// is what admission returns for the same pod. what names the injection in the log.
func (b *bench) pairedSeries(
	ctx context.Context, tag string, n int, groupIndexes []int, rate float64, onNodes bool, what string,
) (injected, bypassed []time.Duration, err error) {
	groupName := func(k int) string { return fmt.Sprintf("g%03d", groupIndexes[k%len(groupIndexes)]) }
	node := func(k int) string {
		if !onNodes {
			return ""
		}
		return nodeName(k % b.o.nodes)
	}
	template := map[string]*corev1.Pod{}
	for k := range groupIndexes {
		group := groupName(k)
		pod := appPod("template", group, node(0), false)
		if err := b.c.Create(ctx, pod, client.DryRunAll); err != nil {
			return nil, nil, fmt.Errorf("dry run: %w", err)
		}
		delete(pod.Labels, sidecarsv1alpha1.InjectedLabel)
		delete(pod.Annotations, sidecarsv1alpha1.InjectedAnnotation)
		template[group] = pod
	}
	// Warm the connections and the webhook's memo with dry runs, which are not measured.
	for i := range 50 {
		pod := appPod(fmt.Sprintf("warm-%d", i), groupName(i), node(0), false)
		_ = b.c.Create(ctx, pod, client.DryRunAll)
	}
	say("Latency series %s: %d pods injected by %s and %d with admission bypassed, %.0f creates/s", tag, n, what, n, rate)
	sctx, cancel := context.WithTimeout(ctx, time.Duration(float64(2*n)/rate*float64(time.Second))+2*time.Minute)
	defer cancel()
	var inj, byp []time.Duration
	perGroup := map[int]int32{}
	var mu = make(chan struct{}, 1)
	record := func(into *[]time.Duration, d time.Duration, group int) {
		mu <- struct{}{}
		*into = append(*into, d)
		if group >= 0 {
			perGroup[group]++
		}
		<-mu
	}
	_, failed := paced(sctx, 2*n, rate, 64, func(ctx context.Context, i int) error {
		k := i / 2
		group := groupName(k)
		var pod *corev1.Pod
		if i%2 == 0 {
			pod = appPod(fmt.Sprintf("lat-%s-%05d", tag, k), group, node(k), false)
		} else {
			pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: bypassNamespace, Name: fmt.Sprintf("lat-%s-%05d", tag, k),
				Labels: template[group].Labels, Annotations: template[group].Annotations}, Spec: *template[group].Spec.DeepCopy()}
			pod.Spec.NodeName = node(k)
		}
		start := time.Now()
		if err := b.c.Create(ctx, pod); err != nil {
			return err
		}
		if i%2 == 0 {
			record(&inj, time.Since(start), groupIndexes[k%len(groupIndexes)])
		} else {
			record(&byp, time.Since(start), -1)
		}
		return nil
	})
	if failed > 0 {
		b.notes = append(b.notes, fmt.Sprintf("latency series %s: %d creates failed", tag, failed))
	}
	b.injected += len(inj)
	for g, pods := range perGroup {
		for s := g * setsPerGroup; s < (g+1)*setsPerGroup; s++ {
			b.expected[setName(s)] += pods
		}
	}
	return inj, byp, nil
}

type latencyRun struct {
	sets               int
	injected, bypassed []time.Duration
}

func (b *bench) latencyRows(sets int, injected, bypassed []time.Duration, target time.Duration) {
	p50i, p50b := percentile(injected, 50), percentile(bypassed, 50)
	p99i, p99b := percentile(injected, 99), percentile(bypassed, 99)
	b.rows = append(b.rows,
		row{What: fmt.Sprintf("pod create p50, %d sets (10 inject)", sets), Baseline: ms(p50b), Result: ms(p50i)},
		row{What: fmt.Sprintf("pod create p99, %d sets (10 inject)", sets), Baseline: ms(p99b), Result: ms(p99i)},
		row{What: fmt.Sprintf("webhook-added p99, %d sets", sets), Result: ms(p99i - p99b),
			Target: "≤ " + ms(target), Met: addedVerdict(p99i-p99b, p99b, target)},
	)
	say("  p50 %s (bypassed %s), p99 %s (bypassed %s)", ms(p50i), ms(p50b), ms(p99i), ms(p99b))
}

// bulk creates injected pods up to o.pods, the rollout's pods first.
func (b *bench) bulk(ctx context.Context) error {
	groups := max(b.o.sets/setsPerGroup, 1)
	var pods []*corev1.Pod
	for k := 0; b.injected+len(pods) < b.o.pods; k++ {
		group := fmt.Sprintf("g%03d", k%groups)
		member := k < b.o.rolloutPods
		pods = append(pods, appPod(fmt.Sprintf("bulk-%05d", k), group, nodeName(k%b.o.nodes), member))
		for s := (k % groups) * setsPerGroup; s < (k%groups+1)*setsPerGroup; s++ {
			b.expected[setName(s)]++
		}
		if member {
			b.expected[fleetSet]++
		}
	}
	say("Creating %d more injected pods (%d of them the rollout's)", len(pods), min(len(pods), b.o.rolloutPods))
	auditFrom := fileSize(b.auditLog)
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	var retried atomic.Int64
	if err := createPods(bctx, b.c, 8, pods, &retried); err != nil {
		return err
	}
	b.injected += len(pods)
	took := time.Since(start)
	say("  created in %s (%.0f/s), %d creates retried", took.Round(time.Second), float64(len(pods))/took.Seconds(), retried.Load())
	if retried.Load() > 0 {
		b.notes = append(b.notes, fmt.Sprintf("bulk creation: %d of %d creates were refused and retried (webhook timeouts under load)",
			retried.Load(), len(pods)))
	}
	if err := b.waitCurrent(ctx, "10k pods", 20*time.Minute); err != nil {
		return err
	}
	if err := b.writesRow(auditFrom, fmt.Sprintf("manager pods/status writes per new pod, bulk creation (%d pods)", len(pods)), len(pods)); err != nil {
		return err
	}
	if err := b.probe.profile(ctx, "heap", filepath.Join(b.o.workDir, "heap.pprof")); err != nil {
		b.notes = append(b.notes, "heap profile: "+err.Error())
	}
	return b.memoryRow(ctx, fmt.Sprintf("manager memory at %d injected pods, %d sets", b.injected, b.o.sets+1), 150<<20)
}

// memoryRow records the manager's RSS and Go heap after a settling pause.
func (b *bench) memoryRow(ctx context.Context, what string, target float64) error {
	time.Sleep(10 * time.Second)
	rss, err := b.probe.rss()
	if err != nil {
		return err
	}
	heap, err := b.probe.heap(ctx)
	if err != nil {
		return err
	}
	r := row{What: what + ": RSS / Go heap in use", Result: mib(rss) + " / " + mib(heap)}
	if target > 0 {
		r.Target, r.Met = "RSS ≤ "+mib(target), metOrNot(rss <= target)
	}
	b.rows = append(b.rows, r)
	say("  %s: RSS %s, heap %s", what, mib(rss), mib(heap))
	return nil
}

// notCurrent counts the sets whose status does not yet show the pods they select.
func (b *bench) notCurrent(ctx context.Context) (int, error) {
	var sets sidecarsv1alpha1.SidecarSetList
	if err := b.c.List(ctx, &sets); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range sets.Items {
		want := b.expected[s.Name]
		st := s.Status
		if st.ObservedGeneration != s.Generation || st.MatchedPods != want || st.UpdatedPods != want || st.UpdatedReadyPods != want {
			n++
		}
	}
	return n, nil
}

// waitCurrent waits until every set's status is current.
func (b *bench) waitCurrent(ctx context.Context, what string, timeout time.Duration) error {
	start := time.Now()
	last := -1
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		n, err := b.notCurrent(ctx)
		if err != nil {
			return false, nil
		}
		if n != last && time.Since(start) > 5*time.Second {
			say("  %s: %d sets not current yet", what, n)
		}
		last = n
		return n == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for every set's status (%s): %d not current: %w", what, last, err)
	}
	return nil
}

// steady counts the manager's writes while nothing changes.
func (b *bench) steady(ctx context.Context) error {
	before, err := b.probe.writes(ctx)
	if err != nil {
		return err
	}
	say("Counting the manager's writes at steady state for %s", b.o.steadyWindow)
	time.Sleep(b.o.steadyWindow)
	after, err := b.probe.writes(ctx)
	if err != nil {
		return err
	}
	b.rows = append(b.rows, row{What: fmt.Sprintf("API writes at steady state (%s, %d pods)", b.o.steadyWindow, b.injected),
		Result: fmt.Sprintf("%.0f", after-before), Target: "0", Met: metOrNot(after == before)})
	return nil
}

// coldStart stops the manager, empties every set's status, starts it again and times
// until every status is current.
func (b *bench) coldStart(ctx context.Context) error {
	say("Cold start: stopping the manager and clearing every status")
	b.stopOperator()
	var sets sidecarsv1alpha1.SidecarSetList
	if err := b.c.List(ctx, &sets); err != nil {
		return err
	}
	for i := range sets.Items {
		patch := client.RawPatch(types.MergePatchType, []byte(`{"status":null}`))
		if err := b.c.Status().Patch(ctx, &sets.Items[i], patch); err != nil {
			return err
		}
	}
	auditFrom := fileSize(b.auditLog)
	start := time.Now()
	if err := b.runManager(ctx); err != nil {
		return err
	}
	ready := time.Since(start)
	if err := b.waitCurrent(ctx, "cold start", 10*time.Minute); err != nil {
		return err
	}
	took := time.Since(start)
	say("  ready in %s, every status current in %s", ready.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	if err := b.writesRow(auditFrom, fmt.Sprintf("manager pods/status writes per pod, cold start (%d pods)", b.injected), b.injected); err != nil {
		return err
	}
	b.rows = append(b.rows, row{What: fmt.Sprintf("cold start to every status current (%d sets, %d pods)", len(sets.Items), b.injected),
		Baseline: fmt.Sprintf("%.1f s (webhook serving)", ready.Seconds()), Result: fmt.Sprintf("%.1f s", took.Seconds()),
		Target: "≤ 60 s", Met: metOrNot(took <= time.Minute)})
	return b.memoryRow(ctx, fmt.Sprintf("manager memory after a cold start at %d pods, %d sets", b.injected, len(sets.Items)), 150<<20)
}

// rollout changes the fleet set's image and follows the pods to the end.
func (b *bench) rollout(ctx context.Context) error {
	n := int(b.expected[fleetSet])
	if n == 0 {
		return errors.New("the rollout has no pods")
	}
	follow, err := newFollower(ctx, b.cfg, b.c.Scheme(), n)
	if err != nil {
		return err
	}
	defer follow.stop()
	before, err := b.probe.writes(ctx)
	if err != nil {
		return err
	}
	auditFrom := fileSize(b.auditLog)
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := b.c.Get(ctx, client.ObjectKey{Name: fleetSet}, set); err != nil {
		return err
	}
	set.Spec.Containers[0].Image = fleetImage("v2")
	say("Rollout: %d pods to %s, maxUnavailable 10%%, drain %d s, simulated restart %s", n, fleetImage("v2"), b.o.drainSeconds, restartDelay)
	start := time.Now()
	if err := b.c.Update(ctx, set); err != nil {
		return err
	}
	samples, err := follow.until(ctx, start, fleetImage("v2"), 30*time.Minute)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	if err := b.waitCurrent(ctx, "rollout", 5*time.Minute); err != nil {
		return err
	}
	after, err := b.probe.writes(ctx)
	if err != nil {
		return err
	}
	if counts, err := auditSince(b.auditLog, auditFrom); err == nil {
		b.notes = append(b.notes, "the manager's writes per upgraded pod during the rollout, by kind (API server audit log): "+breakdown(counts, n))
	}
	budget := (n + 9) / 10
	batches := (n + budget - 1) / budget
	floor := time.Duration(batches) * (time.Duration(b.o.drainSeconds)*time.Second + restartDelay)
	perBatch := (wall - floor) / time.Duration(batches)
	perPod := (after - before) / float64(n)
	say("  %d pods in %s: %d batches of %d, %.2f writes per pod", n, wall.Round(100*time.Millisecond), batches, budget, perPod)
	b.rows = append(b.rows,
		row{What: fmt.Sprintf("rollout of %d pods, maxUnavailable 10%%: wall time", n),
			Baseline: fmt.Sprintf("%.1f s (%d × (drain %d s + restart %s))", floor.Seconds(), batches, b.o.drainSeconds, restartDelay),
			Result:   fmt.Sprintf("%.1f s", wall.Seconds())},
		row{What: "rollout: time per batch beyond drain + restart", Result: fmt.Sprintf("%.2f s", perBatch.Seconds()),
			Target: "≤ 1 s", Met: metOrNot(perBatch <= time.Second)},
		row{What: "rollout: manager API writes per upgraded pod", Result: fmt.Sprintf("%.2f", perPod),
			Target: "≤ 3", Met: metOrNot(perPod <= 3)},
	)
	var t, updated, unavailable []float64
	for _, s := range samples {
		t = append(t, s.at.Seconds())
		updated = append(updated, float64(s.updated))
		unavailable = append(unavailable, float64(s.unavailable))
	}
	b.rollouts = []series{
		{Name: "updated and ready", Color: colorBlue, X: t, Y: updated},
		{Name: "unavailable (not Ready)", Color: "#d62728", X: t, Y: unavailable},
	}
	return nil
}

// machine describes where the run happened.
func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	return fmt.Sprintf("%d CPUs (nproc), %s, %s, Linux %s, %s", runtime.NumCPU(), cpu, mem, strings.TrimSpace(string(kernel)), runtime.Version())
}

// writesRow adds a row of the manager's pods/status writes per pod since the audit log
// offset, and a note of all its writes by kind: with the sidecars-ready admission
// policy, a new pod's gate costs the manager no write.
func (b *bench) writesRow(auditFrom int64, what string, pods int) error {
	time.Sleep(5 * time.Second) // the audit log's buffered events
	counts, err := auditSince(b.auditLog, auditFrom)
	if err != nil {
		return err
	}
	b.rows = append(b.rows, row{What: what, Result: fmt.Sprintf("%.2f", float64(counts["pods/status patch"])/float64(max(pods, 1)))})
	b.notes = append(b.notes, fmt.Sprintf("%s, the manager's writes per pod by kind (API server audit log): %s", what, dash(breakdown(counts, pods))))
	return nil
}
