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

package admissionpolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// expr is CEL source placed as is into a generated literal.
type expr string

// literal is v — a value decoded from JSON (with UseNumber), possibly holding exprs —
// as a CEL literal. Map values and list elements are wrapped in dyn(): Kubernetes CEL
// refuses mixed-type aggregate literals, and a container mixes strings, numbers, lists
// and maps.
func literal(v any) string {
	switch v := v.(type) {
	case expr:
		return string(v)
	case nil:
		return celNull
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return v.String()
	case string:
		return quote(v)
	case []any:
		// The elements of a list from JSON are of one Go type; dyn() only where an element
		// holds CEL of its own, whose type may differ.
		wrap := slices.ContainsFunc(v, holdsExpr)
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = literal(e)
			if wrap {
				parts[i] = "dyn(" + parts[i] + ")"
			}
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		// A map whose values are all strings is homogeneous as it is; in any other, every
		// value needs dyn() (the API server refuses a dyn first value with others typed).
		wrap := false
		for _, e := range v {
			if _, ok := e.(string); !ok {
				wrap = true
			}
		}
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = quote(k) + ": " + literal(v[k])
			if wrap {
				parts[i] = quote(k) + ": dyn(" + literal(v[k]) + ")"
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	panic(fmt.Sprintf("admissionpolicy: no CEL literal for %T", v))
}

// holdsExpr says whether v is or contains CEL of its own.
func holdsExpr(v any) bool {
	switch v := v.(type) {
	case expr:
		return true
	case []any:
		return slices.ContainsFunc(v, holdsExpr)
	case map[string]any:
		for _, e := range v {
			if holdsExpr(e) {
				return true
			}
		}
	}
	return false
}

// quote is s as a CEL string literal. CEL's escapes are a superset of the ones Go's
// strconv.Quote writes.
func quote(s string) string { return strconv.Quote(s) }

// mustJSONValue is v — an API type, which always marshals — marshalled to JSON and
// decoded into maps, lists and json.Numbers.
func mustJSONValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		panic(err)
	}
	return out
}

// list is a CEL list literal of the given element expressions.
func list(elems []string) string { return "[" + strings.Join(elems, ", ") + "]" }

// stringList is a CEL list literal of string constants.
func stringList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = quote(v)
	}
	return list(q)
}

// celTrue and celFalse are the CEL constants.
const (
	celTrue  = "true"
	celFalse = "false"
	celNull  = "null"
)

// escapePointer is a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
