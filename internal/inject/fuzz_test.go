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
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/resources"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// The alphabets are small on purpose: container, volume, env, label and set names
// collide often, between the pod and the sets and between sets, which is where
// Inject's override rules matter.
var (
	fuzzContainerNames = []string{"app", "web", "proxy", "log", "init", "agent", "envoy", "db"}
	fuzzVolumeNames    = []string{"data", "config", "cache", "shared"}
	fuzzMountPaths     = []string{"/data", "/config", "/cache", "/shared", "/var/log"}
	fuzzEnvNames       = []string{"A", "B", "C", "D"}
	fuzzSetNames       = []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	fuzzSecretNames    = []string{"reg-a", "reg-b", "reg-c"}
	fuzzCPU            = []string{"0", "1m", "100m", "250m", "500m", "1", "1500m", "2", "4"}
	fuzzMemory         = []string{"0", "1", "1Ki", "64Mi", "100M", "128Mi", "1Gi", "1.5Gi"}
	fuzzPercents       = []int32{1, 10, 50, 100, 150, 1000}
)

// A feature bit says whether a decision defaults to yes; each decision then reads one
// byte of data, and one byte in four flips it. So a seed states its shape in the bits,
// and the fuzzer still reaches every combination by mutating data. An exhausted data
// reads as zeros: every decision takes its default.
type fuzzFeature uint16

const (
	fuzzResources    fuzzFeature = 1 << iota // explicit requests/limits on containers
	fuzzPolicy                               // resourcesPolicy on sidecars
	fuzzShareVolumes                         // shareVolumes on sidecars
	fuzzTransferEnv                          // transferEnv on sidecars
	fuzzSetInits                             // run-to-completion init containers in sets
	fuzzSetVolumes                           // volumes in sets
	fuzzPullSecrets                          // imagePullSecrets in sets and the pod
	fuzzPodMetadata                          // podMetadata in sets, labels/annotations on the pod
	fuzzMounts                               // volumeMounts on containers
	fuzzEnv                                  // env on containers
	fuzzPlacement                            // an explicit placement (valid for the mode)
	fuzzNoGate                               // updateStrategy.drain.readinessGate false
	fuzzStrayMount                           // a mount of a volume nobody declares
	fuzzForged                               // the pod's own Outrigger label, upgrade state and readiness gate
	fuzzPodResources                         // pod-level resources (spec.resources)
	fuzzRequired                             // injection.enforcement Required
	fuzzAll          = 1<<iota - 1
)

// The pre-existing sidecars.outrigger.dev/injected annotation of the pod.
const (
	annNone       = iota // absent
	annRecord            // valid records of sets from fuzzSetNames
	annRaw               // the fuzzed string itself
	annEmpty             // ""
	annEmptyMap          // {}
	annNull              // null: valid JSON, no records
	annNullRecord        // {"alpha":null}
	annArray             // []: valid JSON, not a map
	annGarbage           // {not json
	annForged            // records of the sets being injected, with their revisions and hashes
	annKinds
)

// fuzzGen decodes the fuzz input deterministically.
type fuzzGen struct {
	data     []byte
	features fuzzFeature
}

func (g *fuzzGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *fuzzGen) intn(n int) int { return int(g.byte()) % n }

func (g *fuzzGen) bool() bool { return g.byte()&1 == 1 }

// has reports whether a feature is used here: its default, flipped by one byte in four.
func (g *fuzzGen) has(f fuzzFeature) bool { return (g.features&f != 0) != (g.byte()%4 == 3) }

// rarely is has for a feature that spoils the whole input, a stray mount: the default
// is flipped by byte 0xff only, so most inputs still get past it.
func (g *fuzzGen) rarely(f fuzzFeature) bool { return (g.features&f != 0) != (g.byte() == 0xff) }

func fuzzReversed[T any](xs []T) []T {
	xs = slices.Clone(xs)
	slices.Reverse(xs)
	return xs
}

// fuzzBytes is n pseudo-random bytes: the details of a seed, which its shape bits do
// not spell out.
func fuzzBytes(seed uint32, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		seed = seed*1664525 + 1013904223
		b[i] = byte(seed >> 24)
	}
	return b
}

func fuzzPick[T any](g *fuzzGen, xs []T) T { return xs[g.intn(len(xs))] }

// fuzzDistinct picks n different elements of xs (at most len(xs)), in a fuzzed order.
func fuzzDistinct[T any](g *fuzzGen, xs []T, n int) []T {
	xs = slices.Clone(xs)
	n = min(n, len(xs))
	for i := range n {
		j := i + g.intn(len(xs)-i)
		xs[i], xs[j] = xs[j], xs[i]
	}
	return xs[:n]
}

