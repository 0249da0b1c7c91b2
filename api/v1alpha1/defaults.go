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
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults the API server applies (CRD schema defaults); the helpers below fall back to
// them so code reading an object that skipped the API server (unit tests, a stored
// revision from an older schema) sees the same values.
const (
	DefaultRevisionHistoryLimit int32 = 10
	DefaultDrainSeconds         int32 = 5
	DefaultMaxUnavailable             = 1
	DefaultPartition                  = 0
	// DefaultProgressDeadlineSeconds is Deployment's default too.
	DefaultProgressDeadlineSeconds int32 = 600
)

// EffectiveMode is the sidecar's mode, Native when unset.
func (c *SidecarContainer) EffectiveMode() SidecarMode {
	if c.Mode == "" {
		return SidecarModeNative
	}
	return c.Mode
}

// EffectivePlacement is the sidecar's placement; unset means BeforeInit for Native
// sidecars and BeforeApp for Container sidecars.
func (c *SidecarContainer) EffectivePlacement() Placement {
	if c.Placement != "" {
		return c.Placement
	}
	return defaultPlacement(c.EffectiveMode())
}

// IsDefaultPlacement says whether the sidecar's placement is its mode's default, written
// or not.
func (c *SidecarContainer) IsDefaultPlacement() bool {
	return c.EffectivePlacement() == defaultPlacement(c.EffectiveMode())
}

// defaultPlacement is where a sidecar of mode goes when placement is unset.
func defaultPlacement(mode SidecarMode) Placement {
	if mode == SidecarModeContainer {
		return PlacementBeforeApp
	}
	return PlacementBeforeInit
}

// DefaultPlacements writes each sidecar's effective placement into the spec, so what the
// API shows is what Outrigger applies (the schema cannot default a field per mode). old
// is the stored object on update, nil on create: a sidecar whose mode changed while its
// placement did not follows the new mode's default, so switching the mode alone stays a
// valid update although the stored placement was only the old mode's default.
func (s *SidecarSetSpec) DefaultPlacements(old *SidecarSetSpec) {
	for i := range s.Containers {
		c := &s.Containers[i]
		if old != nil {
			for j := range old.Containers {
				o := &old.Containers[j]
				if o.Name == c.Name && o.EffectiveMode() != c.EffectiveMode() && o.Placement == c.Placement {
					c.Placement = ""
				}
			}
		}
		if c.Placement == "" {
			c.Placement = defaultPlacement(c.EffectiveMode())
		}
	}
}

// EffectiveAggregate is the policy's aggregate, Sum when unset.
func (p *ResourcesPolicy) EffectiveAggregate() Aggregate {
	if p.Aggregate == "" {
		return AggregateSum
	}
	return p.Aggregate
}

// EffectiveType is the strategy's type, RollingUpdate when unset.
func (s *UpdateStrategy) EffectiveType() UpdateStrategyType {
	if s.Type == "" {
		return RollingUpdateStrategyType
	}
	return s.Type
}

// EffectiveMaxUnavailable is maxUnavailable, 1 when unset.
func (s *UpdateStrategy) EffectiveMaxUnavailable() intstr.IntOrString {
	if s.MaxUnavailable == nil {
		return intstr.FromInt32(DefaultMaxUnavailable)
	}
	return *s.MaxUnavailable
}

// EffectivePartition is partition, 0 when unset.
func (s *UpdateStrategy) EffectivePartition() intstr.IntOrString {
	if s.Partition == nil {
		return intstr.FromInt32(DefaultPartition)
	}
	return *s.Partition
}

// EffectiveOnImmutableChange is onImmutableChange, Skip when unset.
func (s *UpdateStrategy) EffectiveOnImmutableChange() ImmutableChangePolicy {
	if s.OnImmutableChange == "" {
		return ImmutableChangeSkip
	}
	return s.OnImmutableChange
}

// EffectiveProgressDeadline is progressDeadlineSeconds as a duration, 600s when unset.
func (s *UpdateStrategy) EffectiveProgressDeadline() time.Duration {
	if s.ProgressDeadlineSeconds == nil {
		return time.Duration(DefaultProgressDeadlineSeconds) * time.Second
	}
	return time.Duration(*s.ProgressDeadlineSeconds) * time.Second
}

// ReadinessGateEnabled says whether injected pods get the sidecars-ready readiness
// gate; true when unset.
func (d *DrainPolicy) ReadinessGateEnabled() bool {
	return d.ReadinessGate == nil || *d.ReadinessGate
}

// EffectiveSeconds is the drain wait in seconds, 5 when unset.
func (d *DrainPolicy) EffectiveSeconds() int32 {
	if d.Seconds == nil {
		return DefaultDrainSeconds
	}
	return *d.Seconds
}

// EffectiveRevisionHistoryLimit is revisionHistoryLimit, 10 when unset.
func (s *SidecarSetSpec) EffectiveRevisionHistoryLimit() int32 {
	if s.RevisionHistoryLimit == nil {
		return DefaultRevisionHistoryLimit
	}
	return *s.RevisionHistoryLimit
}

// EffectiveEnforcement is injection.enforcement, Optional when unset.
func (p *InjectionPolicy) EffectiveEnforcement() Enforcement {
	if p.Enforcement == "" {
		return EnforcementOptional
	}
	return p.Enforcement
}

// IsRequired says whether the set's sidecars are mandatory for the pods it selects.
func (p *InjectionPolicy) IsRequired() bool {
	return p.EffectiveEnforcement() == EnforcementRequired
}
