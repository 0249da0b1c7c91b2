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

// Package manifests checks what config/ renders to: the properties a cluster admin
// relies on when installing Outrigger, for every overlay.
package manifests

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
)

func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	objs, err := localcluster.Render(filepath.Join(filepath.Dir(file), "..", "..", dir))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	for _, u := range render(t, "config/default") {
		var rules []rbacv1.PolicyRule
		switch u.GetKind() {
		case "ClusterRole":
			rules = convert[rbacv1.ClusterRole](t, u).Rules
		case "Role":
			rules = convert[rbacv1.Role](t, u).Rules
		default:
			continue
		}
		for _, r := range rules {
			for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
				if slices.Contains(list, "*") {
					t.Errorf("%s %s grants a wildcard: %+v", u.GetKind(), u.GetName(), r)
				}
			}
			if u.GetKind() == "ClusterRole" && slices.Contains(r.Resources, "secrets") {
				t.Errorf("ClusterRole %s grants cluster-wide Secret access: %+v", u.GetName(), r)
			}
		}
	}
}

// boundRules are the rules the overlay's RBAC grants the manager's ServiceAccount,
// each with the kind of role that holds it.
func boundRules(t *testing.T, objs []*unstructured.Unstructured) map[string][]rbacv1.PolicyRule {
	t.Helper()
	const sa = "outrigger-system/outrigger-controller-manager"
	roles := map[string][]rbacv1.PolicyRule{}
	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRole":
			roles["ClusterRole/"+u.GetName()] = convert[rbacv1.ClusterRole](t, u).Rules
		case "Role":
			roles["Role/"+u.GetNamespace()+"/"+u.GetName()] = convert[rbacv1.Role](t, u).Rules
		}
	}
	out := map[string][]rbacv1.PolicyRule{}
	bind := func(kind, namespace string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		if !slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Namespace+"/"+s.Name == sa }) {
			return
		}
		key := "ClusterRole/" + ref.Name
		if ref.Kind == "Role" {
			key = "Role/" + namespace + "/" + ref.Name
		}
		rules, ok := roles[key]
		if !ok {
			t.Errorf("%s binds %s, which is not rendered", kind, key)
		}
		out[kind] = append(out[kind], rules...)
	}
	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRoleBinding":
			b := convert[rbacv1.ClusterRoleBinding](t, u)
			bind("ClusterRoleBinding", "", b.RoleRef, b.Subjects)
		case "RoleBinding":
			b := convert[rbacv1.RoleBinding](t, u)
			bind("RoleBinding", b.Namespace, b.RoleRef, b.Subjects)
		}
	}
	return out
}

// The grants that could reach beyond Outrigger name Outrigger's own objects: a
// MutatingAdmissionPolicy can mutate anything, a webhook configuration can be switched
// to Ignore, a Secret holds somebody's credentials. Writing the policy belongs to the
// policy engine's overlay, and an install whose certificate comes from cert-manager
// touches neither Secrets nor webhook configurations. test/integration's RBAC spec asks
// the API server the same questions.
func TestRBACNamesWhatReachesBeyondOutrigger(t *testing.T) {
	named := map[string][]string{
		"secrets":                         {"outrigger-webhook-cert"},
		"mutatingwebhookconfigurations":   {"outrigger-mutating-webhook-configuration"},
		"validatingwebhookconfigurations": {"outrigger-validating-webhook-configuration"},
		"mutatingadmissionpolicies":       {"inject.sidecars.outrigger.dev"},
		"mutatingadmissionpolicybindings": {"inject.sidecars.outrigger.dev"},
	}
	writesPolicy := func(r rbacv1.PolicyRule) bool {
		return slices.ContainsFunc(r.Resources, func(res string) bool { return strings.HasPrefix(res, "mutatingadmissionpolic") }) &&
			slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "create" || v == "patch" || v == "update" })
	}
	for _, tc := range []struct {
		dir          string
		policyWrites bool
		certs        bool
	}{
		{dir: "config/default", policyWrites: false, certs: true},
		{dir: "config/admission-policy", policyWrites: true, certs: true},
		{dir: "config/certmanager", policyWrites: false, certs: false},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			grants := boundRules(t, render(t, tc.dir))
			writes, certs := false, false
			for kind, rules := range grants {
				for _, r := range rules {
					for _, res := range r.Resources {
						names, ok := named[res]
						if !ok {
							continue
						}
						if res == "secrets" || strings.HasSuffix(res, "webhookconfigurations") {
							certs = true
							if kind != "RoleBinding" && res == "secrets" {
								t.Errorf("%s grants Secrets cluster-wide: %+v", kind, r)
							}
						}
						if !slices.Equal(r.ResourceNames, names) {
							t.Errorf("%s rule %+v: resourceNames %v, want %v", kind, r, r.ResourceNames, names)
						}
					}
					writes = writes || writesPolicy(r)
				}
			}
			if writes != tc.policyWrites {
				t.Errorf("grants writes of the generated MutatingAdmissionPolicy: %t, want %t", writes, tc.policyWrites)
			}
			if certs != tc.certs {
				t.Errorf("grants the certificate rotator's Secret and webhook configurations: %t, want %t", certs, tc.certs)
			}
		})
	}
}

