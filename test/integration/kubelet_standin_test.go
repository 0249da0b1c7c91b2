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

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// startKubeletStandIn plays the kubelet's part for the pods of one namespace, since
// envtest runs no node. It is a stand-in, not a kubelet: it reports every container
// running and ready on the image its spec names (a new image gets a new imageID, as a
// restart on it would), run-to-completion init containers as completed, resized
// resources as applied, and computes ContainersReady and Ready from the containers and
// the readiness gates as the kubelet does. The e2e layer runs the real kubelet.
// Pods labelled notReadyLabel keep their app container not ready. An image whose tag is
// brokenTag never pulls: its container waits in ImagePullBackOff, never ready, as the
// kubelet reports a tag that does not exist. Pods labelled succeededLabel have run to
// completion, as a Job's pod does: phase Succeeded, every container terminated.
func startKubeletStandIn(namespace string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			var pods corev1.PodList
			if err := k8sClient.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
				continue
			}
			for i := range pods.Items {
				pod := &pods.Items[i]
				want := standInStatus(pod)
				if equality.Semantic.DeepEqual(want, pod.Status) {
					continue
				}
				pod.Status = want
				// A conflict means someone (the controller) wrote first: next tick.
				_ = k8sClient.Status().Update(ctx, pod)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

const (
	notReadyLabel  = "stand-in/not-ready"
	succeededLabel = "stand-in/succeeded"
	brokenTag      = ":broken"
)

func imageID(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func standInStatus(pod *corev1.Pod) corev1.PodStatus {
	status := *pod.Status.DeepCopy()
	status.Phase = corev1.PodRunning
	started := metav1.NewTime(pod.CreationTimestamp.Time)
	containerStatus := func(c corev1.Container, ready bool, old []corev1.ContainerStatus) corev1.ContainerStatus {
		st := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), Ready: ready, Started: new(true),
			State:     corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
			Resources: c.Resources.DeepCopy(),
		}
		if i := slices.IndexFunc(old, func(o corev1.ContainerStatus) bool { return o.Name == c.Name }); i >= 0 {
			st.RestartCount = old[i].RestartCount
			if old[i].ImageID != "" && old[i].ImageID != st.ImageID {
				st.RestartCount++
			}
		}
		if strings.HasSuffix(c.Image, brokenTag) {
			st.ImageID, st.Ready, st.Started = "", false, new(false)
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff",
				Message: `Back-off pulling image "` + c.Image + `": not found`}}
		}
		return st
	}
	var inits, containers []corev1.ContainerStatus
	allReady := true
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			st := containerStatus(c, true, pod.Status.InitContainerStatuses)
			allReady = allReady && st.Ready // sidecars count towards the pod's readiness
			inits = append(inits, st)
			continue
		}
		st := containerStatus(c, false, pod.Status.InitContainerStatuses)
		st.Started = new(false)
		st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
		inits = append(inits, st)
	}
	for _, c := range pod.Spec.Containers {
		st := containerStatus(c, pod.Labels[notReadyLabel] == "", pod.Status.ContainerStatuses)
		allReady = allReady && st.Ready
		containers = append(containers, st)
	}
	status.InitContainerStatuses, status.ContainerStatuses = inits, containers
	if pod.Labels[succeededLabel] != "" {
		status.Phase, allReady = corev1.PodSucceeded, false
		for _, list := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
			for i := range list {
				list[i].Ready, list[i].Started = false, new(false)
				list[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
			}
		}
	}

	gatesTrue := true
	for _, g := range pod.Spec.ReadinessGates {
		gatesTrue = gatesTrue && slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
			return c.Type == g.ConditionType && c.Status == corev1.ConditionTrue
		})
	}
	setStandInCondition(&status, corev1.PodInitialized, true)
	setStandInCondition(&status, corev1.ContainersReady, allReady)
	setStandInCondition(&status, corev1.PodReady, allReady && gatesTrue)
	return status
}

func setStandInCondition(status *corev1.PodStatus, t corev1.PodConditionType, ok bool) {
	s := corev1.ConditionFalse
	if ok {
		s = corev1.ConditionTrue
	}
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			if status.Conditions[i].Status != s {
				status.Conditions[i].Status = s
				status.Conditions[i].LastTransitionTime = metav1.Now()
			}
			return
		}
	}
	status.Conditions = append(status.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now()})
}
