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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SidecarMode says how a sidecar is placed in the pod.
// +kubebuilder:validation:Enum=Native;Container
type SidecarMode string

const (
	// SidecarModeNative injects the sidecar into initContainers with restartPolicy Always
	// (a Kubernetes native sidecar): it starts before the app containers and stops after them.
	SidecarModeNative SidecarMode = "Native"
	// SidecarModeContainer injects the sidecar as a regular container, for clusters
	// without native sidecars.
	SidecarModeContainer SidecarMode = "Container"
)

// Placement says where a sidecar goes relative to the pod's own containers.
// +kubebuilder:validation:Enum=BeforeInit;AfterInit;BeforeApp;AfterApp
type Placement string

const (
	// PlacementBeforeInit puts a Native sidecar ahead of the pod's own init containers.
	PlacementBeforeInit Placement = "BeforeInit"
	// PlacementAfterInit puts a Native sidecar after the pod's own init containers.
	PlacementAfterInit Placement = "AfterInit"
	// PlacementBeforeApp puts a Container sidecar ahead of the pod's own containers.
	PlacementBeforeApp Placement = "BeforeApp"
	// PlacementAfterApp puts a Container sidecar after the pod's own containers.
	PlacementAfterApp Placement = "AfterApp"
)

// Aggregate says how the resources of several app containers combine.
// +kubebuilder:validation:Enum=Sum;Max
type Aggregate string

const (
	// AggregateSum adds up the target containers' resources.
	AggregateSum Aggregate = "Sum"
	// AggregateMax takes the largest of the target containers' resources.
	AggregateMax Aggregate = "Max"
)

// Enforcement says whether a pod may do without a SidecarSet's sidecars.
// +kubebuilder:validation:Enum=Optional;Required
type Enforcement string

const (
	// EnforcementOptional lets a pod opt out (the label sidecars.outrigger.dev/inject:
	// "false" on the pod or its namespace) and keep its own container or volume of a
	// sidecar's name, which is recorded on the pod as overridden.
	EnforcementOptional Enforcement = "Optional"
	// EnforcementRequired injects every selected pod, opted out or not, and refuses a pod
	// that declares a container or volume of one of the set's names.
	EnforcementRequired Enforcement = "Required"
)

// OverridableField is what of a sidecar a pod may set for itself.
// +kubebuilder:validation:Enum=resources;env
type OverridableField string

const (
	// OverrideResources lets a pod set the sidecar's requests and limits, per resource,
	// with the annotation sidecars.outrigger.dev/<set>.<container>.resources holding a
	// JSON ResourceRequirements ({"requests": {...}, "limits": {...}}).
	OverrideResources OverridableField = "resources"
	// OverrideEnv lets a pod set environment variables of the sidecar, by name, with the
	// annotation sidecars.outrigger.dev/<set>.<container>.env holding a JSON list of
	// EnvVar ([{"name": "LOG_LEVEL", "value": "debug"}]).
	OverrideEnv OverridableField = "env"
)

// UpdateStrategyType says whether running pods are updated in place.
// +kubebuilder:validation:Enum=RollingUpdate;OnPodRestart
type UpdateStrategyType string

const (
	// RollingUpdateStrategyType updates the sidecars of running pods in place, a bounded
	// number of pods at a time.
	RollingUpdateStrategyType UpdateStrategyType = "RollingUpdate"
	// OnPodRestartStrategyType never touches running pods: a pod gets the new sidecars
	// only when it is created again.
	OnPodRestartStrategyType UpdateStrategyType = "OnPodRestart"
)

// ImmutableChangePolicy says what happens to running pods when a change cannot be
// applied in place.
// +kubebuilder:validation:Enum=Skip;Evict
type ImmutableChangePolicy string

const (
	// ImmutableChangeSkip leaves such pods alone and reports them (notUpgradablePods,
	// a pod condition and an event).
	ImmutableChangeSkip ImmutableChangePolicy = "Skip"
	// ImmutableChangeEvict evicts such pods through the Eviction API, within the rollout
	// budget, so PodDisruptionBudgets are honoured and the pods' owners recreate them.
	ImmutableChangeEvict ImmutableChangePolicy = "Evict"
)

