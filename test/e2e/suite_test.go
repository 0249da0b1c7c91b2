//go:build e2e

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

// Package e2e runs Outrigger against a real node — kubelet, containerd, runc — so that
// start order, in-place restarts, resizes and termination order are Kubernetes' own.
// `make test-e2e` brings the node up, runs these specs and tears it down.
//
// E2E_OPERATOR says which operator the specs test: "host" (the default) runs the
// manager binary on this machine with cluster-admin credentials, its webhooks registered
// by URL, as `make run` does; "deployed" tests the operator `make deploy-local` installed
// from its image and config/default: two replicas behind the webhook Service, under its
// own ServiceAccount and RBAC, in a namespace enforcing Pod Security "restricted";
// "helm" tests the operator `make helm-local` installed with helm from charts/outrigger
// (release outrigger, in the same namespace, the same two replicas): the deployed specs,
// plus helm_test.go's upgrade, and helm uninstall at the end of the suite;
// "olm" runs only the specs of olm_test.go, which install the operator through OLM
// (make test-olm), upgrade it through a channel and uninstall it.
package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	node      *localcluster.Cluster
	cfg       *rest.Config
	k8sClient client.Client
	// operator is the operator under test; specs may crash it.
	operator operatorUnderTest
	// helmInstall is E2E_OPERATOR=helm: the operator runs as the Helm chart's pods.
	helmInstall = os.Getenv("E2E_OPERATOR") == "helm"
	// deployed is E2E_OPERATOR=deployed or helm: the operator runs as config/default's
	// pods, or the chart's (the same objects, the same names).
	deployed = os.Getenv("E2E_OPERATOR") == "deployed" || helmInstall
	// managerLogs follows the deployed manager pods' logs over the whole suite.
	managerLogs *podLogs
)

// operatorNamespace is where both kinds of operator live (config/default's namespace).
const operatorNamespace = "outrigger-system"

// operatorUnderTest is the operator as specs break it.
type operatorUnderTest interface {
	// Crash ends the active manager abruptly, as an OOM kill or a node failure would (no
	// shutdown, no lease released), and lets a manager come back.
	Crash(ctx context.Context) error
}

// hostOperator is the manager binary on this machine: Crash kills it and starts it again.
type hostOperator struct{ *localcluster.Operator }

func (o hostOperator) Crash(ctx context.Context) error {
	if err := o.Kill(); err != nil {
		return err
	}
	_, err := o.Run(ctx, k8sClient)
	return err
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	// The OLM specs install the operator themselves and uninstall it: they run alone
	// (E2E_OPERATOR=olm), and never beside the others.
	only := "!olm"
	if olmInstall {
		only = "olm"
	}
	if suiteConfig.LabelFilter != "" {
		only = "(" + suiteConfig.LabelFilter + ") && " + only
	}
	suiteConfig.LabelFilter = only
	RunSpecs(t, "E2E Suite (real node)", suiteConfig, reporterConfig)
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	Expect(sidecarsv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())

	root, err := localcluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	By("bringing up the node (or reusing the running one)")
	node, err = localcluster.Up(ctx, root, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	cfg, err = node.RESTConfig()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	if olmInstall {
		By("testing the operator OLM installs (the olm specs subscribe to it)")
		return
	}
	if deployed {
		By("testing the operator make deploy-local installed: config/default's Deployment")
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, managerDeployment, d)).To(Succeed(), "deploy it first: make deploy-local")
			g.Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(2))
		}).WithTimeout(3 * time.Minute).Should(Succeed())
		managerLogs = followPodLogs(ctx, operatorNamespace, managerLabels, "manager")
		operator = deployedOperator{}
		if bin := os.Getenv("E2E_PROMETHEUS"); bin != "" {
			By("starting Prometheus beside the operator, for the whole suite")
			startPrometheus(bin)
		}
		return
	}

	By("running the operator against it, as make run does")
	manager := filepath.Join(root, "bin", "manager")
	_, err = os.Stat(manager)
	Expect(err).NotTo(HaveOccurred(), "build the manager first: make build")
	local := &localcluster.Operator{
		Manager: manager, Kubeconfig: node.Kubeconfig, Namespace: operatorNamespace,
		CertDir: GinkgoT().TempDir(), WebhookPort: freePort(), ProbePort: freePort(), Output: GinkgoWriter,
	}
	Expect(local.Install(ctx, k8sClient, filepath.Join(root, "config"))).To(Succeed())
	_, err = local.Run(ctx, k8sClient)
	Expect(err).NotTo(HaveOccurred())
	operator = hostOperator{local}
})

var _ = AfterSuite(func() {
	if managerLogs != nil {
		// The manager's RBAC is enough for everything the suite made it do: an API call
		// it was refused shows in its log (a client error, a failed watch or list).
		lines := managerLogs.stop()
		GinkgoWriter.Printf("followed %d lines of manager logs\n", len(lines))
		Expect(lines).NotTo(BeEmpty(), "no manager log was read")
		// The authorizer's refusal names the ServiceAccount: `... is forbidden: User
		// "system:serviceaccount:..." cannot list resource ...` (quotes escaped in JSON).
		denied := regexp.MustCompile(`forbidden: User \\?"` + regexp.QuoteMeta(managerSA) + `\\?" cannot`)
		var forbidden []string
		for _, l := range lines {
			switch {
			case denied.MatchString(l):
				forbidden = append(forbidden, l)
			case strings.Contains(strings.ToLower(l), "forbidden"):
				// Refused by admission (a policy on the request), not by RBAC: shown, not failed.
				GinkgoWriter.Printf("manager log, forbidden but not by RBAC: %s\n", l)
			}
		}
		Expect(forbidden).To(BeEmpty(), "the manager was refused API calls: its RBAC (config/rbac) is not enough")
	}
	stopPrometheusAfterSuite()
	if helmInstall {
		helmUninstall()
	}
	if cancel != nil {
		cancel()
	}
	// Let the manager stop before the node goes (make test-e2e takes it down).
	time.Sleep(2 * time.Second)
})

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
