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

package integration

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// specLabel carries a spec's own value on everything it makes on the API server the
// specs share: its namespaces, its SidecarSets, and the pods those sets select.
// SidecarSets are cluster-scoped and select pods in every namespace, so a spec that
// selected by anything less than its own value, or cleaned up by anything wider, would
// reach into the specs running beside it.
const specLabel = "test.outrigger.dev/spec"

// specScope is one spec's share of the API server.
type specScope struct {
	// ID is unique in the run: the name of the spec's namespace, and its specLabel value.
	ID string
	// NS is the spec's namespace.
	NS *corev1.Namespace
	// namespaces are every namespace the spec made, NS first.
	namespaces []*corev1.Namespace
}

// isolate gives the running spec (or, called in a BeforeAll, the Ordered container) a
// namespace named prefix plus a random suffix, labelled with its ID. At the end it
// deletes the SidecarSets labelled with that ID and the namespaces the scope made:
// what the spec made, nothing else.
func isolate(prefix string) *specScope {
	GinkgoHelper()
	return isolateWith(prefix, nil)
}

// isolateWith is isolate with labels on the spec's namespace.
func isolateWith(prefix string, nsLabels map[string]string) *specScope {
	GinkgoHelper()
	s := &specScope{}
	DeferCleanup(s.cleanup)
	s.NS = s.Namespace(prefix, nsLabels)
	return s
}

// Labels are the spec's pod selector and the label its SidecarSets carry.
func (s *specScope) Labels() map[string]string {
	return map[string]string{specLabel: s.ID}
}

// Set starts a SidecarSet of the spec: named name-ID, labelled with the ID, selecting
// the spec's pods. A spec narrowing the selector keeps specLabel in it.
func (s *specScope) Set(name string) *utiltesting.SidecarSetWrapper {
	return utiltesting.MakeSidecarSet(name+"-"+s.ID).Label(specLabel, s.ID).MatchLabels(s.Labels())
}

// Pod starts a pod of the spec in its namespace, labelled so that its sets select it.
func (s *specScope) Pod(name string) *utiltesting.PodWrapper {
	return utiltesting.MakePod(name, s.NS.Name).Labels(s.Labels())
}

// Own labels an object the spec made some other way (a sample, a copy) as the spec's,
// so that its cleanup finds it.
func (s *specScope) Own(obj client.Object) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[specLabel] = s.ID
	obj.SetLabels(labels)
}

// Namespace creates another namespace of the spec, with labels, deleted with the spec.
func (s *specScope) Namespace(prefix string, labels map[string]string) *corev1.Namespace {
	GinkgoHelper()
	var ns *corev1.Namespace
	Eventually(func() error {
		name := prefix + utilrand.String(5)
		id := s.ID
		if id == "" {
			// The scope's first namespace names it.
			id = name
		}
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{specLabel: id}}}
		maps.Copy(ns.Labels, labels)
		return k8sClient.Create(ctx, ns)
	}).Should(Succeed())
	if s.ID == "" {
		s.ID = ns.Name
	}
	s.namespaces = append(s.namespaces, ns)
	return ns
}

func (s *specScope) cleanup() {
	GinkgoHelper()
	if s.ID == "" {
		return
	}
	Expect(k8sClient.DeleteAllOf(ctx, &sidecarsv1alpha1.SidecarSet{}, client.MatchingLabels(s.Labels()))).To(Succeed())
	for _, ns := range s.namespaces {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed())
	}
}

// requireSpecLabel makes the API server refuse a SidecarSet that carries no specLabel:
// a spec that forgets the scope fails at its create, instead of leaving a set behind
// that no cleanup deletes and that selects whatever its selector says.
func requireSpecLabel() {
	GinkgoHelper()
	const name = "test.outrigger.dev-require-spec-label"
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: new(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{sidecarsv1alpha1.GroupVersion.Group},
						APIVersions: []string{"*"}, Resources: []string{"sidecarsets"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "has(object.metadata.labels) && '" + specLabel + "' in object.metadata.labels",
				Message:    "a spec's SidecarSet carries " + specLabel + ": create it with isolate(...).Set or .Own",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := k8sClient.Create(ctx, obj); !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
	// The API server loads policies asynchronously: wait until it refuses an unlabelled set.
	Eventually(func() error {
		return k8sClient.Create(ctx, utiltesting.MakeSidecarSet("").GenerateName("unlabelled-").
			Sidecar(utiltesting.MakeSidecar("probe", "example.com/probe:1").Obj()).Obj(), client.DryRunAll)
	}).Should(MatchError(ContainSubstring(specLabel)))
}

// ownedKustomization writes a kustomization that is dir's with the spec's label on every
// object, for `kubectl apply -k`, and returns its directory.
func (s *specScope) ownedKustomization(dir string) string {
	GinkgoHelper()
	own := GinkgoT().TempDir()
	rel, err := filepath.Rel(own, dir)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(own, "kustomization.yaml"), []byte(fmt.Sprintf(
		"resources:\n- %s\nlabels:\n- pairs:\n    %s: %s\n", rel, specLabel, s.ID)), 0o600)).To(Succeed())
	return own
}
