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

package webhooks

import (
	"errors"
	"net/http"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;update,namespace=system
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch;update

// CertOptions configure the webhook serving certificate Outrigger manages itself.
type CertOptions struct {
	// Secret holds the CA and serving certificate; it must exist (config/default ships it
	// empty) and lives in the operator's namespace.
	Secret types.NamespacedName
	// CertDir is where the webhook server reads tls.crt and tls.key.
	CertDir string
	// DNSName is the name the API server dials: the webhook Service's DNS name, or
	// localhost for a manager running outside the cluster.
	DNSName string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration get the CA bundle.
	MutatingWebhookConfiguration, ValidatingWebhookConfiguration string
	// RequireLeaderElection rotates from the leader only.
	RequireLeaderElection bool
	// ServerCertDuration overrides the serving certificate's lifetime (tests).
	ServerCertDuration time.Duration
}

// AddCertRotator makes the manager generate its CA and serving certificate, rotate them
// before they expire and keep the webhook configurations' caBundle in step. ready is
// closed once the certificate is on disk and the webhook server may start.
func AddCertRotator(mgr ctrl.Manager, opts CertOptions, ready chan struct{}) error {
	return rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      opts.Secret,
		CertDir:        opts.CertDir,
		CAName:         "outrigger-ca",
		CAOrganization: "outrigger",
		DNSName:        opts.DNSName,
		IsReady:        ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: opts.MutatingWebhookConfiguration, Type: rotator.Mutating},
			{Name: opts.ValidatingWebhookConfiguration, Type: rotator.Validating},
		},
		RequireLeaderElection: opts.RequireLeaderElection,
		ServerCertDuration:    opts.ServerCertDuration,
		// The webhook server watches the files, so a rotation needs no restart.
		RestartOnSecretRefresh: false,
	})
}

// ReadyChecker is the manager's readiness: not ready until the certificates are in
// place, then ready once the webhook server answers TLS.
func ReadyChecker(mgr ctrl.Manager, certsReady <-chan struct{}) healthz.Checker {
	return func(req *http.Request) error {
		select {
		case <-certsReady:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("webhook certificates are not ready yet")
		}
	}
}
