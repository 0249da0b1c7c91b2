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

// Package bundle checks the committed OLM bundle (bundle/, written by `make bundle`) as
// `operator-sdk bundle validate ./bundle --select-optional suite=operatorframework`
// would, with operator-framework/api's validators, so no operator-sdk binary is needed.
package bundle

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/operator-framework/api/pkg/validation"
	validationerrors "github.com/operator-framework/api/pkg/validation/errors"
	interfaces "github.com/operator-framework/api/pkg/validation/interfaces"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Paths from this package's directory.
var (
	bundleDir  = filepath.Join("..", "..", "bundle")
	dockerfile = filepath.Join("..", "..", "bundle.Dockerfile")
	// controller-gen's webhook configurations: the webhooks the bundle must carry.
	webhookManifests = filepath.Join("..", "..", "config", "webhook", "manifests.yaml")
)

// k8sVersion is the Kubernetes release the bundle is checked against
// (--optional-values=k8s-version=...): the one the tests run on.
const k8sVersion = "1.37"

// registryV1Kinds are the kinds a registry+v1 bundle may carry (operator-registry's
// supported resources); operator-sdk refuses any other.
var registryV1Kinds = map[string]bool{
	"ClusterServiceVersion": true, "CustomResourceDefinition": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "ConfigMap": true, "ConsoleCLIDownload": true,
	"ConsoleLink": true, "ConsoleQuickStart": true, "ConsoleYAMLSample": true, "NetworkPolicy": true,
	"PodDisruptionBudget": true, "PriorityClass": true, "PrometheusRule": true, "Role": true,
	"RoleBinding": true, "Secret": true, "Service": true, "ServiceAccount": true,
	"ServiceMonitor": true, "VerticalPodAutoscaler": true,
}

func loadBundle(t *testing.T) *manifests.Bundle {
	t.Helper()
	b, err := manifests.GetBundleFromDir(bundleDir)
	if err != nil {
		t.Fatalf("Loading %s (run `make bundle`): %v", bundleDir, err)
	}
	// Guard against passing vacuously on a bundle the loader did not really read.
	if b.CSV == nil {
		t.Fatal("The bundle has no ClusterServiceVersion")
	}
	if got := len(b.V1CRDs) + len(b.V1beta1CRDs); got != 1 || len(b.V1CRDs) != 1 {
		t.Fatalf("The bundle has %d v1 and %d v1beta1 CRDs, want 1 v1 CRD", len(b.V1CRDs), len(b.V1beta1CRDs))
	}
	csvs := 0
	for _, o := range b.Objects {
		if o.GetKind() == "ClusterServiceVersion" {
			csvs++
		}
	}
	if csvs != 1 {
		t.Fatalf("The bundle has %d ClusterServiceVersions, want 1", csvs)
	}
	return b
}

// report fails the test on every error-level result and logs the warnings.
func report(t *testing.T, what string, results []validationerrors.ManifestResult) {
	t.Helper()
	for _, r := range results {
		for _, e := range r.Errors {
			t.Errorf("%s: %s: %v", what, r.Name, e)
		}
		for _, w := range r.Warnings {
			t.Logf("%s: warning: %s: %v", what, r.Name, w)
		}
	}
}

