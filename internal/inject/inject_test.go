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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// view is what the table cases compare: the parts of a pod injection decides, in a form
// that reads like the pod. Native sidecars show as "name*" (restartPolicy Always).
type view struct {
	InitContainers []string
	Containers     []string
	Volumes        []string
	PullSecrets    []string
	Labels         map[string]string
	Annotations    map[string]string
	ReadinessGates []string
	Records        map[string]record
}

// record is an InjectionRecord without the hashes, which have their own tests.
type record struct {
	Revision   string
	Containers []string
	Overridden []string
}

func viewOf(t *testing.T, pod *corev1.Pod) view {
	t.Helper()
	v := view{Labels: pod.Labels, Annotations: map[string]string{}}
	names := func(cs []corev1.Container) []string {
		var out []string
		for _, c := range cs {
			n := c.Name
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				n += "*"
			}
			out = append(out, n)
		}
		return out
	}
	v.InitContainers, v.Containers = names(pod.Spec.InitContainers), names(pod.Spec.Containers)
	for _, vol := range pod.Spec.Volumes {
		v.Volumes = append(v.Volumes, vol.Name)
	}
	for _, s := range pod.Spec.ImagePullSecrets {
		v.PullSecrets = append(v.PullSecrets, s.Name)
	}
	for _, g := range pod.Spec.ReadinessGates {
		v.ReadinessGates = append(v.ReadinessGates, string(g.ConditionType))
	}
	for k, a := range pod.Annotations {
		if k != sidecarsv1alpha1.InjectedAnnotation {
			v.Annotations[k] = a
		}
	}
	records, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if err != nil {
		t.Fatalf("parsing the injection record: %v", err)
	}
	if len(records) > 0 {
		v.Records = map[string]record{}
		for name, r := range records {
			if r.Hash == "" || r.ImageFreeHash == "" {
				t.Errorf("record of %s lacks a hash: %+v", name, r)
			}
			v.Records[name] = record{Revision: r.Revision, Containers: r.Containers, Overridden: r.Overridden}
		}
	}
	return v
}

const gate = sidecarsv1alpha1.SidecarsReadyCondition

var injectedLabel = map[string]string{"app": "web", sidecarsv1alpha1.InjectedLabel: "true"}

// sourcesOf builds Sources from sets, with revisions named after the set.
func sourcesOf(sets ...*sidecarsv1alpha1.SidecarSet) []Source {
	var out []Source
	for _, s := range sets {
		src := SourceOf(s)
		src.Revision = s.Name + "-rev"
		out = append(out, src)
	}
	return out
}

func set(name string) *utiltesting.SidecarSetWrapper { return utiltesting.MakeSidecarSet(name) }

func sidecar(name string) *utiltesting.SidecarWrapper {
	return utiltesting.MakeSidecar(name, "example.com/"+name+":1")
}

func pod() *utiltesting.PodWrapper { return utiltesting.MakePod("p", "ns") }