// resources sets, for cpu and memory, a request, a limit or both, request <= limit.
func (g *fuzzGen) resources() corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	for _, res := range []struct {
		name corev1.ResourceName
		qs   []string
	}{{corev1.ResourceCPU, fuzzCPU}, {corev1.ResourceMemory, fuzzMemory}} {
		a, b := resource.MustParse(fuzzPick(g, res.qs)), resource.MustParse(fuzzPick(g, res.qs))
		if a.Cmp(b) > 0 {
			a, b = b, a
		}
		switch g.intn(4) {
		case 1:
			r.Requests = fuzzSet(r.Requests, res.name, a)
		case 2:
			r.Limits = fuzzSet(r.Limits, res.name, b)
		case 3:
			r.Requests = fuzzSet(r.Requests, res.name, a)
			r.Limits = fuzzSet(r.Limits, res.name, b)
		}
	}
	return r
}

func fuzzSet(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) corev1.ResourceList {
	if l == nil {
		l = corev1.ResourceList{}
	}
	l[name] = q
	return l
}

// mounts mounts some of the volumes the container's owner knows, at distinct paths; a
// stray mount names a volume nobody declares, which Inject must refuse for sidecars.
func (g *fuzzGen) mounts(known []string) []corev1.VolumeMount {
	if !g.has(fuzzMounts) {
		return nil
	}
	var out []corev1.VolumeMount
	for _, path := range fuzzDistinct(g, fuzzMountPaths, 1+g.intn(2)) {
		switch {
		case g.rarely(fuzzStrayMount):
			out = append(out, corev1.VolumeMount{Name: "stray", MountPath: path})
		case len(known) > 0:
			out = append(out, corev1.VolumeMount{Name: fuzzPick(g, known), MountPath: path, ReadOnly: g.bool()})
		}
	}
	return out
}

func (g *fuzzGen) env(owner string) []corev1.EnvVar {
	if !g.has(fuzzEnv) {
		return nil
	}
	var out []corev1.EnvVar
	for _, n := range fuzzDistinct(g, fuzzEnvNames, 1+g.intn(3)) {
		out = append(out, corev1.EnvVar{Name: n, Value: owner + "-" + n})
	}
	return out
}

// container is a plain container: the pod's own or a set's init container.
func (g *fuzzGen) container(owner, name string, volumes []string) corev1.Container {
	c := corev1.Container{Name: name, Image: "example.com/" + owner + "/" + name + ":1"}
	c.VolumeMounts = g.mounts(volumes)
	c.Env = g.env(owner + "/" + name)
	if g.has(fuzzResources) {
		c.Resources = g.resources()
	}
	return c
}

func (g *fuzzGen) volumes(names []string) []corev1.Volume {
	var out []corev1.Volume
	for _, n := range names {
		v := utiltesting.EmptyDir(n)
		if g.bool() {
			v.VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: n}}}
		}
		out = append(out, v)
	}
	return out
}

func (g *fuzzGen) pullSecrets() []corev1.LocalObjectReference {
	if !g.has(fuzzPullSecrets) {
		return nil
	}
	var out []corev1.LocalObjectReference
	for _, n := range fuzzDistinct(g, fuzzSecretNames, 1+g.intn(2)) {
		out = append(out, corev1.LocalObjectReference{Name: n})
	}
	return out
}

// metadata is a small label or annotation map whose keys may collide with the pod's and
// with the keys Outrigger owns.
func (g *fuzzGen) metadata(value string) map[string]string {
	keys := []string{"app", "tier", "mesh", sidecarsv1alpha1.InjectedLabel}
	m := map[string]string{}
	for _, k := range fuzzDistinct(g, keys, g.intn(3)) {
		m[k] = value
	}
	return m
}

func (g *fuzzGen) pod(numApps, numInits int) *corev1.Pod {
	w := utiltesting.MakePod("p", "ns").Containers()
	volumes := fuzzDistinct(g, fuzzVolumeNames[:3], g.intn(4))
	for _, v := range g.volumes(volumes) {
		w.Volume(v)
	}
	names := fuzzDistinct(g, fuzzContainerNames, numApps+numInits)
	for _, n := range names[:numInits] {
		c := g.container("pod", n, volumes)
		if g.intn(4) == 0 {
			// The pod's own native sidecar.
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}
		w.InitContainer(c)
	}
	var apps []corev1.Container
	for _, n := range names[numInits:] {
		apps = append(apps, g.container("pod", n, volumes))
	}
	w.Containers(apps...)
	for _, s := range g.pullSecrets() {
		w.PullSecret(s.Name)
	}
	if g.has(fuzzPodMetadata) {
		for k, v := range g.metadata("pod") {
			w.Label(k, v)
		}
		w.Annotation("note", "pod")
	}
	if g.intn(4) == 0 {
		w.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}}
	}
	return w.Obj()
}

