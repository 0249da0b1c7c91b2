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
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// InstallPodMetadataPolicy applies config/policy (under configDir) for a manager that
// runs with c's credentials rather than its ServiceAccount, as in `make run` and the
// test suites: the ConfigMap the policy binding reads goes to namespace and names c's
// user (from a SelfSubjectReview) as the one identity allowed to change the pods'
// Outrigger metadata. It returns that user's name. config/policy's sidecars-ready
// MutatingAdmissionPolicy and its binding are applied as they are.
func InstallPodMetadataPolicy(ctx context.Context, c client.Client, configDir, namespace string) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server who the manager is: %w", err)
	}
	user := review.Status.UserInfo.Username
	objs, err := Render(configDir + "/policy")
	if err != nil {
		return "", err
	}
	for _, obj := range objs {
		switch obj.GetKind() {
		case "ConfigMap":
			obj.SetNamespace(namespace)
			if err := unstructured.SetNestedField(obj.Object, user, "data", "username"); err != nil {
				return "", err
			}
		case "ValidatingAdmissionPolicyBinding":
			if err := unstructured.SetNestedField(obj.Object, namespace, "spec", "paramRef", "namespace"); err != nil {
				return "", err
			}
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("outrigger-local"), client.ForceOwnership); err != nil {
			return "", fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return user, nil
}
