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
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// sameQuantity compares by String so a test also fails when a result is the right
// value in a non-canonical form (e.g. "1k" where "1000" is expected).
var sameQuantity = cmp.Comparer(func(a, b resource.Quantity) bool { return a.String() == b.String() })

// list builds a ResourceList from name/quantity pairs: list("cpu", "1", "memory", "1Gi").
func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func rule(percent int32, minQ, maxQ string) *sidecarsv1alpha1.ResourceRule {
	r := &sidecarsv1alpha1.ResourceRule{Percent: percent}
	if minQ != "" {
		q := resource.MustParse(minQ)
		r.Min = &q
	}
	if maxQ != "" {
		q := resource.MustParse(maxQ)
		r.Max = &q
	}
	return r
}

func TestCompute(t *testing.T) {
	// Two app containers that set everything; most cases start from them.
	app := []corev1.Container{
		container("app", list("cpu", "1", "memory", "1Gi"), list("cpu", "2", "memory", "2Gi")),
		container("log", list("cpu", "500m", "memory", "512Mi"), list("cpu", "1", "memory", "1Gi")),
	}

	cases := map[string]struct {
		policy *sidecarsv1alpha1.ResourcesPolicy
		app    []corev1.Container
		want   corev1.ResourceRequirements
	}{
		"nil policy gives nothing": {
			app: app,
		},
		"sum over all containers when targets are empty": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", ""), Memory: rule(10, "", "")},
			app:    app,
			want: corev1.ResourceRequirements{
				Requests: list("cpu", "150m", "memory", "161061274"),
				Limits:   list("cpu", "300m", "memory", "322122548"),
			},
		},
		"aggregate Sum set explicitly": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{Aggregate: sidecarsv1alpha1.AggregateSum, CPU: rule(10, "", "")},
			app:    app,
			want:   corev1.ResourceRequirements{Requests: list("cpu", "150m"), Limits: list("cpu", "300m")},
		},
		"max takes the largest container": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{Aggregate: sidecarsv1alpha1.AggregateMax, CPU: rule(10, "", ""), Memory: rule(50, "", "")},
			app:    app,
			want: corev1.ResourceRequirements{
				Requests: list("cpu", "100m", "memory", "512Mi"),
				Limits:   list("cpu", "200m", "memory", "1Gi"),
			},
		},
		"max ignores containers that leave the value unset": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{Aggregate: sidecarsv1alpha1.AggregateMax, CPU: rule(100, "", "")},
			app: []corev1.Container{
				container("app", nil, nil),
				container("log", list("cpu", "300m"), nil),
			},
			want: corev1.ResourceRequirements{Requests: list("cpu", "300m")},
		},
		"named targets only": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{TargetContainers: []string{"log"}, CPU: rule(10, "", "")},
			app:    app,
			want:   corev1.ResourceRequirements{Requests: list("cpu", "50m"), Limits: list("cpu", "100m")},
		},
		"unknown target is ignored": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{TargetContainers: []string{"app", "gone"}, CPU: rule(10, "", "")},
			app:    app,
			want:   corev1.ResourceRequirements{Requests: list("cpu", "100m"), Limits: list("cpu", "200m")},
		},
		"only unknown targets is as if no target sets anything": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{TargetContainers: []string{"gone"}, CPU: rule(10, "50m", "1")},
			app:    app,
			want:   corev1.ResourceRequirements{Requests: list("cpu", "50m")},
		},
		"10 percent of 1 cpu is 100m": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "")},
			app:    []corev1.Container{container("app", list("cpu", "1"), nil)},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "100m")},
		},
		"cpu rounds up to a whole millicore": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "")},
			app:    []corev1.Container{container("app", list("cpu", "1m"), list("cpu", "15m"))},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "1m"), Limits: list("cpu", "2m")},
		},
		"memory rounds up to a whole byte": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{Memory: rule(10, "", "")},
			app:    []corev1.Container{container("app", list("memory", "15"), list("memory", "25"))},
			want:   corev1.ResourceRequirements{Requests: list("memory", "2"), Limits: list("memory", "3")},
		},
		"a 1 byte limit stays 1 byte and caps the request": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{Memory: rule(10, "", "")},
			app:    []corev1.Container{container("app", list("memory", "15"), list("memory", "1"))},
			// 10% of the 1 byte limit is 1 byte, not 0; the 2 byte request then drops to it.
			want: corev1.ResourceRequirements{Requests: list("memory", "1"), Limits: list("memory", "1")},
		},
		"cpu finer than a millicore rounds up": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(100, "", "")},
			app:    []corev1.Container{container("app", list("cpu", "1500u"), nil)},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "2m")},
		},
		"percent over 100": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(250, "", ""), Memory: rule(250, "", "")},
			app:    []corev1.Container{container("app", list("cpu", "200m", "memory", "100Mi"), nil)},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "500m", "memory", "250Mi")},
		},
		"min raises a small result": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "50m", ""), Memory: rule(1, "32Mi", "")},
			app:    []corev1.Container{container("app", list("cpu", "100m", "memory", "100Mi"), list("cpu", "1", "memory", "1Gi"))},
			want: corev1.ResourceRequirements{
				Requests: list("cpu", "50m", "memory", "32Mi"),
				Limits:   list("cpu", "100m", "memory", "32Mi"),
			},
		},
		"max caps a large result": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(50, "", "1"), Memory: rule(50, "", "512Mi")},
			app:    []corev1.Container{container("app", list("cpu", "1", "memory", "512Mi"), list("cpu", "4", "memory", "4Gi"))},
			want: corev1.ResourceRequirements{
				Requests: list("cpu", "500m", "memory", "256Mi"),
				Limits:   list("cpu", "1", "memory", "512Mi"),
			},
		},
		"min is the request when no target sets requests": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "50m", ""), Memory: rule(10, "32Mi", "")},
			app:    []corev1.Container{container("app", nil, nil)},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "50m", "memory", "32Mi")},
		},
		"request stays unset when no target sets it and there is no min": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "1")},
			app:    []corev1.Container{container("app", nil, nil)},
		},
		"limit stays unset when no target sets limits": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "50m", "1"), Memory: rule(10, "32Mi", "1Gi")},
			app:    []corev1.Container{container("app", list("cpu", "1", "memory", "1Gi"), nil)},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "100m", "memory", "107374183")},
		},
		"only a cpu rule leaves memory alone": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(20, "", "")},
			app:    app,
			want:   corev1.ResourceRequirements{Requests: list("cpu", "300m"), Limits: list("cpu", "600m")},
		},
		"only a memory rule leaves cpu alone": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{Memory: rule(25, "", "")},
			app:    app,
			want:   corev1.ResourceRequirements{Requests: list("memory", "384Mi"), Limits: list("memory", "768Mi")},
		},
		"request is lowered to the limit": {
			// The app's requests add up to more than its limits: the one container with
			// a limit has the smaller request.
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "")},
			app: []corev1.Container{
				container("app", list("cpu", "2"), nil),
				container("log", list("cpu", "100m"), list("cpu", "200m")),
			},
			want: corev1.ResourceRequirements{Requests: list("cpu", "20m"), Limits: list("cpu", "20m")},
		},
		"min request is lowered to a computed limit below it": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "")},
			app:    []corev1.Container{container("app", nil, list("cpu", "100m"))},
			want:   corev1.ResourceRequirements{Limits: list("cpu", "10m")},
		},
		"containers setting only limits give limits and min requests": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "5m", ""), Memory: rule(10, "", "")},
			app:    []corev1.Container{container("app", nil, list("cpu", "1", "memory", "1Gi"))},
			want: corev1.ResourceRequirements{
				Requests: list("cpu", "5m"),
				Limits:   list("cpu", "100m", "memory", "107374183"),
			},
		},
		"no app containers with min set": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "50m", ""), Memory: rule(10, "32Mi", "")},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "50m", "memory", "32Mi")},
		},
		"no app containers without min gives nothing": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "1")},
		},
		"zero is a value the target sets": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "")},
			app:    []corev1.Container{container("app", list("cpu", "0"), list("cpu", "0"))},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "0"), Limits: list("cpu", "0")},
		},
		"other resources are not computed": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "", "")},
			app:    []corev1.Container{container("app", list("cpu", "1", "ephemeral-storage", "1Gi"), list("nvidia.com/gpu", "1"))},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "100m")},
		},
		"percent 0 gives 0 or min": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(0, "", ""), Memory: rule(0, "1Mi", "")},
			app:    []corev1.Container{container("app", list("cpu", "1", "memory", "1Gi"), nil)},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "0", "memory", "1Mi")},
		},
		"negative quantities count as zero": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(100, "-1", ""), Memory: rule(100, "", "")},
			app: []corev1.Container{
				container("app", list("cpu", "-1", "memory", "-1Gi"), nil),
				container("log", list("cpu", "100m", "memory", "1Mi"), nil),
			},
			want: corev1.ResourceRequirements{Requests: list("cpu", "100m", "memory", "1Mi")},
		},
		"max wins when min is above it": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(10, "1", "100m")},
			app:    []corev1.Container{container("app", list("cpu", "1"), nil)},
			want:   corev1.ResourceRequirements{Requests: list("cpu", "100m")},
		},
		"huge sums saturate instead of wrapping": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(1000, "", ""), Memory: rule(1000, "", "")},
			app: []corev1.Container{
				container("a", list("cpu", "9223372036854775807", "memory", "8Ei"), nil),
				container("b", list("cpu", "9223372036854775807", "memory", "8Ei"), nil),
			},
			want: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(math.MaxInt64, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(math.MaxInt64, resource.BinarySI),
			}},
		},
		"huge sums are still clamped to max": {
			policy: &sidecarsv1alpha1.ResourcesPolicy{CPU: rule(1000, "", "2")},
			app: []corev1.Container{
				container("a", list("cpu", "9223372036854775807"), nil),
				container("b", list("cpu", "9223372036854775807"), nil),
			},
			want: corev1.ResourceRequirements{Requests: list("cpu", "2")},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Compute(tc.policy, tc.app)
			if diff := cmp.Diff(tc.want, got, sameQuantity); diff != "" {
				t.Errorf("Compute() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Compute runs inside the pod webhook on the pod being admitted, so reading a quantity
// must not rewrite it (resource.Quantity.AsDec does, in place).
func TestComputeDoesNotModifyApp(t *testing.T) {
	app := []corev1.Container{
		// 1.5Gi parses to the inf.Dec form, 100m to the int64 form.
		container("app", list("cpu", "100m", "memory", "1.5Gi"), list("cpu", "1", "memory", "3Gi")),
	}
	min := resource.MustParse("1.5Mi")
	policy := &sidecarsv1alpha1.ResourcesPolicy{
		CPU:    rule(10, "", ""),
		Memory: &sidecarsv1alpha1.ResourceRule{Percent: 10, Min: &min},
	}
	wantApp := []corev1.Container{*app[0].DeepCopy()}
	wantPolicy := policy.DeepCopy()

	Compute(policy, app)

	if !reflect.DeepEqual(wantApp, app) {
		t.Errorf("Compute() modified the app containers:\nbefore %#v\nafter  %#v", wantApp, app)
	}
	if !reflect.DeepEqual(wantPolicy, policy) {
		t.Errorf("Compute() modified the policy:\nbefore %#v\nafter  %#v", wantPolicy, policy)
	}
}

// FuzzCompute builds two containers and one rule, applied to cpu (in millicores) and
// memory (in bytes) alike, from fuzzed numbers. Bits of present say which values exist:
// 0 request a, 1 limit a, 2 request b, 3 limit b, 4 min, 5 max, 6 target only a.
func FuzzCompute(f *testing.F) {
	f.Add(int64(1000), int64(2000), int64(500), int64(1000), int64(50), int64(1000), int32(10), uint8(0x3f), false)
	f.Add(int64(1), int64(15), int64(0), int64(0), int64(0), int64(0), int32(10), uint8(0x03), true)
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(0), int64(0), int32(1000), uint8(0x0f), false)
	f.Add(int64(-5), int64(math.MinInt64), int64(3), int64(-1), int64(-10), int64(-20), int32(-7), uint8(0x7f), true)
	f.Add(int64(0), int64(100), int64(0), int64(0), int64(200), int64(100), int32(0), uint8(0x32), false)

	f.Fuzz(func(t *testing.T, reqA, limA, reqB, limB, minV, maxV int64, percent int32, present uint8, useMax bool) {
		in := computeFuzzInput{reqA: reqA, limA: limA, reqB: reqB, limB: limB, minV: minV, maxV: maxV,
			percent: percent, present: present, useMax: useMax}
		policy, app, reqSet, limSet := in.build()

		got := Compute(policy, app)

		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			in.checkResource(t, name, got, reqSet, limSet)
		}
		in.checkCPUOracle(t, got)
	})
}

// computeFuzzInput is one case of FuzzCompute.
type computeFuzzInput struct {
	reqA, limA, reqB, limB, minV, maxV int64
	percent                            int32
	present                            uint8
	useMax                             bool
}

func (in computeFuzzInput) has(bit uint) bool { return in.present&(1<<bit) != 0 }

// build returns the case's policy and app containers, and whether the targets set a
// request and a limit.
func (in computeFuzzInput) build() (policy *sidecarsv1alpha1.ResourcesPolicy, app []corev1.Container, reqSet, limSet bool) {
	app = []corev1.Container{
		container("a", in.listOf(in.has(0), in.reqA), in.listOf(in.has(1), in.limA)),
		container("b", in.listOf(in.has(2), in.reqB), in.listOf(in.has(3), in.limB)),
	}
	policy = &sidecarsv1alpha1.ResourcesPolicy{CPU: in.ruleFor(corev1.ResourceCPU), Memory: in.ruleFor(corev1.ResourceMemory)}
	if in.useMax {
		policy.Aggregate = sidecarsv1alpha1.AggregateMax
	}
	reqSet, limSet = in.has(0) || in.has(2), in.has(1) || in.has(3)
	if in.has(6) {
		policy.TargetContainers = []string{"a"}
		reqSet, limSet = in.has(0), in.has(1)
	}
	return policy, app, reqSet, limSet
}

// fuzzList is v of one resource, in millicores for cpu and in bytes otherwise.
func fuzzList(name corev1.ResourceName, v int64) corev1.ResourceList {
	if name == corev1.ResourceCPU {
		return corev1.ResourceList{name: *resource.NewMilliQuantity(v, resource.DecimalSI)}
	}
	return corev1.ResourceList{name: *resource.NewQuantity(v, resource.BinarySI)}
}

func (in computeFuzzInput) ruleFor(name corev1.ResourceName) *sidecarsv1alpha1.ResourceRule {
	r := &sidecarsv1alpha1.ResourceRule{Percent: in.percent}
	if in.has(4) {
		q := fuzzList(name, in.minV)[name]
		r.Min = &q
	}
	if in.has(5) {
		q := fuzzList(name, in.maxV)[name]
		r.Max = &q
	}
	return r
}

// listOf is v of both cpu and memory, or nil unless ok.
func (in computeFuzzInput) listOf(ok bool, v int64) corev1.ResourceList {
	if !ok {
		return nil
	}
	var out corev1.ResourceList
	for _, l := range []corev1.ResourceList{fuzzList(corev1.ResourceCPU, v), fuzzList(corev1.ResourceMemory, v)} {
		for k, q := range l {
			out = set(out, k, q)
		}
	}
	return out
}

// checkResource checks one resource of the result: set when it should be, never
// negative, the request within the limit and both within min and max.
func (in computeFuzzInput) checkResource(t *testing.T, name corev1.ResourceName, got corev1.ResourceRequirements, reqSet, limSet bool) {
	t.Helper()
	units := func(q resource.Quantity) int64 {
		if name == corev1.ResourceCPU {
			return q.MilliValue()
		}
		return q.Value()
	}
	req, gotReq := got.Requests[name]
	lim, gotLim := got.Limits[name]
	if gotReq != (reqSet || in.has(4)) {
		t.Errorf("%s: request set = %v, want %v", name, gotReq, reqSet || in.has(4))
	}
	if gotLim != limSet {
		t.Errorf("%s: limit set = %v, want %v", name, gotLim, limSet)
	}
	if gotReq && req.Sign() < 0 {
		t.Errorf("%s: negative request %s", name, req.String())
	}
	if gotLim && lim.Sign() < 0 {
		t.Errorf("%s: negative limit %s", name, lim.String())
	}
	if gotReq && gotLim && req.Cmp(lim) > 0 {
		t.Errorf("%s: request %s > limit %s", name, req.String(), lim.String())
	}
	// Negative bounds count as zero, like every negative quantity.
	lo, hi := max(in.minV, 0), max(in.maxV, 0)
	if in.has(4) && in.has(5) && lo <= hi {
		for _, c := range []struct {
			set bool
			q   resource.Quantity
		}{{reqSet && gotReq, req}, {limSet && gotLim, lim}} {
			if v := units(c.q); c.set && (v < lo || v > hi) {
				t.Errorf("%s: %s outside [%d, %d]", name, c.q.String(), lo, hi)
			}
		}
	}
}

// checkCPUOracle compares the cpu request with int64 arithmetic, which cannot overflow
// with small numbers, when both containers have a request and both are targets.
func (in computeFuzzInput) checkCPUOracle(t *testing.T, got corev1.ResourceRequirements) {
	t.Helper()
	small := func(vs ...int64) bool {
		for _, v := range vs {
			if v < -1<<40 || v > 1<<40 {
				return false
			}
		}
		return true
	}
	if !small(in.reqA, in.limA, in.reqB, in.limB, in.minV, in.maxV) || !in.has(0) || !in.has(2) || in.has(6) {
		return
	}
	agg := max(in.reqA, 0) + max(in.reqB, 0)
	if in.useMax {
		agg = max(in.reqA, in.reqB, 0)
	}
	p := max(int64(in.percent), 0)
	want := (agg*p + 99) / 100
	if in.has(4) {
		want = max(want, max(in.minV, 0))
	}
	if in.has(5) {
		want = min(want, max(in.maxV, 0))
	}
	if lim, ok := got.Limits[corev1.ResourceCPU]; ok {
		want = min(want, lim.MilliValue())
	}
	if gotReq := got.Requests[corev1.ResourceCPU]; gotReq.MilliValue() != want {
		t.Errorf("cpu request = %s, want %dm", gotReq.String(), want)
	}
}