// SidecarSetSpec is the desired state of a SidecarSet.
// +kubebuilder:validation:XValidation:rule="!has(self.injection) || !has(self.injection.enforcement) || self.injection.enforcement != 'Required' || self.containers.all(c, !has(c.overrides) || size(c.overrides) == 0)",message="a Required SidecarSet allows no per-pod overrides: containers[].overrides must be empty when injection.enforcement is Required",fieldPath=".containers"
// +kubebuilder:validation:XValidation:rule="(has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0) || (has(self.selector.matchExpressions) && size(self.selector.matchExpressions) > 0)",message="selector must not be empty: a SidecarSet that selects every pod is refused",fieldPath=".selector"
// +kubebuilder:validation:XValidation:rule="!has(self.initContainers) || self.initContainers.all(i, !self.containers.exists(c, c.name == i.name))",message="a name is used by both containers and initContainers",fieldPath=".initContainers"
type SidecarSetSpec struct {
	// selector picks the pods that get the sidecars, by their labels. It must not be
	// empty. It is immutable in effect for running pods: pods are matched when they are
	// created and when the set is rolled out.
	// +required
	Selector *metav1.LabelSelector `json:"selector"`

	// namespaceSelector limits the set to namespaces whose labels match. Absent means
	// every namespace, except kube-system, kube-node-lease, the operator's own namespace
	// and namespaces labelled sidecars.outrigger.dev/inject: "false", which are never touched.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// priority orders SidecarSets that inject into the same pod: higher is injected
	// first; ties are broken by the SidecarSet's name, then by list order.
	// +kubebuilder:default=0
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// containers are the sidecars: full container specs plus where and how Outrigger
	// places them. Between 1 and 16, with unique names.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Containers []SidecarContainer `json:"containers"`

	// initContainers are run-to-completion init containers. They run first: before the
	// set's native sidecars and the pod's own init containers, so they can prepare what
	// the sidecars need. They are injected when a pod is created and never updated on
	// running pods.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	InitContainers []corev1.Container `json:"initContainers,omitempty"`

	// volumes are added to the pod. A pod that already has a volume of the same name
	// keeps its own.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Volumes []corev1.Volume `json:"volumes,omitempty"`

	// imagePullSecrets are added to the pod, without duplicates, for the sidecars' images.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// podMetadata holds labels and annotations added to every injected pod. A key the
	// pod already has keeps the pod's value.
	// +optional
	PodMetadata *PodMetadata `json:"podMetadata,omitempty"`

	// injection controls how new pods are injected.
	// +kubebuilder:default={}
	// +optional
	Injection InjectionPolicy `json:"injection,omitempty"`

	// updateStrategy controls how a change to this SidecarSet reaches running pods.
	// +kubebuilder:default={}
	// +optional
	UpdateStrategy UpdateStrategy `json:"updateStrategy,omitempty"`

	// revisionHistoryLimit is how many old revisions (ControllerRevisions) are kept for
	// rollback. Revisions still used by a pod are never pruned.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
}

