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

package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

var fuzzOperators = []metav1.LabelSelectorOperator{
	metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist,
}

// fuzzSelector turns fuzzed strings into a selector. The bits of shape choose the
// operator (or a raw, probably invalid one), whether key also appears in matchLabels,
// a second expression on a shared key so the two fuzzed selectors interact, and nil.
func fuzzSelector(key, values string, shape uint8) *metav1.LabelSelector {
	if shape&0x80 != 0 {
		return nil
	}
	vs := strings.Split(values, ",")
	if values == "" {
		vs = nil
	}
	op := metav1.LabelSelectorOperator(values)
	if i := int(shape % 5); i < len(fuzzOperators) {
		op = fuzzOperators[i]
	}
	s := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: vs}}}
	if shape&0x08 != 0 && len(vs) > 0 {
		s.MatchLabels = map[string]string{key: vs[0]}
	}
	if shape&0x10 != 0 {
		s.MatchExpressions = append(s.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: "app", Operator: fuzzOperators[(shape>>5)%4], Values: vs,
		})
	}
	return s
}

// asSelector reads a selector the way SelectorsOverlap does (nil is everything) and says
// whether it is usable at all.
func asSelector(s *metav1.LabelSelector) (labels.Selector, bool) {
	if s == nil {
		return labels.Everything(), true
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	return sel, err == nil
}

func FuzzValidateSidecarSet(f *testing.F) {
	f.Add("app", "web", uint8(0), "app", "db", uint8(0), "mesh", "on", "proxy", "proxy", "data")
	f.Add("app", "web,api", uint8(0), "app", "web", uint8(1), "tier", "front", "proxy", "agent", "certs")
	f.Add("app", "", uint8(2), "app", "", uint8(3), "sidecars.outrigger.dev/injected", "true", "a", "b", "")
	f.Add("app", "web", uint8(8), "app", "web", uint8(0x14), "bad key", "bad value!", "proxy", "proxy", "proxy")
	f.Add("", ",", uint8(4), "app", "Near", uint8(4), "", "", "", "", "")
	f.Add("example.com/team", "a,b,c", uint8(0x30), "example.com/team", "c", uint8(0x91), "example.com/x", "y", "x", "y", "z")

	f.Fuzz(func(t *testing.T, keyA, valuesA string, shapeA uint8, keyB, valuesB string, shapeB uint8,
		labelKey, labelValue, nameA, nameB, volume string) {
		selA, selB := fuzzSelector(keyA, valuesA, shapeA), fuzzSelector(keyB, valuesB, shapeB)

		overlap := SelectorsOverlap(selA, selB)
		if back := SelectorsOverlap(selB, selA); back != overlap {
			t.Fatalf("SelectorsOverlap is not symmetric: (a, b) = %v, (b, a) = %v\na: %v\nb: %v", overlap, back, selA, selB)
		}
		// A label set built from the fuzzed strings that both selectors match proves they
		// overlap, so a false answer there is a bug.
		if !overlap {
			candidates := []labels.Set{{}, {labelKey: labelValue}, {keyA: "zz-unlisted"}, {keyB: "zz-unlisted"}}
			for _, va := range append(strings.Split(valuesA, ","), labelValue) {
				for _, vb := range append(strings.Split(valuesB, ","), labelValue) {
					candidates = append(candidates, labels.Set{keyA: va}, labels.Set{keyB: vb},
						labels.Set{keyA: va, keyB: vb}, labels.Set{keyA: va, keyB: vb, "app": va})
				}
			}
			// Converted once, not per candidate: the candidates grow with the product of
			// the values' counts, and the conversion parsed both selectors again for each.
			a, okA := asSelector(selA)
			b, okB := asSelector(selB)
			for _, c := range candidates {
				if okA && okB && a.Matches(c) && b.Matches(c) {
					t.Fatalf("SelectorsOverlap = false, but both selectors match %v\na: %v\nb: %v", c, selA, selB)
				}
			}
		}

		build := func(name, other string, pod, ns *metav1.LabelSelector) *sidecarsv1alpha1.SidecarSet {
			sidecar := withMounts(testingutil.MakeSidecar(name, "example/"+name).TransferEnv(other).Obj(), volume)
			s := testingutil.MakeSidecarSet(name).Selector(pod).
				Sidecar(withTargets(sidecar, other, name)).
				InitContainer(initContainer(other, volume)).
				Volume(configMapVolume(volume, name)).Obj()
			s.Spec.NamespaceSelector = ns
			s.Spec.UpdateStrategy.Selector = ns
			return withPodMetadata(s, map[string]string{labelKey: name}, map[string]string{labelKey: other})
		}
		a, b := build(nameA, nameB, selA, selB), build(nameB, nameA, selB, selA)
		ValidateSidecarSet(a, nil)
		ValidateSidecarSet(a, b)
		ValidateConflicts(a, nil, []sidecarsv1alpha1.SidecarSet{*b, *a})
		ValidateConflicts(b, a, []sidecarsv1alpha1.SidecarSet{*a})
		// Ratcheting: an update that changes nothing never brings a conflict.
		if errs := ValidateConflicts(a, a, []sidecarsv1alpha1.SidecarSet{*b}); len(errs) > 0 {
			t.Fatalf("an unchanged update was refused: %v", errs)
		}
	})
}
