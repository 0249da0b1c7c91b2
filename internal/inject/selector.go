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

package inject

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Selector is a SidecarSet's selector and namespaceSelector, parsed. Parsing validates
// every key and value with regular expressions: with a thousand sets it was most of
// the pod webhook's time (docs/benchmarks.md), so callers that match many pods parse
// once per set generation (Selectors) and match with Matches.
type Selector struct {
	pod labels.Selector
	// namespace is nil when the set has no namespaceSelector: every namespace matches.
	namespace labels.Selector
	// namespaceErr is why the namespaceSelector does not parse; reported only for pods
	// the selector matches, as Match always did.
	namespaceErr error
}

// NewSelector parses set's selectors; an error means its selector does not parse.
func NewSelector(set *sidecarsv1alpha1.SidecarSet) (Selector, error) {
	s := Selector{pod: labels.Nothing()}
	var err error
	if set.Spec.Selector != nil {
		if s.pod, err = metav1.LabelSelectorAsSelector(set.Spec.Selector); err != nil {
			return Selector{}, err
		}
	}
	if set.Spec.NamespaceSelector != nil {
		s.namespace, s.namespaceErr = metav1.LabelSelectorAsSelector(set.Spec.NamespaceSelector)
	}
	return s, nil
}

// Matches is Match with the selectors parsed.
func (s Selector) Matches(pod *corev1.Pod, ns metav1.Object) (bool, error) {
	if s.pod == nil || !s.pod.Matches(labels.Set(pod.Labels)) {
		return false, nil
	}
	if s.namespaceErr != nil {
		return false, s.namespaceErr
	}
	return s.namespace == nil || s.namespace.Matches(labels.Set(ns.GetLabels())), nil
}

// MatchesLabels says whether the pod selector alone matches lbls.
func (s Selector) MatchesLabels(lbls map[string]string) bool {
	return s.pod != nil && s.pod.Matches(labels.Set(lbls))
}

// LabelKeys are the pod label keys set's selectors read: its selector's and its update
// strategy's (a pod's namespace is matched by the namespace's labels, not the pod's).
func LabelKeys(set *sidecarsv1alpha1.SidecarSet) []string {
	var keys []string
	for _, sel := range []*metav1.LabelSelector{set.Spec.Selector, set.Spec.UpdateStrategy.Selector} {
		if sel == nil {
			continue
		}
		for k := range sel.MatchLabels {
			keys = append(keys, k)
		}
		for _, r := range sel.MatchExpressions {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

// Selectors keeps each SidecarSet's parsed Selector (selectors are spec, so a new
// generation may change them). A selector that does not parse is kept as such too:
// it is no passing failure, and parsing it again on every pod would cost every pod.
type Selectors struct {
	memo PerSet[parsedSelector]
}

type parsedSelector struct {
	selector Selector
	err      error
}

// Of is set's Selector, parsed at most once per generation.
func (c *Selectors) Of(set *sidecarsv1alpha1.SidecarSet) (Selector, error) {
	parsed, _ := c.memo.Of(set, func() (parsedSelector, error) {
		s, err := NewSelector(set)
		return parsedSelector{selector: s, err: err}, nil
	})
	return parsed.selector, parsed.err
}

// Retain forgets the sets not among items (PerSet.Retain).
func (c *Selectors) Retain(items []*sidecarsv1alpha1.SidecarSet) {
	c.memo.Retain(items, time.Now())
}
