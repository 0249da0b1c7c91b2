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
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// A pod being created carries Outrigger's metadata only as Inject writes it: a record
// is trusted only where it is what Inject itself wrote for the current sets.
func TestInjectTrustsOnlyItsOwnRecord(t *testing.T) {
	mesh := func() *sidecarsv1alpha1.SidecarSet { return set("mesh").Sidecar(sidecar("proxy").Obj()).Obj() }
	// injected is the pod Inject makes of pod() with mesh: what an earlier invocation wrote.
	injected := func(t *testing.T) *corev1.Pod {
		t.Helper()
		res, err := Inject(pod().Obj(), sourcesOf(mesh()))
		if err != nil {
			t.Fatal(err)
		}
		return res.Pod
	}
	rec := func(src Source, containers ...string) string {
		return sidecarsv1alpha1.InjectionRecords{"mesh": {
			Revision: src.Revision, Hash: src.Hash, ImageFreeHash: src.ImageFreeHash, Containers: containers,
		}}.String()
	}
	meshInjected := view{
		InitContainers: []string{"proxy*"}, Containers: []string{"app"},
		Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
		Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
	}
	cases := map[string]struct {
		pod          func(t *testing.T) *corev1.Pod
		sources      []Source
		want         view
		wantInjected []string
	}{
		"a record forged with the set's own revision and hashes, without its sidecar, is replaced": {
			pod: func(*testing.T) *corev1.Pod {
				return pod().Annotation(sidecarsv1alpha1.InjectedAnnotation, rec(sourcesOf(mesh())[0], "proxy")).Obj()
			},
			sources: sourcesOf(mesh()), want: meshInjected, wantInjected: []string{"mesh"},
		},
		"a record of an earlier invocation is kept and nothing is injected twice": {
			pod: func(t *testing.T) *corev1.Pod {
				p := injected(t)
				// Another webhook changed the pod in between (why the API server reinvokes).
				p.Labels["other-webhook"] = "was-here"
				p.Spec.InitContainers[0].TerminationMessagePath = "/dev/termination-log"
				return p
			},
			sources: sourcesOf(mesh()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels:      map[string]string{"app": "web", "other-webhook": "was-here", sidecarsv1alpha1.InjectedLabel: "true"},
				Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"a record whose sidecar has another image is not the injector's: the container is the pod's own": {
			pod: func(t *testing.T) *corev1.Pod {
				p := injected(t)
				p.Spec.InitContainers[0].Image = "attacker.example.com/sleep:1"
				return p
			},
			sources: sourcesOf(mesh()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Overridden: []string{"proxy"}}},
			},
			wantInjected: []string{"mesh"},
		},
		"a record of an older revision of the set is replaced": {
			pod: func(t *testing.T) *corev1.Pod {
				old := sourcesOf(mesh())[0]
				old.Hash = "older"
				return pod().Annotation(sidecarsv1alpha1.InjectedAnnotation, rec(old, "proxy")).Obj()
			},
			sources: sourcesOf(mesh()), want: meshInjected, wantInjected: []string{"mesh"},
		},
		"a record of a set that does not inject the pod is dropped, with the label and the gate": {
			pod: func(t *testing.T) *corev1.Pod {
				p := injected(t)
				p.Spec.InitContainers = nil
				return p
			},
			want: view{Containers: []string{"app"}, Labels: map[string]string{"app": "web"}, Annotations: map[string]string{}},
		},
		"the request's upgrade state goes, whatever the sets": {
			pod: func(*testing.T) *corev1.Pod {
				return pod().Annotation(sidecarsv1alpha1.UpgradeAnnotation, `{"sidecarset":"mesh","step":"Swap"}`).
					Label(sidecarsv1alpha1.InjectedLabel, "true").Obj()
			},
			want: view{Containers: []string{"app"}, Labels: map[string]string{"app": "web"}, Annotations: map[string]string{}},
		},
		"the request's readiness gate goes when no set wants one": {
			pod: func(*testing.T) *corev1.Pod {
				p := pod().Obj()
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/mine"}, {ConditionType: gate}}
				return p
			},
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Obj()).ReadinessGate(false).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{"example.com/mine"},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
			wantInjected: []string{"mesh"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Inject(tc.pod(t), tc.sources)
			if err != nil {
				t.Fatalf("Inject: %v", err)
			}
			if diff := cmp.Diff(tc.want, viewOf(t, got.Pod), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("injected pod (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantInjected, got.Injected, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("injected sets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInjectNeverTakesResizedFromTheRequest: a trusted record keeps everything but
// resized, which only the rollout writes on a running pod.
func TestInjectNeverTakesResizedFromTheRequest(t *testing.T) {
	sources := sourcesOf(set("mesh").Sidecar(sidecar("proxy").Obj()).Obj())
	injected, err := Inject(pod().Obj(), sources)
	if err != nil {
		t.Fatal(err)
	}
	copied := injected.Pod.DeepCopy()
	records, err := sidecarsv1alpha1.ParseInjectionRecords(copied.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	rec := records["mesh"]
	rec.Resized = map[string]corev1.ResourceRequirements{"proxy": {Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}}}
	records["mesh"] = rec
	copied.Annotations[sidecarsv1alpha1.InjectedAnnotation] = records.String()

	got, err := Inject(copied, sources)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Injected) != 0 {
		t.Fatalf("the trusted record's set was injected again: %v", got.Injected)
	}
	if got.Pod.Annotations[sidecarsv1alpha1.InjectedAnnotation] != injected.Pod.Annotations[sidecarsv1alpha1.InjectedAnnotation] {
		t.Errorf("record %s, want %s: resized taken from the request", got.Pod.Annotations[sidecarsv1alpha1.InjectedAnnotation],
			injected.Pod.Annotations[sidecarsv1alpha1.InjectedAnnotation])
	}
}

// TestTrustCoversEverythingInjected: a copy of an injected pod is trusted as injected
// only while everything the set put into it is as injecting the set makes it; a change
// of any field makes the set injected again (the changed container then counts as the
// pod's own). The API server's defaults do not count as changes.
func TestTrustCoversEverythingInjected(t *testing.T) {
	full := func() *sidecarsv1alpha1.SidecarSet {
		return set("mesh").
			InitContainer(corev1.Container{Name: "setup", Image: "example.com/setup:1", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}}).
			Sidecar(sidecar("proxy").Env("MODE", "strict").Mount("certs", "/certs").
				Resources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}).Obj()).
			Sidecar(sidecar("shipper").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).
			Volume(corev1.Volume{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "certs"}}}).
			PullSecret("regcred").
			PodMetadata(map[string]string{"mesh": "on"}, map[string]string{"mesh/version": "1"}).Obj()
	}
	sources := sourcesOf(full())
	injected, err := Inject(pod().Obj(), sources)
	if err != nil {
		t.Fatal(err)
	}
	find := func(p *corev1.Pod, name string) *corev1.Container {
		for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for i := range list {
				if list[i].Name == name {
					return &list[i]
				}
			}
		}
		t.Fatalf("no container %s", name)
		return nil
	}
	cases := map[string]struct {
		change  func(p *corev1.Pod)
		trusted bool
	}{
		"unchanged": {change: func(*corev1.Pod) {}, trusted: true},
		"the API server's defaults": {trusted: true, change: func(p *corev1.Pod) {
			for _, name := range []string{"setup", "proxy", "shipper"} {
				c := find(p, name)
				c.TerminationMessagePath, c.TerminationMessagePolicy = "/dev/termination-log", corev1.TerminationMessageReadFile
				c.ImagePullPolicy = corev1.PullIfNotPresent
			}
			p.Spec.Volumes[0].Secret.DefaultMode = ptr.To[int32](0o644)
		}},
		"the ServiceAccount admission plugin's token mount": {trusted: true, change: func(p *corev1.Pod) {
			for _, name := range []string{"setup", "proxy", "shipper"} {
				c := find(p, name)
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "kube-api-access-x7k2p", ReadOnly: true,
					MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"})
			}
		}},
		"a sidecar's env":       {change: func(p *corev1.Pod) { find(p, "proxy").Env[0].Value = "permissive" }},
		"a sidecar's extra env": {change: func(p *corev1.Pod) { find(p, "proxy").Env = append(find(p, "proxy").Env, corev1.EnvVar{Name: "X"}) }},
		"a sidecar's mount":     {change: func(p *corev1.Pod) { find(p, "proxy").VolumeMounts[0].MountPath = "/elsewhere" }},
		"a sidecar's securityContext": {change: func(p *corev1.Pod) {
			find(p, "proxy").SecurityContext = &corev1.SecurityContext{Privileged: new(true)}
		}},
		"a sidecar's probe":             {change: func(p *corev1.Pod) { find(p, "proxy").ReadinessProbe = &corev1.Probe{} }},
		"a sidecar's resources":         {change: func(p *corev1.Pod) { find(p, "proxy").Resources.Limits = nil }},
		"a sidecar's ports":             {change: func(p *corev1.Pod) { find(p, "proxy").Ports = []corev1.ContainerPort{{ContainerPort: 1}} }},
		"a Container sidecar's preStop": {change: func(p *corev1.Pod) { find(p, "shipper").Lifecycle = nil }},
		"an init container's env":       {change: func(p *corev1.Pod) { find(p, "setup").Env = nil }},
		"a volume's source": {change: func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}},
		"a pull secret gone":            {change: func(p *corev1.Pod) { p.Spec.ImagePullSecrets = nil }},
		"a podMetadata label gone":      {change: func(p *corev1.Pod) { delete(p.Labels, "mesh") }},
		"a podMetadata annotation gone": {change: func(p *corev1.Pod) { delete(p.Annotations, "mesh/version") }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := injected.Pod.DeepCopy()
			tc.change(p)
			got, err := Inject(p, sources)
			if err != nil {
				t.Fatal(err)
			}
			if trusted := len(got.Injected) == 0; trusted != tc.trusted {
				t.Errorf("trusted = %v, want %v", trusted, tc.trusted)
			}
		})
	}
}
