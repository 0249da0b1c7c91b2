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

package cacheview

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// View reads the objects of one informer, typed T. What it returns is the store's own
// objects: never modify them; copy one before writing it.
type View[T client.Object] struct {
	indexer toolscache.Indexer
}

// New returns a View of c's informer for obj, with indexers added to it. Called before
// the cache starts, it creates the informer, which the cache then starts and syncs.
func New[T client.Object](ctx context.Context, c cache.Cache, obj T, indexers toolscache.Indexers) (*View[T], error) {
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, err
	}
	if len(indexers) > 0 {
		if err := inf.AddIndexers(indexers); err != nil {
			return nil, err
		}
	}
	withIndexer, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
	if !ok {
		return nil, fmt.Errorf("the informer for %T (%T) exposes no store", obj, inf)
	}
	return Of[T](withIndexer.GetIndexer()), nil
}

// Of returns a View of an indexer.
func Of[T client.Object](indexer toolscache.Indexer) *View[T] {
	return &View[T]{indexer: indexer}
}

// List returns every object.
func (v *View[T]) List() []T {
	return typed[T](v.indexer.List())
}

// Get returns the object of key (namespace/name, or name for cluster-scoped objects).
func (v *View[T]) Get(key string) (T, bool) {
	item, ok, err := v.indexer.GetByKey(key)
	obj, typedOK := item.(T)
	return obj, ok && err == nil && typedOK
}

// ByIndex returns the objects whose index named index has value.
func (v *View[T]) ByIndex(index, value string) ([]T, error) {
	items, err := v.indexer.ByIndex(index, value)
	if err != nil {
		return nil, err
	}
	return typed[T](items), nil
}

func typed[T client.Object](items []any) []T {
	out := make([]T, 0, len(items))
	for _, item := range items {
		if obj, ok := item.(T); ok {
			out = append(out, obj)
		}
	}
	return out
}

// LabelIndex is the name of the index LabelIndexers adds: every label as key=value.
const LabelIndex = "outrigger.labels"

// LabelIndexers index objects by each of their labels, so Selecting finds the objects
// a selector selects without testing every object against it.
func LabelIndexers() toolscache.Indexers {
	return toolscache.Indexers{LabelIndex: func(obj any) ([]string, error) {
		o, ok := obj.(client.Object)
		if !ok {
			return nil, nil
		}
		out := make([]string, 0, len(o.GetLabels()))
		for k, v := range o.GetLabels() {
			out = append(out, labelKey(k, v))
		}
		return out, nil
	}}
}

func labelKey(k, v string) string { return k + "=" + v }

// Selecting returns the objects sel selects. With the View's LabelIndex, it reads only
// the objects carrying one of the values of sel's most selective equality or set
// requirement; without one (a selector of Exists, NotIn, DoesNotExist only) it tests
// every object.
func (v *View[T]) Selecting(sel labels.Selector) ([]T, error) {
	candidates, err := v.candidates(sel)
	if err != nil {
		return nil, err
	}
	out := candidates[:0]
	for _, obj := range candidates {
		if sel.Matches(labels.Set(obj.GetLabels())) {
			out = append(out, obj)
		}
	}
	return out, nil
}

func (v *View[T]) candidates(sel labels.Selector) ([]T, error) {
	if _, indexed := v.indexer.GetIndexers()[LabelIndex]; !indexed {
		return v.List(), nil
	}
	reqs, selectable := sel.Requirements()
	if !selectable {
		return nil, nil // a selector that selects nothing
	}
	var best []any
	found := false
	for _, req := range reqs {
		switch req.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
		default:
			continue
		}
		var items []any
		for value := range req.Values() {
			matched, err := v.indexer.ByIndex(LabelIndex, labelKey(req.Key(), value))
			if err != nil {
				return nil, err
			}
			items = append(items, matched...)
		}
		if !found || len(items) < len(best) {
			best, found = items, true
		}
	}
	if !found {
		return v.List(), nil
	}
	return typed[T](best), nil
}
