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

package testing

import (
	"context"
	"errors"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PodWebhookName is the pod injector's entry in the MutatingWebhookConfiguration.
const PodWebhookName = "inject.sidecars.outrigger.dev"

// RemovePodWebhook removes the pod injector from the MutatingWebhookConfiguration that
// holds it, as config/admission-policy installs Outrigger: the API server then calls
// no webhook for pods. restore puts the same entry back (its caBundle included).
func RemovePodWebhook(ctx context.Context, c client.Client) (restore func(context.Context) error, err error) {
	var list admissionregistrationv1.MutatingWebhookConfigurationList
	if err := c.List(ctx, &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		cfg := &list.Items[i]
		j := slices.IndexFunc(cfg.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == PodWebhookName })
		if j < 0 {
			continue
		}
		saved, key := cfg.Webhooks[j].DeepCopy(), client.ObjectKeyFromObject(cfg)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, key, cfg); err != nil {
				return err
			}
			cfg.Webhooks = slices.DeleteFunc(cfg.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == PodWebhookName })
			return c.Update(ctx, cfg)
		})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return retry.OnError(wait.Backoff{Steps: 10, Duration: 100 * time.Millisecond, Factor: 1.5}, func(error) bool { return true }, func() error {
				cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
				if err := c.Get(ctx, key, cfg); err != nil {
					return err
				}
				if slices.ContainsFunc(cfg.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == PodWebhookName }) {
					return nil
				}
				cfg.Webhooks = append(cfg.Webhooks, *saved)
				return c.Update(ctx, cfg)
			})
		}, nil
	}
	return nil, errors.New("no MutatingWebhookConfiguration holds the pod webhook " + PodWebhookName)
}
