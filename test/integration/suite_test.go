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

package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/controllers"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/webhooks"
)

// k8sVersion is the Kubernetes version of the test control plane; keep it in step with
// ENVTEST_K8S_VERSION in the Makefile.
const k8sVersion = "1.37.2"

var (
	ctx       context.Context
	cancel    context.CancelFunc
	cfg       *rest.Config
	k8sClient client.Client
	// testEnv is the control plane; it lives in parallel process 1 only, as the manager
	// does (see startManager).
	testEnv *envtest.Environment
	// shared is what process 1 tells every process about the control plane.
	shared sharedControlPlane
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	// Gomega's default second is shorter than a loaded 2-core machine takes for a webhook
	// cache or a controller to catch up (docs/testing.md): a spec waits as long as its
	// neighbours, and says a longer wait where it needs one.
	SetDefaultEventuallyTimeout(10 * time.Second)
	RunSpecs(t, "Integration Suite")
}

// sharedControlPlane is how a parallel process reaches the control plane that process 1
// runs: one kube-apiserver and one manager for all of them, measured faster on 2 cores
// than one each (docs/testing.md).
type sharedControlPlane struct {
	Host                      string
	CAData, CertData, KeyData []byte
	OperatorUser              string
	Kubectl                   string
	// Users are the users specs act as, besides the admin: name -> credentials.
	Users map[string]sharedUser
}

type sharedUser struct {
	CertData, KeyData []byte
	// Kubeconfig is a kubeconfig file for kubectl, as this user.
	Kubeconfig string
}

// suiteUsers are the users that specs act as; each is a cluster admin, so that what
// refuses them is admission, not RBAC.
var suiteUsers = []string{"kubectl-admin", "app-team"}

// serverPerProcess, from INTEGRATION_SERVER_PER_PROCESS=1, gives each parallel process a
// control plane and manager of its own instead of process 1's; kept to measure the two
// against each other (docs/testing.md).
var serverPerProcess = os.Getenv("INTEGRATION_SERVER_PER_PROCESS") == "1"

var _ = SynchronizedBeforeSuite(func() []byte {
	if serverPerProcess {
		return nil
	}
	return startControlPlane()
}, func(data []byte) {
	if serverPerProcess {
		data = startControlPlane()
	}
	connect(data)
})

// startControlPlane starts kube-apiserver, etcd and the manager, and says how to reach them.
func startControlPlane() []byte {
	GinkgoHelper()
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	Expect(sidecarsv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDs:                  installedCRDs(),
		BinaryAssetsDirectory: assetsDir(),
		WebhookInstallOptions: installedWebhooks(),
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "starting kube-apiserver and etcd; run `make envtest` or `make test`")
	Expect(cfg).NotTo(BeNil())

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	version, err := dc.ServerVersion()
	Expect(err).NotTo(HaveOccurred())
	// Printed on the terminal (not only in verbose mode), so a test run shows what it ran on.
	_, _ = fmt.Fprintf(GinkgoWriter, "Running against a real kube-apiserver %s at %s\n", version.GitVersion, cfg.Host)
	By(fmt.Sprintf("using kube-apiserver %s at %s", version.GitVersion, cfg.Host))

	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	// The manager runs with the suite's admin credentials: the policy names that user.
	policyUser, err := localcluster.InstallPodMetadataPolicy(ctx, k8sClient, filepath.Join(projectRoot(), "config"), operatorNamespace)
	Expect(err).NotTo(HaveOccurred())
	stopManager = startManager()
	requireSpecLabel()

	data := sharedControlPlane{Host: cfg.Host, CAData: cfg.CAData, CertData: cfg.CertData, KeyData: cfg.KeyData,
		OperatorUser: policyUser, Kubectl: testEnv.ControlPlane.KubectlPath, Users: map[string]sharedUser{}}
	for _, name := range suiteUsers {
		user, err := testEnv.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, cfg)
		Expect(err).NotTo(HaveOccurred())
		k, err := user.Kubectl()
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, ok := strings.CutPrefix(k.Opts[0], "--kubeconfig=")
		Expect(ok).To(BeTrue(), "envtest's kubectl options: %v", k.Opts)
		data.Users[name] = sharedUser{CertData: user.Config().CertData, KeyData: user.Config().KeyData, Kubeconfig: kubeconfig}
	}
	out, err := json.Marshal(data)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// connect makes this process's clients for the control plane data describes.
func connect(data []byte) {
	GinkgoHelper()
	Expect(json.Unmarshal(data, &shared)).To(Succeed())
	operatorUser = shared.OperatorUser
	if testEnv != nil {
		return // this process started the control plane
	}
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	Expect(sidecarsv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())
	cfg = &rest.Config{Host: shared.Host, TLSClientConfig: rest.TLSClientConfig{
		CAData: shared.CAData, CertData: shared.CertData, KeyData: shared.KeyData}}
	var err error
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
}

var _ = SynchronizedAfterSuite(func() {
	if serverPerProcess || GinkgoParallelProcess() != 1 {
		stopControlPlane()
	}
}, func() {
	// Process 1, once every process is done.
	if !serverPerProcess {
		stopControlPlane()
	}
})

// stopControlPlane stops what startControlPlane or connect started in this process.
func stopControlPlane() {
	if stopManager != nil {
		stopManager()
	}
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
}

// userConfig is a rest.Config for one of suiteUsers.
func userConfig(name string) *rest.Config {
	GinkgoHelper()
	u, ok := shared.Users[name]
	Expect(ok).To(BeTrue(), "%s is not one of suiteUsers", name)
	c := rest.CopyConfig(cfg)
	c.CertData, c.KeyData = u.CertData, u.KeyData
	return c
}

