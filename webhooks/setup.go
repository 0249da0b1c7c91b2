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
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/cacheview"
)

// Options configure the webhooks.
type Options struct {
	// OperatorNamespace is where the operator runs and keeps SidecarSet revisions.
	OperatorNamespace string
}

// podInjectionPath is where the pod webhook is served, the path controller-runtime's
// builder would give it (config/webhook names it).
const podInjectionPath = "/mutate--v1-pod"

// podHandler is the pod webhook: injector behind podAdmission, which builds the patch
// from what it added.
func podHandler(scheme *runtime.Scheme, injector *PodInjector) *admission.Webhook {
	return &admission.Webhook{Handler: &podAdmission{injector: injector, decoder: admission.NewDecoder(scheme), scheme: scheme}}
}

// podWebhook is the pod injector, with either engine. With the admission policy
// engine (--injection-engine=AdmissionPolicy) config/admission-policy registers it
// with failurePolicy Ignore, so that a stopped operator refuses no pod, and does not
// call it for pods the policy labelled injected. It injects the pods the policy did
// not: those created before the API server loaded the policy (while an install
// switches engines), and those only sets the policy cannot express select. A pod the
// policy injected that reaches it anyway gets nothing more: the injector trusts the
// policy's record, byte for byte its own.
func podWebhook(scheme *runtime.Scheme, reader, apiReader client.Reader, sets SetLister, opts Options) *admission.Webhook {
	return podHandler(scheme, &PodInjector{Reader: reader, APIReader: apiReader, Sets: sets, OperatorNamespace: opts.OperatorNamespace})
}

// SetupWithManager registers the pod injector and the SidecarSet defaulter and validator
// with the manager's webhook server.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	reader := mgr.GetCache()
	sets, err := cacheview.New(context.Background(), reader, &sidecarsv1alpha1.SidecarSet{}, nil)
	if err != nil {
		return err
	}
	mgr.GetWebhookServer().Register(podInjectionPath, podWebhook(mgr.GetScheme(), reader, mgr.GetAPIReader(), sets, opts))
	return ctrl.NewWebhookManagedBy(mgr, &sidecarsv1alpha1.SidecarSet{}).
		WithDefaulter(SidecarSetDefaulter{}).
		WithValidator(&SidecarSetValidator{Reader: reader, Client: mgr.GetClient(), OperatorNamespace: opts.OperatorNamespace}).
		Complete()
}
