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
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

func pdb(name string, allowed int32, edits ...func(*policyv1.PodDisruptionBudget)) policyv1.PodDisruptionBudget {
	p := policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: allowed,
			CurrentHealthy: 3, DesiredHealthy: 3 - allowed, ExpectedPods: 3},
	}
	for _, e := range edits {
		e(&p)
	}
	return p
}

func TestClaimDisruption(t *testing.T) {
	readyPod := func(ready bool) *corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return apply(testingutil.MakePod("web-1", "ns").Labels(map[string]string{"app": "web"}).Obj(),
			[]podChange{podCondition(corev1.PodReady, status, time.Hour, "", "")})
	}
	claimed := func(p policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
		p.Status.DisruptionsAllowed--
		p.Status.DisruptedPods = map[string]metav1.Time{"web-1": metav1.NewTime(now)}
		return &p
	}
	tests := map[string]struct {
		notReady    bool
		pdbs        []policyv1.PodDisruptionBudget
		wantClaim   *policyv1.PodDisruptionBudget
		wantBlocked string
	}{
		"no budget: drains": {},
		"a budget of another namespace or selector: drains": {
			pdbs: []policyv1.PodDisruptionBudget{
				pdb("elsewhere", 0, func(p *policyv1.PodDisruptionBudget) { p.Namespace = "other" }),
				pdb("api", 0, func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector.MatchLabels["app"] = "api" }),
				pdb("nil-selector", 0, func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector = nil }),
			},
		},
		"one disruption allowed: claims it": {
			pdbs:      []policyv1.PodDisruptionBudget{pdb("web", 1)},
			wantClaim: claimed(pdb("web", 1)),
		},
		"an empty selector covers every pod of the namespace": {
			pdbs: []policyv1.PodDisruptionBudget{pdb("all", 1, func(p *policyv1.PodDisruptionBudget) {
				p.Spec.Selector = &metav1.LabelSelector{}
			})},
			wantClaim: claimed(pdb("all", 1, func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector = &metav1.LabelSelector{} })),
		},
		"no disruption allowed: blocked": {
			pdbs:        []policyv1.PodDisruptionBudget{pdb("web", 0)},
			wantBlocked: "PodDisruptionBudget web allows no disruption now (3 healthy, 3 required)",
		},
		"no disruption allowed, the pod not ready: drains, as an eviction would": {
			notReady: true,
			pdbs:     []policyv1.PodDisruptionBudget{pdb("web", 0)},
		},
		"already claimed before a restart: drains without a new claim": {
			pdbs: []policyv1.PodDisruptionBudget{pdb("web", 0, func(p *policyv1.PodDisruptionBudget) {
				p.Status.DisruptedPods = map[string]metav1.Time{"web-1": metav1.NewTime(now.Add(-time.Second))}
			})},
		},
		"a budget behind its generation: blocked": {
			pdbs:        []policyv1.PodDisruptionBudget{pdb("web", 1, func(p *policyv1.PodDisruptionBudget) { p.Generation = 2 })},
			wantBlocked: "PodDisruptionBudget web has not observed its latest generation yet",
		},
		"two budgets: blocked, as the Eviction API refuses": {
			pdbs:        []policyv1.PodDisruptionBudget{pdb("a", 1), pdb("b", 1)},
			wantBlocked: "the pod is covered by 2 PodDisruptionBudgets (a, b...); the Eviction API refuses such pods too",
		},
		"a budget being deleted does not count": {
			pdbs: []policyv1.PodDisruptionBudget{pdb("web", 0, func(p *policyv1.PodDisruptionBudget) {
				p.DeletionTimestamp = &metav1.Time{Time: now}
			})},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			claim, blocked := ClaimDisruption(readyPod(!tc.notReady), tc.pdbs, now)
			if diff := gocmp.Diff(tc.wantClaim, claim); diff != "" {
				t.Errorf("claim (-want +got):\n%s", diff)
			}
			if blocked != tc.wantBlocked {
				t.Errorf("blocked = %q, want %q", blocked, tc.wantBlocked)
			}
		})
	}
}

func TestReleaseDisruption(t *testing.T) {
	pod := testingutil.MakePod("web-1", "ns").Obj()
	holding := pdb("web", 0, func(p *policyv1.PodDisruptionBudget) {
		p.Status.DisruptedPods = map[string]metav1.Time{"web-1": metav1.NewTime(now), "web-2": metav1.NewTime(now)}
	})
	elsewhere := pdb("web", 0, func(p *policyv1.PodDisruptionBudget) {
		p.Namespace = "other"
		p.Status.DisruptedPods = map[string]metav1.Time{"web-1": metav1.NewTime(now)}
	})
	got := ReleaseDisruption(pod, []policyv1.PodDisruptionBudget{holding, pdb("api", 1), elsewhere})
	want := holding.DeepCopy()
	delete(want.Status.DisruptedPods, "web-1")
	if diff := gocmp.Diff([]*policyv1.PodDisruptionBudget{want}, got); diff != "" {
		t.Errorf("ReleaseDisruption (-want +got):\n%s", diff)
	}
	if _, still := holding.Status.DisruptedPods["web-1"]; !still {
		t.Error("ReleaseDisruption changed its input")
	}
}
