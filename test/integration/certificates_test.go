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
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/webhooks"
)

// The suite's manager serves with envtest's certificates; this spec runs a second
// manager that manages its own, as a deployment does with --cert-management=self.
var _ = Describe("Self-managed webhook certificates", func() {
	const (
		secretName = "rotation-test-cert"
		validating = "rotation-test-validating"
		mutating   = "rotation-test-mutating"
	)

	It("replaces an expired serving certificate and keeps the webhook serving", func() {
		port := freePort()
		certDir := GinkgoT().TempDir()
		secretKey := client.ObjectKey{Namespace: operatorNamespace, Name: secretName}

		By("seeding the Secret with a CA and a serving certificate that expired yesterday")
		seed := &rotator.CertRotator{CAName: "outrigger-ca", CAOrganization: "outrigger", DNSName: "localhost",
			ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		yesterday := time.Now().Add(-24 * time.Hour)
		ca, err := seed.CreateCACert(time.Now().Add(-48*time.Hour), time.Now().Add(365*24*time.Hour))
		Expect(err).NotTo(HaveOccurred())
		expiredCert, expiredKey, err := seed.CreateCertPEM(ca, time.Now().Add(-48*time.Hour), yesterday)
		Expect(err).NotTo(HaveOccurred())
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: secretName},
			Data: map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM, "tls.crt": expiredCert, "tls.key": expiredKey}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, secret)

		By("registering webhook configurations for the manager to inject its CA into")
		url := "https://localhost:" + strconv.Itoa(port) + "/validate-sidecars-outrigger-dev-v1alpha1-sidecarset"
		never := &metav1.LabelSelector{MatchLabels: map[string]string{"rotation-test": "never-matches"}}
		vwc := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validating},
			Webhooks: []admissionv1.ValidatingWebhook{{
				Name: "validate.rotation-test.outrigger.dev", ClientConfig: admissionv1.WebhookClientConfig{URL: &url},
				SideEffects: ptr.To(admissionv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
				ObjectSelector: never,
			}}}
		mwc := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutating},
			Webhooks: []admissionv1.MutatingWebhook{{
				Name: "mutate.rotation-test.outrigger.dev", ClientConfig: admissionv1.WebhookClientConfig{URL: &url},
				SideEffects: ptr.To(admissionv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
				ObjectSelector: never,
			}}}
		Expect(k8sClient.Create(ctx, vwc)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, vwc)
		Expect(k8sClient.Create(ctx, mwc)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, mwc)

		By("starting a manager that manages its certificate")
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                 scheme.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			WebhookServer:          webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir}),
			Controller:             config.Controller{SkipNameValidation: new(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		certsReady := make(chan struct{})
		Expect(webhooks.AddCertRotator(mgr, webhooks.CertOptions{
			Secret: secretKey, CertDir: certDir, DNSName: "localhost",
			MutatingWebhookConfiguration: mutating, ValidatingWebhookConfiguration: validating,
		}, certsReady)).To(Succeed())
		mctx, mcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			Expect(mgr.Start(mctx)).To(Succeed())
		}()
		go localcluster.SecretVolumeStandIn(mctx, k8sClient, secretKey, certDir, func(err error) { GinkgoWriter.Println(err) })
		DeferCleanup(func() {
			mcancel()
			<-done
		})
		go func() {
			defer GinkgoRecover()
			select {
			case <-certsReady:
				Expect(webhooks.SetupWithManager(mgr, webhooks.Options{OperatorNamespace: operatorNamespace})).To(Succeed())
			case <-mctx.Done():
			}
		}()

		serving := func(g Gomega) *x509.Certificate {
			GinkgoHelper()
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, secretKey, s)).To(Succeed())
			pool := x509.NewCertPool()
			g.Expect(pool.AppendCertsFromPEM(s.Data["ca.crt"])).To(BeTrue())
			// What the API server does: trust the configuration's caBundle, dial, verify.
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vwc), vwc)).To(Succeed())
			g.Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(s.Data["ca.crt"]))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mwc), mwc)).To(Succeed())
			g.Expect(mwc.Webhooks[0].ClientConfig.CABundle).To(Equal(s.Data["ca.crt"]))
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
				&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = conn.Close() }()
			return conn.ConnectionState().PeerCertificates[0]
		}

		var first *x509.Certificate
		Eventually(func(g Gomega) {
			first = serving(g)
			g.Expect(first.NotAfter).To(BeTemporally(">", time.Now().Add(24*time.Hour)))
		}).WithTimeout(60 * time.Second).Should(Succeed())

		By("expiring the certificate again while the manager runs")
		Eventually(func() error {
			s := &corev1.Secret{}
			if err := k8sClient.Get(ctx, secretKey, s); err != nil {
				return err
			}
			s.Data["tls.crt"], s.Data["tls.key"] = expiredCert, expiredKey
			return k8sClient.Update(ctx, s)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			cert := serving(g)
			g.Expect(cert.NotAfter).To(BeTemporally(">", time.Now().Add(24*time.Hour)))
			g.Expect(cert.SerialNumber).NotTo(BeNil())
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, secretKey, s)).To(Succeed())
			block, _ := pem.Decode(s.Data["tls.crt"])
			g.Expect(block).NotTo(BeNil())
			g.Expect(block.Bytes).To(Equal(cert.Raw), "the webhook serves the certificate in the Secret")
			g.Expect(s.Data["tls.crt"]).NotTo(Equal(expiredCert))
		}).WithTimeout(60 * time.Second).Should(Succeed())
	})
})

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
