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

package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is the single-node cluster of hack/cluster.sh (`make cluster-up`), running:
// one real node (kubelet, containerd, runc) with etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, all on this machine, pods in
// 198.18.0.0/24 with no route out, as "hack/cluster.sh env" describes it.
//
//	c, err := localcluster.Up(ctx, root, out) // starts it, or reuses a running one
//	cfg, err := c.RESTConfig()
//	...
//	err = localcluster.Down(ctx, root, out)
//
// It needs root (the kubelet and containerd do). The images of test/e2e/images are
// imported on Up; Import adds others.
type Cluster struct {
	Kubeconfig       string // admin (system:masters) kubeconfig: bin/cluster/kubeconfig
	BinDir           string // kubectl, ctr, kubelet, ... (bin/node/<version>-<os>-<arch>)
	Node             string // the node's name
	NodeIP           string // the node's InternalIP, on the pod bridge
	PodSubnet        string // every pod IP is in it
	ServiceCIDR      string // ClusterIPs: pods route them to the node, kube-proxy translates them
	ContainerdSocket string // the private containerd (namespace k8s.io)
	APIServer        string // https://<NodeIP>:<port>
	Logs             string // one <component>.log per process, kept after Down
	Registry         string // the registry containerd pulls from: 127.0.0.1:<port>

	moduleRoot string
}

// Up starts the cluster (hack/cluster.sh up), or reuses it when it already runs, and
// returns it. moduleRoot is the repository root (see ModuleRoot); the script's progress
// goes to out when not nil. A first run on a machine builds the binaries (minutes).
func Up(ctx context.Context, moduleRoot string, out io.Writer) (*Cluster, error) {
	if _, err := script(ctx, moduleRoot, out, "up"); err != nil {
		return nil, err
	}
	return Get(ctx, moduleRoot)
}

// Down stops the cluster and removes everything it started and created
// (hack/cluster.sh down). It is safe when nothing runs.
func Down(ctx context.Context, moduleRoot string, out io.Writer) error {
	_, err := script(ctx, moduleRoot, out, "down")
	return err
}

// Running reports whether every component of the cluster runs.
func Running(ctx context.Context, moduleRoot string) bool {
	_, err := script(ctx, moduleRoot, nil, "status")
	return err == nil
}

// Get describes the running cluster without starting anything.
func Get(ctx context.Context, moduleRoot string) (*Cluster, error) {
	env, err := script(ctx, moduleRoot, nil, "env")
	if err != nil {
		return nil, fmt.Errorf("the e2e cluster is not up: %w", err)
	}
	kv := map[string]string{}
	s := bufio.NewScanner(bytes.NewReader(env))
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), "="); ok {
			kv[k] = v
		}
	}
	c := &Cluster{
		Kubeconfig:       kv["KUBECONFIG"],
		BinDir:           kv["OUTRIGGER_E2E_BIN"],
		Node:             kv["OUTRIGGER_E2E_NODE"],
		NodeIP:           kv["OUTRIGGER_E2E_NODE_IP"],
		PodSubnet:        kv["OUTRIGGER_E2E_POD_SUBNET"],
		ServiceCIDR:      kv["OUTRIGGER_E2E_SERVICE_CIDR"],
		ContainerdSocket: kv["OUTRIGGER_E2E_CONTAINERD_SOCK"],
		APIServer:        kv["OUTRIGGER_E2E_API_SERVER"],
		Logs:             kv["OUTRIGGER_E2E_LOGS"],
		Registry:         kv["OUTRIGGER_E2E_REGISTRY"],
		moduleRoot:       moduleRoot,
	}
	if c.Kubeconfig == "" || c.BinDir == "" {
		return nil, fmt.Errorf("hack/cluster.sh env gave no KUBECONFIG or OUTRIGGER_E2E_BIN: %q", env)
	}
	return c, nil
}

// RESTConfig is the admin configuration of the cluster.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
}

// Kubectl runs the cluster's kubectl with the admin kubeconfig and returns its
// standard output; the error carries its standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Import loads image archives (OCI layout or docker-archive tarballs, see
// test/e2e/images) into the node's containerd, for imagePullPolicy Never.
func (c *Cluster) Import(ctx context.Context, tarballs ...string) error {
	_, err := script(ctx, c.moduleRoot, nil, append([]string{"import"}, tarballs...)...)
	return err
}

// ModuleRoot finds the repository root (the directory holding go.mod) from the current
// directory up; go test runs a package's tests in the package's directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the current directory")
		}
		dir = parent
	}
}

// script runs hack/cluster.sh with args; it returns the standard output, the standard
// error going to out (or into the error when out is nil).
func script(ctx context.Context, moduleRoot string, out io.Writer, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(moduleRoot, "hack", "cluster.sh"), args...)
	cmd.Dir = moduleRoot
	// Cancelled, the script gets SIGTERM and stops what it started half-way.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Minute
	var stderr bytes.Buffer
	if out != nil {
		cmd.Stderr = out
	} else {
		cmd.Stderr = &stderr
	}
	stdout, err := cmd.Output()
	if err != nil {
		return stdout, fmt.Errorf("hack/cluster.sh %s: %w%s", strings.Join(args, " "), err, tail(stderr.String()))
	}
	return stdout, nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return ":\n" + strings.Join(lines, "\n")
}
