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

package controllers

import (
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// recordingQueue records how each request was added.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	added []string
}

func (q *recordingQueue) Add(r reconcile.Request) { q.added = append(q.added, r.Name+" now") }
func (q *recordingQueue) AddAfter(r reconcile.Request, d time.Duration) {
	q.added = append(q.added, r.Name+" after "+d.String())
}

// TestWake: a pod event moves a set that is rolling out on at once; the other sets only
// count, so their passes wait countDelay, and the queue keeps one per set.
func TestWake(t *testing.T) {
	q := &recordingQueue{}
	rolling := func(set string) bool { return set == "rolling" }
	req := func(name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}
	}
	wake(q, rolling, req("rolling"), req("idle"))
	want := []string{"rolling now", "idle after " + countDelay.String()}
	if diff := gocmp.Diff(want, q.added); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
}