// TestValidate runs what `operator-sdk bundle validate ./bundle --select-optional
// suite=operatorframework --optional-values=k8s-version=1.37` runs: the bundle format
// check, the content checks, the default validators and the operatorframework suite.
func TestValidate(t *testing.T) {
	b := loadBundle(t)

	t.Run("default", func(t *testing.T) {
		report(t, "default", validation.DefaultBundleValidators.Validate(b.ObjectsToValidate()...))
	})

	t.Run("suite=operatorframework", func(t *testing.T) {
		// As operator-sdk passes them: every object, then the optional values.
		objs := b.ObjectsToValidate()
		for _, o := range b.Objects {
			objs = append(objs, o)
		}
		objs = append(objs, map[string]string{"k8s-version": k8sVersion})
		for _, v := range []struct {
			name string
			interfaces.Validator
		}{
			{"operatorhub/v2", validation.OperatorHubV2Validator},
			{"standardcapabilities", validation.StandardCapabilitiesValidator},
			{"standardcategories", validation.StandardCategoriesValidator},
			{"good-practices", validation.GoodPracticesValidator},
			{"alpha-deprecated-apis", validation.AlphaDeprecatedAPIsValidator},
		} {
			report(t, v.name, v.Validate(objs...))
		}
	})

	t.Run("content", func(t *testing.T) {
		// operator-sdk's checks on the objects besides the CSV and CRDs: a kind
		// registry+v1 supports, and metadata kubectl would accept.
		for _, o := range b.Objects {
			if !registryV1Kinds[o.GetKind()] {
				t.Errorf("%s %s: kind not supported in a registry+v1 bundle", o.GetKind(), o.GetName())
			}
			if o.GetKind() == "ClusterServiceVersion" || o.GetKind() == "CustomResourceDefinition" {
				continue
			}
			noName := func(string, bool) []string { return nil }
			if errs := apivalidation.ValidateObjectMetaAccessor(o, false, noName, field.NewPath("metadata")); len(errs) > 0 {
				t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), errs.ToAggregate())
			}
		}
	})

	t.Run("format", func(t *testing.T) {
		checkFormat(t)
	})
}

