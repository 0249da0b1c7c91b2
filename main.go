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
	"cmp"
	"crypto/tls"
	"flag"
	"fmt"
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

// options are the manager's flags.
type options struct {
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
}

func (o *options) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "0",
		"Address the metrics endpoint binds to, e.g. :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization; false serves plain HTTP.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 on the metrics and webhook servers (off by default: HTTP/2 Rapid Reset, CVE-2023-44487).")
	fs.BoolVar(&o.enableLeaderElection, "leader-elect", false,
		"Elect a leader, so only one replica of the manager is active at a time.")
	fs.StringVar(&o.webhookCertDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"),
		"Directory holding tls.crt and tls.key for the webhook server (written there with --cert-management=self).")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "Port the webhook server listens on.")
	fs.StringVar(&o.operatorNamespace, "operator-namespace", envOr("POD_NAMESPACE", "outrigger-system"),
		"Namespace the operator runs in: it keeps SidecarSet revisions there and never injects its pods.")
	fs.BoolVar(&o.enableWebhooks, "enable-webhooks", true,
		"Serve the pod injection and SidecarSet validation webhooks.")
	fs.StringVar(&o.certManagement, "cert-management", "self",
		"Who provides the webhook serving certificate: self (generated, rotated and injected into the webhook "+
			"configurations by the manager) or external (cert-manager or OLM mount it into --webhook-cert-dir).")
	fs.StringVar(&o.webhookDNSName, "webhook-dns-name", "",
		"DNS name the API server dials for the webhooks; default outrigger-webhook-service.<operator-namespace>.svc.")
	fs.StringVar(&o.webhookCertSecret, "webhook-cert-secret", "outrigger-webhook-cert",
		"Secret in the operator namespace that holds the self-managed CA and serving certificate.")
	fs.StringVar(&o.webhookConfigPrefix, "webhook-configuration-prefix", "outrigger-",
		"Name prefix of the webhook configurations whose caBundle the manager keeps in step.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "",
		"Address net/http/pprof binds to, e.g. 127.0.0.1:8082; empty disables it.")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 50,
		"Requests per second the manager's API client may make on average (client-go's rate limiter).")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 100, "Requests the manager's API client may make in a burst.")
	fs.StringVar(&o.injectionEngine, "injection-engine", envOr(injectionEngineEnv, string(controllers.EngineWebhook)),
		"What injects sidecars into new pods: Webhook (the pod webhook) or AdmissionPolicy (a MutatingAdmissionPolicy the "+
			"operator generates from the SidecarSets; pods get their sidecars while the operator is down). Defaults to $"+
			injectionEngineEnv+" if set. See docs/design/admission-policy.md.")
	fs.Int64Var(&o.webhookInFlightBytes, "webhook-inflight-bytes", 8<<20,
		"Request bytes the webhook server serves at once (a request counts at least 64 KiB); past it requests wait up "+
			"to 2s, then are answered 429, which the API server retries. Bounds the manager's memory whatever calls port 9443.")
}

func main() {
	var o options
	o.bindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(o); err != nil {
		ctrl.Log.WithName("setup").Error(err, "The manager stopped with an error")
		os.Exit(1)
	}
}

// run sets the manager up as the options say, and runs it until a signal stops it.
func run(o options) error {
	setupLog := ctrl.Log.WithName("setup")
	engine, err := controllers.ParseEngine(o.injectionEngine)
	if err != nil {
		return fmt.Errorf("invalid --injection-engine: %w", err)
	}
	if o.enableWebhooks && o.certManagement != "self" && o.certManagement != "external" {
		return fmt.Errorf("unknown --cert-management %q; use self or external", o.certManagement)
	}
	mgr, err := newManager(o)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	controllerOpts := controllers.Options{OperatorNamespace: o.operatorNamespace}
	if err := controllers.SetupWithManager(mgr, controllerOpts); err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	if err := controllers.SetupAdmissionPolicyWithManager(mgr, controllerOpts, engine); err != nil {
		return fmt.Errorf("setting up the admission policy controller: %w", err)
	}
	readyz, err := setupWebhooks(mgr, o)
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("setting up the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", readyz); err != nil {
		return fmt.Errorf("setting up the readiness check: %w", err)
	}
	setupLog.Info("Starting the manager")
	return mgr.Start(ctrl.SetupSignalHandler())
}

// newManager is the manager with its servers, cache and leader election.
func newManager(o options) (ctrl.Manager, error) {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics, TLSOpts: tlsOpts}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(o.kubeAPIQPS), o.kubeAPIBurst
	return ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsOpts,
		// Every webhook behind an in-flight budget: no caller of the port can make the
		// manager hold more (webhooks.SheddingServer).
		WebhookServer: webhooks.NewSheddingServer(webhook.NewServer(webhook.Options{
			Port:    o.webhookPort,
			CertDir: o.webhookCertDir,
			TLSOpts: tlsOpts,
		}), webhooks.ShedOptions{InFlightBytes: o.webhookInFlightBytes}),
		Cache:                  controllers.WithAdmissionPolicyCache(controllers.CacheOptions(controllers.Options{OperatorNamespace: o.operatorNamespace})),
		HealthProbeBindAddress: o.probeAddr,
		PprofBindAddress:       o.pprofAddr,
		LeaderElection:         o.enableLeaderElection,
		LeaderElectionID:       "outrigger.sidecars.outrigger.dev",
		// The manager exits right after SetupSignalHandler's context ends, so giving up
		// the lease at once lets a new leader start without waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
	})
}

// setupWebhooks registers the webhooks once their serving certificate is on disk (the
// webhook server starts when the first webhook registers), and returns the readiness
// check: ready once the webhook server serves, before which the API server's calls
// would fail.
func setupWebhooks(mgr ctrl.Manager, o options) (healthz.Checker, error) {
	if !o.enableWebhooks {
		return healthz.Ping, nil
	}
	certsReady := make(chan struct{})
	if o.certManagement == "self" {
		dnsName := cmp.Or(o.webhookDNSName, "outrigger-webhook-service."+o.operatorNamespace+".svc")
		if err := webhooks.AddCertRotator(mgr, webhooks.CertOptions{
			Secret:                         types.NamespacedName{Namespace: o.operatorNamespace, Name: o.webhookCertSecret},
			CertDir:                        o.webhookCertDir,
			DNSName:                        dnsName,
			MutatingWebhookConfiguration:   o.webhookConfigPrefix + "mutating-webhook-configuration",
			ValidatingWebhookConfiguration: o.webhookConfigPrefix + "validating-webhook-configuration",
			// Every replica serves the webhooks, so every replica must have the certificate:
			// they all keep it current (writes are optimistic, so they cannot clobber each other).
			RequireLeaderElection: false,
		}, certsReady); err != nil {
			return nil, fmt.Errorf("setting up webhook certificate management: %w", err)
		}
	} else {
		close(certsReady)
	}
	setupLog := ctrl.Log.WithName("setup")
	go func() {
		<-certsReady
		if err := webhooks.SetupWithManager(mgr, webhooks.Options{OperatorNamespace: o.operatorNamespace}); err != nil {
			setupLog.Error(err, "Unable to set up the webhooks")
			os.Exit(1)
		}
		setupLog.Info("Registered the webhooks")
	}()
	return webhooks.ReadyChecker(mgr, certsReady), nil
}