func TestInject(t *testing.T) {
	containerMode := sidecarsv1alpha1.SidecarModeContainer
	cases := map[string]struct {
		pod     *corev1.Pod
		sources []Source
		want    view
		wantErr string
	}{
		"no source leaves the pod alone": {
			pod:  pod().Obj(),
			want: view{Containers: []string{"app"}, Labels: map[string]string{"app": "web"}, Annotations: map[string]string{}},
		},
		"a native sidecar goes into initContainers with restartPolicy Always": {
			pod:     pod().Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"BeforeInit goes ahead of the pod's own init containers": {
			pod:     pod().InitContainer(corev1.Container{Name: "migrate"}).Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Placement(sidecarsv1alpha1.PlacementBeforeInit).Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*", "migrate"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"AfterInit goes after the pod's own init containers": {
			pod:     pod().InitContainer(corev1.Container{Name: "migrate"}).Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Placement(sidecarsv1alpha1.PlacementAfterInit).Obj()).Obj()),
			want: view{
				InitContainers: []string{"migrate", "proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"a Container sidecar placed BeforeApp goes ahead of the app": {
			pod:     pod().Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Mode(containerMode).Obj()).Obj()),
			want: view{
				Containers: []string{"proxy", "app"},
				Labels:     injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"a Container sidecar placed AfterApp goes after the app": {
			pod: pod().Obj(),
			sources: sourcesOf(set("logs").Sidecar(sidecar("shipper").Mode(containerMode).
				Placement(sidecarsv1alpha1.PlacementAfterApp).Obj()).Obj()),
			want: view{
				Containers: []string{"app", "shipper"},
				Labels:     injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"logs": {Revision: "logs-rev", Containers: []string{"shipper"}}},
			},
		},
		"a set's init containers run first, then its native sidecars, then the pod's init containers": {
			pod: pod().InitContainer(corev1.Container{Name: "migrate"}).Obj(),
			sources: sourcesOf(set("mesh").InitContainer(corev1.Container{Name: "iptables", Image: "x"}).
				Sidecar(sidecar("proxy").Obj()).Obj()),
			want: view{
				InitContainers: []string{"iptables", "proxy*", "migrate"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"iptables", "proxy"}}},
			},
		},
		"higher priority is injected first": {
			pod: pod().Obj(),
			sources: sourcesOf(
				set("a-low").Priority(1).Sidecar(sidecar("low").Obj()).Obj(),
				set("z-high").Priority(5).Sidecar(sidecar("high").Obj()).Obj(),
			),
			want: view{
				InitContainers: []string{"high*", "low*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{
					"a-low":  {Revision: "a-low-rev", Containers: []string{"low"}},
					"z-high": {Revision: "z-high-rev", Containers: []string{"high"}},
				},
			},
		},
		"equal priority is ordered by set name": {
			pod: pod().Obj(),
			sources: sourcesOf(
				set("beta").Sidecar(sidecar("b").Mode(containerMode).Obj()).Obj(),
				set("alpha").Sidecar(sidecar("a").Mode(containerMode).Obj()).Obj(),
			),
			want: view{
				Containers: []string{"a", "b", "app"},
				Labels:     injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{
					"alpha": {Revision: "alpha-rev", Containers: []string{"a"}},
					"beta":  {Revision: "beta-rev", Containers: []string{"b"}},
				},
			},
		},
		"sidecars of one set keep their list order, native and regular mixed": {
			pod: pod().Obj(),
			sources: sourcesOf(set("obs").
				Sidecar(sidecar("agent-2").Obj()).
				Sidecar(sidecar("shipper").Mode(containerMode).Placement(sidecarsv1alpha1.PlacementAfterApp).Obj()).
				Sidecar(sidecar("agent-1").Obj()).
				Obj()),
			want: view{
				InitContainers: []string{"agent-2*", "agent-1*"}, Containers: []string{"app", "shipper"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"obs": {Revision: "obs-rev", Containers: []string{"agent-2", "shipper", "agent-1"}}},
			},
		},
		"a pod that declares a container of the sidecar's name keeps its own": {
			pod:     pod().Containers(corev1.Container{Name: "app"}, corev1.Container{Name: "proxy", Image: "mine"}).Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Obj()).Sidecar(sidecar("agent").Obj()).Obj()),
			want: view{
				InitContainers: []string{"agent*"}, Containers: []string{"app", "proxy"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"agent"}, Overridden: []string{"proxy"}}},
			},
		},
		"a pod init container of a set init container's name keeps its own": {
			pod: pod().InitContainer(corev1.Container{Name: "iptables"}).Obj(),
			sources: sourcesOf(set("mesh").InitContainer(corev1.Container{Name: "iptables", Image: "x"}).
				Sidecar(sidecar("proxy").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*", "iptables"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}, Overridden: []string{"iptables"}}},
			},
		},
		"two sets declaring the same name: the first injected wins": {
			pod: pod().Obj(),
			sources: sourcesOf(
				set("a").Priority(2).Sidecar(sidecar("proxy").Obj()).Obj(),
				set("b").Sidecar(sidecar("proxy").Obj()).Obj(),
			),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{
					"a": {Revision: "a-rev", Containers: []string{"proxy"}},
					"b": {Revision: "b-rev", Overridden: []string{"proxy"}},
				},
			},
		},
		"volumes are added; a pod volume of the same name is kept": {
			pod: pod().Volume(corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "mine"}}}}).Obj(),
			sources: sourcesOf(set("mesh").Volume(utiltesting.EmptyDir("config")).Volume(utiltesting.EmptyDir("certs")).
				Sidecar(sidecar("proxy").Mount("config", "/etc/proxy").Mount("certs", "/certs").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"}, Volumes: []string{"config", "certs"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"imagePullSecrets are added without duplicates": {
			pod: pod().PullSecret("shared").Obj(),
			sources: sourcesOf(
				set("a").PullSecret("shared").PullSecret("a-only").Sidecar(sidecar("x").Obj()).Obj(),
				set("b").PullSecret("a-only").Sidecar(sidecar("y").Obj()).Obj(),
			),
			want: view{
				InitContainers: []string{"x*", "y*"}, Containers: []string{"app"}, PullSecrets: []string{"shared", "a-only"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{
					"a": {Revision: "a-rev", Containers: []string{"x"}},
					"b": {Revision: "b-rev", Containers: []string{"y"}},
				},
			},
		},
		"podMetadata is added; the pod's own keys keep their values": {
			pod: pod().Label("tier", "gold").Annotation("team", "web").Obj(),
			sources: sourcesOf(set("mesh").PodMetadata(
				map[string]string{"tier": "bronze", "mesh": "on"},
				map[string]string{"team": "platform", "proxy.example.com/port": "15001"}).
				Sidecar(sidecar("proxy").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels:         map[string]string{"app": "web", "tier": "gold", "mesh": "on", sidecarsv1alpha1.InjectedLabel: "true"},
				Annotations:    map[string]string{"team": "web", "proxy.example.com/port": "15001"},
				ReadinessGates: []string{gate},
				Records:        map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"no readiness gate when the set turns it off": {
			pod:     pod().Obj(),
			sources: sourcesOf(set("mesh").ReadinessGate(false).Sidecar(sidecar("proxy").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"one readiness gate for several sets": {
			pod: pod().Obj(),
			sources: sourcesOf(
				set("a").Sidecar(sidecar("x").Obj()).Obj(),
				set("b").Sidecar(sidecar("y").Obj()).Obj(),
			),
			want: view{
				InitContainers: []string{"x*", "y*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{
					"a": {Revision: "a-rev", Containers: []string{"x"}},
					"b": {Revision: "b-rev", Containers: []string{"y"}},
				},
			},
		},
		"a sidecar mounting a volume nobody declares is refused": {
			pod:     pod().Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Mount("certs", "/certs").Obj()).Obj()),
			wantErr: `SidecarSet "mesh": container "proxy" mounts volume "certs", which neither the SidecarSet nor the pod declares`,
		},
		"a sidecar may mount a volume the pod declares": {
			pod:     pod().Volume(utiltesting.EmptyDir("data")).Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Mount("data", "/data").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"}, Volumes: []string{"data"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"a malformed injection record is replaced": {
			pod:     pod().Annotation(sidecarsv1alpha1.InjectedAnnotation, "{not json").Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"a null injection record counts as none": {
			pod:     pod().Annotation(sidecarsv1alpha1.InjectedAnnotation, "null").Obj(),
			sources: sourcesOf(set("mesh").Sidecar(sidecar("proxy").Obj()).Obj()),
			want: view{
				InitContainers: []string{"proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-rev", Containers: []string{"proxy"}}},
			},
		},
		"a pinned revision is recorded with its own name": {
			pod: pod().Obj(),
			sources: []Source{NewSource(set("mesh").Sidecar(sidecar("proxy").Obj()).Obj(), "mesh-pinned",
				revision.SpecOf(set("mesh").Sidecar(sidecar("old-proxy").Obj()).Obj()))},
			want: view{
				InitContainers: []string{"old-proxy*"}, Containers: []string{"app"},
				Labels: injectedLabel, Annotations: map[string]string{}, ReadinessGates: []string{gate},
				Records: map[string]record{"mesh": {Revision: "mesh-pinned", Containers: []string{"old-proxy"}}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			got, err := Inject(tc.pod, tc.sources)
			if diff := cmp.Diff(before, tc.pod); diff != "" {
				t.Errorf("Inject changed its input (-before +after):\n%s", diff)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Inject: %v", err)
			}
			if diff := cmp.Diff(tc.want, viewOf(t, got.Pod), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("injected pod (-want +got):\n%s", diff)
			}
			again, err := Inject(got.Pod, tc.sources)
			if err != nil {
				t.Fatalf("second Inject: %v", err)
			}
			if diff := cmp.Diff(got.Pod, again.Pod); diff != "" {
				t.Errorf("Inject is not idempotent (-once +twice):\n%s", diff)
			}
			if len(again.Injected) != 0 {
				t.Errorf("second Inject injected %v again", again.Injected)
			}
		})
	}
}

func preStopSleep(seconds int64) *corev1.Lifecycle {
	return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: seconds}}}
}

var defaultResizePolicy = []corev1.ContainerResizePolicy{
	{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
	{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer},
}

// TestInjectContainers checks what goes into the injected containers themselves.
func TestInjectContainers(t *testing.T) {
	cpu := func(s string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(s)}
	}
	app := corev1.Container{
		Name: "app", Image: "example.com/app:1",
		Env: []corev1.EnvVar{{Name: "POD_ENV", Value: "prod"}, {Name: "REGION", Value: "eu"},
			{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log/app"}, {Name: "data", MountPath: "/data"}},
		Resources:    corev1.ResourceRequirements{Requests: cpu("2"), Limits: cpu("4")},
	}
	withApp := func() *utiltesting.PodWrapper {
		return pod().Containers(app, corev1.Container{Name: "worker", Image: "w",
			Resources: corev1.ResourceRequirements{Requests: cpu("1")}}).
			Volume(utiltesting.EmptyDir("logs")).Volume(utiltesting.EmptyDir("data"))
	}
	cases := map[string]struct {
		pod     *corev1.Pod
		sources []Source
		name    string
		want    corev1.Container
	}{
		"a Container sidecar keeps its restartPolicy unset and sleeps drain.seconds before it stops": {
			pod:     withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("shipper").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).Obj()),
			name:    "shipper",
			want:    corev1.Container{Name: "shipper", Image: "example.com/shipper:1", Lifecycle: preStopSleep(5)},
		},
		"a Container sidecar's own preStop hook is kept": {
			pod: withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(func() sidecarsv1alpha1.SidecarContainer {
				c := sidecar("shipper").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()
				c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/flush"}}}}
				return c
			}()).Obj()),
			name: "shipper",
			want: corev1.Container{Name: "shipper", Image: "example.com/shipper:1",
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/flush"}}}}},
		},
		"a Container sidecar of a set without drain gets no preStop sleep": {
			pod:     withApp().Obj(),
			sources: sourcesOf(set("s").DrainSeconds(0).Sidecar(sidecar("shipper").Mode(sidecarsv1alpha1.SidecarModeContainer).Obj()).Obj()),
			name:    "shipper",
			want:    corev1.Container{Name: "shipper", Image: "example.com/shipper:1"},
		},
		"a resize policy the sidecar declares is kept, the missing one added": {
			pod: withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(func() sidecarsv1alpha1.SidecarContainer {
				c := sidecar("agent").Obj()
				c.ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.NotRequired}}
				return c
			}()).Obj()),
			name: "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				ResizePolicy: []corev1.ContainerResizePolicy{
					{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.NotRequired},
					{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired}}},
		},
		"a Job's pod (restartPolicy Never) resizes memory without a restart": {
			pod: func() *corev1.Pod {
				p := withApp().Obj()
				p.Spec.RestartPolicy = corev1.RestartPolicyNever
				return p
			}(),
			sources: sourcesOf(set("s").Sidecar(sidecar("agent").Obj()).Obj()),
			name:    "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				ResizePolicy: []corev1.ContainerResizePolicy{
					{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
					{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.NotRequired}}},
		},
		"shareVolumes mounts every app container's volumes": {
			pod:     withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("shipper").ShareVolumes().Obj()).Obj()),
			name:    "shipper",
			want: corev1.Container{Name: "shipper", Image: "example.com/shipper:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				VolumeMounts: app.VolumeMounts},
		},
		"shareVolumes keeps the sidecar's own mount at a shared path": {
			pod: withApp().Volume(utiltesting.EmptyDir("own")).Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("shipper").Mode(sidecarsv1alpha1.SidecarModeContainer).
				Mount("own", "/data").ShareVolumes().Obj()).Obj()),
			name: "shipper",
			want: corev1.Container{Name: "shipper", Image: "example.com/shipper:1", Lifecycle: preStopSleep(5), VolumeMounts: []corev1.VolumeMount{
				{Name: "own", MountPath: "/data"}, {Name: "logs", MountPath: "/var/log/app"}}},
		},
		"shareVolumes does not share the mounts of sidecars injected earlier": {
			pod: withApp().Volume(utiltesting.EmptyDir("certs")).Obj(),
			sources: sourcesOf(
				set("a").Priority(1).Sidecar(sidecar("proxy").Mode(sidecarsv1alpha1.SidecarModeContainer).Mount("certs", "/certs").Obj()).Obj(),
				set("b").Sidecar(sidecar("shipper").Mode(sidecarsv1alpha1.SidecarModeContainer).ShareVolumes().Obj()).Obj(),
			),
			name: "shipper",
			want: corev1.Container{Name: "shipper", Image: "example.com/shipper:1", Lifecycle: preStopSleep(5), VolumeMounts: app.VolumeMounts},
		},
		"transferEnv copies the named variables": {
			pod:     withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("agent").TransferEnv("app", "POD_ENV", "SECRET").Obj()).Obj()),
			name:    "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Env: []corev1.EnvVar{app.Env[0], app.Env[2]}},
		},
		"transferEnv with no names copies every variable": {
			pod:     withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("agent").TransferEnv("app").Obj()).Obj()),
			name:    "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Env: app.Env},
		},
		"transferEnv keeps the sidecar's own value": {
			pod:     withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("agent").Env("REGION", "us").TransferEnv("app").Obj()).Obj()),
			name:    "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Env: []corev1.EnvVar{{Name: "REGION", Value: "us"}, app.Env[0], app.Env[2]}},
		},
		"transferEnv from a container the pod lacks copies nothing": {
			pod:     withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("agent").TransferEnv("missing", "POD_ENV").Obj()).Obj()),
			name:    "agent",
			want:    corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
		},
		"resourcesPolicy sums the app containers": {
			pod: withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("agent").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
				CPU: &sidecarsv1alpha1.ResourceRule{Percent: 10}}).Obj()).Obj()),
			name: "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: cpu("300m"), Limits: cpu("400m")}},
		},
		"resourcesPolicy targets only the named containers": {
			pod: withApp().Obj(),
			sources: sourcesOf(set("s").Sidecar(sidecar("agent").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
				TargetContainers: []string{"worker"}, CPU: &sidecarsv1alpha1.ResourceRule{Percent: 50}}).Obj()).Obj()),
			name: "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: cpu("500m")}},
		},
		"resourcesPolicy ignores sidecars injected earlier": {
			pod: withApp().Obj(),
			sources: sourcesOf(
				set("a").Priority(1).Sidecar(sidecar("big").Mode(sidecarsv1alpha1.SidecarModeContainer).
					Resources(cpu("8"), nil).Obj()).Obj(),
				set("b").Sidecar(sidecar("agent").ResourcesPolicy(sidecarsv1alpha1.ResourcesPolicy{
					Aggregate: sidecarsv1alpha1.AggregateMax, CPU: &sidecarsv1alpha1.ResourceRule{Percent: 10}}).Obj()).Obj(),
			),
			name: "agent",
			want: corev1.Container{Name: "agent", Image: "example.com/agent:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: cpu("200m"), Limits: cpu("400m")}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Inject(tc.pod, tc.sources)
			if err != nil {
				t.Fatalf("Inject: %v", err)
			}
			var found *corev1.Container
			for _, cs := range [][]corev1.Container{got.Pod.Spec.InitContainers, got.Pod.Spec.Containers} {
				for i := range cs {
					if cs[i].Name == tc.name {
						found = &cs[i]
					}
				}
			}
			if found == nil {
				t.Fatalf("no container %q in the injected pod", tc.name)
			}
			want := tc.want
			if want.ResizePolicy == nil {
				want.ResizePolicy = defaultResizePolicy
			}
			if diff := cmp.Diff(want, *found, cmpopts.EquateEmpty(),
				cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("container %s (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}