// kubectlRun runs the test control plane's kubectl as a cluster admin.
func kubectlRun(args ...string) (stdout, stderr io.Reader, err error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, shared.Kubectl, append([]string{"--kubeconfig=" + shared.Users["kubectl-admin"].Kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return &out, &errOut, err
}

// kubectl runs the test control plane's kubectl as a cluster admin and returns its
// standard output.
func kubectl(args ...string) (string, error) {
	stdout, stderr, err := kubectlRun(args...)
	if err != nil {
		return "", fmt.Errorf("kubectl %v: %w: %s", args, err, readAll(stderr))
	}
	return readAll(stdout), nil
}

// operatorNamespace is the operator's namespace in the suites, as in config/default.
const operatorNamespace = "outrigger-system"

// operatorUser is the user the manager runs as, the only one config/policy lets change
// the pods' Outrigger metadata.
var operatorUser string

// stopManager stops the manager startManager started last.
var stopManager func()

// startManager runs the real manager — controllers and webhook server — as main.go
// wires it, serving the webhooks envtest registered with the API server. The returned
// function stops it and waits until it has.
func startManager() func() {
	GinkgoHelper()
	return startManagerWith(controllers.EngineWebhook)
}

// startManagerWith is startManager with the given --injection-engine.
func startManagerWith(engine controllers.Engine) func() {
	GinkgoHelper()
	Expect(testEnv).NotTo(BeNil(), "the manager runs in parallel process 1 only: a spec that starts or stops it is Serial")
	wh := testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
		}),
		Cache:                  controllers.WithAdmissionPolicyCache(controllers.CacheOptions(controllers.Options{OperatorNamespace: operatorNamespace})),
		HealthProbeBindAddress: "0",
		// Specs restart the manager in the same process: its controllers keep their names.
		Controller: config.Controller{SkipNameValidation: new(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.SetupWithManager(mgr, controllers.Options{OperatorNamespace: operatorNamespace})).To(Succeed())
	Expect(controllers.SetupAdmissionPolicyWithManager(mgr, controllers.Options{OperatorNamespace: operatorNamespace}, engine)).To(Succeed())
	Expect(webhooks.SetupWithManager(mgr, webhooks.Options{OperatorNamespace: operatorNamespace})).To(Succeed())

	mgrCtx, mgrCancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()

	// The API server calls the webhooks over TLS: wait until they answer.
	dialer := &net.Dialer{Timeout: time.Second}
	addr := net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort))
	Eventually(func() error {
		conn, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness probe of a local test server
		if err != nil {
			return err
		}
		return conn.Close()
	}).Should(Succeed())
	return func() {
		mgrCancel()
		<-done
	}
}

// installedWebhooks renders config/webhook with kustomize, so the suites register the
// same configurations (selectors included) that a deployment does; envtest points
// them at the local webhook server.
func installedWebhooks() envtest.WebhookInstallOptions {
	GinkgoHelper()
	var opts envtest.WebhookInstallOptions
	for _, obj := range renderKustomization(filepath.Join(projectRoot(), "config", "webhook")) {
		switch obj.GetKind() {
		case "MutatingWebhookConfiguration":
			w := &admissionv1.MutatingWebhookConfiguration{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, w)).To(Succeed())
			opts.MutatingWebhooks = append(opts.MutatingWebhooks, w)
		case "ValidatingWebhookConfiguration":
			w := &admissionv1.ValidatingWebhookConfiguration{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, w)).To(Succeed())
			opts.ValidatingWebhooks = append(opts.ValidatingWebhooks, w)
		}
	}
	Expect(opts.MutatingWebhooks).NotTo(BeEmpty())
	Expect(opts.ValidatingWebhooks).NotTo(BeEmpty())
	return opts
}

// installedCRDs renders config/crd with kustomize, so the suites install exactly what
// `make install` and the bundle install, patches included.
func installedCRDs() []*apiextensionsv1.CustomResourceDefinition {
	GinkgoHelper()
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, obj := range renderKustomization(filepath.Join(projectRoot(), "config", "crd")) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, crd)).To(Succeed())
		crds = append(crds, crd)
	}
	Expect(crds).NotTo(BeEmpty())
	return crds
}

// renderKustomization is `kustomize build dir`, in process.
func renderKustomization(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	objs, err := localcluster.Render(dir)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

func projectRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// assetsDir finds kube-apiserver and etcd: KUBEBUILDER_ASSETS when set (make test sets
// it), else the project's bin/k8s folder that `make envtest` links.
func assetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(projectRoot(), "bin", "k8s", k8sVersion+"-"+goruntime.GOOS+"-"+goruntime.GOARCH)
}

// createInjectingSet creates a SidecarSet and waits until the pod webhook's cache knows
// it: a server-side dry-run of a matching pod (a fresh one from probe on each try) comes
// back injected by it.
func createInjectingSet(set *sidecarsv1alpha1.SidecarSet, probe func() *corev1.Pod) *sidecarsv1alpha1.SidecarSet {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, set)).To(Succeed())
	Eventually(func(g Gomega) {
		p := probe()
		p.GenerateName = "probe-"
		g.Expect(k8sClient.Create(ctx, p, client.DryRunAll)).To(Succeed())
		records, err := sidecarsv1alpha1.ParseInjectionRecords(p.Annotations)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(records).To(HaveKey(set.Name))
	}).Should(Succeed())
	return set
}
