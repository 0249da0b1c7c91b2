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
package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/test/e2e/cluster"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	node      *cluster.Cluster
	cfg       *rest.Config
	k8sClient client.Client
	// operator is the manager the suite runs; specs may kill it and run it again.
	operator *utiltesting.LocalOperator
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "E2E Suite (real node)")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	Expect(sidecarsv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())

	root, err := cluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	By("bringing up the node (or reusing the running one)")
	node, err = cluster.Up(ctx, root, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	cfg, err = node.RESTConfig()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	By("running the operator against it, as make run does")
	manager := filepath.Join(root, "bin", "manager")
	_, err = os.Stat(manager)
	Expect(err).NotTo(HaveOccurred(), "build the manager first: make build")
	operator = &utiltesting.LocalOperator{
		Manager: manager, Kubeconfig: node.Kubeconfig, Namespace: "outrigger-system",
		CertDir: GinkgoT().TempDir(), WebhookPort: freePort(), ProbePort: freePort(), Output: GinkgoWriter,
	}
	Expect(operator.Install(ctx, k8sClient, filepath.Join(root, "config"))).To(Succeed())
	_, err = operator.Run(ctx, k8sClient)
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
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
