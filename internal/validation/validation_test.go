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

package validation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	testingutil "github.com/outrigger-dev/outrigger/internal/testing"
)

// errKey is what a test pins of an error: the message wording may improve without
// breaking tests, the kind and place of the error may not.
type errKey struct {
	Type  field.ErrorType
	Field string
}

func keysOf(errs field.ErrorList) []errKey {
	var keys []errKey
	for _, e := range errs {
		keys = append(keys, errKey{e.Type, e.Field})
	}
	return keys
}

func sel(matchLabels map[string]string, exprs ...metav1.LabelSelectorRequirement) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: matchLabels, MatchExpressions: exprs}
}

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

// Local builder steps that internal/testing does not have.

func withPodMetadata(s *sidecarsv1alpha1.SidecarSet, labels, annotations map[string]string) *sidecarsv1alpha1.SidecarSet {
	s.Spec.PodMetadata = &sidecarsv1alpha1.PodMetadata{Labels: labels, Annotations: annotations}
	return s
}

func withUpdateSelector(s *sidecarsv1alpha1.SidecarSet, ls *metav1.LabelSelector) *sidecarsv1alpha1.SidecarSet {
	s.Spec.UpdateStrategy.Selector = ls
	return s
}

func withMounts(c sidecarsv1alpha1.SidecarContainer, volumes ...string) sidecarsv1alpha1.SidecarContainer {
	for _, v := range volumes {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: "/mnt/" + v})
	}
	return c
}

func withTargets(c sidecarsv1alpha1.SidecarContainer, targets ...string) sidecarsv1alpha1.SidecarContainer {
	c.ResourcesPolicy = &sidecarsv1alpha1.ResourcesPolicy{
		TargetContainers: targets,
		CPU:              &sidecarsv1alpha1.ResourceRule{Percent: 10},
	}
	return c
}

func initContainer(name string, volumes ...string) corev1.Container {
	c := corev1.Container{Name: name, Image: "example/init:1"}
	for _, v := range volumes {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: "/mnt/" + v})
	}
	return c
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func configMapVolume(name, configMap string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: configMap},
	}}}
}

func proxy() *testingutil.SidecarWrapper { return testingutil.MakeSidecar("proxy", "example/proxy:1") }

