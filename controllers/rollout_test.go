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

package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

var podsResource = corev1.Resource("pods")

// TestRefused: only what asking again cannot change ends an upgrade as refused.
func TestRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"admission forbids":  {apierrors.NewForbidden(podsResource, "web", errors.New("policy")), true},
		"invalid":            {apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Pod").GroupKind(), "web", field.ErrorList{field.Invalid(field.NewPath("spec"), "x", "no")}), true},
		"bad request":        {apierrors.NewBadRequest("no"), true},
		"conflict":           {apierrors.NewConflict(podsResource, "web", errors.New("stale")), false},
		"not found":          {apierrors.NewNotFound(podsResource, "web"), false},
		"server timeout":     {apierrors.NewServerTimeout(podsResource, "patch", 1), false},
		"too many requests":  {apierrors.NewTooManyRequests("slow down", 1), false},
		"connection refused": {errors.New("dial tcp: connection refused"), false},
	} {
		if got := refused(tc.err); got != tc.want {
			t.Errorf("%s: refused = %v, want %v", name, got, tc.want)
		}
	}
}

// TestGuardFailed: a guarded JSON patch whose test did not hold is a 422 without the
// causes a validation error carries.
func TestGuardFailed(t *testing.T) {
	testFailed := apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Pod").GroupKind(), "web", nil)
	invalid := apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Pod").GroupKind(), "web",
		field.ErrorList{field.Invalid(field.NewPath("status", "conditions"), "x", "no")})
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"no error":           {nil, false},
		"a test failed":      {testFailed, true},
		"a validation error": {invalid, false},
		"conflict":           {apierrors.NewConflict(podsResource, "web", errors.New("stale")), false},
		"other":              {errors.New("boom"), false},
	} {
		if got := guardFailed(tc.err); got != tc.want {
			t.Errorf("%s: guardFailed = %v, want %v", name, got, tc.want)
		}
	}
}

// TestUntilDeadline: a pod waiting for the kubelet is looked at in 5s, or at its
// progress deadline when that comes first, never sooner than 100ms.
func TestUntilDeadline(t *testing.T) {
	set := utiltesting.MakeSidecarSet("mesh").ProgressDeadlineSeconds(60).Obj()
	a := &actor{set: set, now: now}
	swapped := func(ago time.Duration) *upgrade.State {
		return &upgrade.State{Swapped: true, SwappedAt: &metav1.Time{Time: now.Add(-ago)}}
	}
	for name, tc := range map[string]struct {
		state *upgrade.State
		want  time.Duration
	}{
		"no state":        {nil, 5 * time.Second},
		"not swapped":     {&upgrade.State{}, 5 * time.Second},
		"deadline far":    {swapped(time.Second), 5 * time.Second},
		"deadline in 2s":  {swapped(58 * time.Second), 2 * time.Second},
		"deadline passed": {swapped(2 * time.Minute), 100 * time.Millisecond},
	} {
		if got := a.untilDeadline(tc.state); got != tc.want {
			t.Errorf("%s: untilDeadline = %v, want %v", name, got, tc.want)
		}
	}
}

// TestPodDone: a pod's error stays the pod's. Success and a pod gone forget its
// failures; a conflict (a stale cache) comes back in a second without backoff; any
// other error is reported and backs the pod off.
func TestPodDone(t *testing.T) {
	for name, tc := range map[string]struct {
		err         error
		wantRequeue time.Duration
		wantErrors  int
		wantWaiting bool
	}{
		"success":   {nil, 0, 0, false},
		"pod gone":  {apierrors.NewNotFound(podsResource, "web"), 0, 0, false},
		"conflict":  {apierrors.NewConflict(podsResource, "web", errors.New("stale")), time.Second, 0, false},
		"forbidden": {apierrors.NewForbidden(podsResource, "web", errors.New("policy")), time.Second, 1, true},
		"timeout":   {apierrors.NewServerTimeout(podsResource, "patch", 1), time.Second, 1, true},
	} {
		r := &SidecarSetReconciler{}
		a := &actor{r: r, set: utiltesting.MakeSidecarSet("mesh").Obj(), now: time.Now()}
		a.podDone(context.Background(), "ns/web", tc.err)
		if a.requeueAfter != tc.wantRequeue || len(a.podErrors) != tc.wantErrors {
			t.Errorf("%s: requeue %v and %d pod errors, want %v and %d", name, a.requeueAfter, len(a.podErrors), tc.wantRequeue, tc.wantErrors)
		}
		if got := r.memory.Waiting("mesh", "ns/web", time.Now()); got != tc.wantWaiting {
			t.Errorf("%s: the pod backs off = %v, want %v", name, got, tc.wantWaiting)
		}
	}
}