// SidecarContainer is a sidecar: a full Kubernetes container plus how Outrigger places
// it and sizes it.
// +kubebuilder:validation:XValidation:rule="self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="name must be a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",fieldPath=".name"
// +kubebuilder:validation:XValidation:rule="!has(self.placement) || ((!has(self.mode) || self.mode == 'Native') ? self.placement in ['BeforeInit', 'AfterInit'] : self.placement in ['BeforeApp', 'AfterApp'])",message="placement must be BeforeInit or AfterInit for mode Native, BeforeApp or AfterApp for mode Container",fieldPath=".placement"
// +kubebuilder:validation:XValidation:rule="!has(self.resourcesPolicy) || !has(self.resources) || ((!has(self.resources.requests) || size(self.resources.requests) == 0) && (!has(self.resources.limits) || size(self.resources.limits) == 0))",message="resources and resourcesPolicy are mutually exclusive",fieldPath=".resourcesPolicy"
// +kubebuilder:validation:XValidation:rule="!has(self.restartPolicy)",message="restartPolicy is set by Outrigger from mode and must be left empty",fieldPath=".restartPolicy"
type SidecarContainer struct {
	corev1.Container `json:",inline"`

	// mode says how the sidecar is placed in the pod. Native (default) adds it to
	// initContainers with restartPolicy Always, so Kubernetes starts it before the app
	// and stops it after the app. Container adds it to the regular containers, for
	// clusters without native sidecars; it then gets a preStop drain.
	// +kubebuilder:default=Native
	// +optional
	Mode SidecarMode `json:"mode,omitempty"`

	// placement says where the sidecar goes. For mode Native: BeforeInit (default),
	// ahead of the pod's own init containers, or AfterInit, after them. For mode
	// Container: BeforeApp (default), ahead of the pod's containers, or AfterApp.
	// The default is written into the SidecarSet when it is stored; changing the mode
	// alone moves a placement left unchanged to the new mode's default.
	// +optional
	Placement Placement `json:"placement,omitempty"`

	// resourcesPolicy derives the sidecar's resources from the app containers' and keeps
	// them in step on running pods. Mutually exclusive with resources. In a pod with
	// pod-level resources (spec.resources), the sidecar's request is lowered to what
	// the pod-level request (or, without one, the limit) leaves after the pod's other
	// containers, down to 0, and its limit to the pod-level limit. Fixed resources
	// that do not fit refuse the pod, naming the SidecarSet and the container.
	// +optional
	ResourcesPolicy *ResourcesPolicy `json:"resourcesPolicy,omitempty"`

	// shareVolumes mounts the app containers' volumeMounts into the sidecar as well.
	// +kubebuilder:default=false
	// +optional
	ShareVolumes bool `json:"shareVolumes,omitempty"`

	// transferEnv copies environment variables from the pod's app containers into the
	// sidecar.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	TransferEnv []TransferEnvVar `json:"transferEnv,omitempty"`

	// overrides lists what of this sidecar a pod may set for itself: resources (its
	// requests and limits, per resource, over the set's or resourcesPolicy's) and env
	// (variables, by name, over the sidecar's), each with an annotation on the pod:
	// sidecars.outrigger.dev/<set>.<container>.resources: '{"requests":{"cpu":"50m"}}'
	// or sidecars.outrigger.dev/<set>.<container>.env: '[{"name":"LOG_LEVEL","value":"debug"}]'.
	// A pod is refused for such an annotation that does not parse, or names a field the
	// set does not list here or a container the set does not have. What a pod overrode is
	// recorded (overrides in its sidecars.outrigger.dev/injected annotation) and kept by
	// in-place upgrades and resizes. Empty (default): a pod may override nothing.
	// Not possible on a Required set (injection.enforcement).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	Overrides []OverridableField `json:"overrides,omitempty"`
}

// ResourcesPolicy derives a sidecar's resources from the pod's app containers: for
// requests and limits separately, percent of the aggregate of the target containers,
// rounded up and clamped to [min, max]. A request no target sets is min (or unset); a
// limit no target sets stays unset, as the app is unlimited.
// +kubebuilder:validation:XValidation:rule="has(self.cpu) || has(self.memory)",message="resourcesPolicy needs cpu, memory or both"
type ResourcesPolicy struct {
	// targetContainers names the app containers the resources derive from. Empty means
	// every app container of the pod.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	TargetContainers []string `json:"targetContainers,omitempty"`

	// aggregate combines the target containers' resources: Sum (default) adds them up,
	// Max takes the largest.
	// +kubebuilder:default=Sum
	// +optional
	Aggregate Aggregate `json:"aggregate,omitempty"`

	// cpu is the rule for CPU.
	// +optional
	CPU *ResourceRule `json:"cpu,omitempty"`

	// memory is the rule for memory.
	// +optional
	Memory *ResourceRule `json:"memory,omitempty"`
}

// ResourceRule sizes one resource of a sidecar as a percentage of the app's.
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || quantity(string(self.min)).compareTo(quantity(string(self.max))) <= 0",message="min must not be greater than max",fieldPath=".min"
type ResourceRule struct {
	// percent of the aggregate of the target containers, from 1 to 1000.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Percent int32 `json:"percent"`

	// min is the lower bound of the result; also used when the targets set nothing.
	// +optional
	Min *resource.Quantity `json:"min,omitempty"`

	// max is the upper bound of the result.
	// +optional
	Max *resource.Quantity `json:"max,omitempty"`
}

// TransferEnvVar copies environment variables from one app container into a sidecar.
type TransferEnvVar struct {
	// sourceContainer is the app container to copy from.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	SourceContainer string `json:"sourceContainer"`

	// names are the variables to copy. Empty means all of the source container's
	// variables.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Names []string `json:"names,omitempty"`
}

