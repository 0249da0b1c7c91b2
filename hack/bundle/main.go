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

// Command bundle is what `make bundle` runs: it renders config/manifests with kustomize
// (in-process) and writes the OLM bundle — bundle/manifests, bundle/metadata and
// bundle.Dockerfile — the way `operator-sdk generate bundle` would, without needing
// operator-sdk. The ClusterServiceVersion is the hand-written base
// (config/manifests/bases) completed from what config/default installs: the Deployment
// becomes the install strategy, the RBAC bound to its ServiceAccount becomes
// (cluster)permissions, the webhook configurations become webhookdefinitions, and the
// samples become alm-examples. Everything else OLM can install goes to bundle/manifests.
//
// The output depends only on the repository and the flags, so `make verify` can
// regenerate it and compare.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/internal/localcluster"
)

const (
	// kindRole and kindClusterRole are the RBAC kinds whose rules become the CSV's
	// permissions and clusterPermissions.
	kindRole        = "Role"
	kindClusterRole = "ClusterRole"
	// kindRoleBinding and kindClusterRoleBinding grant them.
	kindRoleBinding        = "RoleBinding"
	kindClusterRoleBinding = "ClusterRoleBinding"
	// nameKey is the name field of an unstructured object's metadata or of an entry
	// in one of the CSV's lists.
	nameKey = "name"
	// managerContainer is the Deployment's container that runs the manager binary.
	managerContainer = "manager"
	// webhookCertSecret is the Secret config/default adds for --cert-management=self
	// (main.go's --webhook-cert-secret default, with the kustomize name prefix).
	webhookCertSecret = "outrigger-webhook-cert"
	// certRotatorRole and certRotatorBinding are the certificate rotator's permissions
	// (config/rbac's cert_rotator_role.yaml, a ClusterRole and a Role of that name, each
	// with its binding): that Secret and the webhook configurations' caBundle.
	certRotatorRole    = "outrigger-cert-rotator-role"
	certRotatorBinding = "outrigger-cert-rotator-rolebinding"
	// webhookCertVolume mounts webhookCertSecret into the manager (config/default).
	webhookCertVolume = "webhook-cert"
	// externalCerts makes the manager use the certificate OLM mounts at
	// /tmp/k8s-webhook-server/serving-certs (main.go's --webhook-cert-dir default)
	// instead of generating its own and patching the webhook configurations, which OLM
	// owns.
	externalCerts = "--cert-management=external"
)

// olmKinds are the kinds a registry+v1 bundle may carry besides the CSV and CRDs
// (operator-registry's list of supported bundle objects).
var olmKinds = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "ConfigMap": true, "ConsoleCLIDownload": true,
	"ConsoleLink": true, "ConsoleQuickStart": true, "ConsoleYAMLSample": true, "NetworkPolicy": true,
	"PodDisruptionBudget": true, "PriorityClass": true, "PrometheusRule": true, "Role": true,
	"RoleBinding": true, "Secret": true, "Service": true, "ServiceAccount": true,
	"ServiceMonitor": true, "VerticalPodAutoscaler": true,
}

type options struct {
	config         string // kustomization to render
	root           string // where bundle/ and bundle.Dockerfile go
	pkg            string
	version        string
	image          string
	createdAt      string // empty: keep the CSV base's
	channels       string
	defaultChannel string
	replaces       string // the CSV this version upgrades, <package>.v<version>; empty: none
}

