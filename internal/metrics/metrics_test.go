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

package metrics

import (
	"testing"
	"time"

	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// TestForgetSidecarSetForgetsEveryFamily: after a set is forgotten, no family the
// manager exports has a series for it, and the other sets' series stay.
func TestForgetSidecarSetForgetsEveryFamily(t *testing.T) {
	for _, set := range []string{"gone", "kept"} {
		ObserveInjection(time.Now(), []string{set}, ResultInjected)
		SidecarSetPods.WithLabelValues(set, "updated").Set(1)
		UpgradesTotal.WithLabelValues(set, UpgradeStarted).Inc()
		PodErrorsTotal.WithLabelValues(set).Inc()
		ReleasedPodsTotal.WithLabelValues(set).Inc()
	}
	ForgetSidecarSet("gone")

	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != sidecarSetLabel {
					continue
				}
				switch l.GetValue() {
				case "gone":
					t.Errorf("%s still has a series for the forgotten set: %v", f.GetName(), m.GetLabel())
				case "kept":
					kept++
				}
			}
		}
	}
	if kept != 5 {
		t.Errorf("the set not forgotten has %d series, want 5 (one per family)", kept)
	}
}
