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

package resources

import (
	"math"
	"math/big"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Compute returns the resources a sidecar gets from its policy and the pod's app containers.
//
// The targets are the app containers named in targetContainers, or every app container
// when the list is empty; names that match no container are ignored. Only cpu and memory
// are computed, each only when the policy has a rule for it. Requests and limits are
// computed separately, with the same rule:
//
//   - the aggregate of the targets that set the value: Sum adds them up, Max takes the
//     largest;
//   - the result is percent of the aggregate, rounded up to a whole millicore (cpu) or a
//     whole byte (memory), so a sidecar never gets 0 from a non-zero app, then clamped
//     to [min, max], each bound optional;
//   - when no target sets the value, a request is min, or unset without min; a limit is
//     unset, because the app is unlimited and so is the sidecar;
//   - when both are set and the request exceeds the limit, the request is lowered to the
//     limit, since a pod with request > limit is invalid.
//
// Negative quantities, which the API server rejects, count as zero. Bounds finer than a
// millicore or a byte round up like the result. When min > max, which the API also
// rejects, max wins. A result beyond int64 saturates at the largest quantity rather
// than wrapping. Results are canonical: cpu in DecimalSI millicores, memory in BinarySI
// bytes; Requests and Limits stay nil when nothing is set.
//
// A nil policy gives empty ResourceRequirements.
func Compute(policy *sidecarsv1alpha1.ResourcesPolicy, app []corev1.Container) corev1.ResourceRequirements {
	var out corev1.ResourceRequirements
	if policy == nil {
		return out
	}
	targets := selectTargets(policy.TargetContainers, app)
	aggregate := policy.EffectiveAggregate()

	for _, r := range []struct {
		name corev1.ResourceName
		rule *sidecarsv1alpha1.ResourceRule
		// unitsPerWhole is how many result units make one unit of the quantity:
		// cpu results are millicores, memory results are bytes.
		unitsPerWhole int64
		canonical     func(int64) resource.Quantity
	}{
		{corev1.ResourceCPU, policy.CPU, 1000, func(v int64) resource.Quantity {
			return *resource.NewMilliQuantity(v, resource.DecimalSI)
		}},
		{corev1.ResourceMemory, policy.Memory, 1, func(v int64) resource.Quantity {
			return *resource.NewQuantity(v, resource.BinarySI)
		}},
	} {
		if r.rule == nil {
			continue
		}
		req, reqSet := evaluate(r.rule, aggregate, r.unitsPerWhole, values(targets, r.name, requestsOf), true)
		lim, limSet := evaluate(r.rule, aggregate, r.unitsPerWhole, values(targets, r.name, limitsOf), false)
		if reqSet && limSet && req > lim {
			req = lim
		}
		if reqSet {
			out.Requests = set(out.Requests, r.name, r.canonical(req))
		}
		if limSet {
			out.Limits = set(out.Limits, r.name, r.canonical(lim))
		}
	}
	return out
}

func selectTargets(names []string, app []corev1.Container) []corev1.Container {
	if len(names) == 0 {
		return app
	}
	wanted := make(map[string]bool, len(names))
	for _, n := range names {
		wanted[n] = true
	}
	var targets []corev1.Container
	for _, c := range app {
		if wanted[c.Name] {
			targets = append(targets, c)
		}
	}
	return targets
}

func requestsOf(c corev1.Container) corev1.ResourceList { return c.Resources.Requests }
func limitsOf(c corev1.Container) corev1.ResourceList   { return c.Resources.Limits }

// values returns the quantities the targets set; a target that leaves the resource
// unset is absent rather than zero, so that Max and "no target sets it" stay apart.
func values(targets []corev1.Container, name corev1.ResourceName, list func(corev1.Container) corev1.ResourceList) []*big.Rat {
	var vs []*big.Rat
	for _, c := range targets {
		if q, ok := list(c)[name]; ok {
			vs = append(vs, nonNegative(exact(q)))
		}
	}
	return vs
}

// evaluate applies one rule to the values the targets set and returns the result in
// units (millicores or bytes), and whether the resource is set at all. The arithmetic
// is exact (big.Rat) and saturates only at the end, so neither a Sum over many large
// containers nor percent up to 1000 can wrap.
func evaluate(rule *sidecarsv1alpha1.ResourceRule, aggregate sidecarsv1alpha1.Aggregate, unitsPerWhole int64,
	vs []*big.Rat, isRequest bool) (int64, bool) {
	var lo, hi *big.Int
	if rule.Min != nil {
		lo = ceilUnits(nonNegative(exact(*rule.Min)), unitsPerWhole)
	}
	if rule.Max != nil {
		hi = ceilUnits(nonNegative(exact(*rule.Max)), unitsPerWhole)
	}

	if len(vs) == 0 {
		if !isRequest || lo == nil {
			return 0, false
		}
		if hi != nil && lo.Cmp(hi) > 0 {
			lo = hi
		}
		return saturate(lo), true
	}

	agg := new(big.Rat)
	for _, v := range vs {
		// The API only allows Sum and Max; anything else sums, like the default.
		if aggregate == sidecarsv1alpha1.AggregateMax {
			if v.Cmp(agg) > 0 {
				agg.Set(v)
			}
		} else {
			agg.Add(agg, v)
		}
	}
	// A percent below 0 would make a negative resource; the API allows 1 to 1000.
	percent := max(int64(rule.Percent), 0)
	agg.Mul(agg, big.NewRat(percent, 100))

	result := ceilUnits(agg, unitsPerWhole)
	if lo != nil && result.Cmp(lo) < 0 {
		result = lo
	}
	if hi != nil && result.Cmp(hi) > 0 {
		result = hi
	}
	return saturate(result), true
}

// exact converts a quantity to a rational without losing digits. It takes q by value
// because AsDec rewrites the quantity it is called on and the caller's pod must not
// change under it; the inf.Dec the copy may share with the caller is only read.
func exact(q resource.Quantity) *big.Rat {
	d := q.AsDec()
	r := new(big.Rat).SetInt(d.UnscaledBig())
	scale := int64(d.Scale())
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs(scale)), nil)
	switch {
	case scale > 0:
		r.Quo(r, new(big.Rat).SetInt(pow))
	case scale < 0:
		r.Mul(r, new(big.Rat).SetInt(pow))
	}
	return r
}

func nonNegative(r *big.Rat) *big.Rat {
	if r.Sign() < 0 {
		return new(big.Rat)
	}
	return r
}

// ceilUnits rounds up rather than to nearest so that a non-zero share never becomes
// zero: 10% of 1m cpu is still 1m.
func ceilUnits(r *big.Rat, unitsPerWhole int64) *big.Int {
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt64(unitsPerWhole))
	q, m := new(big.Int).DivMod(x.Num(), x.Denom(), new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

func saturate(v *big.Int) int64 {
	switch {
	case v.Sign() < 0:
		return 0
	case !v.IsInt64():
		return math.MaxInt64
	default:
		return v.Int64()
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func set(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) corev1.ResourceList {
	if l == nil {
		l = corev1.ResourceList{}
	}
	l[name] = q
	return l
}