func main() {
	var o options
	flag.StringVar(&o.config, "config", "config/manifests", "Kustomization to render: config/default, the samples and the CSV base.")
	flag.StringVar(&o.root, "output-dir", ".", "Directory to write bundle/ and bundle.Dockerfile into (the repository root).")
	flag.StringVar(&o.pkg, "package", "outrigger", "OLM package name; the CSV is named <package>.v<version>.")
	flag.StringVar(&o.version, "version", "0.1.0", "Operator version (semver), spec.version of the CSV.")
	flag.StringVar(&o.image, "image", "outrigger:dev", "Manager image: the Deployment's, containerImage and relatedImages.")
	flag.StringVar(&o.createdAt, "created-at", "", "createdAt annotation; empty keeps the CSV base's, so regenerating changes nothing.")
	flag.StringVar(&o.channels, "channels", "alpha", "Comma-separated channels the bundle is in.")
	flag.StringVar(&o.defaultChannel, "default-channel", "alpha", "The package's default channel.")
	flag.StringVar(&o.replaces, "replaces", "", "spec.replaces: the CSV this version upgrades (e.g. outrigger.v0.1.0); empty for none.")
	flag.Parse()

	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "make bundle: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if _, err := semver.Parse(o.version); err != nil {
		return fmt.Errorf("--version %q is not semver: %w", o.version, err)
	}
	if o.replaces != "" && !strings.HasPrefix(o.replaces, o.pkg+".v") {
		return fmt.Errorf("--replaces %q is not a CSV of package %s (%s.v<version>)", o.replaces, o.pkg, o.pkg)
	}
	if !slices.Contains(strings.Split(o.channels, ","), o.defaultChannel) {
		return fmt.Errorf("--default-channel %q is not one of --channels %q", o.defaultChannel, o.channels)
	}
	objs, err := localcluster.Render(o.config)
	if err != nil {
		return err
	}
	files, err := build(objs, o)
	if err != nil {
		return err
	}
	return write(o.root, files)
}

// inputs are the rendered objects, sorted by what the bundle does with them.
type inputs struct {
	csv             *unstructured.Unstructured
	namespace       *corev1.Namespace
	deployments     []*unstructured.Unstructured
	crds            []*unstructured.Unstructured
	examples        []*unstructured.Unstructured
	roles           map[string]*rbacv1.Role // by namespace/name
	clusterRoles    map[string]*rbacv1.ClusterRole
	roleBindings    []*rbacv1.RoleBinding
	clusterBindings []*rbacv1.ClusterRoleBinding
	services        map[string]*corev1.Service // by namespace/name
	mutating        []*admissionv1.MutatingWebhookConfiguration
	validating      []*admissionv1.ValidatingWebhookConfiguration
	serviceAccounts map[string]bool // by namespace/name
	// others may ship in bundle/manifests as they are, unless the CSV stands for them.
	others []*unstructured.Unstructured
}

func key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

func objKey(u *unstructured.Unstructured) string {
	return key(u.GetKind(), u.GetNamespace(), u.GetName())
}