func TestManagerDeployment(t *testing.T) {
	var dep *appsv1.Deployment
	for _, u := range render(t, "config/default") {
		if u.GetKind() == "Deployment" {
			dep = convert[appsv1.Deployment](t, u)
		}
	}
	if dep == nil {
		t.Fatal("config/default renders no Deployment")
	}
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	switch {
	case dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2:
		t.Error("the manager should run 2 replicas")
	case !slices.Contains(c.Args, "--leader-elect"):
		t.Error("2 replicas need --leader-elect")
	case spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot:
		t.Error("the pod must run as non-root (PSA restricted)")
	case spec.SecurityContext.SeccompProfile == nil || spec.SecurityContext.SeccompProfile.Type != "RuntimeDefault":
		t.Error("the pod needs the RuntimeDefault seccomp profile (PSA restricted)")
	case c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation:
		t.Error("the container must not allow privilege escalation (PSA restricted)")
	case c.SecurityContext.Capabilities == nil || !slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL"):
		t.Error("the container must drop all capabilities (PSA restricted)")
	case c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero():
		t.Error("the container needs requests and a memory limit")
	case c.ReadinessProbe == nil || c.LivenessProbe == nil:
		t.Error("the container needs readiness and liveness probes")
	case len(spec.TopologySpreadConstraints) == 0:
		t.Error("replicas should spread over nodes")
	}
	for _, c := range spec.TopologySpreadConstraints {
		switch {
		case c.TopologyKey != corev1.LabelHostname || c.MaxSkew != 1:
			t.Errorf("spread %+v: want maxSkew 1 over %s", c, corev1.LabelHostname)
		case c.WhenUnsatisfiable != corev1.DoNotSchedule:
			t.Errorf("spread %+v: ScheduleAnyway lets both replicas share a node where there are others", c)
		case ptr.Deref(c.NodeTaintsPolicy, corev1.NodeInclusionPolicyIgnore) != corev1.NodeInclusionPolicyHonor:
			// A cordoned node would count as a domain with no replica: the replacement of
			// a drained replica could go nowhere until the drain ends, which waits for it.
			t.Errorf("spread %+v: nodes the pods cannot run on must not count (nodeTaintsPolicy Honor)", c)
		case !slices.Equal(c.MatchLabelKeys, []string{appsv1.DefaultDeploymentUniqueLabelKey}):
			t.Errorf("spread %+v: want the pods of one ReplicaSet counted (matchLabelKeys pod-template-hash)", c)
		case c.LabelSelector == nil || !labels.SelectorFromSet(c.LabelSelector.MatchLabels).Matches(labels.Set(dep.Spec.Template.Labels)):
			t.Errorf("spread %+v does not select the manager's pods", c)
		}
	}
}

// No voluntary disruption takes both replicas of a fail-closed webhook: the
// PodDisruptionBudget selects exactly the manager's pods and lets one go at a time
// (the deployed e2e suite evicts them on the node).
func TestDisruptionBudget(t *testing.T) {
	var dep *appsv1.Deployment
	var pdbs []*policyv1.PodDisruptionBudget
	for _, u := range render(t, "config/default") {
		switch u.GetKind() {
		case "Deployment":
			dep = convert[appsv1.Deployment](t, u)
		case "PodDisruptionBudget":
			pdbs = append(pdbs, convert[policyv1.PodDisruptionBudget](t, u))
		}
	}
	if dep == nil || len(pdbs) != 1 {
		t.Fatalf("config/default renders a Deployment (%t) and %d PodDisruptionBudgets, want one", dep != nil, len(pdbs))
	}
	pdb := pdbs[0]
	if pdb.Namespace != dep.Namespace {
		t.Errorf("PodDisruptionBudget in %s, the manager in %s", pdb.Namespace, dep.Namespace)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the manager's pods %v (%v)", pdb.Spec.Selector, dep.Spec.Template.Labels, err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("maxUnavailable %v, minAvailable %v: want maxUnavailable 1 alone", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	if ptr.Deref(pdb.Spec.UnhealthyPodEvictionPolicy, "") != policyv1.AlwaysAllow {
		t.Errorf("unhealthyPodEvictionPolicy %v: a replica that never becomes Ready would hold a drain", pdb.Spec.UnhealthyPodEvictionPolicy)
	}
}

