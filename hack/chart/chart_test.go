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

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// render is helm template of the committed chart (helm from hack/helm.sh, built once per
// machine) as release name in namespace ns with the values set.
func render(t *testing.T, name, ns string, set ...string) map[string]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	helm, err := command(root, "hack/helm.sh")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(helm)), "\n")
	home := t.TempDir()
	t.Setenv("HELM_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("HELM_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("HELM_DATA_HOME", filepath.Join(home, "data"))
	args := []string{"template", name, filepath.Join(root, "charts/outrigger"), "--namespace", ns}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := command(root, lines[len(lines)-1], args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := keys(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestChartValues(t *testing.T) {
	if _, err := os.Stat("../../charts/outrigger/Chart.yaml"); err != nil {
		t.Fatalf("no chart: run make helm: %v", err)
	}
	t.Run("another release and namespace: every name the manager looks up is the release's", func(t *testing.T) {
		objs := render(t, "edge", "edge-system")
		d := objs["Deployment/edge-outrigger-controller-manager"]
		for _, want := range []string{
			"--webhook-configuration-prefix=edge-outrigger-", "--webhook-cert-secret=edge-outrigger-webhook-cert",
			"--webhook-dns-name=edge-outrigger-webhook-service.edge-system.svc", "secretName: edge-outrigger-webhook-cert",
		} {
			if !strings.Contains(d, want) {
				t.Errorf("the Deployment lacks %q", want)
			}
		}
		if w := objs["ConfigMap/edge-outrigger-pod-metadata-writer"]; !strings.Contains(w,
			"system:serviceaccount:edge-system:edge-outrigger-controller-manager") {
			t.Errorf("the pod-metadata writer is not the release's ServiceAccount:\n%s", w)
		}
		for k, o := range objs {
			if strings.Contains(o, "outrigger-system") {
				t.Errorf("%s names outrigger-system", k)
			}
		}
	})
	t.Run("cert-manager", func(t *testing.T) {
		objs := render(t, "outrigger", "outrigger-system", "certManager.enabled=true")
		for _, k := range []string{"Certificate/outrigger-serving-cert", "Issuer/outrigger-selfsigned-issuer"} {
			if _, ok := objs[k]; !ok {
				t.Errorf("no %s", k)
			}
		}
		for _, k := range []string{"Secret/outrigger-webhook-cert", "ClusterRole/outrigger-cert-rotator-role", "Role/outrigger-cert-rotator-role"} {
			if _, ok := objs[k]; ok {
				t.Errorf("%s is rendered with cert-manager", k)
			}
		}
		if !strings.Contains(objs["Deployment/outrigger-controller-manager"], "--cert-management=external") {
			t.Error("the manager does not read cert-manager's certificate")
		}
		if !strings.Contains(objs["MutatingWebhookConfiguration/outrigger-mutating-webhook-configuration"],
			"cert-manager.io/inject-ca-from: outrigger-system/outrigger-serving-cert") {
			t.Error("no CA injection")
		}
	})
	t.Run("policy engine, GOMEMLIMIT, excluded namespaces, monitoring", func(t *testing.T) {
		objs := render(t, "outrigger", "outrigger-system", "manager.injectionEngine=AdmissionPolicy",
			"manager.goMemLimit=200MiB", "excludedNamespaces={team-a}", "alerts.enabled=true", "dashboard.enabled=true",
			"policies.podMetadata.enabled=false")
		d := objs["Deployment/outrigger-controller-manager"]
		if !strings.Contains(d, "--injection-engine=AdmissionPolicy") || !strings.Contains(d, "value: \"200MiB\"") ||
			strings.Count(d, "name: GOMEMLIMIT") != 1 {
			t.Errorf("the Deployment's engine or GOMEMLIMIT:\n%s", d)
		}
		m := objs["MutatingWebhookConfiguration/outrigger-mutating-webhook-configuration"]
		for _, want := range []string{"failurePolicy: Ignore", "operator: DoesNotExist", `- "team-a"`} {
			if !strings.Contains(m, want) {
				t.Errorf("the pod webhook lacks %q", want)
			}
		}
		for _, k := range []string{"ClusterRole/outrigger-admission-policy-role", "PrometheusRule/outrigger-alerts", "ConfigMap/outrigger-dashboard"} {
			if _, ok := objs[k]; !ok {
				t.Errorf("no %s", k)
			}
		}
		if !strings.Contains(objs["PrometheusRule/outrigger-alerts"], "alert: OutriggerRolloutFailing") {
			t.Error("the PrometheusRule has not the rules")
		}
		if !strings.Contains(objs["ConfigMap/outrigger-dashboard"], `"uid": "outrigger-sidecarsets"`) {
			t.Error("the dashboard ConfigMap has not the dashboard")
		}
		for _, k := range []string{"ValidatingAdmissionPolicy/outrigger-pod-metadata.sidecars.outrigger.dev", "ConfigMap/outrigger-pod-metadata-writer"} {
			if _, ok := objs[k]; ok {
				t.Errorf("%s with policies.podMetadata.enabled=false", k)
			}
		}
	})
}