func sortInputs(objs []*unstructured.Unstructured) (*inputs, error) {
	in := &inputs{
		roles:           map[string]*rbacv1.Role{},
		clusterRoles:    map[string]*rbacv1.ClusterRole{},
		services:        map[string]*corev1.Service{},
		serviceAccounts: map[string]bool{},
	}
	// Objects of the kinds the CRDs define are the samples.
	var ownedKinds []string
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" {
			g, _, _ := unstructured.NestedString(u.Object, "spec", "group")
			k, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
			ownedKinds = append(ownedKinds, g+"/"+k)
		}
	}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		var err error
		switch {
		case gvk.Kind == "ClusterServiceVersion":
			if in.csv != nil {
				return nil, errors.New("config renders more than one ClusterServiceVersion")
			}
			in.csv = u
		case slices.Contains(ownedKinds, gvk.Group+"/"+gvk.Kind):
			in.examples = append(in.examples, u)
		case gvk.Kind == "CustomResourceDefinition":
			in.crds = append(in.crds, u)
		case gvk.Kind == "Namespace":
			if in.namespace != nil {
				return nil, errors.New("config renders more than one Namespace")
			}
			in.namespace = &corev1.Namespace{}
			err = fromUnstructured(u, in.namespace)
		case gvk.Kind == "Deployment":
			in.deployments = append(in.deployments, u)
		case gvk.Kind == "ServiceAccount":
			in.serviceAccounts[u.GetNamespace()+"/"+u.GetName()] = true
			in.others = append(in.others, u)
		case gvk.Kind == kindRole:
			r := &rbacv1.Role{}
			err = fromUnstructured(u, r)
			in.roles[r.Namespace+"/"+r.Name] = r
			in.others = append(in.others, u)
		case gvk.Kind == kindClusterRole:
			r := &rbacv1.ClusterRole{}
			err = fromUnstructured(u, r)
			in.clusterRoles[r.Name] = r
			in.others = append(in.others, u)
		case gvk.Kind == kindRoleBinding:
			b := &rbacv1.RoleBinding{}
			err = fromUnstructured(u, b)
			in.roleBindings = append(in.roleBindings, b)
			in.others = append(in.others, u)
		case gvk.Kind == kindClusterRoleBinding:
			b := &rbacv1.ClusterRoleBinding{}
			err = fromUnstructured(u, b)
			in.clusterBindings = append(in.clusterBindings, b)
			in.others = append(in.others, u)
		case gvk.Kind == "Service":
			s := &corev1.Service{}
			err = fromUnstructured(u, s)
			in.services[s.Namespace+"/"+s.Name] = s
			in.others = append(in.others, u)
		case gvk.Kind == "MutatingWebhookConfiguration":
			c := &admissionv1.MutatingWebhookConfiguration{}
			err = fromUnstructured(u, c)
			in.mutating = append(in.mutating, c)
		case gvk.Kind == "ValidatingWebhookConfiguration":
			c := &admissionv1.ValidatingWebhookConfiguration{}
			err = fromUnstructured(u, c)
			in.validating = append(in.validating, c)
		default:
			in.others = append(in.others, u)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
		}
	}
	switch {
	case in.csv == nil:
		return nil, errors.New("config renders no ClusterServiceVersion base")
	case len(in.deployments) == 0:
		return nil, errors.New("config renders no Deployment")
	case len(in.crds) == 0:
		return nil, errors.New("config renders no CustomResourceDefinition")
	}
	return in, nil
}

func fromUnstructured(u *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true)
}

func toUnstructured(v any) (map[string]any, error) {
	return runtime.DefaultUnstructuredConverter.ToUnstructured(v)
}