func (g *fuzzGen) policy() *sidecarsv1alpha1.ResourcesPolicy {
	p := &sidecarsv1alpha1.ResourcesPolicy{
		Aggregate: fuzzPick(g, []sidecarsv1alpha1.Aggregate{"", sidecarsv1alpha1.AggregateSum, sidecarsv1alpha1.AggregateMax}),
	}
	if g.bool() {
		p.TargetContainers = fuzzDistinct(g, fuzzContainerNames, 1+g.intn(2))
	}
	rule := func(qs []string) *sidecarsv1alpha1.ResourceRule {
		r := &sidecarsv1alpha1.ResourceRule{Percent: fuzzPick(g, fuzzPercents)}
		lo, hi := resource.MustParse(fuzzPick(g, qs)), resource.MustParse(fuzzPick(g, qs))
		if lo.Cmp(hi) > 0 {
			lo, hi = hi, lo
		}
		switch g.intn(4) {
		case 1:
			r.Min = &lo
		case 2:
			r.Max = &hi
		case 3:
			r.Min, r.Max = &lo, &hi
		}
		return r
	}
	// At least one of cpu and memory.
	switch g.intn(3) {
	case 0:
		p.CPU = rule(fuzzCPU)
	case 1:
		p.Memory = rule(fuzzMemory)
	default:
		p.CPU, p.Memory = rule(fuzzCPU), rule(fuzzMemory)
	}
	return p
}

func (g *fuzzGen) sidecar(set, name string, volumes []string) sidecarsv1alpha1.SidecarContainer {
	sc := sidecarsv1alpha1.SidecarContainer{Container: corev1.Container{Name: name, Image: "example.com/" + set + "/" + name + ":1"}}
	sc.VolumeMounts = g.mounts(volumes)
	sc.Env = g.env(set + "/" + name)
	sc.Mode = fuzzPick(g, []sidecarsv1alpha1.SidecarMode{"", sidecarsv1alpha1.SidecarModeNative, sidecarsv1alpha1.SidecarModeContainer})
	if g.has(fuzzPlacement) {
		if sc.EffectiveMode() == sidecarsv1alpha1.SidecarModeNative {
			sc.Placement = fuzzPick(g, []sidecarsv1alpha1.Placement{sidecarsv1alpha1.PlacementBeforeInit, sidecarsv1alpha1.PlacementAfterInit})
		} else {
			sc.Placement = fuzzPick(g, []sidecarsv1alpha1.Placement{sidecarsv1alpha1.PlacementBeforeApp, sidecarsv1alpha1.PlacementAfterApp})
		}
	}
	// resources and resourcesPolicy are mutually exclusive in the API.
	switch {
	case g.has(fuzzPolicy):
		sc.ResourcesPolicy = g.policy()
	case g.has(fuzzResources):
		sc.Resources = g.resources()
	}
	sc.ShareVolumes = g.has(fuzzShareVolumes)
	if g.has(fuzzTransferEnv) {
		for range 1 + g.intn(2) {
			sc.TransferEnv = append(sc.TransferEnv, sidecarsv1alpha1.TransferEnvVar{
				SourceContainer: fuzzPick(g, fuzzContainerNames),
				Names:           fuzzDistinct(g, fuzzEnvNames, g.intn(3)),
			})
		}
	}
	return sc
}

// set builds a SidecarSet whose container names are unique within the set, as the API
// requires, but collide freely with the pod's and other sets'.
func (g *fuzzGen) set(name string, podVolumes []string) *sidecarsv1alpha1.SidecarSet {
	w := utiltesting.MakeSidecarSet(name).Priority(int32(g.intn(3)) - 1)
	var own []string
	if g.has(fuzzSetVolumes) {
		own = fuzzDistinct(g, fuzzVolumeNames, 1+g.intn(2))
		for _, v := range g.volumes(own) {
			w.Volume(v)
		}
	}
	known := slices.Concat(own, podVolumes)
	numInits := 0
	if g.has(fuzzSetInits) {
		numInits = 1 + g.intn(2)
	}
	// Picked from the other end of the alphabet, so that only the fuzzer's choices make
	// a set's names collide with the pod's, while sets collide with each other by default.
	names := fuzzDistinct(g, fuzzReversed(fuzzContainerNames), numInits+1+g.intn(3))
	for _, n := range names[:numInits] {
		w.InitContainer(g.container(name, n, known))
	}
	for _, n := range names[numInits:] {
		w.Sidecar(g.sidecar(name, n, known))
	}
	for _, s := range g.pullSecrets() {
		w.PullSecret(s.Name)
	}
	if g.has(fuzzPodMetadata) {
		w.PodMetadata(g.metadata(name), g.metadata(name))
	}
	switch {
	case g.has(fuzzNoGate):
		w.ReadinessGate(false)
	case g.bool():
		w.ReadinessGate(true)
	}
	if g.intn(4) == 0 {
		w.Status.CollisionCount = new(int32(g.intn(3)))
	}
	// Read last, so that the seeds from before enforcement keep their shapes.
	if g.features&fuzzRequired != 0 && g.has(fuzzRequired) {
		w.Required()
	}
	return w.Obj()
}

// records is a valid annotation: sets of the alphabet, some of which the input also
// has, claiming containers some of which the pod has.
func (g *fuzzGen) records(pod *corev1.Pod) string {
	var names []string
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		names = append(names, c.Name)
	}
	names = append(names, "gone")
	records := sidecarsv1alpha1.InjectionRecords{}
	for _, set := range fuzzDistinct(g, fuzzSetNames, 1+g.intn(2)) {
		records[set] = sidecarsv1alpha1.InjectionRecord{
			Revision: set + "-old", Hash: "h", ImageFreeHash: "i",
			Containers: fuzzDistinct(g, names, g.intn(3)),
		}
	}
	return records.String()
}

