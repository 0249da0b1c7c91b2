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

// Package admissionpolicy compiles SidecarSets into one MutatingAdmissionPolicy and its
// binding, which inject their sidecars inside the API server — exactly as
// internal/inject does in the pod webhook — so that injection needs no webhook call and
// survives the operator being down. Pure: sources in, objects out.
package admissionpolicy