// build returns the bundle's files, by path relative to the repository root.
func build(objs []*unstructured.Unstructured, o options) (map[string][]byte, error) {
	in, err := sortInputs(slices.DeleteFunc(slices.Clone(objs), selfManagedCerts))
	if err != nil {
		return nil, err
	}
	csv := in.csv.DeepCopy()
	// The manifests this bundle installs through the CSV (and so must not ship as
	// separate objects): filled in by the steps below.
	consumed := map[string]bool{}

	deployments, sas, err := installDeployments(in, o.image)
	if err != nil {
		return nil, err
	}
	permissions, clusterPermissions, err := rbacPermissions(in, sas, consumed)
	if err != nil {
		return nil, err
	}
	webhooks, err := webhookDefinitions(in, consumed)
	if err != nil {
		return nil, err
	}
	install := map[string]any{"deployments": deployments}
	if len(permissions) > 0 {
		install["permissions"] = permissions
	}
	if len(clusterPermissions) > 0 {
		install["clusterPermissions"] = clusterPermissions
	}
	fields := map[string]any{
		"spec.install":       map[string]any{"strategy": operatorsv1alpha1.InstallStrategyNameDeployment, "spec": install},
		"spec.version":       o.version,
		"spec.relatedImages": []any{map[string]any{nameKey: managerContainer, "image": o.image}},
	}
	if len(webhooks) > 0 {
		fields["spec.webhookdefinitions"] = webhooks
	}
	if o.replaces != "" {
		fields["spec.replaces"] = o.replaces
	}
	if err := setAll(csv.Object, fields); err != nil {
		return nil, err
	}
	csv.SetName(o.pkg + ".v" + o.version)
	if err := ownedCRDs(csv, in.crds); err != nil {
		return nil, err
	}
	if err := annotate(csv, in, o); err != nil {
		return nil, err
	}
	// A typo in the base (a misspelt field) would otherwise reach OLM silently.
	if err := fromUnstructured(csv, &operatorsv1alpha1.ClusterServiceVersion{}); err != nil {
		return nil, fmt.Errorf("the ClusterServiceVersion does not decode: %w", err)
	}

	files := map[string][]byte{}
	add := func(name string, obj map[string]any) error {
		path := filepath.Join("bundle", "manifests", name)
		if _, dup := files[path]; dup {
			return fmt.Errorf("two manifests would both be written to %s", path)
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		files[path] = b
		return nil
	}
	if err := add(o.pkg+".clusterserviceversion.yaml", csv.Object); err != nil {
		return nil, err
	}
	for _, crd := range in.crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		if err := add(group+"_"+plural+".yaml", manifest(crd).Object); err != nil {
			return nil, err
		}
	}
	others, err := otherManifests(in, consumed)
	if err != nil {
		return nil, err
	}
	for _, u := range others {
		gv := u.GroupVersionKind().GroupVersion().String()
		name := u.GetName() + "_" + strings.ReplaceAll(gv, "/", "_") + "_" + strings.ToLower(u.GetKind()) + ".yaml"
		if err := add(name, manifest(u).Object); err != nil {
			return nil, err
		}
	}

	meta := metadata(o)
	ann := map[string]any{}
	for _, kv := range meta {
		ann[kv[0]] = kv[1]
	}
	b, err := yaml.Marshal(map[string]any{"annotations": ann})
	if err != nil {
		return nil, err
	}
	files[filepath.Join("bundle", "metadata", "annotations.yaml")] = b
	files["bundle.Dockerfile"] = dockerfile(meta)
	return files, nil
}

// selfManagedCerts says whether u is what config/default adds for
// --cert-management=self: the certificate Secret and the rotator's roles and bindings.
// OLM provides the certificate and the CA bundles (externalCerts), so the bundle carries
// none of them, and the CSV grants no Secret and no webhook configuration access.
func selfManagedCerts(u *unstructured.Unstructured) bool {
	switch u.GetKind() {
	case "Secret":
		return u.GetName() == webhookCertSecret
	case kindRole, kindClusterRole:
		return u.GetName() == certRotatorRole
	case kindRoleBinding, kindClusterRoleBinding:
		return u.GetName() == certRotatorBinding
	}
	return false
}

// installDeployments returns the CSV's install strategy deployments and the
// ServiceAccounts they run as (namespace/name).
func installDeployments(in *inputs, image string) ([]any, []string, error) {
	var out []any
	var sas []string
	for _, u := range sortedByName(in.deployments) {
		d := &appsv1.Deployment{}
		if err := fromUnstructured(u, d); err != nil {
			return nil, nil, fmt.Errorf("deployment %s: %w", u.GetName(), err)
		}
		sa := d.Spec.Template.Spec.ServiceAccountName
		if sa == "" {
			return nil, nil, fmt.Errorf("deployment %s names no serviceAccountName; OLM needs one to grant permissions to", d.Name)
		}
		if !in.serviceAccounts[d.Namespace+"/"+sa] {
			return nil, nil, fmt.Errorf("deployment %s runs as ServiceAccount %s, which config does not define", d.Name, sa)
		}
		sas = append(sas, d.Namespace+"/"+sa)

		// The rendered spec as it is (a typed round trip would add empty fields).
		spec, _, _ := unstructured.NestedMap(u.Object, "spec")
		containers, _, _ := unstructured.NestedSlice(spec, "template", "spec", "containers")
		found := false
		for _, c := range containers {
			c := c.(map[string]any)
			if c[nameKey] != managerContainer {
				continue
			}
			found = true
			c["image"] = image
			args, _, _ := unstructured.NestedStringSlice(c, "args")
			args = slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, "--cert-management=") })
			c["args"] = toAnySlice(append(args, externalCerts))
			// OLM mounts its own certificate where config/default mounts the Secret.
			if mounts, ok, _ := unstructured.NestedSlice(c, "volumeMounts"); ok {
				c["volumeMounts"] = slices.DeleteFunc(mounts, func(m any) bool { return m.(map[string]any)[nameKey] == webhookCertVolume })
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("deployment %s has no container %q", d.Name, managerContainer)
		}
		if volumes, ok, _ := unstructured.NestedSlice(spec, "template", "spec", "volumes"); ok {
			volumes = slices.DeleteFunc(volumes, func(v any) bool { return v.(map[string]any)[nameKey] == webhookCertVolume })
			if err := unstructured.SetNestedSlice(spec, volumes, "template", "spec", "volumes"); err != nil {
				return nil, nil, err
			}
		}
		if err := unstructured.SetNestedSlice(spec, containers, "template", "spec", "containers"); err != nil {
			return nil, nil, err
		}
		entry := map[string]any{nameKey: d.Name, "spec": spec}
		if len(d.Labels) > 0 {
			entry["label"] = toAnyMap(d.Labels)
		}
		out = append(out, entry)
	}
	slices.Sort(sas)
	return out, slices.Compact(sas), nil
}