// forged is the record of each source as Inject would write it, except that the
// containers it claims were injected are a guess the pod need not bear out.
func (g *fuzzGen) forged(sources []Source) string {
	records := sidecarsv1alpha1.InjectionRecords{}
	for _, src := range sources {
		rec := sidecarsv1alpha1.InjectionRecord{Revision: src.Revision, Hash: src.Hash, ImageFreeHash: src.ImageFreeHash}
		for _, c := range src.Spec.InitContainers {
			rec.Containers = append(rec.Containers, c.Name)
		}
		for _, c := range src.Spec.Containers {
			if g.intn(3) == 0 {
				rec.Overridden = append(rec.Overridden, c.Name)
			} else {
				rec.Containers = append(rec.Containers, c.Name)
			}
		}
		records[src.Set.Name] = rec
	}
	return records.String()
}

// forgeMetadata gives the pod Outrigger's label, an upgrade state and the readiness
// gate, as a request may.
func (g *fuzzGen) forgeMetadata(pod *corev1.Pod, raw string) {
	if !g.has(fuzzForged) {
		return
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[sidecarsv1alpha1.InjectedLabel] = fuzzPick(g, []string{"true", "false", ""})
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation] = raw
	gate := corev1.PodReadinessGate{ConditionType: sidecarsv1alpha1.SidecarsReadyCondition}
	if !slices.Contains(pod.Spec.ReadinessGates, gate) {
		pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, gate)
	}
}

// podResources gives the pod pod-level limits, and sometimes requests.
func (g *fuzzGen) podResources(pod *corev1.Pod) {
	if !g.has(fuzzPodResources) {
		return
	}
	res := &corev1.ResourceRequirements{Limits: corev1.ResourceList{}}
	res.Limits[corev1.ResourceCPU] = resource.MustParse(fuzzPick(g, fuzzCPU[3:]))
	res.Limits[corev1.ResourceMemory] = resource.MustParse(fuzzPick(g, fuzzMemory[3:]))
	if g.intn(4) == 0 {
		res.Requests = corev1.ResourceList{corev1.ResourceCPU: res.Limits[corev1.ResourceCPU]}
	}
	pod.Spec.Resources = res
}

func (g *fuzzGen) annotation(kind int, pod *corev1.Pod, raw string, sources []Source) (string, bool) {
	switch kind {
	case annForged:
		return g.forged(sources), true
	case annRecord:
		return g.records(pod), true
	case annRaw:
		return raw, true
	case annEmpty:
		return "", true
	case annEmptyMap:
		return "{}", true
	case annNull:
		return "null", true
	case annNullRecord:
		return `{"alpha":null}`, true
	case annArray:
		return "[]", true
	case annGarbage:
		return "{not json", true
	}
	return "", false
}

