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
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/localcluster"
)

// The simulated nodes: KWOK manages the nodes carrying this annotation.
const (
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	kwokNodeValue      = "fake"
)

// startKWOK runs the kwok binary on the cluster with the Stages of stageDir.
func startKWOK(ctx context.Context, binary, kubeconfig, stageDir string, out io.Writer) (<-chan error, error) {
	stages, err := filepath.Glob(filepath.Join(stageDir, "*.yaml"))
	if err != nil || len(stages) == 0 {
		return nil, fmt.Errorf("no KWOK stages in %s", stageDir)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=" + kwokNodeValue,
		"--cidr=198.18.0.0/15",
		"--node-ip=198.19.255.254",
		"--server-address=127.0.0.1:0",
		"--v=WARN", // a line per patch costs it CPU the run needs
	}
	for _, s := range stages {
		args = append(args, "--config="+s)
	}
	return localcluster.RunProcess(ctx, binary, nil, out, args...)
}

// createNodes creates n simulated nodes and waits until KWOK reports them Ready.
func createNodes(ctx context.Context, c client.Client, n int) error {
	for i := range n {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        nodeName(i),
			Annotations: map[string]string{kwokNodeAnnotation: kwokNodeValue},
			Labels:      map[string]string{"type": "kwok"},
		}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{}}}
		if err := c.Create(ctx, node); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
	}
	return wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes); err != nil {
			return false, nil
		}
		ready := 0
		for _, node := range nodes.Items {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= n, nil
	})
}

func nodeName(i int) string { return fmt.Sprintf("kwok-node-%03d", i) }

// managerProbe reads what the manager process shows of itself.
type managerProbe struct {
	pid         func() int
	metricsPort int
	pprofPort   int
}

// rss is the manager's resident set size in bytes, from /proc.
func (m managerProbe) rss() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid()))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", m.pid())
}

func (m managerProbe) metrics(ctx context.Context) (string, error) {
	return httpGet(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", m.metricsPort))
}

// writes is how many write requests (POST, PUT, PATCH, DELETE) the manager's API
// client has made, from client-go's request metrics.
func (m managerProbe) writes(ctx context.Context) (float64, error) {
	text, err := m.metrics(ctx)
	if err != nil {
		return 0, err
	}
	return promSum(text, "rest_client_requests_total", map[string]string{"method": "POST|PUT|PATCH|DELETE"}), nil
}

// work is the manager's CPU seconds and SidecarSet passes so far, from its metrics.
func (m managerProbe) work(ctx context.Context) (cpuSeconds, passes float64, err error) {
	text, err := m.metrics(ctx)
	if err != nil {
		return 0, 0, err
	}
	return promSum(text, "process_cpu_seconds_total", nil),
		promSum(text, "controller_runtime_reconcile_total", map[string]string{"controller": "sidecarset"}), nil
}

// heap is the manager's Go heap in use, from its metrics.
func (m managerProbe) heap(ctx context.Context) (float64, error) {
	text, err := m.metrics(ctx)
	if err != nil {
		return 0, err
	}
	return promSum(text, "go_memstats_heap_inuse_bytes", nil), nil
}

// profile saves a pprof profile (path under /debug/pprof/) to file.
func (m managerProbe) profile(ctx context.Context, path, file string) error {
	body, err := httpGet(ctx, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s", m.pprofPort, path))
	if err != nil {
		return err
	}
	return os.WriteFile(file, []byte(body), 0o644)
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}
