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

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Operator runs the manager binary outside the cluster, as `make run` and the e2e
// suites do: the API server reaches its webhooks at https://localhost:<WebhookPort>,
// it manages its own certificate, and a secret-volume stand-in puts that certificate
// on its disk.
type Operator struct {
	// Manager is the manager binary (bin/manager).
	Manager string
	// Kubeconfig is the cluster's admin kubeconfig.
	Kubeconfig string
	// Namespace is the operator's namespace; created if missing.
	Namespace string
	// CertDir receives the webhook certificate.
	CertDir string
	// WebhookPort and ProbePort are the manager's ports on this machine.
	WebhookPort, ProbePort int
	// Output receives the manager's logs.
	Output io.Writer
	// Args are added after the ones Run passes; a flag given twice takes the last value.
	Args []string
	// Env is added to the manager's environment (this process's, plus KUBECONFIG).
	Env []string

	// process is the manager Run started last.
	process *os.Process
}

const certSecret = "outrigger-webhook-cert"

// Install creates what the manager expects and `make deploy` would have created: the
// CRDs (config/crd, server-side applied), its namespace, the certificate Secret, the
// webhook configurations of config/webhook, pointing at localhost, and the policy of
// config/policy naming the kubeconfig's user as the operator.
func (o *Operator) Install(ctx context.Context, c client.Client, configDir string) error {
	if err := applyCRDs(ctx, c, configDir); err != nil {
		return err
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace,
			Labels: map[string]string{"sidecars.outrigger.dev/inject": "false"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: certSecret}},
	}
	hooks, err := Render(configDir + "/webhook")
	if err != nil {
		return err
	}
	for _, obj := range hooks {
		if !isWebhookConfiguration(obj) {
			continue
		}
		if err := o.pointAtLocalhost(obj); err != nil {
			return err
		}
		objs = append(objs, obj)
	}
	for _, obj := range objs {
		err := c.Create(ctx, obj)
		switch {
		case err == nil:
		case !apierrors.IsAlreadyExists(err):
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		case isWebhookConfiguration(obj):
			// Left by an earlier run: point it at this run's port. The manager injects its
			// CA again when the configuration changes.
			if err := replace(ctx, c, obj); err != nil {
				return fmt.Errorf("updating %T %s: %w", obj, obj.GetName(), err)
			}
		}
	}
	_, err = InstallPodMetadataPolicy(ctx, c, configDir, o.Namespace)
	return err
}

// applyCRDs applies config/crd server-side and waits until the API serves each CRD:
// the manager watches SidecarSets from its start.
func applyCRDs(ctx context.Context, c client.Client, configDir string) error {
	crds, err := Render(configDir + "/crd")
	if err != nil {
		return err
	}
	for _, crd := range crds {
		crd.SetManagedFields(nil)
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd), client.FieldOwner("outrigger-local"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying CRD %s: %w", crd.GetName(), err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			// Unstructured, so it works whatever scheme the caller's client has.
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
			if err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, got); err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, cond := range conds {
				if m, ok := cond.(map[string]any); ok && m["type"] == string(apiextensionsv1.Established) && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s: %w", crd.GetName(), err)
		}
	}
	return nil
}

func isWebhookConfiguration(obj client.Object) bool {
	switch obj.GetObjectKind().GroupVersionKind().Kind {
	case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		return true
	}
	return false
}

// pointAtLocalhost makes a rendered webhook configuration (mutating or validating) the
// manager's on this machine: named as config/default's namePrefix names it, each
// webhook calling https://localhost:<WebhookPort><the service's path>.
func (o *Operator) pointAtLocalhost(cfg *unstructured.Unstructured) error {
	webhooks, _, err := unstructured.NestedSlice(cfg.Object, "webhooks")
	if err != nil {
		return err
	}
	for _, w := range webhooks {
		m, ok := w.(map[string]any)
		if !ok {
			return fmt.Errorf("%s %s: a webhook is a %T", cfg.GetKind(), cfg.GetName(), w)
		}
		path, _, _ := unstructured.NestedString(m, "clientConfig", "service", "path")
		if path == "" {
			path = "/"
		}
		m["clientConfig"] = map[string]any{"url": fmt.Sprintf("https://localhost:%d%s", o.WebhookPort, path)}
	}
	cfg.SetName("outrigger-" + cfg.GetName())
	return unstructured.SetNestedSlice(cfg.Object, webhooks, "webhooks")
}

func replace(ctx context.Context, c client.Client, obj client.Object) error {
	current, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("cannot copy %T", obj)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
		return err
	}
	obj.SetResourceVersion(current.GetResourceVersion())
	return c.Update(ctx, obj)
}

// Run starts the manager and returns once it is ready (certificate in place, webhooks
// serving). done receives its exit; it stops when ctx ends.
func (o *Operator) Run(ctx context.Context, c client.Reader) (done <-chan error, err error) {
	go SecretVolumeStandIn(ctx, c, client.ObjectKey{Namespace: o.Namespace, Name: certSecret}, o.CertDir,
		func(err error) { _, _ = fmt.Fprintln(o.Output, "mounting the webhook certificate:", err) })

	args := append([]string{
		"--operator-namespace=" + o.Namespace,
		"--webhook-dns-name=localhost",
		"--webhook-cert-dir=" + o.CertDir,
		"--webhook-port=" + strconv.Itoa(o.WebhookPort),
		"--health-probe-bind-address=:" + strconv.Itoa(o.ProbePort),
		"--metrics-bind-address=0",
	}, o.Args...)
	result, err := runProcess(ctx, &o.process, o.Manager, append([]string{"KUBECONFIG=" + o.Kubeconfig}, o.Env...), o.Output, args...)
	if err != nil {
		return nil, err
	}

	url := fmt.Sprintf("http://localhost:%d/readyz", o.ProbePort)
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-result:
			return false, errors.Join(errors.New("the manager stopped before it was ready"), err)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// PID is the process ID of the manager Run started last; 0 before that.
func (o *Operator) PID() int {
	if o.process == nil {
		return 0
	}
	return o.process.Pid
}

// Kill kills the manager Run started last with SIGKILL, as an OOM kill or a node
// failure would: no shutdown, no lease released. Run starts it again.
func (o *Operator) Kill() error {
	if o.process == nil {
		return errors.New("the manager is not running")
	}
	return o.process.Kill()
}