// rbacPermissions turns the Roles and ClusterRoles bound to the deployments'
// ServiceAccounts into the CSV's permissions and clusterPermissions; OLM creates the
// ServiceAccount, the roles and the bindings itself, in whatever namespace it installs
// to. A Role or ClusterRole bound through a RoleBinding is a namespaced permission.
func rbacPermissions(in *inputs, sas []string, consumed map[string]bool) (permissions, clusterPermissions []any, err error) {
	boundTo := func(subjects []rbacv1.Subject, sa string) bool {
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace+"/"+s.Name == sa {
				return true
			}
		}
		return false
	}
	rulesOf := func(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
		switch ref.Kind {
		case kindRole:
			r, ok := in.roles[namespace+"/"+ref.Name]
			if !ok {
				return nil, fmt.Errorf("role %s/%s is bound but not defined in config", namespace, ref.Name)
			}
			consumed[key(kindRole, r.Namespace, r.Name)] = true
			return r.Rules, nil
		case kindClusterRole:
			r, ok := in.clusterRoles[ref.Name]
			if !ok {
				return nil, fmt.Errorf("ClusterRole %s is bound but not defined in config", ref.Name)
			}
			consumed[key(kindClusterRole, "", r.Name)] = true
			return r.Rules, nil
		}
		return nil, fmt.Errorf("unknown roleRef kind %q", ref.Kind)
	}
	entry := func(sa string, rules []rbacv1.PolicyRule) (any, error) {
		_, name, _ := strings.Cut(sa, "/")
		return toUnstructured(&operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: name, Rules: rules})
	}

	slices.SortFunc(in.roleBindings, func(a, b *rbacv1.RoleBinding) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(in.clusterBindings, func(a, b *rbacv1.ClusterRoleBinding) int { return strings.Compare(a.Name, b.Name) })
	for _, sa := range sas {
		ns, name, _ := strings.Cut(sa, "/")
		consumed[key("ServiceAccount", ns, name)] = true
		var namespaced, cluster []rbacv1.PolicyRule
		for _, b := range in.roleBindings {
			if !boundTo(b.Subjects, sa) {
				continue
			}
			rules, err := rulesOf(b.RoleRef, b.Namespace)
			if err != nil {
				return nil, nil, fmt.Errorf("RoleBinding %s: %w", b.Name, err)
			}
			namespaced = append(namespaced, rules...)
			consumed[key(kindRoleBinding, b.Namespace, b.Name)] = true
		}
		for _, b := range in.clusterBindings {
			if !boundTo(b.Subjects, sa) {
				continue
			}
			rules, err := rulesOf(b.RoleRef, "")
			if err != nil {
				return nil, nil, fmt.Errorf("ClusterRoleBinding %s: %w", b.Name, err)
			}
			cluster = append(cluster, rules...)
			consumed[key(kindClusterRoleBinding, "", b.Name)] = true
		}
		if len(namespaced) > 0 {
			e, err := entry(sa, namespaced)
			if err != nil {
				return nil, nil, err
			}
			permissions = append(permissions, e)
		}
		if len(cluster) > 0 {
			e, err := entry(sa, cluster)
			if err != nil {
				return nil, nil, err
			}
			clusterPermissions = append(clusterPermissions, e)
		}
	}
	return permissions, clusterPermissions, nil
}

