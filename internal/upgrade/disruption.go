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

package upgrade

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// MaxDisruptedPods is the Eviction API's bound on a budget's status.disruptedPods.
const MaxDisruptedPods = 2000

// ClaimDisruption decides whether a drain of pod may begin under the
// PodDisruptionBudgets of its namespace, exactly as the Eviction API decides an
// eviction: an in-place drain takes the pod out of its Services as an eviction does.
//
// A pod that is not Ready is not counted healthy by any budget and may always drain. A
// pod covered by no budget may drain. A pod covered by more than one is refused, as the
// Eviction API refuses it. Otherwise the one budget must have observed its generation
// and allow a disruption; the claim is that budget with disruptionsAllowed lowered by
// one and the pod entered in status.disruptedPods — which the disruption controller
// honours, so it counts the pod as disrupted until it turns NotReady — to be written back
// with its resourceVersion, so two claims (ours or an eviction) never spend the same
// disruption. A pod already in disruptedPods (a claim written before a restart) needs
// no new one. claim is nil when nothing needs writing; blocked says why the drain must
// wait, "" when it may go.
func ClaimDisruption(pod *corev1.Pod, pdbs []policyv1.PodDisruptionBudget, now time.Time) (claim *policyv1.PodDisruptionBudget, blocked string) {
	if !podReady(pod) {
		return nil, ""
	}
	var covering []*policyv1.PodDisruptionBudget
	for i := range pdbs {
		pdb := &pdbs[i]
		if pdb.Namespace != pod.Namespace || pdb.DeletionTimestamp != nil {
			continue
		}
		if pdb.Spec.Selector == nil {
			continue // a nil selector selects nothing, as in the disruption controller
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			covering = append(covering, pdb)
		}
	}
	switch {
	case len(covering) == 0:
		return nil, ""
	case len(covering) > 1:
		return nil, fmt.Sprintf("the pod is covered by %d PodDisruptionBudgets (%s, %s...); the Eviction API refuses such pods too",
			len(covering), covering[0].Name, covering[1].Name)
	}
	pdb := covering[0]
	if _, claimed := pdb.Status.DisruptedPods[pod.Name]; claimed {
		return nil, ""
	}
	switch {
	case pdb.Status.ObservedGeneration < pdb.Generation:
		return nil, fmt.Sprintf("PodDisruptionBudget %s has not observed its latest generation yet", pdb.Name)
	case pdb.Status.DisruptionsAllowed <= 0:
		return nil, fmt.Sprintf("PodDisruptionBudget %s allows no disruption now (%d healthy, %d required)",
			pdb.Name, pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy)
	case len(pdb.Status.DisruptedPods) >= MaxDisruptedPods:
		return nil, fmt.Sprintf("PodDisruptionBudget %s has too many disruptions in flight", pdb.Name)
	}
	claim = pdb.DeepCopy()
	claim.Status.DisruptionsAllowed--
	if claim.Status.DisruptedPods == nil {
		claim.Status.DisruptedPods = map[string]metav1.Time{}
	}
	claim.Status.DisruptedPods[pod.Name] = metav1.NewTime(now)
	return claim, ""
}

// ReleaseDisruption returns the budgets that hold pod in status.disruptedPods, with the
// pod taken out, to be written back once its in-place upgrade finished. The disruption
// controller keeps such an entry — counting the pod as disrupted — until the pod is
// deleted or two minutes pass; a pod upgraded in place is never deleted, so without this
// the next drain would wait out those two minutes.
func ReleaseDisruption(pod *corev1.Pod, pdbs []policyv1.PodDisruptionBudget) []*policyv1.PodDisruptionBudget {
	var out []*policyv1.PodDisruptionBudget
	for i := range pdbs {
		if pdbs[i].Namespace != pod.Namespace {
			continue
		}
		if _, ok := pdbs[i].Status.DisruptedPods[pod.Name]; !ok {
			continue
		}
		released := pdbs[i].DeepCopy()
		delete(released.Status.DisruptedPods, pod.Name)
		out = append(out, released)
	}
	return out
}