// PodMetadata holds labels and annotations added to injected pods.
type PodMetadata struct {
	// labels added to the pod.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`

	// annotations added to the pod.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// InjectionPolicy controls injection into new pods.
type InjectionPolicy struct {
	// paused stops injecting this SidecarSet into new pods. Running pods are not touched.
	// +kubebuilder:default=false
	// +optional
	Paused bool `json:"paused,omitempty"`

	// revision pins pods to an earlier revision of this SidecarSet: the name of one of
	// its ControllerRevisions (`kubectl get controllerrevisions -n <operator namespace>`).
	// New pods are injected from it, and the rollout moves running pods to it (with
	// updateStrategy.type RollingUpdate), so it holds everything on a known-good version
	// while the spec changes, or rolls back in place. Empty means the current spec.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Revision string `json:"revision,omitempty"`

	// enforcement says whether a selected pod may do without the set's sidecars.
	// Optional (default): a pod or namespace labelled sidecars.outrigger.dev/inject:
	// "false" is skipped, and a pod that declares a container or volume of one of the
	// set's names keeps its own, recorded under overridden (or overriddenVolumes) in its
	// sidecars.outrigger.dev/injected annotation. Required: the opt-out labels are
	// ignored, and a pod that declares a container (in containers, initContainers or
	// ephemeralContainers) or a volume of one of the set's names is refused with a
	// message naming the set and the pod's field. The system namespaces and the
	// operator's own are never injected either way.
	// +kubebuilder:default=Optional
	// +optional
	Enforcement Enforcement `json:"enforcement,omitempty"`
}

// UpdateStrategy controls the in-place rollout of a change to running pods.
type UpdateStrategy struct {
	// type is RollingUpdate (default): running pods are updated in place, a bounded
	// number at a time; or OnPodRestart: running pods are never touched and get the new
	// sidecars when they are created again.
	// +kubebuilder:default=RollingUpdate
	// +optional
	Type UpdateStrategyType `json:"type,omitempty"`

	// maxUnavailable is how many pods of one workload the rollout may make unavailable
	// at once: a number (at least 1) or a percentage of the workload's matched pods ("1%"
	// to "100%"; a percentage rounds up and is never 0). A workload is the pods'
	// controller: a Deployment (across its ReplicaSets), StatefulSet, DaemonSet, Job or
	// any other controller; a pod without one is a workload of its own. Workloads roll in
	// parallel, each within its own budget, under maxUnavailableTotal.
	// Only what the rollout takes down counts: pods it is upgrading, or failed to upgrade,
	// that were ready when it reached them, and pods being deleted. A pod that was not
	// ready before (Pending, its app not Ready) is updated first and counts against
	// nothing, so it cannot hold the rollout of the pods behind it. A PodDisruptionBudget
	// covering a pod is honoured before the pod is drained; a pod it blocks is retried
	// later and the rollout moves on to others.
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",message="maxUnavailable must be an integer of at least 1 or a percentage from 1% to 100%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// maxUnavailableTotal caps how many pods, over all the pods the SidecarSet matches in
	// every namespace, the rollout may make unavailable at once, counted as
	// maxUnavailable counts them: a number (at least 1) or a percentage of the matched
	// pods ("1%" to "100%", rounded up). Absent (the default): no cap beyond
	// maxUnavailable per workload. It bounds how many pods a broken image reaches before
	// progressDeadlineSeconds stops the rollout; 1 upgrades one pod at a time over the
	// whole set.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",message="maxUnavailableTotal must be an integer of at least 1 or a percentage from 1% to 100%"
	// +optional
	MaxUnavailableTotal *intstr.IntOrString `json:"maxUnavailableTotal,omitempty"`

	// partition is how many matched pods stay on the old revision: a number or a
	// percentage of the matched pods ("0%" to "100%"). 0 (default) updates every pod.
	// +kubebuilder:default=0
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="partition must be a non-negative integer or a percentage from 0% to 100%"
	// +optional
	Partition *intstr.IntOrString `json:"partition,omitempty"`

	// paused stops the rollout where it is. Pods already upgraded stay upgraded.
	// +kubebuilder:default=false
	// +optional
	Paused bool `json:"paused,omitempty"`

	// selector limits the rollout to matched pods that also match it (a canary).
	// Absent means every matched pod.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// drain controls how a pod is taken out of Service endpoints before its sidecar
	// restarts.
	// +kubebuilder:default={}
	// +optional
	Drain DrainPolicy `json:"drain,omitempty"`

	// onImmutableChange says what to do with running pods when the change cannot be
	// applied in place (anything beyond images and resources): Skip (default) reports
	// them; Evict evicts them through the Eviction API within the same budget, honouring
	// PodDisruptionBudgets.
	// +kubebuilder:default=Skip
	// +optional
	OnImmutableChange ImmutableChangePolicy `json:"onImmutableChange,omitempty"`

	// progressDeadlineSeconds is how long one pod's new sidecars may take to run and be
	// ready after their images were replaced or their resources resized, from 1 to 86400
	// (default 600). A pod past it is a failed upgrade: it is reported (pod condition
	// sidecars.outrigger.dev/sidecars-upgradable, a Warning event naming the container
	// and the kubelet's reason, Degraded=True with reason UpgradeFailed and
	// Progressing=False with reason ProgressDeadlineExceeded) and keeps counting against
	// maxUnavailable until the target changes, so a broken image stops the rollout at
	// maxUnavailable pods. Changing the images back (or pinning an earlier revision)
	// re-drives failed pods to the new target.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
}

// DrainPolicy controls how a pod leaves Service endpoints before its sidecar restarts.
type DrainPolicy struct {
	// readinessGate adds the readiness gate sidecars.outrigger.dev/sidecars-ready to
	// injected pods. During an upgrade Outrigger sets it False, so the pod leaves
	// Service endpoints before its sidecar restarts, and True again once the new sidecar
	// is ready.
	// +kubebuilder:default=true
	// +optional
	ReadinessGate *bool `json:"readinessGate,omitempty"`

	// seconds to wait after the pod turned NotReady before its sidecar is restarted,
	// so that load balancers stop sending traffic. From 0 to 3600.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	Seconds *int32 `json:"seconds,omitempty"`
}

// SidecarSetStatus is the observed state of a SidecarSet.
type SidecarSetStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// matchedPods is the number of pods this SidecarSet selects.
	// +optional
	MatchedPods int32 `json:"matchedPods"`

	// updatedPods is the number of matched pods whose sidecars are at updateRevision.
	// +optional
	UpdatedPods int32 `json:"updatedPods"`

	// readyPods is the number of matched pods that are ready. A pod another SidecarSet
	// has taken out of its Services for an in-place upgrade in flight counts as ready:
	// that disruption is planned and reported by that set (a failed upgrade counts as
	// not ready).
	// +optional
	ReadyPods int32 `json:"readyPods"`

	// updatedReadyPods is the number of matched pods at updateRevision that are ready,
	// counted as readyPods is.
	// +optional
	UpdatedReadyPods int32 `json:"updatedReadyPods"`

	// notUpgradablePods is the number of matched pods the change cannot reach in place.
	// +optional
	NotUpgradablePods int32 `json:"notUpgradablePods"`

	// missingPods is the number of pods the SidecarSet selects but that were never
	// injected with it (for example created while the webhook was unavailable).
	// +optional
	MissingPods int32 `json:"missingPods"`

	// currentRevision is the revision every matched pod had reached when the last
	// rollout completed.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`

	// updateRevision is the revision new pods get and running pods are moved to: the
	// current spec's, or the one injection.revision pins.
	// +optional
	UpdateRevision string `json:"updateRevision,omitempty"`

	// collisionCount counts hash collisions between revision names; it is mixed into the
	// next revision's name to make it unique.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`

	// conditions: Ready, Progressing, Paused and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SidecarSet declares sidecar containers for the pods it selects: Outrigger injects them
// when a pod is created and rolls later changes out to running pods in place.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=scs,categories=outrigger
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedPods`,description="Pods the SidecarSet selects"
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updatedPods`,description="Matched pods at the update revision"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyPods`,description="Matched pods that are ready"
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.updateRevision`,description="Revision new and updated pods get"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SidecarSet struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec SidecarSetSpec `json:"spec"`

	// status is the observed state, written by Outrigger.
	// +optional
	Status SidecarSetStatus `json:"status,omitempty"`
}

// SidecarSetList is a list of SidecarSets.
// +kubebuilder:object:root=true
type SidecarSetList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SidecarSet `json:"items"`
}
