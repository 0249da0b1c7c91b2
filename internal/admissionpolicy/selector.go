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

package admissionpolicy

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// selectorExpr is sel as a CEL expression over the label map expression labels, with
// the semantics of metav1.LabelSelectorAsSelector: every matchLabels entry and every
// requirement must hold; an empty selector matches everything. nil is for a selector
// that selects nothing (a SidecarSet without selector injects no pod).
func selectorExpr(sel *metav1.LabelSelector, labels string) (string, error) {
	if sel == nil {
		return celFalse, nil
	}
	// LabelSelectorAsSelector validates keys, values and operators; a selector it refuses
	// the webhook skips, so the compiler refuses it too.
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return "", err
	}
	var terms []string
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("%s[?%s] == optional.of(%s)", labels, quote(k), quote(sel.MatchLabels[k])))
	}
	for _, r := range sel.MatchExpressions {
		key := quote(r.Key)
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, fmt.Sprintf("(%s in %s && %s[%s] in %s)", key, labels, labels, key, stringList(r.Values)))
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, fmt.Sprintf("(!(%s in %s) || !(%s[%s] in %s))", key, labels, labels, key, stringList(r.Values)))
		case metav1.LabelSelectorOpExists:
			terms = append(terms, fmt.Sprintf("(%s in %s)", key, labels))
		case metav1.LabelSelectorOpDoesNotExist:
			terms = append(terms, fmt.Sprintf("!(%s in %s)", key, labels))
		default:
			return "", fmt.Errorf("operator %q is not a label selector operator", r.Operator)
		}
	}
	if len(terms) == 0 {
		return celTrue, nil
	}
	return strings.Join(terms, " && "), nil
}