// The manager's pods admit the webhook port from addresses (the API server is rarely a
// pod), the metrics port from namespaces labelled metrics: enabled, and nothing else.
func TestNetworkPolicy(t *testing.T) {
	var dep *appsv1.Deployment
	var policies []*networkingv1.NetworkPolicy
	for _, u := range render(t, "config/default") {
		switch u.GetKind() {
		case "Deployment":
			dep = convert[appsv1.Deployment](t, u)
		case "NetworkPolicy":
			policies = append(policies, convert[networkingv1.NetworkPolicy](t, u))
		}
	}
	if dep == nil || len(policies) != 1 {
		t.Fatalf("config/default renders a Deployment (%t) and %d NetworkPolicies, want one", dep != nil, len(policies))
	}
	np := policies[0]
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) || np.Namespace != dep.Namespace {
		t.Errorf("podSelector %v in %s does not select the manager's pods (%v)", np.Spec.PodSelector, np.Namespace, err)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %v, want Ingress alone", np.Spec.PolicyTypes)
	}
	got := map[string]string{}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) != 1 {
			t.Errorf("rule %+v: want one port", rule)
			continue
		}
		from := []string{}
		if len(rule.From) == 0 {
			from = append(from, "any source")
		}
		for _, peer := range rule.From {
			switch {
			case peer.IPBlock != nil:
				from = append(from, "ipBlock "+peer.IPBlock.CIDR)
			case peer.NamespaceSelector != nil && peer.PodSelector == nil:
				from = append(from, "namespaces "+metav1.FormatLabelSelector(peer.NamespaceSelector))
			default:
				from = append(from, fmt.Sprintf("%+v", peer))
			}
		}
		got[rule.Ports[0].Port.String()] = strings.Join(from, ", ")
	}
	want := map[string]string{
		// Any source: no peer names the API server on every plugin, and one that missed
		// it would refuse every injected pod (config/default/network_policy.yaml).
		"9443": "any source",
		"8443": "namespaces metrics=enabled",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ingress by port (-want +got):\n%s", diff)
	}
	var ports []string
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports = append(ports, fmt.Sprint(p.ContainerPort))
		}
	}
	for _, p := range ports {
		if _, ok := want[p]; !ok {
			t.Errorf("the manager serves port %s, which the NetworkPolicy does not admit", p)
		}
	}
}

func TestWebhookExclusions(t *testing.T) {
	found := false
	for _, u := range render(t, "config/default") {
		if u.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		for _, h := range convert[admissionv1.MutatingWebhookConfiguration](t, u).Webhooks {
			if !slices.ContainsFunc(h.Rules, func(r admissionv1.RuleWithOperations) bool { return slices.Contains(r.Resources, "pods") }) {
				continue // the SidecarSet defaulter: cluster-scoped objects have no namespace to exclude
			}
			found = true
			if h.NamespaceSelector == nil {
				t.Fatalf("pod webhook %s has no namespaceSelector", h.Name)
			}
			var excluded []string
			for _, e := range h.NamespaceSelector.MatchExpressions {
				if e.Key == "kubernetes.io/metadata.name" && e.Operator == "NotIn" {
					excluded = e.Values
				}
			}
			for _, ns := range []string{"kube-system", "kube-node-lease", "outrigger-system"} {
				if !slices.Contains(excluded, ns) {
					t.Errorf("webhook %s does not exclude namespace %s", h.Name, ns)
				}
			}
			// Opted-out pods and namespaces are called for: Required sets ignore the opt-out.
			if h.ObjectSelector != nil && len(h.ObjectSelector.MatchExpressions) > 0 {
				t.Errorf("webhook %s skips pods by label (%v): Required sets would miss opted-out pods", h.Name, h.ObjectSelector)
			}
			for _, e := range h.NamespaceSelector.MatchExpressions {
				if e.Key == sidecarsv1alpha1.InjectLabel {
					t.Errorf("webhook %s skips opted-out namespaces: Required sets would miss them", h.Name)
				}
			}
		}
	}
	if !found {
		t.Fatal("config/default renders no pod webhook")
	}
}

func TestCertManagerOverlay(t *testing.T) {
	kinds := map[string]bool{}
	for _, u := range render(t, "config/certmanager") {
		kinds[u.GetKind()] = true
		switch u.GetKind() {
		case "Secret":
			t.Errorf("the cert-manager overlay still ships Secret %s", u.GetName())
		case "Deployment":
			if args := convert[appsv1.Deployment](t, u).Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--cert-management=external") {
				t.Errorf("the manager does not read the cert-manager certificate: args %v", args)
			}
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			if u.GetAnnotations()["cert-manager.io/inject-ca-from"] == "" {
				t.Errorf("%s %s has no cert-manager CA injection", u.GetKind(), u.GetName())
			}
		}
	}
	for _, k := range []string{"Certificate", "Issuer", "Deployment"} {
		if !kinds[k] {
			t.Errorf("the cert-manager overlay renders no %s", k)
		}
	}
}

