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
// (kube-apiserver + etcd; with a real node — kubelet, containerd — when this machine can
// run one, as `make cluster-up` does), installs the CRDs and webhook configurations pointing at the
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
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

const (
	// demoLabel = demoApp selects the running demo's pods.
	demoLabel         = "app"
	demoApp           = "demo-web"
	appContainer      = "app"
	operatorNamespace = "outrigger-system"
	demoNamespace     = "demo"
)

type options struct {
	manager     string
	localDir    string
	assets      string
	webhookPort int
	probePort   int
	node        bool
}

func main() {
	var o options
	flag.StringVar(&o.manager, "manager", "bin/manager", "The manager binary to run.")
	flag.StringVar(&o.localDir, "local-dir", "bin/local", "Where the embedded cluster's kubeconfig and certificates go.")
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory holding kube-apiserver and etcd.")
	flag.IntVar(&o.webhookPort, "webhook-port", 9443, "Port of the manager's webhook server.")
	flag.IntVar(&o.probePort, "health-probe-port", 8081, "Port of the manager's health probes.")
	flag.BoolVar(&o.node, "node", true,
		"Start a real node (kubelet + containerd, as make cluster-up) when this machine can, so pods run; "+
			"else, or when it fails, a control plane without a node.")
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
		return runManager(ctx, o, "--enable-webhooks=false")
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
	if o.node && os.Geteuid() == 0 {
		root, err := localcluster.ModuleRoot()
		if err == nil {
			say("Starting a single-node cluster: kubelet, containerd and runc on this machine (the first run builds them: a few minutes)...")
			var node *localcluster.Cluster
			if node, err = localcluster.Up(ctx, root, os.Stdout); err == nil {
				defer func() {
					say("Stopping the node and its control plane...")
					if err := localcluster.Down(context.Background(), root, os.Stdout); err != nil {
						fmt.Fprintln(os.Stderr, "stopping the node:", err)
					}
				}()
				cfg, err := node.RESTConfig()
				if err != nil {
					return err
				}
				kubeconfig, err := copyKubeconfig(node.Kubeconfig, o.localDir)
				if err != nil {
					return err
				}
				return runOperator(ctx, o, cfg, kubeconfig, true)
			}
		}
		say("The node could not start (%v); using a control plane without a node: pods will stay Pending.", err)
	}

	env := &envtest.Environment{BinaryAssetsDirectory: o.assets}
	say("Starting an embedded control plane (kube-apiserver + etcd from %s)...", o.assets)
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
	return runOperator(ctx, o, cfg, kubeconfig, false)
}

