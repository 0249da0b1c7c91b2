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
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Pods produced by a SidecarSet are validated by the API server itself: the webhook
// creates ProbePod with dryRun=All and maps the field errors back with PodErrors. So
// Outrigger holds no second copy of Kubernetes' pod validation (which lives in
// k8s.io/kubernetes, not importable as a library), and the check is exactly that of the
// cluster's version and feature gates.

// ProbePod is the pod the set's injection makes of a minimal pod in namespace: one app
// container, plus an emptyDir for each volume the set's containers mount without
// declaring it (such mounts are allowed: the selected pods may bring the volume). It is
// opted out of injection, so only this set's containers are in it.
func ProbePod(set *sidecarsv1alpha1.SidecarSet, namespace string) (*corev1.Pod, error) {
	own := ownContainers(&set.Spec)
	app := "app"
	for i := 0; own.Has(app); i++ {
		app = "app-" + strconv.Itoa(i)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "outrigger-probe-",
			Namespace:    namespace,
			Labels:       map[string]string{sidecarsv1alpha1.InjectLabel: "false"},
		},
		Spec: corev1.PodSpec{
			Containers:                   []corev1.Container{{Name: app, Image: "outrigger.invalid/probe:0"}},
			AutomountServiceAccountToken: new(false),
		},
	}
	declared := sets.New[string]()
	for _, v := range set.Spec.Volumes {
		declared.Insert(v.Name)
	}
	for _, name := range mountedVolumes(&set.Spec) {
		// PodErrors maps errors of these volumes to the mount that named them.
		if !declared.Has(name) {
			declared.Insert(name)
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
	}
	res, err := inject.Inject(pod, []inject.Source{inject.SourceOf(set)})
	if err != nil {
		return nil, err
	}
	// The probe tells what the set makes of pods, not what Outrigger records on them.
	delete(res.Pod.Annotations, sidecarsv1alpha1.InjectedAnnotation)
	delete(res.Pod.Labels, sidecarsv1alpha1.InjectedLabel)
	return res.Pod, nil
}

func ownContainers(spec *sidecarsv1alpha1.SidecarSetSpec) sets.Set[string] {
	own := sets.New[string]()
	for i := range spec.Containers {
		own.Insert(spec.Containers[i].Name)
	}
	for i := range spec.InitContainers {
		own.Insert(spec.InitContainers[i].Name)
	}
	return own
}

func mountedVolumes(spec *sidecarsv1alpha1.SidecarSetSpec) []string {
	var names []string
	add := func(c *corev1.Container) {
		for _, m := range c.VolumeMounts {
			names = append(names, m.Name)
		}
		for _, d := range c.VolumeDevices {
			names = append(names, d.Name)
		}
	}
	for i := range spec.InitContainers {
		add(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		add(&spec.Containers[i].Container)
	}
	return names
}

// firstMount is the path of the first mount (or device) of volume name in spec.
func firstMount(spec *sidecarsv1alpha1.SidecarSetSpec, name string) *field.Path {
	find := func(p *field.Path, c *corev1.Container) *field.Path {
		if j := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == name }); j >= 0 {
			return p.Child("volumeMounts").Index(j)
		}
		if j := slices.IndexFunc(c.VolumeDevices, func(d corev1.VolumeDevice) bool { return d.Name == name }); j >= 0 {
			return p.Child("volumeDevices").Index(j)
		}
		return nil
	}
	for i := range spec.InitContainers {
		if p := find(specPath.Child("initContainers").Index(i), &spec.InitContainers[i]); p != nil {
			return p
		}
	}
	for i := range spec.Containers {
		if p := find(specPath.Child("containers").Index(i), &spec.Containers[i].Container); p != nil {
			return p
		}
	}
	return nil
}

var podField = regexp.MustCompile(`^spec\.(initContainers|containers|volumes)\[(\d+)\](.*)$`)

// PodErrors maps the API server's field errors on probe (the causes of its Invalid
// status) to the set's fields: a container's to spec.containers[i] or
// spec.initContainers[i], a volume's to spec.volumes[i], the pod's labels and
// annotations to spec.podMetadata. Anything else stays on spec, naming the pod's field.
func PodErrors(set *sidecarsv1alpha1.SidecarSet, probe *corev1.Pod, causes []metav1.StatusCause) field.ErrorList {
	var errs field.ErrorList
	for _, c := range causes {
		t := field.ErrorType(c.Type)
		detail := c.Message
		if detail == t.String() {
			detail = ""
		} else {
			detail = strings.TrimPrefix(detail, t.String()+": ")
		}
		path, ok := setField(&set.Spec, probe, c.Field)
		if !ok {
			path = specPath.String()
			detail = fmt.Sprintf("a pod this SidecarSet is injected into would be invalid: %s: %s", c.Field, c.Message)
			t = field.ErrorTypeInvalid
		}
		errs = append(errs, &field.Error{Type: t, Field: path, BadValue: field.OmitValueType{}, Detail: detail})
	}
	return errs
}

func setField(spec *sidecarsv1alpha1.SidecarSetSpec, probe *corev1.Pod, podPath string) (string, bool) {
	for _, md := range []string{"labels", "annotations"} {
		if rest, ok := strings.CutPrefix(podPath, "metadata."+md); ok {
			return specPath.Child("podMetadata", md).String() + rest, true
		}
	}
	m := podField.FindStringSubmatch(podPath)
	if m == nil {
		return "", false
	}
	k, err := strconv.Atoi(m[2])
	if err != nil {
		return "", false
	}
	var name string
	switch m[1] {
	case "initContainers":
		if k >= len(probe.Spec.InitContainers) {
			return "", false
		}
		name = probe.Spec.InitContainers[k].Name
	case "containers":
		if k >= len(probe.Spec.Containers) {
			return "", false
		}
		name = probe.Spec.Containers[k].Name
	case "volumes":
		if k >= len(probe.Spec.Volumes) {
			return "", false
		}
		name = probe.Spec.Volumes[k].Name
		if i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == name }); i >= 0 {
			return specPath.Child("volumes").Index(i).String() + m[3], true
		}
		// A volume ProbePod provided for a mount: the mount's name is at fault.
		if p := firstMount(spec, name); p != nil {
			return p.Child("name").String(), true
		}
		return "", false
	}
	if i := slices.IndexFunc(spec.Containers, func(c sidecarsv1alpha1.SidecarContainer) bool { return c.Name == name }); i >= 0 {
		return specPath.Child("containers").Index(i).String() + m[3], true
	}
	if i := slices.IndexFunc(spec.InitContainers, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
		return specPath.Child("initContainers").Index(i).String() + m[3], true
	}
	return "", false
}

// Ratchet returns the errors of errs that old (the stored object's errors) does not
// have, by field and detail: a rule refuses what an update introduces, not what the
// object already had, so an object stored before the rule (or before another object
// changed) can still be updated — paused, fixed, its finalizers removed.
func Ratchet(errs, old field.ErrorList) field.ErrorList {
	seen := sets.New[string]()
	for _, e := range old {
		seen.Insert(errorKey(e))
	}
	var fresh field.ErrorList
	for _, e := range errs {
		if !seen.Has(errorKey(e)) {
			fresh = append(fresh, e)
		}
	}
	return fresh
}

// errorKey identifies an error by where it is and what it says; a conflict's detail
// names the other set and its field.
func errorKey(e *field.Error) string {
	return e.Field + "\x00" + e.Detail
}
