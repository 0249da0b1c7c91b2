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
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The rotator's cache lists and watches the collections; RBAC grants it the named
// objects only, which the API server matches against a metadata.name field selector.
func TestNamedOnlyNarrowsTheRotatorsListsAndWatchesToItsObjects(t *testing.T) {
	var got url.Values
	server := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
	}))
	defer server.Close()
	rt := namedOnly(map[string]string{
		"/api/v1/namespaces/outrigger-system/secrets":                         "outrigger-webhook-cert",
		"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations": "outrigger-mutating-webhook-configuration",
	})(http.DefaultTransport)

	for _, tc := range []struct {
		name, method, path, query string
		want                      url.Values
	}{{
		name: "the list of the Secrets of the namespace", method: http.MethodGet,
		path: "/api/v1/namespaces/outrigger-system/secrets", query: "limit=500&resourceVersion=0",
		want: url.Values{"limit": {"500"}, "resourceVersion": {"0"}, "fieldSelector": {"metadata.name=outrigger-webhook-cert"}},
	}, {
		name: "a watch of the webhook configurations", method: http.MethodGet,
		path: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", query: "watch=true&allowWatchBookmarks=true",
		want: url.Values{"watch": {"true"}, "allowWatchBookmarks": {"true"}, "fieldSelector": {"metadata.name=outrigger-mutating-webhook-configuration"}},
	}, {
		name: "an API server behind a path prefix", method: http.MethodGet,
		path: "/k8s/clusters/c-1/api/v1/namespaces/outrigger-system/secrets", query: "",
		want: url.Values{"fieldSelector": {"metadata.name=outrigger-webhook-cert"}},
	}, {
		name: "a field selector of the client's own is kept", method: http.MethodGet,
		path: "/api/v1/namespaces/outrigger-system/secrets", query: "fieldSelector=type%3DOpaque",
		want: url.Values{"fieldSelector": {"type=Opaque,metadata.name=outrigger-webhook-cert"}},
	}, {
		name: "the Secrets of another namespace are not the rotator's", method: http.MethodGet,
		path: "/api/v1/namespaces/default/secrets", query: "limit=500",
		want: url.Values{"limit": {"500"}},
	}, {
		name: "a get of one object names it already", method: http.MethodGet,
		path: "/api/v1/namespaces/outrigger-system/secrets/outrigger-webhook-cert", query: "",
		want: url.Values{},
	}, {
		name: "writes are left as they are", method: http.MethodPut,
		path: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", query: "fieldManager=outrigger",
		want: url.Values{"fieldManager": {"outrigger"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			req, err := http.NewRequest(tc.method, server.URL+tc.path+"?"+tc.query, http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("query the API server received (-want +got):\n%s", diff)
			}
			if req.URL.RawQuery != tc.query {
				t.Errorf("the caller's request was changed: query %q, want %q", req.URL.RawQuery, tc.query)
			}
		})
	}
}
