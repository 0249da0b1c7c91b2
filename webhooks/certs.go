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
	"path"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// The certificate rotator's permissions are not markers here but config/rbac's
// cert_rotator_role.yaml: they name the one Secret and the two webhook configurations
// (resourceNames), and installs that do not run the rotator (config/certmanager, the OLM
// bundle) leave them out as a whole.

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
	// ControllerName names the rotator's controller; empty is cert-controller's default.
	// Controller names are unique in a process, which may run several rotators (tests).
	ControllerName string
}

// AddCertRotator makes the manager generate its CA and serving certificate, rotate them
// before they expire and keep the webhook configurations' caBundle in step. ready is
// closed once the certificate is on disk and the webhook server may start.
//
// The rotator reads through a cache of its own, which would list and watch every Secret
// of the namespace and every webhook configuration of the cluster; it is given a client
// configuration that narrows those requests to the objects it reads, so that RBAC can
// grant it these by name only.
func AddCertRotator(mgr ctrl.Manager, opts CertOptions, ready chan struct{}) error {
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.Wrap(namedOnly(map[string]string{
		path.Join("/api/v1/namespaces", opts.Secret.Namespace, "secrets"):       opts.Secret.Name,
		"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations":   opts.MutatingWebhookConfiguration,
		"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations": opts.ValidatingWebhookConfiguration,
	}))
	return rotator.AddRotator(managerWithConfig{Manager: mgr, config: cfg}, &rotator.CertRotator{
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
		ControllerName:        opts.ControllerName,
		// The webhook server watches the files, so a rotation needs no restart.
		RestartOnSecretRefresh: false,
	})
}

// managerWithConfig is mgr, save the client configuration it gives: rotator.AddRotator
// builds its cache from GetConfig, and takes its writer, scheme and mapper from mgr.
type managerWithConfig struct {
	ctrl.Manager
	config *rest.Config
}

func (m managerWithConfig) GetConfig() *rest.Config { return m.config }

// namedOnly narrows the list and watch requests of a client to one object per
// collection: a GET of a collection path (collection paths end in the key, after any
// prefix of the API server's URL) gets the field selector metadata.name=<name>, ANDed with
// any it has. The API server authorizes such a request against RBAC rules that name
// the object (resourceNames); a list of the whole collection would need them all.
func namedOnly(names map[string]string) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet {
				return next.RoundTrip(req)
			}
			for collection, name := range names {
				if !strings.HasSuffix(req.URL.Path, collection) {
					continue
				}
				q := req.URL.Query()
				sel := fields.OneTermEqualSelector("metadata.name", name)
				if have := q.Get("fieldSelector"); have != "" {
					parsed, err := fields.ParseSelector(have)
					if err != nil {
						return nil, err
					}
					sel = fields.AndSelectors(parsed, sel)
				}
				q.Set("fieldSelector", sel.String())
				// A RoundTripper must not change the request it is given.
				narrowed := req.Clone(req.Context())
				narrowed.URL.RawQuery = q.Encode()
				return next.RoundTrip(narrowed)
			}
			return next.RoundTrip(req)
		})
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

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