func TestValidateSidecarSet(t *testing.T) {
	invalidValue := "bad value!"
	tests := []struct {
		name         string
		set          *sidecarsv1alpha1.SidecarSet
		old          *sidecarsv1alpha1.SidecarSet
		wantErrs     []errKey
		wantWarnings []string
	}{
		{
			name: "a minimal set is valid",
			set:  testingutil.MakeSidecarSet("mesh").Sidecar(proxy().Obj()).Obj(),
		},
		{
			name: "selector with an unknown operator",
			set: testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", "Near", "web"))).Sidecar(proxy().Obj()).Obj(),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.selector.matchExpressions[0].operator"}},
		},
		{
			name: "selector In without values",
			set: testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", metav1.LabelSelectorOpIn))).Sidecar(proxy().Obj()).Obj(),
			wantErrs: []errKey{{field.ErrorTypeRequired, "spec.selector.matchExpressions[0].values"}},
		},
		{
			name: "namespaceSelector with an invalid label value",
			set: testingutil.MakeSidecarSet("mesh").
				NamespaceSelector(map[string]string{"team": invalidValue}).Sidecar(proxy().Obj()).Obj(),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.namespaceSelector.matchLabels"}},
		},
		{
			name: "updateStrategy.selector with an invalid key",
			set: withUpdateSelector(testingutil.MakeSidecarSet("mesh").Sidecar(proxy().Obj()).Obj(),
				sel(nil, expr("-canary", metav1.LabelSelectorOpExists))),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.updateStrategy.selector.matchExpressions[0].key"}},
		},
		{
			name: "an invalid value in a selector expression is refused on create",
			set: testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", metav1.LabelSelectorOpIn, invalidValue))).Sidecar(proxy().Obj()).Obj(),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.selector.matchExpressions[0].values[0]"}},
		},
		{
			name: "an invalid value already stored in the same selector is kept on update",
			set: testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", metav1.LabelSelectorOpIn, invalidValue))).Sidecar(proxy().Obj()).Obj(),
			old: testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", metav1.LabelSelectorOpIn, invalidValue))).Sidecar(proxy().Obj()).Obj(),
		},
		{
			name: "an invalid value stored in another selector does not excuse a new one",
			set: withUpdateSelector(testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", metav1.LabelSelectorOpIn, invalidValue))).Sidecar(proxy().Obj()).Obj(),
				sel(nil, expr("track", metav1.LabelSelectorOpIn, invalidValue))),
			old: testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", metav1.LabelSelectorOpIn, invalidValue))).Sidecar(proxy().Obj()).Obj(),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.updateStrategy.selector.matchExpressions[0].values[0]"}},
		},
		{
			name: "podMetadata with an invalid label key and value, in key order",
			set: withPodMetadata(testingutil.MakeSidecarSet("mesh").Sidecar(proxy().Obj()).Obj(),
				map[string]string{"z/bad key": "ok", "a": invalidValue}, nil),
			wantErrs: []errKey{
				{field.ErrorTypeInvalid, "spec.podMetadata.labels[a]"},
				{field.ErrorTypeInvalid, "spec.podMetadata.labels[z/bad key]"},
			},
		},
		{
			name: "podMetadata with an invalid annotation key; any annotation value is fine",
			set: withPodMetadata(testingutil.MakeSidecarSet("mesh").Sidecar(proxy().Obj()).Obj(),
				nil, map[string]string{"bad key": "x", "example.com/note": invalidValue}),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.podMetadata.annotations[bad key]"}},
		},
		{
			name: "podMetadata must not set Outrigger's labels or annotations",
			set: withPodMetadata(testingutil.MakeSidecarSet("mesh").Sidecar(proxy().Obj()).Obj(),
				map[string]string{sidecarsv1alpha1.InjectedLabel: "true"},
				map[string]string{"Sidecars.Outrigger.dev/upgrade": "{}", "example.com/owner": "platform"}),
			wantErrs: []errKey{
				{field.ErrorTypeForbidden, "spec.podMetadata.labels[sidecars.outrigger.dev/injected]"},
				{field.ErrorTypeForbidden, "spec.podMetadata.annotations[Sidecars.Outrigger.dev/upgrade]"},
			},
		},
		{
			name: "podMetadata annotations larger than a pod may carry",
			set: withPodMetadata(testingutil.MakeSidecarSet("mesh").Sidecar(proxy().Obj()).Obj(),
				nil, map[string]string{"example.com/blob": strings.Repeat("x", 256<<10)}),
			wantErrs: []errKey{{field.ErrorTypeTooLong, "spec.podMetadata.annotations"}},
		},
		{
			name: "mounts of declared volumes need no warning",
			set: testingutil.MakeSidecarSet("mesh").
				Sidecar(withMounts(proxy().Obj(), "certs")).
				InitContainer(initContainer("setup", "certs")).
				Volume(emptyDir("certs")).Obj(),
		},
		{
			name: "mounts of undeclared volumes are warnings, not errors",
			set: testingutil.MakeSidecarSet("mesh").
				Sidecar(withMounts(proxy().Obj(), "certs", "data")).
				InitContainer(initContainer("setup", "cache")).
				Volume(emptyDir("certs")).Obj(),
			wantWarnings: []string{
				`spec.containers[0].volumeMounts[1]: volume "data" is not declared in spec.volumes; pods without such a volume will be refused at injection`,
				`spec.initContainers[0].volumeMounts[0]: volume "cache" is not declared in spec.volumes; pods without such a volume will be refused at injection`,
			},
		},
		{
			name: "transferEnv from an app container",
			set: testingutil.MakeSidecarSet("mesh").
				Sidecar(proxy().TransferEnv("app", "POD_ENV").Obj()).Obj(),
		},
		{
			name: "transferEnv from a sidecar or an init container of the same set",
			set: testingutil.MakeSidecarSet("mesh").
				Sidecar(proxy().TransferEnv("app").TransferEnv("agent").TransferEnv("setup").Obj()).
				Sidecar(testingutil.MakeSidecar("agent", "example/agent:1").Obj()).
				InitContainer(initContainer("setup")).Obj(),
			wantErrs: []errKey{
				{field.ErrorTypeInvalid, "spec.containers[0].transferEnv[1].sourceContainer"},
				{field.ErrorTypeInvalid, "spec.containers[0].transferEnv[2].sourceContainer"},
			},
		},
		{
			name: "transferEnv from the sidecar itself",
			set: testingutil.MakeSidecarSet("mesh").
				Sidecar(proxy().TransferEnv("proxy").Obj()).Obj(),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.containers[0].transferEnv[0].sourceContainer"}},
		},
		{
			name: "resourcesPolicy targeting app containers",
			set: testingutil.MakeSidecarSet("mesh").
				Sidecar(withTargets(proxy().Obj(), "app", "worker")).Obj(),
		},
		{
			name: "resourcesPolicy targeting a sidecar of the same set",
			set: testingutil.MakeSidecarSet("mesh").
				Sidecar(proxy().Obj()).
				Sidecar(withTargets(testingutil.MakeSidecar("agent", "example/agent:1").Obj(), "app", "proxy")).Obj(),
			wantErrs: []errKey{{field.ErrorTypeInvalid, "spec.containers[1].resourcesPolicy.targetContainers[1]"}},
		},
		{
			name: "errors from several checks come in a fixed order",
			set: withPodMetadata(testingutil.MakeSidecarSet("mesh").
				Selector(sel(nil, expr("app", metav1.LabelSelectorOpExists, "web"))).
				Sidecar(withMounts(proxy().TransferEnv("proxy").Obj(), "data")).Obj(),
				map[string]string{sidecarsv1alpha1.InjectLabel: "false"}, nil),
			wantErrs: []errKey{
				{field.ErrorTypeForbidden, "spec.selector.matchExpressions[0].values"},
				{field.ErrorTypeForbidden, "spec.podMetadata.labels[sidecars.outrigger.dev/inject]"},
				{field.ErrorTypeInvalid, "spec.containers[0].transferEnv[0].sourceContainer"},
			},
			wantWarnings: []string{
				`spec.containers[0].volumeMounts[0]: volume "data" is not declared in spec.volumes; pods without such a volume will be refused at injection`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs, warnings := ValidateSidecarSet(tc.set, tc.old)
			if diff := cmp.Diff(tc.wantErrs, keysOf(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nall: %v", diff, errs)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
