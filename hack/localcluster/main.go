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

// Command localcluster is what `make run` runs. With a reachable cluster (KUBECONFIG or
// ~/.kube/config answers) it runs the manager against it, as kubebuilder's `make run`
// does. Without one it starts an embedded cluster from the test control plane
// (kube-apiserver + etcd), installs the CRDs and webhook configurations pointing at the
// local manager, runs the manager in the foreground with self-managed certificates,
// applies config/samples and demo pods, and prints how to use it. Ctrl-C or SIGTERM
// stops everything it started.
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
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

const (
	operatorNamespace = "outrigger-system"
	demoNamespace     = "demo"
)

type options struct {
	manager     string
	localDir    string
	assets      string
	webhookPort int
	probePort   int
}

func main() {
	var o options
	flag.StringVar(&o.manager, "manager", "bin/manager", "The manager binary to run.")
	flag.StringVar(&o.localDir, "local-dir", "bin/local", "Where the embedded cluster's kubeconfig and certificates go.")
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory holding kube-apiserver and etcd.")
	flag.IntVar(&o.webhookPort, "webhook-port", 9443, "Port of the manager's webhook server.")
	flag.IntVar(&o.probePort, "health-probe-port", 8081, "Port of the manager's health probes.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if cfg, ok := reachableCluster(); ok {
		say("Found a reachable cluster at %s; running the manager against it (webhooks off: they need `make deploy`).", cfg.Host)
		return runManager(ctx, o, nil, "--enable-webhooks=false")
	}
	if o.assets == "" {
		return errors.New("no reachable cluster and no KUBEBUILDER_ASSETS for an embedded one; run it through `make run`")
	}
	return runEmbedded(ctx, o)
}

// reachableCluster reports a cluster from KUBECONFIG or ~/.kube/config that answers.
func reachableCluster() (*rest.Config, bool) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, false
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 3 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, false
	}
	_, err = dc.ServerVersion()
	return cfg, err == nil
}

func runEmbedded(ctx context.Context, o options) error {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, sidecarsv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: o.assets, Scheme: scheme}
	say("Starting an embedded cluster (kube-apiserver + etcd from %s)...", o.assets)
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the embedded cluster: %w", err)
	}
	defer func() {
		say("Stopping the embedded cluster...")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the embedded cluster:", err)
		}
	}()

	kubeconfig, err := writeKubeconfig(env, cfg, o.localDir)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	op := &utiltesting.LocalOperator{
		Manager: o.manager, Kubeconfig: kubeconfig, Namespace: operatorNamespace,
		CertDir: filepath.Join(o.localDir, "certs"), WebhookPort: o.webhookPort, ProbePort: o.probePort,
		Output: os.Stdout,
	}
	if err := op.Install(ctx, c, "config"); err != nil {
		return err
	}
	say("Waiting for the manager to be ready (certificates generated, webhooks serving)...")
	managerDone, err := op.Run(ctx, c)
	if err != nil {
		return err
	}
	if err := applySamplesAndDemo(ctx, c); err != nil {
		return err
	}
	printWelcome(kubeconfig)

	select {
	case err := <-managerDone:
		return err
	case <-ctx.Done():
		return <-managerDone
	}
}

// writeKubeconfig writes an admin kubeconfig for the embedded cluster where scripts
// find it: <local-dir>/kubeconfig.
func writeKubeconfig(env *envtest.Environment, cfg *rest.Config, dir string) (string, error) {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "outrigger-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

// runManager runs the manager binary in the foreground; it stops with ctx.
func runManager(ctx context.Context, o options, env []string, args ...string) error {
	cmd := exec.Command(o.manager, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// If this process dies without cleaning up, the kernel stops the manager too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", o.manager, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("the manager exited: %w", err)
		}
		return errors.New("the manager exited")
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return nil
	}
}

// applySamplesAndDemo applies config/samples and creates one demo pod per sample,
// retrying until the webhook's cache has the samples and the pod comes back injected.
func applySamplesAndDemo(ctx context.Context, c client.Client) error {
	samples, err := utiltesting.Render("config/samples")
	if err != nil {
		return err
	}
	for _, s := range samples {
		s.SetManagedFields(nil)
		if err := c.Patch(ctx, s, client.Apply, client.FieldOwner("outrigger-make-run"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying sample %s: %w", s.GetName(), err)
		}
		say("Applied SidecarSet %s (config/samples)", s.GetName())
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace,
		Labels: map[string]string{"environment": "staging"}}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	demo := []struct{ name, label, value string }{
		{"web-proxied", "outrigger.dev/proxy", "enabled"},
		{"web-logging", "outrigger.dev/logs", "ship"},
		{"web-metrics", "outrigger.dev/metrics", "scrape"},
	}
	for _, d := range demo {
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			pod := demoPod(d.name, d.label, d.value)
			if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
				return false, err
			}
			if pod.Labels[sidecarsv1alpha1.InjectedLabel] != "true" {
				return false, nil
			}
			pod = demoPod(d.name, d.label, d.value)
			if err := c.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
				return false, err
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("creating demo pod %s: %w", d.name, err)
		}
		say("Created demo pod %s/%s (%s=%s)", demoNamespace, d.name, d.label, d.value)
	}
	return nil
}

func demoPod(name, label, value string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: name, Labels: map[string]string{label: value, "app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example.com/web:1",
			Env:          []corev1.EnvVar{{Name: "POD_NAME", Value: name}, {Name: "NAMESPACE", Value: demoNamespace}},
			VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log/app"}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resourceMust("500m"), corev1.ResourceMemory: resourceMust("256Mi")}},
		}}, Volumes: []corev1.Volume{{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}
}

func printWelcome(kubeconfig string) {
	fmt.Printf(`
================================================================================
Outrigger is running on an embedded cluster.

  export KUBECONFIG=%[1]s
  kubectl get scs
  kubectl get pods -n %[2]s -o yaml        # the demo pods, with their sidecars

Try next:
  kubectl patch scs proxy --type=json -p '[{"op":"replace","path":"/spec/containers/0/image","value":"registry.example.com/proxy:1.3.0"}]'
  kubectl get controllerrevisions -n %[3]s  # one per distinct SidecarSet spec
  kubectl create -n %[2]s -f - <<<'{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-","labels":{"outrigger.dev/proxy":"enabled"}},"spec":{"containers":[{"name":"app","image":"registry.example.com/web:1"}]}}'

The embedded cluster has no node: pods stay Pending. Ctrl-C stops everything.
================================================================================
`, kubeconfig, demoNamespace, operatorNamespace)
}

func say(format string, args ...any) {
	fmt.Printf("make run: "+format+"\n", args...)
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }
