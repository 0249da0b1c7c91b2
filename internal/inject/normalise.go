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
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The API server defaults a pod's fields between two invocations of the webhook (after
// each mutating webhook's patch) and before a pod copied from a stored one is sent
// again. To compare what Inject builds with what a pod holds, both are given those
// defaults first (Kubernetes' SetDefaults_* for containers and volumes, the fields a
// sidecar can carry). Defaulting is idempotent, so a pod's container normalises to
// itself. A default missing here makes a copy untrusted, never a forgery trusted.

const defaultMode int32 = 0o644

// The ServiceAccount admission plugin's token volume (kube-api-access-<random>) and
// where it mounts it.
const (
	serviceAccountVolumePrefix = "kube-api-access-"
	serviceAccountMountPath    = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// normalContainer is c with the API server's defaults.
func normalContainer(c *corev1.Container) *corev1.Container {
	c = c.DeepCopy()
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		normalProbe(p)
	}
	if c.Lifecycle != nil {
		normalHandler(c.Lifecycle.PostStart)
		normalHandler(c.Lifecycle.PreStop)
	}
	// The ServiceAccount admission plugin mounts the pod's API token into every
	// container, sidecars too, and runs again when a webhook is reinvoked.
	c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.MountPath == serviceAccountMountPath && strings.HasPrefix(m.Name, serviceAccountVolumePrefix)
	})
	if len(c.VolumeMounts) == 0 {
		c.VolumeMounts = nil
	}
	// A limit without a request makes the request (SetDefaults_Pod).
	for name, limit := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[name] = limit.DeepCopy()
		}
	}
	return c
}

// defaultPullPolicy is Always for an image without a tag or tagged latest (and no
// digest), IfNotPresent otherwise.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 || name[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func normalProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	normalHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = new("")
	}
}

func normalHandler(h *corev1.LifecycleHandler) {
	if h != nil {
		normalHTTPGet(h.HTTPGet)
	}
}

func normalHTTPGet(g *corev1.HTTPGetAction) {
	if g == nil {
		return
	}
	if g.Path == "" {
		g.Path = "/"
	}
	if g.Scheme == "" {
		g.Scheme = corev1.URISchemeHTTP
	}
}

// normalVolume is v with the API server's defaults.
func normalVolume(v *corev1.Volume) *corev1.Volume {
	v = v.DeepCopy()
	switch s := &v.VolumeSource; {
	case s.Secret != nil && s.Secret.DefaultMode == nil:
		s.Secret.DefaultMode = new(defaultMode)
	case s.ConfigMap != nil && s.ConfigMap.DefaultMode == nil:
		s.ConfigMap.DefaultMode = new(defaultMode)
	case s.DownwardAPI != nil:
		if s.DownwardAPI.DefaultMode == nil {
			s.DownwardAPI.DefaultMode = new(defaultMode)
		}
		normalDownward(s.DownwardAPI.Items)
	case s.Projected != nil:
		if s.Projected.DefaultMode == nil {
			s.Projected.DefaultMode = new(defaultMode)
		}
		for i := range s.Projected.Sources {
			if d := s.Projected.Sources[i].DownwardAPI; d != nil {
				normalDownward(d.Items)
			}
			if t := s.Projected.Sources[i].ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
				t.ExpirationSeconds = new(int64(3600))
			}
		}
	case s.HostPath != nil && s.HostPath.Type == nil:
		s.HostPath.Type = new(corev1.HostPathUnset)
	}
	return v
}

func normalDownward(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if f := items[i].FieldRef; f != nil && f.APIVersion == "" {
			f.APIVersion = "v1"
		}
	}
}
