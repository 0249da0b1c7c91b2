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

// Command outrigger runs the Outrigger manager: the SidecarSet controllers and the
// admission webhooks. This file only wires: flags, scheme, manager, and the Setup of
// each package.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/controllers"
	"github.com/outrigger-dev/outrigger/webhooks"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(sidecarsv1alpha1.AddToScheme(scheme))
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// injectionEngineEnv sets --injection-engine's default (an OLM Subscription's
// spec.config.env reaches the manager this way).
const injectionEngineEnv = "OUTRIGGER_INJECTION_ENGINE"

func main() {
	var (
		metricsAddr          string
		probeAddr            string
		secureMetrics        bool
		enableHTTP2          bool
		enableLeaderElection bool
		webhookCertDir       string
		webhookPort          int
		operatorNamespace    string
		enableWebhooks       bool
		certManagement       string
		webhookDNSName       string
		webhookCertSecret    string
		webhookConfigPrefix  string
		pprofAddr            string
		kubeAPIQPS           float64
		kubeAPIBurst         int
		injectionEngine      string
		webhookInFlightBytes int64
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0",
		"Address the metrics endpoint binds to, e.g. :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization; false serves plain HTTP.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 on the metrics and webhook servers (off by default: HTTP/2 Rapid Reset, CVE-2023-44487).")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Elect a leader, so only one replica of the manager is active at a time.")
	flag.StringVar(&webhookCertDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"),
		"Directory holding tls.crt and tls.key for the webhook server (written there with --cert-management=self).")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "Port the webhook server listens on.")
	flag.StringVar(&operatorNamespace, "operator-namespace", envOr("POD_NAMESPACE", "outrigger-system"),
		"Namespace the operator runs in: it keeps SidecarSet revisions there and never injects its pods.")
	flag.BoolVar(&enableWebhooks, "enable-webhooks", true,
		"Serve the pod injection and SidecarSet validation webhooks.")
	flag.StringVar(&certManagement, "cert-management", "self",
		"Who provides the webhook serving certificate: self (generated, rotated and injected into the webhook "+
			"configurations by the manager) or external (cert-manager or OLM mount it into --webhook-cert-dir).")
	flag.StringVar(&webhookDNSName, "webhook-dns-name", "",
		"DNS name the API server dials for the webhooks; default outrigger-webhook-service.<operator-namespace>.svc.")
	flag.StringVar(&webhookCertSecret, "webhook-cert-secret", "outrigger-webhook-cert",
		"Secret in the operator namespace that holds the self-managed CA and serving certificate.")
	flag.StringVar(&webhookConfigPrefix, "webhook-configuration-prefix", "outrigger-",
		"Name prefix of the webhook configurations whose caBundle the manager keeps in step.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "",
		"Address net/http/pprof binds to, e.g. 127.0.0.1:8082; empty disables it.")
	flag.Float64Var(&kubeAPIQPS, "kube-api-qps", 50,
		"Requests per second the manager's API client may make on average (client-go's rate limiter).")
	flag.IntVar(&kubeAPIBurst, "kube-api-burst", 100, "Requests the manager's API client may make in a burst.")
	flag.StringVar(&injectionEngine, "injection-engine", envOr(injectionEngineEnv, string(controllers.EngineWebhook)),
		"What injects sidecars into new pods: Webhook (the pod webhook) or AdmissionPolicy (a MutatingAdmissionPolicy the "+
			"operator generates from the SidecarSets; pods get their sidecars while the operator is down). Defaults to $"+
			injectionEngineEnv+" if set. See docs/design/admission-policy.md.")
	flag.Int64Var(&webhookInFlightBytes, "webhook-inflight-bytes", 8<<20,
		"Request bytes the webhook server serves at once (a request counts at least 64 KiB); past it requests wait up "+
			"to 2s, then are answered 429, which the API server retries. Bounds the manager's memory whatever calls port 9443.")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog := ctrl.Log.WithName("setup")
	engine, err := controllers.ParseEngine(injectionEngine)
	if err != nil {
		setupLog.Error(err, "Invalid --injection-engine")
		os.Exit(1)
	}

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}

	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(kubeAPIQPS), kubeAPIBurst
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsOpts,
		// Every webhook behind an in-flight budget: no caller of the port can make the
		// manager hold more (webhooks.SheddingServer).
		WebhookServer: webhooks.NewSheddingServer(webhook.NewServer(webhook.Options{
			Port:    webhookPort,
			CertDir: webhookCertDir,
			TLSOpts: tlsOpts,
		}), webhooks.ShedOptions{InFlightBytes: webhookInFlightBytes}),
		Cache:                  controllers.WithAdmissionPolicyCache(controllers.CacheOptions(controllers.Options{OperatorNamespace: operatorNamespace})),
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       pprofAddr,
		LeaderElection:         enableLeaderElection,
		LeaderElectionID:       "outrigger.sidecars.outrigger.dev",
		// The manager exits right after SetupSignalHandler's context ends, so giving up
		// the lease at once lets a new leader start without waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		setupLog.Error(err, "Unable to create the manager")
		os.Exit(1)
	}

	if err := controllers.SetupWithManager(mgr, controllers.Options{OperatorNamespace: operatorNamespace}); err != nil {
		setupLog.Error(err, "Unable to set up the controllers")
		os.Exit(1)
	}
	if err := controllers.SetupAdmissionPolicyWithManager(mgr, controllers.Options{OperatorNamespace: operatorNamespace}, engine); err != nil {
		setupLog.Error(err, "Unable to set up the admission policy controller")
		os.Exit(1)
	}
	// The webhook server starts when the first webhook registers, which must wait until
	// its certificate is on disk.
	certsReady := make(chan struct{})
	switch {
	case !enableWebhooks:
	case certManagement == "self":
		if webhookDNSName == "" {
			webhookDNSName = "outrigger-webhook-service." + operatorNamespace + ".svc"
		}
		if err := webhooks.AddCertRotator(mgr, webhooks.CertOptions{
			Secret:                         types.NamespacedName{Namespace: operatorNamespace, Name: webhookCertSecret},
			CertDir:                        webhookCertDir,
			DNSName:                        webhookDNSName,
			MutatingWebhookConfiguration:   webhookConfigPrefix + "mutating-webhook-configuration",
			ValidatingWebhookConfiguration: webhookConfigPrefix + "validating-webhook-configuration",
			// Every replica serves the webhooks, so every replica must have the certificate:
			// they all keep it current (writes are optimistic, so they cannot clobber each other).
			RequireLeaderElection: false,
		}, certsReady); err != nil {
			setupLog.Error(err, "Unable to set up webhook certificate management")
			os.Exit(1)
		}
	case certManagement == "external":
		close(certsReady)
	default:
		setupLog.Error(nil, "Unknown --cert-management; use self or external", "value", certManagement)
		os.Exit(1)
	}
	if enableWebhooks {
		go func() {
			<-certsReady
			if err := webhooks.SetupWithManager(mgr, webhooks.Options{OperatorNamespace: operatorNamespace}); err != nil {
				setupLog.Error(err, "Unable to set up the webhooks")
				os.Exit(1)
			}
			setupLog.Info("Registered the webhooks")
		}()
	} else {
		close(certsReady)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up the health check")
		os.Exit(1)
	}
	// Ready once the webhook server serves: before that the API server's calls would fail.
	readyz := healthz.Ping
	if enableWebhooks {
		readyz = webhooks.ReadyChecker(mgr, certsReady)
	}
	if err := mgr.AddReadyzCheck("readyz", readyz); err != nil {
		setupLog.Error(err, "Unable to set up the readiness check")
		os.Exit(1)
	}

	setupLog.Info("Starting the manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "The manager stopped with an error")
		os.Exit(1)
	}
}