// runOperator installs and runs the operator on the cluster of cfg, applies the samples
// and the demo, and runs until ctx ends.
func runOperator(ctx context.Context, o options, cfg *rest.Config, kubeconfig string, withNode bool) error {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, sidecarsv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	op := &localcluster.Operator{
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
	if withNode {
		if err := runningDemo(ctx, c); err != nil {
			return err
		}
	}
	printWelcome(kubeconfig, withNode)

	select {
	case err := <-managerDone:
		return err
	case <-ctx.Done():
		return <-managerDone
	}
}

// copyKubeconfig puts the node cluster's kubeconfig where scripts look: <dir>/kubeconfig.
func copyKubeconfig(from, dir string) (string, error) {
	data, err := os.ReadFile(from)
	if err != nil {
		return "", err
	}
	return saveKubeconfig(data, dir)
}

// saveKubeconfig writes data as <dir>/kubeconfig and returns its absolute path.
func saveKubeconfig(data []byte, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

// runningDemo is what a node makes possible: a SidecarSet on the locally built sidecar
// image and a Deployment of the locally built app, whose pods run, so a rollout can be
// watched for real.
func runningDemo(ctx context.Context, c client.Client) error {
	probe := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8081)}},
		PeriodSeconds: 1, FailureThreshold: 30,
	}
	set := &sidecarsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-proxy"},
		Spec: sidecarsv1alpha1.SidecarSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{demoLabel: demoApp}},
			Containers: []sidecarsv1alpha1.SidecarContainer{{Container: corev1.Container{
				// Not "proxy": the proxy sample can select the same pods, and two sets may not both declare a name.
				Name: "demo-proxy", Image: images.SidecarV1, ImagePullPolicy: corev1.PullNever,
				Env:          []corev1.EnvVar{{Name: "READY_DELAY", Value: "2s"}},
				StartupProbe: probe, ReadinessProbe: probe.DeepCopy(),
			}}},
			UpdateStrategy: sidecarsv1alpha1.UpdateStrategy{
				MaxUnavailable: new(intstr.FromInt32(1)),
				Drain:          sidecarsv1alpha1.DrainPolicy{Seconds: ptr.To[int32](3)},
			},
		},
	}
	if err := c.Create(ctx, set); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating SidecarSet demo-proxy: %w", err)
	}
	say("Created SidecarSet demo-proxy (%s, native, drained 3s before each restart)", images.SidecarV1)
	// The webhook's cache sees the set a moment after it exists.
	time.Sleep(2 * time.Second)
	labels := map[string]string{demoLabel: demoApp}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "demo-web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: appContainer, Image: images.App, ImagePullPolicy: corev1.PullNever,
				}}},
			},
		},
	}
	if err := c.Create(ctx, dep); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Deployment demo-web: %w", err)
	}
	say("Created Deployment %s/demo-web: 3 pods of %s, each getting the proxy", demoNamespace, images.App)
	return nil
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
	return saveKubeconfig(data, dir)
}

// runManager runs the manager binary in the foreground; it stops with ctx.
func runManager(ctx context.Context, o options, args ...string) error {
	done, err := localcluster.RunProcess(ctx, o.manager, nil, os.Stdout, args...)
	if err != nil {
		return err
	}
	return <-done
}

// applySamplesAndDemo applies config/samples and creates one demo pod per sample,
// retrying until the webhook's cache has the samples and the pod comes back injected.
func applySamplesAndDemo(ctx context.Context, c client.Client) error {
	samples, err := localcluster.Render("config/samples")
	if err != nil {
		return err
	}
	for _, s := range samples {
		s.SetManagedFields(nil)
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(s), client.FieldOwner("outrigger-make-run"), client.ForceOwnership); err != nil {
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
			if pod.Labels[sidecarsv1alpha1.InjectedLabel] != sidecarsv1alpha1.InjectedLabelValue {
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

func printWelcome(kubeconfig string, withNode bool) {
	fmt.Printf(`
================================================================================
Outrigger is running.

  export KUBECONFIG=%[1]s
  kubectl get scs
  kubectl get pods -n %[2]s -o yaml        # the demo pods, with their sidecars
`, kubeconfig, demoNamespace)
	if withNode {
		fmt.Printf(`
This cluster has a real node: the demo-web pods run (the web-* pods show the samples'
injection; their example images cannot be pulled here). Roll a new proxy out, in place:
  kubectl get pods -n %[1]s -l app=demo-web -w &
  kubectl patch scs demo-proxy --type=json -p '[{"op":"replace","path":"/spec/containers/0/image","value":"%[2]s"}]'
  kubectl get scs demo-proxy -w              # UPDATED goes 0 -> 3, one pod at a time
  kubectl describe scs demo-proxy            # conditions and UpgradeStarted / UpgradeFinished events
`, demoNamespace, images.SidecarV2)
	} else {
		fmt.Printf(`
Try next:
  kubectl patch scs proxy --type=json -p '[{"op":"replace","path":"/spec/containers/0/image","value":"registry.example.com/proxy:1.3.0"}]'
  kubectl get controllerrevisions -n %[1]s  # one per distinct SidecarSet spec

This control plane has no node (run as root for one): pods stay Pending.
`, operatorNamespace)
	}
	fmt.Print(`Ctrl-C stops everything.
================================================================================
`)
}

func say(format string, args ...any) {
	fmt.Printf("make run: "+format+"\n", args...)
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }
