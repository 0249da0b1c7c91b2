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
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// The quantity library of Kubernetes CEL has no multiplication, no division and no way
// back to a string (string() of a Quantity does not compile), and asApproximateFloat is
// not exact. So the policy does resourcesPolicy arithmetic in integers, like
// internal/resources does with big.Rat: the API server hands CEL every quantity in its
// canonical form, an integer mantissa and a suffix, which is an exact integer of a fine
// unit — nanocores for cpu, millibytes for memory. A quantity finer than the unit (a
// memory quantity in u or n) or beyond int64 in it fails the evaluation, and with
// failurePolicy Fail the pod is refused rather than sized differently from the webhook.

// The two lists of a container's resources, as JSON names them.
const (
	requests = "requests"
	limits   = "limits"
)

// resourceUnits describes one resource's arithmetic.
type resourceUnits struct {
	name corev1.ResourceName
	// factors turns a canonical suffix into fine units.
	factors map[string]int64
	// fineToResult is how many fine units make one result unit (a millicore, a byte),
	// times 100 for the percent.
	fineTimes100 int64
	// bound is a rule bound in result units, rounded up as internal/resources does.
	bound func(q resource.Quantity) int64
	// format is CEL turning an int expression of result units into the canonical string
	// internal/resources writes (DecimalSI millicores, BinarySI bytes).
	format func(v string) string
}

var cpuUnits = resourceUnits{
	name: corev1.ResourceCPU,
	factors: map[string]int64{
		"n": 1, "u": 1e3, "m": 1e6, "": 1e9, "k": 1e12, "M": 1e15, "G": 1e18,
		"e-9": 1, "e-6": 1e3, "e-3": 1e6, "e0": 1e9, "e3": 1e12, "e6": 1e15, "e9": 1e18,
	},
	fineTimes100: 1e6 * 100,
	bound:        func(q resource.Quantity) int64 { return max(q.MilliValue(), 0) },
	// The API server parses "1500m" and writes it canonically ("1500m", "1", "2k"), as
	// resource.NewMilliQuantity(v, DecimalSI).String() does.
	// string() of an optional's value does not resolve on the API server (no such
	// overload: string(int)); int() first does.
	format: func(v string) string { return "string(int(" + v + ")) + 'm'" },
}

var memoryUnits = resourceUnits{
	name: corev1.ResourceMemory,
	factors: map[string]int64{
		"m": 1, "": 1e3, "k": 1e6, "M": 1e9, "G": 1e12, "T": 1e15, "P": 1e18,
		"Ki": 1 << 10 * 1e3, "Mi": 1 << 20 * 1e3, "Gi": 1 << 30 * 1e3, "Ti": 1 << 40 * 1e3, "Pi": 1 << 50 * 1e3,
		"e-3": 1, "e0": 1e3, "e3": 1e6, "e6": 1e9, "e9": 1e12, "e12": 1e15, "e15": 1e18,
	},
	fineTimes100: 1e3 * 100,
	bound:        func(q resource.Quantity) int64 { return max(q.Value(), 0) },
	format:       binarySI,
}

// binarySI is CEL for resource.NewQuantity(v, BinarySI).String() of v >= 0: below 1024
// the decimal form (so 1000 is "1k"), above it the largest binary suffix that divides v
// exactly (variables.binaryDivisors and binarySuffixes, largest first), else the plain
// number.
func binarySI(v string) string {
	v = "int(" + v + ")"
	first := fmt.Sprintf("variables.binaryDivisors.filter(d, %s %% d == 0)", v)
	return fmt.Sprintf("%s == 1000 ? '1k' : (%s < 1024 || size(%s) == 0 ? string(%s) : "+
		"string(%s / %s[0]) + variables.binarySuffixes[variables.binaryDivisors.indexOf(%s[0])])", v, v, first, v, v, first, first)
}

// binaryVars are the shared variables binarySI reads.
func (c *compiler) binaryVars() {
	var divisors []string
	for shift := 60; shift >= 10; shift -= 10 {
		divisors = append(divisors, fmt.Sprint(int64(1)<<shift))
	}
	c.variable("binaryDivisors", list(divisors))
	c.variable("binarySuffixes", stringList([]string{"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"}))
}

// unitsVariable is the name of the shared variable holding u's suffix factors.
func (u resourceUnits) unitsVariable() string { return string(u.name) + "Units" }

// unitsExpr is the CEL map from canonical suffix to fine units.
func (u resourceUnits) unitsExpr() string {
	var entries []string
	for _, k := range slices.Sorted(maps.Keys(u.factors)) {
		entries = append(entries, fmt.Sprintf("%s: %d", quote(k), u.factors[k]))
	}
	return "{" + strings.Join(entries, ", ") + "}"
}