// fuzzMinimizeTime bounds the minimisation of each input that widens coverage. Go's
// default, 60 s, is what kept FuzzInject at 0 executions per second: the input is a
// byte stream decoded decision by decision, so removing a byte shifts every later
// decision and the minimiser's quadratic pass (every byte range of a 250-440-byte
// input, about 100,000 executions) almost never succeeds; both workers spent most of a
// run there, and executions they made were counted only when a minimisation ended,
// never when the run's end cut it. 1,000 executions let the minimiser cut the unused
// tail and try each single byte. -fuzzminimizetime on the command line (or
// FUZZMINIMIZETIME for hack/fuzz.sh) still wins: a long one minimises a crasher fully.
const fuzzMinimizeTime = "1000x"

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.fuzzminimizetime" })
	if !given {
		if err := flag.Set("test.fuzzminimizetime", fuzzMinimizeTime); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// FuzzInject builds a pod and up to four SidecarSets from the input and checks what
// must hold whatever they are: Inject leaves its inputs alone, is idempotent and
// deterministic whatever the order of the sources, and returns a valid pod that records
// every set.
func FuzzInject(f *testing.F) {
	// numApps, numInits, numSets, annotation kind, features, data, raw annotation.
	all := uint16(fuzzAll &^ fuzzStrayMount &^ fuzzNoGate)
	// One set, one app container, every default: the smallest injection.
	f.Add(uint8(1), uint8(0), uint8(1), uint8(annNone), uint16(0), []byte{}, "")
	// Four sets using every feature; without details, sets collide with each other.
	f.Add(uint8(3), uint8(2), uint8(4), uint8(annNone), all, []byte{}, "")
	// Every feature with varied details, fresh and on top of earlier records.
	f.Add(uint8(3), uint8(2), uint8(4), uint8(annNone), all, fuzzBytes(1, 512), "")
	f.Add(uint8(2), uint8(1), uint8(3), uint8(annRecord), all, fuzzBytes(2, 512), "")
	f.Add(uint8(2), uint8(2), uint8(4), uint8(annNone), all|uint16(fuzzNoGate), fuzzBytes(9, 512), "")
	// Resources from policies and explicit resources, with shared volumes.
	f.Add(uint8(3), uint8(0), uint8(2), uint8(annNone), uint16(fuzzPolicy|fuzzResources|fuzzShareVolumes|fuzzMounts), fuzzBytes(3, 256), "")
	// Placements, init containers, pull secrets, pod metadata, no readiness gate.
	f.Add(uint8(1), uint8(2), uint8(4), uint8(annNone),
		uint16(fuzzPlacement|fuzzSetInits|fuzzPullSecrets|fuzzPodMetadata|fuzzNoGate), fuzzBytes(4, 256), "")
	// Environment copied between containers that may not exist.
	f.Add(uint8(2), uint8(1), uint8(2), uint8(annNone), uint16(fuzzEnv|fuzzTransferEnv), fuzzBytes(5, 256), "")
	// A sidecar mounting a volume nobody declares: refused.
	f.Add(uint8(1), uint8(0), uint8(1), uint8(annNone), uint16(fuzzMounts|fuzzStrayMount), []byte{}, "")
	// A pod without app containers but with volumes its sidecars share.
	f.Add(uint8(0), uint8(1), uint8(2), uint8(annNone), uint16(fuzzSetVolumes|fuzzMounts|fuzzShareVolumes), fuzzBytes(6, 128), "")
	// Pre-existing annotations: a record of one of the sets claiming an app container,
	// garbage, a null record, an empty map.
	f.Add(uint8(2), uint8(0), uint8(2), uint8(annRaw), uint16(fuzzPolicy), []byte{},
		`{"beta":{"revision":"beta-1","hash":"h","imageFreeHash":"i","containers":["web"]}}`)
	f.Add(uint8(1), uint8(0), uint8(1), uint8(annGarbage), uint16(0), []byte{}, "")
	f.Add(uint8(1), uint8(0), uint8(2), uint8(annNullRecord), uint16(0), []byte{}, "")
	f.Add(uint8(1), uint8(0), uint8(1), uint8(annEmptyMap), uint16(fuzzPodMetadata), []byte{}, "")
	// Records forged for the very sets being injected, with the pod's own Outrigger
	// label, upgrade state and readiness gate: the sidecars go in all the same.
	f.Add(uint8(2), uint8(1), uint8(3), uint8(annForged), uint16(fuzzForged|fuzzSetInits), fuzzBytes(10, 256), `{"sidecar":"proxy"}`)
	f.Add(uint8(1), uint8(0), uint8(2), uint8(annForged), all|uint16(fuzzForged|fuzzNoGate), fuzzBytes(11, 512), "garbage")
	// Required sets, fresh and under forged records naming their containers overridden:
	// injected in full or the pod refused, never skipped.
	f.Add(uint8(2), uint8(1), uint8(3), uint8(annNone), uint16(fuzzRequired|fuzzSetVolumes|fuzzMounts|fuzzSetInits), fuzzBytes(14, 512), "")
	f.Add(uint8(2), uint8(1), uint8(3), uint8(annForged), uint16(fuzzRequired|fuzzForged|fuzzSetVolumes), fuzzBytes(15, 512), "")
	f.Add(uint8(1), uint8(0), uint8(2), uint8(annRaw), uint16(fuzzRequired), []byte{},
		`{"alpha":{"revision":"x","hash":"h","imageFreeHash":"i","containers":null,"overridden":["app"]}}`)
	// Pod-level resources with policies and fixed resources.
	f.Add(uint8(2), uint8(1), uint8(3), uint8(annNone), uint16(fuzzPodResources|fuzzPolicy|fuzzResources|fuzzSetInits), fuzzBytes(12, 512), "")
	f.Add(uint8(3), uint8(0), uint8(2), uint8(annNone), uint16(fuzzPodResources|fuzzPolicy), fuzzBytes(13, 256), "")

	f.Fuzz(func(t *testing.T, numApps, numInits, numSets, annKind uint8, features uint16, data []byte, raw string) {
		g := &fuzzGen{data: data, features: fuzzFeature(features)}
		pod := g.pod(int(numApps%4), int(numInits%3))
		g.podResources(pod)
		g.forgeMetadata(pod, raw)
		var podVolumes []string
		for _, v := range pod.Spec.Volumes {
			podVolumes = append(podVolumes, v.Name)
		}
		var setsIn []*sidecarsv1alpha1.SidecarSet
		for _, name := range fuzzDistinct(g, fuzzSetNames, int(numSets%5)) {
			setsIn = append(setsIn, g.set(name, podVolumes))
		}
		var (
			sources    []Source
			setsBefore []*sidecarsv1alpha1.SidecarSet
		)
		for _, s := range setsIn {
			sources = append(sources, SourceOf(s))
			setsBefore = append(setsBefore, s.DeepCopy())
		}
		if a, ok := g.annotation(int(annKind%annKinds), pod, raw, sources); ok {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[sidecarsv1alpha1.InjectedAnnotation] = a
		}
		podBefore := pod.DeepCopy()

		got, err := Inject(pod, sources)
		if diff := fuzzDiff(podBefore, pod); diff != "" {
			t.Fatalf("Inject changed its input pod (-before +after):\n%s", diff)
		}
		if diff := fuzzDiff(setsBefore, setsIn); diff != "" {
			t.Fatalf("Inject changed its input SidecarSets (-before +after):\n%s", diff)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Inject failed with an empty message")
			}
			var required *RequiredError
			if errors.As(err, &required) && !slices.ContainsFunc(setsIn, func(s *sidecarsv1alpha1.SidecarSet) bool {
				return s.Name == required.Set && s.Spec.Injection.IsRequired()
			}) {
				t.Fatalf("refused for SidecarSet %q, which is not Required: %v", required.Set, err)
			}
			return
		}

		checkIdempotent(t, got, sources)
		checkDeterministic(t, pod, got, sources)
		checkValid(t, got.Pod)
		checkRecorded(t, pod, got, sources)
		checkOwnedMetadata(t, got.Pod, sources)
		checkPodResources(t, pod, got.Pod)
		checkRequired(t, got, sources)
	})
}