func TestOverlaysRender(t *testing.T) {
	for _, dir := range []string{"config/crd", "config/rbac", "config/manager", "config/webhook", "config/prometheus", "config/samples"} {
		t.Run(dir, func(t *testing.T) {
			if len(render(t, dir)) == 0 {
				t.Errorf("%s renders nothing", dir)
			}
		})
	}
}

func TestAdmissionPolicyOverlay(t *testing.T) {
	var deployments, mutating int
	for _, u := range render(t, "config/admission-policy") {
		switch u.GetKind() {
		case "Deployment":
			deployments++
			if args := convert[appsv1.Deployment](t, u).Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--injection-engine=AdmissionPolicy") {
				t.Errorf("the manager does not run the admission policy engine: args %v", args)
			}
		case "MutatingWebhookConfiguration":
			mutating++
			hooks := convert[admissionv1.MutatingWebhookConfiguration](t, u).Webhooks
			if n := len(hooks); n != 2 {
				t.Errorf("%d mutating webhooks, want the SidecarSet defaulter and the pod injector", n)
			}
			for _, h := range hooks {
				onPods := slices.ContainsFunc(h.Rules, func(r admissionv1.RuleWithOperations) bool { return slices.Contains(r.Resources, "pods") })
				want := admissionv1.Fail
				if onPods {
					want = admissionv1.Ignore // the policy injects while the operator is down
				}
				if got := ptr.Deref(h.FailurePolicy, admissionv1.Fail); got != want {
					t.Errorf("webhook %s: failurePolicy %s, want %s", h.Name, got, want)
				}
				skipsInjected := h.ObjectSelector != nil && slices.ContainsFunc(h.ObjectSelector.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
					return r.Key == sidecarsv1alpha1.InjectedLabel && r.Operator == metav1.LabelSelectorOpDoesNotExist
				})
				if onPods && !skipsInjected {
					t.Errorf("the pod webhook's objectSelector %v calls it for pods the policy injected", h.ObjectSelector)
				}
			}
		}
	}
	if deployments != 1 || mutating != 1 {
		t.Errorf("rendered %d Deployments and %d MutatingWebhookConfigurations, want one each", deployments, mutating)
	}
}

// TestSidecarsReadyPolicy: both engines' installs carry the MutatingAdmissionPolicy that
// turns the readiness gate True without the operator; it only ever matches kubelet-side
// status writes of injected pods, fails open, and its binding names it after the
// name prefix.
func TestSidecarsReadyPolicy(t *testing.T) {
	for _, dir := range []string{"config/default", "config/admission-policy", "config/policy"} {
		t.Run(dir, func(t *testing.T) {
			var policies []*admissionv1.MutatingAdmissionPolicy
			var bindings []*admissionv1.MutatingAdmissionPolicyBinding
			for _, u := range render(t, dir) {
				switch u.GetKind() {
				case "MutatingAdmissionPolicy":
					policies = append(policies, convert[admissionv1.MutatingAdmissionPolicy](t, u))
				case "MutatingAdmissionPolicyBinding":
					bindings = append(bindings, convert[admissionv1.MutatingAdmissionPolicyBinding](t, u))
				}
			}
			if len(policies) != 1 || len(bindings) != 1 {
				t.Fatalf("%d policies and %d bindings, want the sidecars-ready one each", len(policies), len(bindings))
			}
			p, b := policies[0], bindings[0]
			if !strings.HasSuffix(p.Name, "sidecars-ready.sidecars.outrigger.dev") {
				t.Errorf("policy %s", p.Name)
			}
			if b.Spec.PolicyName != p.Name {
				t.Errorf("binding %s names policy %q, want %q", b.Name, b.Spec.PolicyName, p.Name)
			}
			if got := ptr.Deref(p.Spec.FailurePolicy, admissionv1.Fail); got != admissionv1.Ignore {
				t.Errorf("failurePolicy %s: an evaluation error would refuse the kubelet's status write", got)
			}
			want := []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
				Operations: []admissionv1.OperationType{admissionv1.Update},
				Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/status"}},
			}}}
			if diff := cmp.Diff(want, p.Spec.MatchConstraints.ResourceRules); diff != "" {
				t.Errorf("the policy matches more or less than pods/status UPDATE (-want +got):\n%s", diff)
			}
			sel := b.Spec.MatchResources.ObjectSelector
			if sel == nil || sel.MatchLabels[sidecarsv1alpha1.InjectedLabel] != sidecarsv1alpha1.InjectedLabelValue {
				t.Errorf("the binding's objectSelector %v matches pods Outrigger did not inject", sel)
			}
		})
	}
}