// fine is CEL turning the canonical quantity string q (a variable of a comprehension)
// into an int of fine units.
func (u resourceUnits) fine(q string) string {
	digits := q + ".find('^[0-9]+')"
	return fmt.Sprintf("int(%s) * variables.%s[%s.substring(size(%s))]", digits, u.unitsVariable(), q, digits)
}

// resourceVars adds the variables that size one container's resources by policy and
// returns the CEL of its resources field. prefix names the container's variables.
func (c *compiler) resourceVars(prefix string, policy *sidecarsv1alpha1.ResourcesPolicy) expr {
	targets := "variables.app"
	if len(policy.TargetContainers) > 0 {
		targets = fmt.Sprintf("variables.app.filter(c, c.name in %s)", stringList(policy.TargetContainers))
	}
	c.variable(prefix+"_t", targets)
	results := map[string]map[corev1.ResourceName]string{requests: {}, limits: {}}
	for _, r := range []struct {
		u    resourceUnits
		rule *sidecarsv1alpha1.ResourceRule
	}{{cpuUnits, policy.CPU}, {memoryUnits, policy.Memory}} {
		if r.rule == nil {
			continue
		}
		for _, kind := range []string{requests, limits} {
			results[kind][r.u.name] = c.ruleVars(fmt.Sprintf("%s_%s_%s", prefix, r.u.name, kind[:3]), "variables."+prefix+"_t",
				kind, r.u, r.rule, policy.EffectiveAggregate())
		}
		// A request above the limit is lowered to it: a pod with request > limit is invalid.
		req, lim := results[requests][r.u.name], results[limits][r.u.name]
		fixed := fmt.Sprintf("%s_%s_request", prefix, r.u.name)
		c.variable(fixed, fmt.Sprintf("%s.hasValue() && %s.hasValue() && %s.value() > %s.value() ? %s : %s", req, lim, req, lim, lim, req))
		results[requests][r.u.name] = "variables." + fixed
	}
	var fields []string
	for _, kind := range []string{limits, requests} {
		var entries, present []string
		for _, u := range []resourceUnits{cpuUnits, memoryUnits} {
			v, ok := results[kind][u.name]
			if !ok {
				continue
			}
			text := strings.TrimPrefix(v, "variables.") + "_s"
			c.variable(text, u.format(v+".orValue(0)"))
			entries = append(entries, fmt.Sprintf("?%s: %s.hasValue() ? optional.of(variables.%s) : optional.none()", quote(string(u.name)), v, text))
			present = append(present, v+".hasValue()")
		}
		if len(entries) == 0 {
			continue
		}
		fields = append(fields, fmt.Sprintf("?%s: (%s) ? optional.of({%s}) : optional.none()",
			quote(kind), strings.Join(present, " || "), strings.Join(entries, ", ")))
	}
	return expr("{" + strings.Join(fields, ", ") + "}")
}

// ruleVars adds the variables evaluating one rule for requests or limits and returns the
// CEL of the optional int result (none: the resource stays unset), as
// internal/resources.evaluate computes it.
func (c *compiler) ruleVars(name, targets, kind string, u resourceUnits, rule *sidecarsv1alpha1.ResourceRule,
	aggregate sidecarsv1alpha1.Aggregate) string {
	res := quote(string(u.name))
	// dyn(): a quantity the API server holds as a whole number is an int in CEL.
	c.variable(name+"_v", fmt.Sprintf("%s.filter(c, c.?resources.?%s[?%s].hasValue()).map(c, string(dyn(c.resources.%s[%s]))).map(q, %s)",
		targets, kind, res, kind, res, u.fine("q")))
	values := "variables." + name + "_v"
	agg := values + ".sum()"
	if aggregate == sidecarsv1alpha1.AggregateMax {
		agg = values + ".max()"
	}
	percent := max(int64(rule.Percent), 0)
	// ceil(agg * percent / 100) in result units.
	c.variable(name+"_r", fmt.Sprintf("(%s * %d + %d) / %d", agg, percent, u.fineTimes100-1, u.fineTimes100))
	// Kubernetes CEL has no math.greatest: clamp with conditionals, min first, so that
	// max wins when min > max, as in internal/resources.
	clamped := "variables." + name + "_r"
	var lo, hi *int64
	if rule.Min != nil {
		v := u.bound(*rule.Min)
		lo = &v
		clamped = fmt.Sprintf("(%s < %d ? %d : %s)", clamped, v, v, clamped)
	}
	if rule.Max != nil {
		v := u.bound(*rule.Max)
		hi = &v
		clamped = fmt.Sprintf("(%s > %d ? %d : %s)", clamped, v, v, clamped)
	}
	empty := "optional.none()"
	if kind == requests && lo != nil {
		v := *lo
		if hi != nil && v > *hi {
			v = *hi
		}
		empty = fmt.Sprintf("optional.of(%d)", v)
	}
	c.variable(name, fmt.Sprintf("size(%s) == 0 ? %s : optional.of(%s)", values, empty, clamped))
	return "variables." + name
}