// checkRequired: a Required set, whatever the request's record said, is recorded with
// every container injected and no override, and its volumes are the set's.
func checkRequired(t *testing.T, got Result, sources []Source) {
	t.Helper()
	after, err := sidecarsv1alpha1.ParseInjectionRecords(got.Pod.Annotations)
	if err != nil {
		t.Fatalf("the injected pod's annotation does not parse: %v", err)
	}
	for _, src := range sources {
		if !src.Set.Spec.Injection.IsRequired() {
			continue
		}
		rec := after[src.Set.Name]
		if len(rec.Overridden) > 0 || len(rec.OverriddenVolumes) > 0 {
			t.Fatalf("Required SidecarSet %s recorded overrides: %+v", src.Set.Name, rec)
		}
		for _, v := range src.Spec.Volumes {
			i := slices.IndexFunc(got.Pod.Spec.Volumes, func(p corev1.Volume) bool { return p.Name == v.Name })
			if i < 0 || !equality.Semantic.DeepEqual(got.Pod.Spec.Volumes[i], v) {
				t.Fatalf("Required SidecarSet %s: volume %s is not the set's", src.Set.Name, v.Name)
			}
		}
	}
}

func checkIdempotent(t *testing.T, got Result, sources []Source) {
	t.Helper()
	once := got.Pod.DeepCopy()
	again, err := Inject(got.Pod, sources)
	if err != nil {
		t.Fatalf("Inject of the injected pod failed: %v", err)
	}
	if diff := fuzzDiff(once, got.Pod); diff != "" {
		t.Fatalf("Inject changed the injected pod it was given (-before +after):\n%s", diff)
	}
	if diff := fuzzDiff(once, again.Pod); diff != "" {
		t.Fatalf("Inject is not idempotent (-once +twice):\n%s", diff)
	}
	if len(again.Injected) != 0 {
		t.Fatalf("Inject of the injected pod injected %v again", again.Injected)
	}
}

func checkDeterministic(t *testing.T, pod *corev1.Pod, got Result, sources []Source) {
	t.Helper()
	reversed := slices.Clone(sources)
	slices.Reverse(reversed)
	for name, srcs := range map[string][]Source{"same order": sources, "reversed order": reversed} {
		other, err := Inject(pod, srcs)
		if err != nil {
			t.Fatalf("Inject in the %s failed: %v", name, err)
		}
		if diff := fuzzDiff(got.Pod, other.Pod); diff != "" {
			t.Fatalf("Inject in the %s gave another pod (-first +other):\n%s", name, diff)
		}
		if diff := fuzzDiff(got.Injected, other.Injected); diff != "" {
			t.Fatalf("Inject in the %s injected other sets (-first +other):\n%s", name, diff)
		}
	}
}

// checkValid checks what the API server would refuse in the injected pod.
func checkValid(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	names := sets.New[string]()
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if names.Has(c.Name) {
			t.Fatalf("container name %q is used twice", c.Name)
		}
		names.Insert(c.Name)
		for name, req := range c.Resources.Requests {
			if lim, ok := c.Resources.Limits[name]; ok && req.Cmp(lim) > 0 {
				t.Fatalf("container %q: %s request %s > limit %s", c.Name, name, req.String(), lim.String())
			}
		}
	}
	if _, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations); err != nil {
		t.Fatalf("the injected pod's annotation does not parse: %v", err)
	}
}

