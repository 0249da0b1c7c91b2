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

// Pod-side names Outrigger writes and reads. They are part of the API: users select on
// them, tooling reads them, and the controller relies on what the webhook recorded.
const (
	// Prefix is the prefix of every label, annotation and condition type Outrigger owns.
	Prefix = "sidecars.outrigger.dev/"

	// InjectedAnnotation records, on a pod, what each SidecarSet injected: a JSON map
	// {setName: {revision, hash, imageFreeHash, containers}}.
	InjectedAnnotation = Prefix + "injected"
	// InjectedLabel is "true" on every pod Outrigger injected, so the controller can
	// cache only those pods.
	InjectedLabel = Prefix + "injected"
	// InjectedLabelValue is the value of InjectedLabel on an injected pod.
	InjectedLabelValue = "true"
	// UpgradeAnnotation holds the JSON state of an in-flight in-place upgrade of a pod.
	UpgradeAnnotation = Prefix + "upgrade"
	// InjectLabel set to "false" on a pod or a namespace opts it out of injection.
	InjectLabel = Prefix + "inject"
	// SidecarsReadyCondition is the pod readiness gate Outrigger owns: False while a
	// sidecar is being replaced, so the pod leaves Service endpoints.
	SidecarsReadyCondition = Prefix + "sidecars-ready"
	// UpgradableCondition is a pod condition Outrigger sets False on a pod a SidecarSet
	// change cannot reach in place.
	UpgradableCondition = Prefix + "sidecars-upgradable"
	// RevisionSetLabel labels a SidecarSet's ControllerRevisions with the set's name.
	RevisionSetLabel = Prefix + "sidecarset"
	// RevisionHashLabel labels a ControllerRevision with the hash of the spec it stores.
	RevisionHashLabel = Prefix + "revision-hash"
)

// SidecarSet condition types.
const (
	// ConditionReady is True when every matched pod runs the update revision and is ready.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout moves pods to the update revision.
	ConditionProgressing = "Progressing"
	// ConditionPaused is True while injection or the rollout is paused.
	ConditionPaused = "Paused"
	// ConditionDegraded is True when some pods cannot be updated or were never injected.
	ConditionDegraded = "Degraded"
	// ConditionAdmissionPolicy is True when the generated MutatingAdmissionPolicy injects
	// the set (the operator runs with --injection-engine=AdmissionPolicy), False with
	// the reason when it cannot.
	ConditionAdmissionPolicy = "AdmissionPolicy"
)

// Reasons of the AdmissionPolicy condition.
const (
	// ReasonInPolicy: the generated policy injects the set.
	ReasonInPolicy = "InPolicy"
	// ReasonNotExpressible: the set cannot be expressed in the policy; the message says why.
	ReasonNotExpressible = "NotExpressible"
)

// Condition reasons.
const (
	ReasonRolloutComplete   = "RolloutComplete"
	ReasonRollingOut        = "RollingOut"
	ReasonRolloutPaused     = "RolloutPaused"
	ReasonPartitionHeld     = "PartitionHeld"
	ReasonRolloutHeld       = "RolloutHeld"
	ReasonInjectionPaused   = "InjectionPaused"
	ReasonOnPodRestart      = "OnPodRestart"
	ReasonNotPaused         = "NotPaused"
	ReasonPodsNotUpgradable = "PodsNotUpgradable"
	ReasonPodsMissing       = "PodsMissing"
	ReasonPodsNotReady      = "PodsNotReady"
	ReasonAsExpected        = "AsExpected"
	ReasonNoMatchingPods    = "NoMatchingPods"
	ReasonResizeInfeasible  = "ResizeInfeasible"
	ReasonRevisionNotFound  = "RevisionNotFound"
	// ReasonUpgradeFailed (Degraded, and the pod's sidecars-upgradable condition): some
	// pods' new sidecars did not run and become ready within progressDeadlineSeconds, or
	// the kubelet refused their resize.
	ReasonUpgradeFailed = "UpgradeFailed"
	// ReasonProgressDeadlineExceeded (Progressing False): the rollout stopped because
	// failed upgrades hold maxUnavailable; change the target (revert, pin) to go on.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonDisruptionBudget (Progressing): a PodDisruptionBudget allows no disruption of
	// the pods waiting to be drained.
	ReasonDisruptionBudget = "DisruptionBudgetHeld"
	// ReasonLeftSidecarSet (the pod's sidecars-ready condition): the SidecarSet that was
	// upgrading the pod was deleted or no longer selects it; its upgrade was abandoned.
	ReasonLeftSidecarSet = "LeftSidecarSet"
)
