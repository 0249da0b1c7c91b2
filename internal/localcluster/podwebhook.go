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
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	key, saved, err := findPodWebhook(ctx, c)
	if err != nil {
		return nil, err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Get(ctx, key, cfg); err != nil {
			return err
		}
		cfg.Webhooks = slices.DeleteFunc(cfg.Webhooks, isPodWebhook)
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
			if slices.ContainsFunc(cfg.Webhooks, isPodWebhook) {
				return nil
			}
			cfg.Webhooks = append(cfg.Webhooks, *saved)
			return c.Update(ctx, cfg)
		})
	}, nil
}

// findPodWebhook is the MutatingWebhookConfiguration holding the pod injector, and a
// copy of its entry.
func findPodWebhook(ctx context.Context, c client.Client) (client.ObjectKey, *admissionregistrationv1.MutatingWebhook, error) {
	var list admissionregistrationv1.MutatingWebhookConfigurationList
	if err := c.List(ctx, &list); err != nil {
		return client.ObjectKey{}, nil, err
	}
	for i := range list.Items {
		if j := slices.IndexFunc(list.Items[i].Webhooks, isPodWebhook); j >= 0 {
			return client.ObjectKeyFromObject(&list.Items[i]), list.Items[i].Webhooks[j].DeepCopy(), nil
		}
	}
	return client.ObjectKey{}, nil, errors.New("no MutatingWebhookConfiguration holds the pod webhook " + PodWebhookName)
}

// PolicyEnginePodWebhook gives the live pod injector entry what config/admission-policy
// gives it (rendered from configDir): its failurePolicy, selectors and match
// conditions; the client configuration stays. restore puts the entry back as it was.
func PolicyEnginePodWebhook(ctx context.Context, c client.Client, configDir string) (restore func(context.Context) error, err error) {
	objs, err := Render(configDir + "/admission-policy")
	if err != nil {
		return nil, err
	}
	var want *admissionregistrationv1.MutatingWebhook
	for _, o := range objs {
		if o.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cfg); err != nil {
			return nil, err
		}
		if j := slices.IndexFunc(cfg.Webhooks, isPodWebhook); j >= 0 {
			want = &cfg.Webhooks[j]
		}
	}
	if want == nil {
		return nil, errors.New("config/admission-policy renders no pod webhook " + PodWebhookName)
	}
	key, saved, err := findPodWebhook(ctx, c)
	if err != nil {
		return nil, err
	}
	set := func(ctx context.Context, from *admissionregistrationv1.MutatingWebhook) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := c.Get(ctx, key, cfg); err != nil {
				return err
			}
			j := slices.IndexFunc(cfg.Webhooks, isPodWebhook)
			if j < 0 {
				return errors.New("the pod webhook " + PodWebhookName + " is gone from " + key.Name)
			}
			h := &cfg.Webhooks[j]
			h.FailurePolicy, h.ObjectSelector, h.NamespaceSelector, h.MatchConditions =
				from.FailurePolicy, from.ObjectSelector, from.NamespaceSelector, from.MatchConditions
			return c.Update(ctx, cfg)
		})
	}
	if err := set(ctx, want); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return set(ctx, saved) }, nil
}

func isPodWebhook(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == PodWebhookName }
