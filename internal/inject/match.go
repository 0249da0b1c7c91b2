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
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// systemNamespaces are never injected: the control plane's own pods must start even
// when Outrigger is broken.
var systemNamespaces = sets.New(metav1.NamespaceSystem, corev1.NamespaceNodeLease)

// Excluded reports why no SidecarSet may touch pods of this namespace: a system
// namespace or the operator's own. Empty means the pod may be injected.
func Excluded(ns metav1.Object, operatorNamespace string) string {
	name := ns.GetName()
	switch {
	case systemNamespaces.Has(name):
		return fmt.Sprintf("namespace %s is a system namespace", name)
	case name == operatorNamespace:
		return fmt.Sprintf("namespace %s is the operator's own", name)
	}
	return ""
}

// OptedOut reports why Optional SidecarSets skip this pod: the opt-out label on the pod
// or its namespace. Required sets ignore it (Applies). Empty means not opted out.
func OptedOut(pod *corev1.Pod, ns metav1.Object) string {
	switch {
	case ns.GetLabels()[sidecarsv1alpha1.InjectLabel] == "false":
		return fmt.Sprintf("namespace %s is labelled %s=false", ns.GetName(), sidecarsv1alpha1.InjectLabel)
	case pod.Labels[sidecarsv1alpha1.InjectLabel] == "false":
		return fmt.Sprintf("the pod is labelled %s=false", sidecarsv1alpha1.InjectLabel)
	}
	return ""
}

// Match reports whether set selects pod in namespace ns: its selector matches the pod's
// labels and its namespaceSelector (if any) the namespace's. Exclusions (Excluded,
// OptedOut) and injection.paused are the caller's to check: they say whether to inject, not whether
// the set selects the pod, which the controller needs to know too.
func Match(pod *corev1.Pod, ns metav1.Object, set *sidecarsv1alpha1.SidecarSet) (bool, error) {
	s, err := NewSelector(set)
	if err != nil {
		return false, err
	}
	return s.Matches(pod, ns)
}
