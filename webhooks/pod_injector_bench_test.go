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

package webhooks

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	utiltesting "github.com/outrigger-dev/outrigger/internal/testing"
)

// BenchmarkInject measures the pod webhook's work per pod — read the namespace, list
// the SidecarSets, match them all, inject the ones that match — with 1, 10 and 100
// SidecarSets in the cache. A typical pod: two app containers, one init container,
// a few volumes; a tenth of the sets select it. Besides ns/op it reports p50/p99.
func BenchmarkInject(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("sets=%d", n), func(b *testing.B) {
			injector := benchInjector(benchReader(b, n))
			pod := benchPod()
			ctx := context.Background()
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p := pod.DeepCopy()
				start := time.Now()
				if err := injector.Default(ctx, p); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
				if len(p.Spec.InitContainers) < 2 {
					b.Fatal("the benchmark pod was not injected")
				}
			}
			b.StopTimer()
			slices.Sort(durations)
			b.ReportMetric(float64(durations[len(durations)*50/100].Microseconds()), "p50-µs")
			b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// benchReader stands in for the manager's informer cache: objects in memory, handed
// out as the cache's reader does (deep copies, unless the caller asks for none).
func benchReader(b testing.TB, sets int) *memoryReader {
	if b != nil {
		b.Helper()
	}
	r := &memoryReader{namespaces: map[string]*corev1.Namespace{
		"shop": utiltesting.MakeNamespace("shop", map[string]string{"team": "web"}),
	}}
	for i := range sets {
		selector := map[string]string{"app": fmt.Sprintf("other-%d", i)}
		if i%10 == 0 {
			selector = map[string]string{"app": "web"}
		}
		set := utiltesting.MakeSidecarSet(fmt.Sprintf("set-%03d", i)).MatchLabels(selector).
			Priority(int32(i % 3)).
			Volume(utiltesting.EmptyDir(fmt.Sprintf("conf-%d", i))).
			Sidecar(utiltesting.MakeSidecar(fmt.Sprintf("proxy-%d", i), "example.com/proxy:1").
				Mount(fmt.Sprintf("conf-%d", i), "/etc/proxy").Obj()).
			Sidecar(utiltesting.MakeSidecar(fmt.Sprintf("agent-%d", i), "example.com/agent:1").
				Mode(sidecarsv1alpha1.SidecarModeContainer).TransferEnv("app", "POD_ENV").ShareVolumes().Obj()).
			Obj()
		set.UID = types.UID(fmt.Sprintf("uid-%d", i))
		set.Generation = 1
		r.sets = append(r.sets, *set)
	}
	return r
}

type memoryReader struct {
	namespaces map[string]*corev1.Namespace
	sets       []sidecarsv1alpha1.SidecarSet
}

func (r *memoryReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ns, ok := r.namespaces[key.Name]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), key.Name)
	}
	meta, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return fmt.Errorf("memoryReader: unexpected Get of %T", obj)
	}
	ns.ObjectMeta.DeepCopyInto(&meta.ObjectMeta)
	return nil
}

// List is never called: the injector lists sets through its SetLister (memorySets).
func (r *memoryReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return fmt.Errorf("memoryReader: unexpected List")
}

// memorySets lists benchReader's sets as the cache's store would: its own objects.
type memorySets struct{ r *memoryReader }

func (s memorySets) List() []*sidecarsv1alpha1.SidecarSet {
	out := make([]*sidecarsv1alpha1.SidecarSet, 0, len(s.r.sets))
	for i := range s.r.sets {
		out = append(out, &s.r.sets[i])
	}
	return out
}

// benchInjector is a PodInjector reading benchReader's objects.
func benchInjector(reader *memoryReader) *PodInjector {
	return &PodInjector{Reader: reader, Sets: memorySets{reader}, OperatorNamespace: "outrigger-system"}
}

func benchPod() *corev1.Pod {
	return utiltesting.MakePod("web-1", "shop").
		Containers(
			corev1.Container{Name: "app", Image: "example.com/app:1",
				Env:          []corev1.EnvVar{{Name: "POD_ENV", Value: "prod"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
			corev1.Container{Name: "cache", Image: "example.com/cache:1"}).
		InitContainer(corev1.Container{Name: "migrate", Image: "example.com/migrate:1"}).
		Volume(utiltesting.EmptyDir("data")).
		Obj()
}
