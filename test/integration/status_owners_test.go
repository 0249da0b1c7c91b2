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
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/controllers"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// Two controllers write a SidecarSet's status: the SidecarSet reconciler (counts,
// revisions, Ready/Progressing/Paused/Degraded) and, with the policy engine, the
// AdmissionPolicy reconciler (its one condition). Both react to the same spec change;
// neither may drop what the other wrote.
var _ = Describe("SidecarSet status with two writers", Serial, Ordered, func() {
	var spec *specScope
	var set *sidecarsv1alpha1.SidecarSet

	BeforeAll(func() {
		stopManager()
		stopPolicyManager := startManagerWith(controllers.EngineAdmissionPolicy)
		DeferCleanup(func() {
			stopPolicyManager()
			stopManager = startManager()
		})
		spec = isolate("status-owners-")
		set = spec.Set("status-owners").Sidecar(utiltesting.MakeSidecar("agent", "example.com/agent:1").Obj()).Obj()
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
	})

	It("loses no condition while both controllers write it", func() {
		policyCondition := func(g Gomega, s *sidecarsv1alpha1.SidecarSet) *metav1.Condition {
			c := meta.FindStatusCondition(s.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy)
			g.Expect(c).NotTo(BeNil(), "the AdmissionPolicy condition")
			return c
		}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
			policyCondition(g, set)
			g.Expect(meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionReady)).NotTo(BeNil())
		}).WithTimeout(30 * time.Second).Should(Succeed())

		// Every version of the set the API server stores from here on.
		list := &sidecarsv1alpha1.SidecarSetList{}
		watchClient, err := client.NewWithWatch(cfg, client.Options{})
		Expect(err).NotTo(HaveOccurred())
		w, err := watchClient.Watch(ctx, list, client.MatchingFields{"metadata.name": set.Name},
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: set.ResourceVersion}})
		Expect(err).NotTo(HaveOccurred())
		var mu sync.Mutex
		var lost, reverted []string
		seen := 0
		policyGeneration := int64(0)
		go func() {
			defer GinkgoRecover()
			for ev := range w.ResultChan() {
				s, ok := ev.Object.(*sidecarsv1alpha1.SidecarSet)
				if !ok || ev.Type != watch.Modified {
					continue
				}
				mu.Lock()
				seen++
				switch c := meta.FindStatusCondition(s.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy); {
				case c == nil:
					lost = append(lost, s.ResourceVersion)
				case c.ObservedGeneration < policyGeneration:
					reverted = append(reverted, s.ResourceVersion)
				default:
					policyGeneration = c.ObservedGeneration
				}
				mu.Unlock()
			}
		}()
		DeferCleanup(w.Stop)

		// Each toggle of injection.paused is a new generation both controllers answer:
		// the SidecarSet reconciler with observedGeneration and Paused, the other with
		// its condition's message; pods coming and going make the first recount.
		const toggles = 20
		for i := range toggles {
			// A merge patch of the spec: the controllers' status writes do not conflict with it.
			patch := client.MergeFrom(set.DeepCopy())
			set.Spec.Injection.Paused = i%2 == 1 // the last toggle pauses
			// A new revision too: the SidecarSet reconciler's pass writes it first.
			set.Spec.Containers[0].Image = fmt.Sprintf("example.com/agent:%d", i+2)
			Expect(k8sClient.Patch(ctx, set, patch)).To(Succeed())
			pod := spec.Pod(fmt.Sprintf("web-%d", i)).Obj()
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		}

		// Both settle on the last generation, the AdmissionPolicy condition among them.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: set.Name}, set)).To(Succeed())
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			c := policyCondition(g, set)
			g.Expect(c.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(c.Message).To(ContainSubstring("Injection is paused"))
			g.Expect(set.Status.MatchedPods).To(BeEquivalentTo(toggles))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		mu.Lock()
		defer mu.Unlock()
		Expect(seen).To(BeNumerically(">=", toggles), "the watch saw the writes")
		Expect(lost).To(BeEmpty(), "versions of the set without the AdmissionPolicy condition")
		Expect(reverted).To(BeEmpty(), "versions of the set with an older AdmissionPolicy condition than one written before")
	})
})
