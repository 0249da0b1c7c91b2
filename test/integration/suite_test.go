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
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// k8sVersion is the Kubernetes version of the test control plane; keep it in step with
// ENVTEST_K8S_VERSION in the Makefile.
const k8sVersion = "1.37.2"

var (
	ctx       context.Context
	cancel    context.CancelFunc
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Integration Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	Expect(sidecarsv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDs:                  installedCRDs(),
		BinaryAssetsDirectory: assetsDir(),
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
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

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
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	Expect(err).NotTo(HaveOccurred(), "kustomize build %s", dir)
	var objs []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		m, err := r.Map()
		Expect(err).NotTo(HaveOccurred())
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
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