// checkRecorded checks the annotation against the sources: it records exactly the
// sources, each with its revision and hashes; every container of every set is in the
// pod (injected where its mode puts it, with the set's image, or the pod's own); and the
// sets injected now are those whose record the request did not already carry as Inject
// writes it.
func checkRecorded(t *testing.T, pod *corev1.Pod, got Result, sources []Source) {
	t.Helper()
	before, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		before = sidecarsv1alpha1.InjectionRecords{}
	}
	after, err := sidecarsv1alpha1.ParseInjectionRecords(got.Pod.Annotations)
	if err != nil {
		t.Fatalf("the injected pod's annotation does not parse: %v", err)
	}
	var wantNames []string
	for _, src := range sources {
		wantNames = append(wantNames, src.Set.Name)
	}
	if diff := fuzzDiff(slices.Sorted(slices.Values(wantNames)), slices.Sorted(maps.Keys(after))); diff != "" {
		t.Fatalf("recorded sets (-sources +recorded):\n%s", diff)
	}

	volumes := sets.New[string]()
	for _, v := range got.Pod.Spec.Volumes {
		volumes.Insert(v.Name)
	}
	inits, regular := map[string]corev1.Container{}, map[string]corev1.Container{}
	for _, c := range got.Pod.Spec.InitContainers {
		inits[c.Name] = c
	}
	for _, c := range got.Pod.Spec.Containers {
		regular[c.Name] = c
	}

	var todo []Source
	for _, src := range sources {
		name := src.Set.Name
		rec := after[name]
		if rec.Revision != src.Revision || rec.Hash != src.Hash || rec.ImageFreeHash != src.ImageFreeHash {
			t.Fatalf("SidecarSet %s: recorded %+v, not the source's revision %s and hashes", name, rec, src.Revision)
		}
		// Held in full, beyond the images heldBefore checks: injectedInFull, whose field
		// by field comparison TestTrustCoversEverythingInjected covers.
		if !equality.Semantic.DeepEqual(before[name], rec) || !heldBefore(pod, src, rec) ||
			!injectedInFull(pod, src, rec, AppContainers(pod, before)) {
			todo = append(todo, src)
		}
		want := checkSetContainers(t, src, rec, inits, regular, volumes)
		slices.Sort(want)
		if recorded := slices.Sorted(slices.Values(slices.Concat(rec.Containers, rec.Overridden))); !slices.Equal(want, recorded) {
			t.Fatalf("SidecarSet %s: containers and overridden %v do not add up to the set's containers %v", name, recorded, want)
		}
	}

	slices.SortStableFunc(todo, func(a, b Source) int {
		return cmp.Or(cmp.Compare(b.Set.Spec.Priority, a.Set.Spec.Priority), cmp.Compare(a.Set.Name, b.Set.Name))
	})
	var want []string
	for _, src := range todo {
		want = append(want, src.Set.Name)
	}
	if diff := fuzzDiff(want, got.Injected); diff != "" {
		t.Fatalf("injected sets (-want +got):\n%s", diff)
	}
}

// heldBefore says whether the request pod already held every container rec says the
// set injected, where the set's mode puts it and with the set's image, and every
// container rec says the pod overrode: a record equal to the one Inject writes names a
// set already injected only then. A forged record can equal it by chance while the
// containers it names are missing (another set injects the container this one's record
// says was overridden); then the set is injected now.
func heldBefore(pod *corev1.Pod, src Source, rec sidecarsv1alpha1.InjectionRecord) bool {
	held := func(list []corev1.Container, want corev1.Container, restart *corev1.ContainerRestartPolicy) bool {
		i := slices.IndexFunc(list, func(c corev1.Container) bool { return c.Name == want.Name })
		return i >= 0 && list[i].Image == want.Image && ptr.Equal(list[i].RestartPolicy, restart)
	}
	for _, name := range rec.Overridden {
		if findContainer(pod.Spec.InitContainers, name) == nil && findContainer(pod.Spec.Containers, name) == nil {
			return false
		}
	}
	injected := sets.New(rec.Containers...)
	for _, ic := range src.Spec.InitContainers {
		if injected.Has(ic.Name) && !held(pod.Spec.InitContainers, ic, nil) {
			return false
		}
	}
	for _, sc := range src.Spec.Containers {
		if !injected.Has(sc.Name) {
			continue
		}
		list, restart := pod.Spec.Containers, (*corev1.ContainerRestartPolicy)(nil)
		if sc.EffectiveMode() == sidecarsv1alpha1.SidecarModeNative {
			list, restart = pod.Spec.InitContainers, ptr.To(corev1.ContainerRestartPolicyAlways)
		}
		if !held(list, sc.Container, restart) {
			return false
		}
	}
	return true
}