// checkFormat is operator-registry's bundle format check: manifests/ and metadata/,
// and an annotations file that names the media type, the directories, the package and
// channels; plus bundle.Dockerfile's labels, which must say the same.
func checkFormat(t *testing.T) {
	for _, dir := range []string{"manifests", "metadata"} {
		if fi, err := os.Stat(filepath.Join(bundleDir, dir)); err != nil || !fi.IsDir() {
			t.Errorf("bundle/%s is not a directory: %v", dir, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(bundleDir, "metadata", "annotations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		t.Fatalf("annotations.yaml: %v", err)
	}
	a := file.Annotations
	want := map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1": "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":  "metadata/",
		"operators.operatorframework.io.bundle.package.v1":   "outrigger",
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("annotations.yaml: %s is %q, want %q", k, a[k], v)
		}
	}
	channels := strings.Split(a["operators.operatorframework.io.bundle.channels.v1"], ",")
	def := a["operators.operatorframework.io.bundle.channel.default.v1"]
	if slices.Contains(channels, "") || def == "" || !slices.Contains(channels, def) {
		t.Errorf("annotations.yaml: channels %q and default channel %q: want non-empty channels that include the default", channels, def)
	}

	labels := map[string]string{}
	df, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var copies []string
	for line := range strings.Lines(string(df)) {
		line = strings.TrimSpace(line)
		if l, ok := strings.CutPrefix(line, "LABEL "); ok {
			k, v, _ := strings.Cut(l, "=")
			labels[k] = v
		}
		if c, ok := strings.CutPrefix(line, "COPY "); ok {
			copies = append(copies, c)
		}
	}
	if diff := cmp.Diff(a, labels); diff != "" {
		t.Errorf("bundle.Dockerfile's LABELs differ from annotations.yaml (-annotations +labels):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bundle/manifests /manifests/", "bundle/metadata /metadata/"}, copies); diff != "" {
		t.Errorf("bundle.Dockerfile's COPY lines (-want +got):\n%s", diff)
	}
}

// TestWebhooks checks that the CSV carries every webhook config/webhook declares, with
// the one deliberate difference: OLM cannot carry the pod webhook's namespaceSelector,
// so its failure policy is Ignore lest a down operator block kube-system's pods.
func TestWebhooks(t *testing.T) {
	csv := loadBundle(t).CSV

	declared := webhooksIn(t, webhookManifests)
	var got []string
	for _, w := range csv.Spec.WebhookDefinitions {
		got = append(got, string(w.Type)+" "+w.GenerateName)
	}
	slices.Sort(got)
	if diff := cmp.Diff(declared, got); diff != "" {
		t.Errorf("webhookdefinitions differ from config/webhook (-config +csv):\n%s", diff)
	}

	want := map[string]struct {
		typ           operatorsv1alpha1.WebhookAdmissionType
		path          string
		failurePolicy admissionv1.FailurePolicyType
	}{
		"inject.sidecars.outrigger.dev": {
			operatorsv1alpha1.MutatingAdmissionWebhook, "/mutate--v1-pod", admissionv1.Ignore,
		},
		"validate.sidecarsets.sidecars.outrigger.dev": {
			operatorsv1alpha1.ValidatingAdmissionWebhook, "/validate-sidecars-outrigger-dev-v1alpha1-sidecarset", admissionv1.Fail,
		},
	}
	for _, w := range csv.Spec.WebhookDefinitions {
		exp, ok := want[w.GenerateName]
		if !ok {
			continue
		}
		delete(want, w.GenerateName)
		if w.Type != exp.typ {
			t.Errorf("%s: type %s, want %s", w.GenerateName, w.Type, exp.typ)
		}
		if w.WebhookPath == nil || *w.WebhookPath != exp.path {
			t.Errorf("%s: webhookPath %v, want %s", w.GenerateName, w.WebhookPath, exp.path)
		}
		if w.FailurePolicy == nil || *w.FailurePolicy != exp.failurePolicy {
			t.Errorf("%s: failurePolicy %v, want %s", w.GenerateName, w.FailurePolicy, exp.failurePolicy)
		}
		if w.DeploymentName != "outrigger-controller-manager" {
			t.Errorf("%s: deploymentName %q, want outrigger-controller-manager", w.GenerateName, w.DeploymentName)
		}
		if w.ContainerPort != 443 || w.TargetPort == nil || w.TargetPort.IntValue() != 9443 {
			t.Errorf("%s: containerPort %d, targetPort %v; want 443 and 9443", w.GenerateName, w.ContainerPort, w.TargetPort)
		}
		if len(w.Rules) == 0 || w.SideEffects == nil || len(w.AdmissionReviewVersions) == 0 {
			t.Errorf("%s: rules, sideEffects and admissionReviewVersions must be set", w.GenerateName)
		}
	}
	for name := range want {
		t.Errorf("webhookdefinitions lack %s", name)
	}
}

// webhooksIn lists "<OLM type> <name>" for every webhook in a multi-document file.
func webhooksIn(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{
		"MutatingWebhookConfiguration":   string(operatorsv1alpha1.MutatingAdmissionWebhook),
		"ValidatingWebhookConfiguration": string(operatorsv1alpha1.ValidatingAdmissionWebhook),
	}
	var out []string
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		typ, ok := types[u.GetKind()]
		if !ok {
			continue
		}
		hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
		for _, h := range hooks {
			out = append(out, typ+" "+h.(map[string]any)["name"].(string))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s declares no webhooks", path)
	}
	slices.Sort(out)
	return out
}

// TestDeployment checks that the manager uses the certificate OLM mounts rather than
// generating its own.
func TestDeployment(t *testing.T) {
	csv := loadBundle(t).CSV
	deployments := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	if len(deployments) != 1 || deployments[0].Name != "outrigger-controller-manager" {
		t.Fatalf("install strategy deployments %v, want just outrigger-controller-manager", deployments)
	}
	spec := deployments[0].Spec.Template.Spec
	var args []string
	for _, c := range spec.Containers {
		if c.Name == "manager" {
			args = c.Args
		}
	}
	if !slices.Contains(args, "--cert-management=external") {
		t.Errorf("manager args %q lack --cert-management=external", args)
	}
	sa := spec.ServiceAccountName
	for _, perms := range [][]operatorsv1alpha1.StrategyDeploymentPermissions{
		csv.Spec.InstallStrategy.StrategySpec.Permissions,
		csv.Spec.InstallStrategy.StrategySpec.ClusterPermissions,
	} {
		if len(perms) != 1 || perms[0].ServiceAccountName != sa || len(perms[0].Rules) == 0 {
			t.Errorf("permissions %v: want rules for ServiceAccount %s", perms, sa)
		}
	}
}

// TestPermissions checks that the CSV grants nothing --cert-management=external leaves
// unused (no Secret, no webhook configuration: OLM provides the certificate and the CA
// bundles) and nothing that writes a MutatingAdmissionPolicy: the policy engine's
// ClusterRole ships unbound, for the admin who switches engines to bind.
func TestPermissions(t *testing.T) {
	b := loadBundle(t)
	spec := b.CSV.Spec.InstallStrategy.StrategySpec
	for _, perms := range [][]operatorsv1alpha1.StrategyDeploymentPermissions{spec.Permissions, spec.ClusterPermissions} {
		for _, p := range perms {
			for _, r := range p.Rules {
				for _, res := range r.Resources {
					switch {
					case res == "secrets", strings.HasSuffix(res, "webhookconfigurations"):
						t.Errorf("the CSV grants %s (%v), which the manager does not use with --cert-management=external", res, r.Verbs)
					case strings.HasPrefix(res, "mutatingadmissionpolic"):
						if diff := cmp.Diff([]string{"inject.sidecars.outrigger.dev"}, r.ResourceNames); diff != "" {
							t.Errorf("the CSV grants %s beyond the generated one (-want +got):\n%s", res, diff)
						}
						if diff := cmp.Diff([]string{"delete", "get", "list", "watch"}, r.Verbs); diff != "" {
							t.Errorf("the CSV grants %s verbs beyond removing it (-want +got):\n%s", res, diff)
						}
					}
				}
			}
		}
	}

	var role bool
	for _, o := range b.Objects {
		switch o.GetKind() {
		case "ClusterRole":
			role = role || o.GetName() == "outrigger-admission-policy-role"
		case "ClusterRoleBinding", "RoleBinding":
			if ref, _, _ := unstructured.NestedString(o.Object, "roleRef", "name"); ref == "outrigger-admission-policy-role" {
				t.Errorf("%s %s binds the policy engine's ClusterRole: only the admin who switches engines may", o.GetKind(), o.GetName())
			}
		}
	}
	if !role {
		t.Error("the bundle does not ship the policy engine's ClusterRole outrigger-admission-policy-role")
	}
}

// TestAvailabilityAndIngress checks that the bundle carries config/default's
// PodDisruptionBudget and NetworkPolicy (kinds OLM installs from a bundle), selecting
// the pods of the CSV's Deployment.
func TestAvailabilityAndIngress(t *testing.T) {
	b := loadBundle(t)
	podLabels := b.CSV.Spec.InstallStrategy.StrategySpec.DeploymentSpecs[0].Spec.Template.Labels
	selects := func(sel map[string]string) bool {
		for k, v := range sel {
			if got, ok := podLabels[k]; !ok || got != v {
				return false
			}
		}
		return len(sel) > 0
	}
	found := map[string]bool{}
	for _, o := range b.Objects {
		var path []string
		switch o.GetKind() {
		case "PodDisruptionBudget":
			path = []string{"spec", "selector", "matchLabels"}
		case "NetworkPolicy":
			path = []string{"spec", "podSelector", "matchLabels"}
		default:
			continue
		}
		found[o.GetKind()] = true
		sel, _, _ := unstructured.NestedStringMap(o.Object, path...)
		if !selects(sel) {
			t.Errorf("%s %s selects %v, not the manager's pods %v", o.GetKind(), o.GetName(), sel, podLabels)
		}
	}
	for _, kind := range []string{"PodDisruptionBudget", "NetworkPolicy"} {
		if !found[kind] {
			t.Errorf("the bundle carries no %s", kind)
		}
	}
}
