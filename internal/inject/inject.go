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

package inject

import (
	"cmp"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/resources"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// Source is one SidecarSet to inject: the live set (name, priority, readiness-gate
// setting) and the spec new pods get, which is the set's current spec or the one stored
// in the revision it pins (injection.revision).
type Source struct {
	Set      *sidecarsv1alpha1.SidecarSet
	Revision string
	Spec     revision.Spec
	// Hash and ImageFreeHash of Spec, computed once by NewSource: a webhook may reuse a
	// Source for every pod until the set changes.
	Hash, ImageFreeHash string
}

// NewSource is the Source injecting spec, stored as revision name, for set.
func NewSource(set *sidecarsv1alpha1.SidecarSet, name string, spec revision.Spec) Source {
	return Source{Set: set, Revision: name, Spec: spec, Hash: revision.Hash(spec), ImageFreeHash: revision.ImageFreeHash(spec)}
}

// SourceOf is the Source for a set's current spec.
func SourceOf(set *sidecarsv1alpha1.SidecarSet) Source {
	spec := revision.SpecOf(set)
	return NewSource(set, revision.Name(set.Name, spec, set.Status.CollisionCount), spec)
}

// Injecting says whether set injects new pods at all: its injection is not paused and
// it is not being deleted.
func Injecting(set *sidecarsv1alpha1.SidecarSet) bool {
	return !set.Spec.Injection.Paused && set.DeletionTimestamp == nil
}

// SortForInjection orders sources as Inject injects them: by priority (higher first),
// then by name.
func SortForInjection(sources []Source) {
	slices.SortStableFunc(sources, func(a, b Source) int {
		return cmp.Or(cmp.Compare(b.Set.Spec.Priority, a.Set.Spec.Priority), cmp.Compare(a.Set.Name, b.Set.Name))
	})
}

// RevisionLookup finds a ControllerRevision of the operator's namespace by name: nil
// and no error when there is none.
type RevisionLookup func(name string) (*appsv1.ControllerRevision, error)

// InRevisions looks revisions up in a list already read.
func InRevisions(revisions []appsv1.ControllerRevision) RevisionLookup {
	return func(name string) (*appsv1.ControllerRevision, error) {
		if i := slices.IndexFunc(revisions, func(cr appsv1.ControllerRevision) bool { return cr.Name == name }); i >= 0 {
			return &revisions[i], nil
		}
		return nil, nil
	}
}

// Resolve is what to inject for set: its current spec, or the revision its
// spec.injection.revision pins (the rule the controller applies to running pods too).
// A *revision.PinError says the pin is unusable (the revision is gone, or stores
// another set); any other error, that the revision could not be read.
func Resolve(set *sidecarsv1alpha1.SidecarSet, lookup RevisionLookup) (Source, error) {
	pinned := set.Spec.Injection.Revision
	if pinned == "" {
		return SourceOf(set), nil
	}
	cr, err := lookup(pinned)
	if err != nil {
		return Source{}, fmt.Errorf("reading revision %s of SidecarSet %q: %w", pinned, set.Name, err)
	}
	spec, err := revision.Pinned(set.Name, pinned, cr)
	if err != nil {
		return Source{}, err
	}
	return NewSource(set, pinned, spec), nil
}

// Result says what Inject did.
type Result struct {
	// Pod is the injected pod, a copy; the input pod is never changed.
	Pod *corev1.Pod
	// Injected are the names of the sets injected by this call, in injection order.
	Injected []string
	// Overrides say, one sentence each, which containers and volumes of an Optional
	// set the pod kept its own of (recorded as overridden): the webhook returns them as
	// admission warnings.
	Overrides []string
}

// Inject returns pod with the sidecars of every source that has not injected it yet.
//
// Order: sources by priority (higher first), then name; sidecars in list order. Where
// they go: a set's run-to-completion init containers first, then Native sidecars placed
// BeforeInit, the pod's own init containers, Native sidecars placed AfterInit; among the
// regular containers, Container sidecars placed BeforeApp, the pod's own containers,
// Container sidecars placed AfterApp. So a set's init containers can prepare what its
// sidecars need, and the pod's own init containers already run with the sidecars.
//
// A container name the pod already uses keeps the pod's container (a per-pod override,
// recorded as such); so do volume names (recorded too), label and annotation keys. A
// Required set (injection.enforcement) allows no such override: a pod declaring a
// container or volume of its names is refused (requiredConflicts).
//
// Outrigger's metadata on the pod is Outrigger's: the injection record and label, the
// upgrade state and the readiness gate the request carries are dropped, except the
// record entries Inject itself wrote for these sources (trustedRecords). A set so
// recorded is skipped, which makes Inject idempotent; every other source is injected.
//
// Pod-level resources (spec.resources) bound the sidecars: see resources.FitPodResources.
//
// It fails, and the pod must then be refused, where the result would be an invalid pod
// (a sidecar mounting a volume neither the set nor the pod declares, or sidecar
// resources beyond the pod-level resources) or would lack a Required set's sidecars.
func Inject(pod *corev1.Pod, sources []Source) (Result, error) {
	out := pod.DeepCopy()
	records := trustedRecords(pod, sources)
	clearOwnedMetadata(out)

	todo := make([]Source, 0, len(sources))
	for _, s := range sources {
		if _, done := records[s.Set.Name]; !done {
			todo = append(todo, s)
		}
	}
	SortForInjection(todo)

	z := &zones{app: AppContainers(pod, records), restart: pod.Spec.RestartPolicy, used: containerNames(pod), owner: map[string]string{}}
	var injected, overrides []string
	volumeOwner := map[string]string{} // added volume -> its set
	for _, src := range todo {
		if src.Set.Spec.Injection.IsRequired() {
			if err := requiredConflicts(pod, out, src, z.owner, volumeOwner); err != nil {
				return Result{}, err
			}
		}
		set, err := podOverrides(pod, src)
		if err != nil {
			return Result{}, err
		}
		rec := z.add(src, set)
		var own []string
		rec.OverriddenVolumes, own = addVolumes(out, pod, src.Spec.Volumes, volumeOwner, src.Set.Name)
		overrides = append(overrides, overrideWarnings(src.Set.Name, rec.Overridden, own)...)
		records[src.Set.Name] = rec
		addPullSecrets(out, src.Spec.ImagePullSecrets)
		addMetadata(out, src.Spec.PodMetadata)
		injected = append(injected, src.Set.Name)
	}

	out.Spec.InitContainers = slices.Concat(z.setInits, z.nativeBefore, out.Spec.InitContainers, z.nativeAfter)
	out.Spec.Containers = slices.Concat(z.before, out.Spec.Containers, z.after)
	if err := checkVolumeMounts(out, slices.Concat(z.setInits, z.nativeBefore, z.nativeAfter, z.before, z.after), z.owner); err != nil {
		return Result{}, err
	}
	if err := resources.FitPodResources(pod, out, z.fitted); err != nil {
		return Result{}, err
	}

	settleReadinessGate(out, records, sources)
	if len(records) > 0 {
		out.Labels = addOwned(out.Labels, sidecarsv1alpha1.InjectedLabel, sidecarsv1alpha1.InjectedLabelValue)
		out.Annotations = addOwned(out.Annotations, sidecarsv1alpha1.InjectedAnnotation, records.String())
	}
	return Result{Pod: out, Injected: injected, Overrides: overrides}, nil
}

// zones collects the containers Inject adds, by where they go in the pod.
type zones struct {
	app     []corev1.Container // the pod's own containers
	restart corev1.RestartPolicy
	used    sets.Set[string]  // container names taken, the pod's and those added
	owner   map[string]string // added container -> its set

	setInits, nativeBefore, nativeAfter, before, after []corev1.Container
	fitted                                             []resources.Added
}

// add places src's containers, and returns its record. A container name already
// used keeps the container that has it (recorded as overridden).
func (z *zones) add(src Source, overrides map[string]sidecarsv1alpha1.ContainerOverrides) sidecarsv1alpha1.InjectionRecord {
	rec := sidecarsv1alpha1.InjectionRecord{Revision: src.Revision, Hash: src.Hash, ImageFreeHash: src.ImageFreeHash}
	for _, ic := range src.Spec.InitContainers {
		if !z.take(ic.Name, src, &rec) {
			continue
		}
		z.setInits = append(z.setInits, *ic.DeepCopy())
		z.fitted = append(z.fitted, resources.Added{Name: ic.Name, Set: src.Set.Name})
	}
	for i := range src.Spec.Containers {
		sc := &src.Spec.Containers[i]
		if !z.take(sc.Name, src, &rec) {
			continue
		}
		c := build(sc, podContext{app: z.app, restart: z.restart, drainSeconds: src.Set.Spec.UpdateStrategy.Drain.EffectiveSeconds()})
		o, overridden := overrides[sc.Name]
		if overridden {
			ApplyOverrides(&c, o)
			if rec.Overrides == nil {
				rec.Overrides = map[string]sidecarsv1alpha1.ContainerOverrides{}
			}
			rec.Overrides[sc.Name] = o
		}
		switch sc.EffectivePlacement() {
		case sidecarsv1alpha1.PlacementBeforeInit:
			z.nativeBefore = append(z.nativeBefore, c)
		case sidecarsv1alpha1.PlacementAfterInit:
			z.nativeAfter = append(z.nativeAfter, c)
		case sidecarsv1alpha1.PlacementBeforeApp:
			z.before = append(z.before, c)
		default:
			z.after = append(z.after, c)
		}
		// Resources the pod set itself are fixed: they fit the pod-level resources or refuse it.
		z.fitted = append(z.fitted, resources.Added{Name: sc.Name, Set: src.Set.Name, Policy: sc.ResourcesPolicy != nil && o.Resources == nil})
	}
	return rec
}

// take claims a container name for src, or records it overridden when it is taken.
func (z *zones) take(name string, src Source, rec *sidecarsv1alpha1.InjectionRecord) bool {
	if z.used.Has(name) {
		rec.Overridden = append(rec.Overridden, name)
		return false
	}
	z.used.Insert(name)
	z.owner[name] = src.Set.Name
	rec.Containers = append(rec.Containers, name)
	return true
}

// AppContainers are the pod's own regular containers: those no SidecarSet recorded.
// resourcesPolicy, shareVolumes and transferEnv read them.
func AppContainers(pod *corev1.Pod, records sidecarsv1alpha1.InjectionRecords) []corev1.Container {
	ours := sets.New[string]()
	for _, r := range records {
		ours.Insert(r.Containers...)
	}
	var app []corev1.Container
	for _, c := range pod.Spec.Containers {
		if !ours.Has(c.Name) {
			app = append(app, c)
		}
	}
	return app
}

func containerNames(pod *corev1.Pod) sets.Set[string] {
	names := sets.New[string]()
	for _, c := range pod.Spec.InitContainers {
		names.Insert(c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names.Insert(c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names.Insert(c.Name)
	}
	return names
}

// podContext is what building a sidecar needs to know of the pod and its set.
type podContext struct {
	app          []corev1.Container
	restart      corev1.RestartPolicy
	drainSeconds int32
}

// build turns a sidecar declaration into the container the pod gets.
func build(sc *sidecarsv1alpha1.SidecarContainer, pc podContext) corev1.Container {
	app := pc.app
	c := *sc.Container.DeepCopy()
	if sc.EffectiveMode() == sidecarsv1alpha1.SidecarModeNative {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	} else if pc.drainSeconds > 0 && (c.Lifecycle == nil || c.Lifecycle.PreStop == nil) {
		// A regular container gets SIGTERM together with the app. Sleeping first keeps
		// the sidecar serving while the app drains; native sidecars need no such help,
		// Kubernetes stops them after the app.
		if c.Lifecycle == nil {
			c.Lifecycle = &corev1.Lifecycle{}
		}
		c.Lifecycle.PreStop = &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: int64(pc.drainSeconds)}}
	}
	if sc.ResourcesPolicy != nil {
		c.Resources = resources.Compute(sc.ResourcesPolicy, app)
	}
	c.ResizePolicy = withResizePolicy(c.ResizePolicy, pc.restart)
	if sc.ShareVolumes {
		c.VolumeMounts = shareMounts(c.VolumeMounts, app)
	}
	for _, t := range sc.TransferEnv {
		c.Env = transferEnv(c.Env, t, app)
	}
	return c
}

// withResizePolicy sets how the kubelet applies an in-place resize of the sidecar,
// unless the sidecar says so itself: CPU without a restart; memory with a restart of
// the sidecar alone, which Outrigger drains like an image change (a kubelet refuses to
// lower the memory limit of a running container otherwise). A pod whose restartPolicy
// is Never or OnFailure (a Job's) may not restart containers for a resize, so there
// memory resizes without one too.
func withResizePolicy(policies []corev1.ContainerResizePolicy, podRestart corev1.RestartPolicy) []corev1.ContainerResizePolicy {
	memory := corev1.RestartContainer
	if podRestart != "" && podRestart != corev1.RestartPolicyAlways {
		memory = corev1.NotRequired
	}
	for _, want := range []corev1.ContainerResizePolicy{
		{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
		{ResourceName: corev1.ResourceMemory, RestartPolicy: memory},
	} {
		if !slices.ContainsFunc(policies, func(p corev1.ContainerResizePolicy) bool { return p.ResourceName == want.ResourceName }) {
			policies = append(policies, want)
		}
	}
	return policies
}

// shareMounts adds the app containers' mounts to the sidecar's; a mount path the
// sidecar (or an earlier app container) already uses keeps that mount.
func shareMounts(own []corev1.VolumeMount, app []corev1.Container) []corev1.VolumeMount {
	paths := sets.New[string]()
	for _, m := range own {
		paths.Insert(m.MountPath)
	}
	for _, a := range app {
		for _, m := range a.VolumeMounts {
			if paths.Has(m.MountPath) {
				continue
			}
			paths.Insert(m.MountPath)
			own = append(own, m)
		}
	}
	return own
}

// transferEnv copies the named variables (all when none are named) of the source app
// container; a variable the sidecar already defines keeps its own value. A source the
// pod does not have copies nothing: the pod is still valid without it.
func transferEnv(env []corev1.EnvVar, t sidecarsv1alpha1.TransferEnvVar, app []corev1.Container) []corev1.EnvVar {
	i := slices.IndexFunc(app, func(c corev1.Container) bool { return c.Name == t.SourceContainer })
	if i < 0 {
		return env
	}
	want := sets.New(t.Names...)
	have := sets.New[string]()
	for _, e := range env {
		have.Insert(e.Name)
	}
	for _, e := range app[i].Env {
		if (want.Len() > 0 && !want.Has(e.Name)) || have.Has(e.Name) {
			continue
		}
		have.Insert(e.Name)
		env = append(env, *e.DeepCopy())
	}
	return env
}

// addVolumes adds the volumes out lacks by name (owner: added volume -> its set), and
// returns the names of those kept, recorded as overridden: the pod's own (the pod as
// requested declares them), also returned as podOwn, and those an earlier set added
// with another source (validation refuses sets that can meet so). The same volume
// added by an earlier set is no override.
func addVolumes(out, pod *corev1.Pod, volumes []corev1.Volume, owner map[string]string, set string) (kept, podOwn []string) {
	for _, v := range volumes {
		named := func(p corev1.Volume) bool { return p.Name == v.Name }
		if slices.ContainsFunc(pod.Spec.Volumes, named) {
			kept, podOwn = append(kept, v.Name), append(podOwn, v.Name)
			continue
		}
		if i := slices.IndexFunc(out.Spec.Volumes, named); i >= 0 {
			if !equality.Semantic.DeepEqual(out.Spec.Volumes[i], v) {
				kept = append(kept, v.Name)
			}
			continue
		}
		out.Spec.Volumes = append(out.Spec.Volumes, *v.DeepCopy())
		owner[v.Name] = set
	}
	return kept, podOwn
}

func addPullSecrets(pod *corev1.Pod, secrets []corev1.LocalObjectReference) {
	for _, s := range secrets {
		if !slices.Contains(pod.Spec.ImagePullSecrets, s) {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, s)
		}
	}
}

func addMetadata(pod *corev1.Pod, md *sidecarsv1alpha1.PodMetadata) {
	if md == nil {
		return
	}
	pod.Labels = addMissing(pod.Labels, md.Labels)
	pod.Annotations = addMissing(pod.Annotations, md.Annotations)
}

func addMissing(dst, src map[string]string) map[string]string {
	for k, v := range src {
		if _, ok := dst[k]; ok {
			continue
		}
		if dst == nil {
			dst = map[string]string{}
		}
		dst[k] = v
	}
	return dst
}

func addOwned(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// checkVolumeMounts refuses what the API server would refuse later with a less helpful
// message: an injected container mounting a volume the pod does not have.
func checkVolumeMounts(pod *corev1.Pod, injected []corev1.Container, owner map[string]string) error {
	volumes := sets.New[string]()
	for _, v := range pod.Spec.Volumes {
		volumes.Insert(v.Name)
	}
	for _, c := range injected {
		for _, m := range c.VolumeMounts {
			if !volumes.Has(m.Name) {
				return fmt.Errorf("SidecarSet %q: container %q mounts volume %q, which neither the SidecarSet nor the pod declares",
					owner[c.Name], c.Name, m.Name)
			}
		}
	}
	return nil
}