// checkSetContainers checks that every container of src's set is in the pod, those rec
// says were injected where the set's mode puts them, with the set's image; it returns
// the set's container names.
func checkSetContainers(t *testing.T, src Source, rec sidecarsv1alpha1.InjectionRecord,
	inits, regular map[string]corev1.Container, volumes sets.Set[string]) []string {
	t.Helper()
	name := src.Set.Name
	injected := sets.New(rec.Containers...)
	// present is the invariant a forged record must never break: the set's container
	// is in the pod, injected or the pod's own.
	present := func(kind, c string) {
		t.Helper()
		_, isInit := inits[c]
		_, isRegular := regular[c]
		if !isInit && !isRegular {
			t.Fatalf("SidecarSet %s: %s %s is not in the pod", name, kind, c)
		}
	}
	var want []string
	for _, ic := range src.Spec.InitContainers {
		want = append(want, ic.Name)
		present("init container", ic.Name)
		if !injected.Has(ic.Name) {
			continue
		}
		c, ok := inits[ic.Name]
		if !ok || c.Image != ic.Image || c.RestartPolicy != nil {
			t.Fatalf("SidecarSet %s: init container %s is recorded but not among the init containers", name, ic.Name)
		}
		checkMounts(t, c, volumes)
	}
	for _, sc := range src.Spec.Containers {
		want = append(want, sc.Name)
		present("sidecar", sc.Name)
		if !injected.Has(sc.Name) {
			continue
		}
		var (
			c     corev1.Container
			found bool
		)
		if sc.EffectiveMode() == sidecarsv1alpha1.SidecarModeNative {
			c, found = inits[sc.Name]
			found = found && ptr.Deref(c.RestartPolicy, "") == corev1.ContainerRestartPolicyAlways
		} else {
			c, found = regular[sc.Name]
			found = found && c.RestartPolicy == nil
		}
		if !found || c.Image != sc.Image {
			t.Fatalf("SidecarSet %s: %s sidecar %s is recorded but not where its mode puts it", name, sc.EffectiveMode(), sc.Name)
		}
		checkMounts(t, c, volumes)
	}
	return want
}

// checkOwnedMetadata checks that the pod carries Outrigger's keys as Inject writes them,
// whatever the request carried: no upgrade state, the label and record exactly when a
// set is recorded, the readiness gate once, exactly when a recorded set wants it.
func checkOwnedMetadata(t *testing.T, pod *corev1.Pod, sources []Source) {
	t.Helper()
	if v, ok := pod.Annotations[sidecarsv1alpha1.UpgradeAnnotation]; ok {
		t.Fatalf("the pod kept the request's upgrade state %q", v)
	}
	label, hasLabel := pod.Labels[sidecarsv1alpha1.InjectedLabel]
	_, hasRecord := pod.Annotations[sidecarsv1alpha1.InjectedAnnotation]
	if want := len(sources) > 0; hasLabel != want || hasRecord != want || (hasLabel && label != "true") {
		t.Fatalf("with %d sources: label %q (present %v), record present %v", len(sources), label, hasLabel, hasRecord)
	}
	wantGate := slices.ContainsFunc(sources, func(s Source) bool { return s.Set.Spec.UpdateStrategy.Drain.ReadinessGateEnabled() })
	gates := 0
	for _, g := range pod.Spec.ReadinessGates {
		if g.ConditionType == sidecarsv1alpha1.SidecarsReadyCondition {
			gates++
		}
	}
	if (gates == 1) != wantGate || gates > 1 {
		t.Fatalf("readiness gate %s appears %d times, want it: %v", sidecarsv1alpha1.SidecarsReadyCondition, gates, wantGate)
	}
}

// checkPodResources checks what the API server checks of pod-level resources, where the
// pod before injection passed it: the effective container requests within the pod's
// request (or limit), each regular container's limit within the pod's limit.
func checkPodResources(t *testing.T, before, pod *corev1.Pod) {
	t.Helper()
	if pod.Spec.Resources == nil {
		return
	}
	for _, r := range resources.FitResources {
		budget, field, ok := resources.PodBudget(pod.Spec.Resources, r)
		if !ok {
			continue
		}
		own := resources.EffectiveRequests(before)[r]
		if own.Cmp(budget) > 0 {
			continue
		}
		if total := resources.EffectiveRequests(pod)[r]; total.Cmp(budget) > 0 {
			t.Fatalf("containers request %s %s, above %s %s", total.String(), r, field, budget.String())
		}
		limit, ok := pod.Spec.Resources.Limits[r]
		if !ok {
			continue
		}
		for _, c := range pod.Spec.Containers {
			if l, ok := c.Resources.Limits[r]; ok && l.Cmp(limit) > 0 && findContainer(before.Spec.Containers, c.Name) == nil {
				t.Fatalf("sidecar %s has a %s limit of %s, above the pod's %s", c.Name, r, l.String(), limit.String())
			}
		}
	}
}

// fuzzDiff is cmp.Diff, computed only when equality.Semantic says the values differ:
// cmp would cost most of an execution. Semantic equality is what the API server sees:
// quantities by value, nil and empty alike. reflect.DeepEqual goes first: values it
// finds equal are semantically equal, and it answers almost every call (the values are
// mostly the same) at a fraction of the cost: equality.Semantic calls its equality
// functions through reflect.Value.Call and was 41% of an execution's CPU.
func fuzzDiff(want, got any) string {
	if reflect.DeepEqual(want, got) || equality.Semantic.DeepEqual(want, got) {
		return ""
	}
	if d := gocmp.Diff(want, got); d != "" {
		return d
	}
	return fmt.Sprintf("%#v\n!=\n%#v", want, got)
}

func checkMounts(t *testing.T, c corev1.Container, volumes sets.Set[string]) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if !volumes.Has(m.Name) {
			t.Fatalf("injected container %s mounts volume %q, which the pod does not have", c.Name, m.Name)
		}
	}
}