// webhookDefinitions turns the webhook configurations into the CSV's
// webhookdefinitions: OLM creates the configurations, a Service in front of the
// deployment and the serving certificate (mounted where the manager reads it with
// --cert-management=external), and injects the CA bundle.
func webhookDefinitions(in *inputs, consumed map[string]bool) ([]any, error) {
	var out []operatorsv1alpha1.WebhookDescription
	add := func(typ operatorsv1alpha1.WebhookAdmissionType, name string, cc admissionv1.WebhookClientConfig,
		d operatorsv1alpha1.WebhookDescription, namespaceSelector bool) error {
		if cc.Service == nil {
			return fmt.Errorf("webhook %s: OLM can only serve webhooks through a service, not a URL", name)
		}
		svc, ok := in.services[cc.Service.Namespace+"/"+cc.Service.Name]
		if !ok {
			return fmt.Errorf("webhook %s: Service %s/%s is not defined in config", name, cc.Service.Namespace, cc.Service.Name)
		}
		consumed[key("Service", svc.Namespace, svc.Name)] = true
		port := ptr.Deref(cc.Service.Port, 443)
		var target *intstr.IntOrString
		for _, p := range svc.Spec.Ports {
			if p.Port == port {
				target = new(p.TargetPort)
			}
		}
		if target == nil {
			return fmt.Errorf("webhook %s: Service %s has no port %d", name, svc.Name, port)
		}
		deployment, err := deploymentFor(in, svc)
		if err != nil {
			return fmt.Errorf("webhook %s: %w", name, err)
		}
		d.Type = typ
		d.GenerateName = name
		d.DeploymentName = deployment
		d.ContainerPort = port
		d.TargetPort = target
		d.WebhookPath = cc.Service.Path
		// OLM cannot carry a namespaceSelector: it sets its own, from the OperatorGroup,
		// which for AllNamespaces selects every namespace, kube-system included. The
		// selector in config/webhook keeps the webhook off system namespaces so that a
		// down operator never blocks system pods; without it, only failurePolicy Ignore
		// gives that guarantee. The pod injector itself still skips those namespaces,
		// and pods created while it was unreachable are reported as missingPods.
		if namespaceSelector {
			d.FailurePolicy = ptr.To(admissionv1.Ignore)
		}
		out = append(out, d)
		return nil
	}
	for _, c := range in.mutating {
		consumed[key("MutatingWebhookConfiguration", "", c.Name)] = true
		for _, w := range c.Webhooks {
			if err := add(operatorsv1alpha1.MutatingAdmissionWebhook, w.Name, w.ClientConfig, operatorsv1alpha1.WebhookDescription{
				Rules: w.Rules, FailurePolicy: w.FailurePolicy, MatchPolicy: w.MatchPolicy,
				ObjectSelector: w.ObjectSelector, SideEffects: w.SideEffects, TimeoutSeconds: w.TimeoutSeconds,
				AdmissionReviewVersions: w.AdmissionReviewVersions, ReinvocationPolicy: w.ReinvocationPolicy,
			}, w.NamespaceSelector != nil); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range in.validating {
		consumed[key("ValidatingWebhookConfiguration", "", c.Name)] = true
		for _, w := range c.Webhooks {
			if err := add(operatorsv1alpha1.ValidatingAdmissionWebhook, w.Name, w.ClientConfig, operatorsv1alpha1.WebhookDescription{
				Rules: w.Rules, FailurePolicy: w.FailurePolicy, MatchPolicy: w.MatchPolicy,
				ObjectSelector: w.ObjectSelector, SideEffects: w.SideEffects, TimeoutSeconds: w.TimeoutSeconds,
				AdmissionReviewVersions: w.AdmissionReviewVersions,
			}, w.NamespaceSelector != nil); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(out, func(a, b operatorsv1alpha1.WebhookDescription) int {
		return strings.Compare(string(a.Type)+"/"+a.GenerateName, string(b.Type)+"/"+b.GenerateName)
	})
	var list []any
	for i := range out {
		m, err := toUnstructured(&out[i])
		if err != nil {
			return nil, err
		}
		list = append(list, m)
	}
	return list, nil
}

// deploymentFor is the Deployment whose pods a Service selects.
func deploymentFor(in *inputs, svc *corev1.Service) (string, error) {
	var names []string
	for _, u := range in.deployments {
		if u.GetNamespace() != svc.Namespace {
			continue
		}
		l, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(l)) {
			names = append(names, u.GetName())
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("service %s selects %d Deployments (%v), want 1", svc.Name, len(names), names)
	}
	return names[0], nil
}

// ownedCRDs fills in the version (the storage version) and kind of each owned CRD from
// the rendered CRDs. Every CRD must be described in the base: the description and
// descriptors are what OperatorHub shows.
func ownedCRDs(csv *unstructured.Unstructured, crds []*unstructured.Unstructured) error {
	owned, _, _ := unstructured.NestedSlice(csv.Object, "spec", "customresourcedefinitions", "owned")
	described := map[string]map[string]any{}
	for _, o := range owned {
		m := o.(map[string]any)
		described[fmt.Sprint(m[nameKey])] = m
	}
	for _, crd := range crds {
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := fromUnstructured(crd, c); err != nil {
			return fmt.Errorf("crd %s: %w", crd.GetName(), err)
		}
		d, ok := described[c.Name]
		if !ok {
			return fmt.Errorf("crd %s is not described in the CSV base's spec.customresourcedefinitions.owned", c.Name)
		}
		delete(described, c.Name)
		for _, v := range c.Spec.Versions {
			if v.Storage {
				d["version"] = v.Name
			}
		}
		d["kind"] = c.Spec.Names.Kind
	}
	if len(described) > 0 {
		return fmt.Errorf("the CSV base owns CRDs config does not define: %v", slices.Sorted(maps.Keys(described)))
	}
	return unstructured.SetNestedSlice(csv.Object, owned, "spec", "customresourcedefinitions", "owned")
}

// annotate sets the annotations that come from flags and config: the image,
// createdAt, alm-examples from the samples, and the suggested namespace from the
// Namespace config/default creates (OLM does not create it; OperatorHub's console
// offers it with its labels: restricted pod security, no injection).
func annotate(csv *unstructured.Unstructured, in *inputs, o options) error {
	a := csv.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a["containerImage"] = o.image
	if o.createdAt != "" {
		a["createdAt"] = o.createdAt
	}
	if a["createdAt"] == "" {
		return errors.New("no createdAt: set it in the CSV base or pass --created-at")
	}
	var examples []any
	for _, u := range sortedByName(in.examples) {
		examples = append(examples, manifest(u).Object)
	}
	b, err := json.MarshalIndent(examples, "", "  ")
	if err != nil {
		return err
	}
	a["alm-examples"] = string(b)
	if ns := in.namespace; ns != nil {
		b, err := json.Marshal(map[string]any{
			"apiVersion": "v1",
			"kind":       "Namespace",
			"metadata":   map[string]any{nameKey: ns.Name, "labels": ns.Labels},
		})
		if err != nil {
			return err
		}
		a["operatorframework.io/suggested-namespace-template"] = string(b)
	}
	csv.SetAnnotations(a)
	return nil
}

// podMetadataWriter is the ConfigMap naming who may change the pods' Outrigger metadata.
const podMetadataWriter = "pod-metadata-writer"

// otherManifests are the rendered objects OLM installs as they are: those the CSV
// does not already stand for (such as the aggregated SidecarSet editor and viewer roles
// and the metrics reader, bound to no one here), minus what OLM provides itself.
func otherManifests(in *inputs, consumed map[string]bool) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, u := range in.others {
		kind := u.GetKind()
		switch {
		case consumed[objKey(u)]:
		case kind == "ValidatingAdmissionPolicy" || kind == "ValidatingAdmissionPolicyBinding" ||
			kind == "MutatingAdmissionPolicy" || kind == "MutatingAdmissionPolicyBinding" ||
			(kind == "ConfigMap" && strings.HasSuffix(u.GetName(), podMetadataWriter)):
			// A registry+v1 bundle cannot carry admission policies, and the writer's
			// ServiceAccount name depends on the namespace OLM installs to: OLM users apply
			// config/policy themselves (docs/injection.md), the sidecars-ready policy with it.
		case olmKinds[kind]:
			out = append(out, u)
		default:
			return nil, fmt.Errorf("%s %s: a registry+v1 bundle cannot carry this kind; decide what the bundle does with it in hack/bundle", kind, u.GetName())
		}
	}
	slices.SortFunc(out, func(a, b *unstructured.Unstructured) int { return strings.Compare(objKey(a), objKey(b)) })
	return out, nil
}

// manifest is u as a bundle carries it: OLM installs namespaced objects into the
// namespace it installs the operator to, so they name none.
func manifest(u *unstructured.Unstructured) *unstructured.Unstructured {
	c := u.DeepCopy()
	c.SetNamespace("")
	unstructured.RemoveNestedField(c.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(c.Object, "status")
	return c
}

// metadata is the bundle's annotations.yaml, in the order bundle.Dockerfile lists them.
func metadata(o options) [][2]string {
	return [][2]string{
		{"operators.operatorframework.io.bundle.mediatype.v1", "registry+v1"},
		{"operators.operatorframework.io.bundle.manifests.v1", "manifests/"},
		{"operators.operatorframework.io.bundle.metadata.v1", "metadata/"},
		{"operators.operatorframework.io.bundle.package.v1", o.pkg},
		{"operators.operatorframework.io.bundle.channels.v1", o.channels},
		{"operators.operatorframework.io.bundle.channel.default.v1", o.defaultChannel},
	}
}

func dockerfile(meta [][2]string) []byte {
	var b strings.Builder
	b.WriteString("# Code generated by hack/bundle (make bundle). DO NOT EDIT.\n")
	b.WriteString("# The OLM bundle image: its labels repeat bundle/metadata/annotations.yaml.\n")
	b.WriteString("FROM scratch\n\n")
	for _, kv := range meta {
		fmt.Fprintf(&b, "LABEL %s=%s\n", kv[0], kv[1])
	}
	b.WriteString("\nCOPY bundle/manifests /manifests/\n")
	b.WriteString("COPY bundle/metadata /metadata/\n")
	return []byte(b.String())
}

// write replaces bundle/manifests and bundle/metadata, so that a manifest config no
// longer renders does not linger, and writes bundle.Dockerfile.
func write(root string, files map[string][]byte) error {
	for _, dir := range []string{"manifests", "metadata"} {
		if err := os.RemoveAll(filepath.Join(root, "bundle", dir)); err != nil {
			return err
		}
	}
	for name, b := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sortedByName(us []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := slices.Clone(us)
	slices.SortFunc(out, func(a, b *unstructured.Unstructured) int { return strings.Compare(objKey(a), objKey(b)) })
	return out
}

// setAll sets dotted paths in obj.
func setAll(obj map[string]any, values map[string]any) error {
	for path, v := range values {
		if err := unstructured.SetNestedField(obj, v, strings.Split(path, ".")...); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

func toAnySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
