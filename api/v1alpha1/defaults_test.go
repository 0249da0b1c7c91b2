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

package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestSidecarContainerEffectiveModeAndPlacement(t *testing.T) {
	cases := map[string]struct {
		sidecar       SidecarContainer
		wantMode      SidecarMode
		wantPlacement Placement
	}{
		"empty is a native sidecar before the init containers": {
			wantMode:      SidecarModeNative,
			wantPlacement: PlacementBeforeInit,
		},
		"native with no placement goes before the init containers": {
			sidecar:       SidecarContainer{Mode: SidecarModeNative},
			wantMode:      SidecarModeNative,
			wantPlacement: PlacementBeforeInit,
		},
		"container with no placement goes before the app": {
			sidecar:       SidecarContainer{Mode: SidecarModeContainer},
			wantMode:      SidecarModeContainer,
			wantPlacement: PlacementBeforeApp,
		},
		"an explicit placement is kept": {
			sidecar:       SidecarContainer{Mode: SidecarModeContainer, Placement: PlacementAfterApp},
			wantMode:      SidecarModeContainer,
			wantPlacement: PlacementAfterApp,
		},
		"native after init": {
			sidecar:       SidecarContainer{Placement: PlacementAfterInit},
			wantMode:      SidecarModeNative,
			wantPlacement: PlacementAfterInit,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := []string{string(tc.sidecar.EffectiveMode()), string(tc.sidecar.EffectivePlacement())}
			want := []string{string(tc.wantMode), string(tc.wantPlacement)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mode, placement (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultPlacements(t *testing.T) {
	native := func(p Placement) SidecarContainer {
		return SidecarContainer{Container: corev1.Container{Name: "n"}, Mode: SidecarModeNative, Placement: p}
	}
	regular := func(p Placement) SidecarContainer {
		return SidecarContainer{Container: corev1.Container{Name: "n"}, Mode: SidecarModeContainer, Placement: p}
	}
	cases := map[string]struct {
		old, set SidecarContainer
		create   bool
		want     Placement
	}{
		"native gets BeforeInit":                      {set: native(""), create: true, want: PlacementBeforeInit},
		"container gets BeforeApp":                    {set: regular(""), create: true, want: PlacementBeforeApp},
		"no mode is native":                           {set: SidecarContainer{}, create: true, want: PlacementBeforeInit},
		"an explicit placement is kept":               {set: regular(PlacementAfterApp), create: true, want: PlacementAfterApp},
		"an unchanged placement is kept on update":    {old: native(PlacementAfterInit), set: native(PlacementAfterInit), want: PlacementAfterInit},
		"a mode change resets an unchanged placement": {old: native(PlacementBeforeInit), set: regular(PlacementBeforeInit), want: PlacementBeforeApp},
		"a mode change keeps a placement the user changed too": {
			old: native(PlacementBeforeInit), set: regular(PlacementAfterApp), want: PlacementAfterApp,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := SidecarSetSpec{Containers: []SidecarContainer{tc.set}}
			var old *SidecarSetSpec
			if !tc.create {
				old = &SidecarSetSpec{Containers: []SidecarContainer{tc.old}}
			}
			spec.DefaultPlacements(old)
			if got := spec.Containers[0].Placement; got != tc.want {
				t.Errorf("placement = %q, want %q", got, tc.want)
			}
		})
	}
}

// effective gathers every Effective* value, so one diff shows all the fallbacks at once.
type effective struct {
	Aggregate            Aggregate
	Type                 UpdateStrategyType
	MaxUnavailable       intstr.IntOrString
	Partition            intstr.IntOrString
	OnImmutableChange    ImmutableChangePolicy
	ReadinessGate        bool
	DrainSeconds         int32
	RevisionHistoryLimit int32
}

func effectiveOf(spec *SidecarSetSpec, policy *ResourcesPolicy) effective {
	return effective{
		Aggregate:            policy.EffectiveAggregate(),
		Type:                 spec.UpdateStrategy.EffectiveType(),
		MaxUnavailable:       spec.UpdateStrategy.EffectiveMaxUnavailable(),
		Partition:            spec.UpdateStrategy.EffectivePartition(),
		OnImmutableChange:    spec.UpdateStrategy.EffectiveOnImmutableChange(),
		ReadinessGate:        spec.UpdateStrategy.Drain.ReadinessGateEnabled(),
		DrainSeconds:         spec.UpdateStrategy.Drain.EffectiveSeconds(),
		RevisionHistoryLimit: spec.EffectiveRevisionHistoryLimit(),
	}
}

func TestEffectiveDefaults(t *testing.T) {
	cases := map[string]struct {
		spec   SidecarSetSpec
		policy ResourcesPolicy
		want   effective
	}{
		"unset fields fall back to the schema defaults": {
			want: effective{
				Aggregate:            AggregateSum,
				Type:                 RollingUpdateStrategyType,
				MaxUnavailable:       intstr.FromInt32(1),
				Partition:            intstr.FromInt32(0),
				OnImmutableChange:    ImmutableChangeSkip,
				ReadinessGate:        true,
				DrainSeconds:         5,
				RevisionHistoryLimit: 10,
			},
		},
		"set fields win, zero values included": {
			spec: SidecarSetSpec{
				RevisionHistoryLimit: new(int32(0)),
				UpdateStrategy: UpdateStrategy{
					Type:              OnPodRestartStrategyType,
					MaxUnavailable:    new(intstr.FromString("25%")),
					Partition:         new(intstr.FromInt32(3)),
					OnImmutableChange: ImmutableChangeEvict,
					Drain:             DrainPolicy{ReadinessGate: new(false), Seconds: new(int32(0))},
				},
			},
			policy: ResourcesPolicy{Aggregate: AggregateMax},
			want: effective{
				Aggregate:            AggregateMax,
				Type:                 OnPodRestartStrategyType,
				MaxUnavailable:       intstr.FromString("25%"),
				Partition:            intstr.FromInt32(3),
				OnImmutableChange:    ImmutableChangeEvict,
				ReadinessGate:        false,
				DrainSeconds:         0,
				RevisionHistoryLimit: 0,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, effectiveOf(&tc.spec, &tc.policy)); diff != "" {
				t.Errorf("effective values (-want +got):\n%s", diff)
			}
		})
	}
}
