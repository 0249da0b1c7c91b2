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

// Package podcache owns what the manager's informer caches keep of a pod: only the
// fields the controllers read, nothing a tenant can grow without bound (foreign
// annotations, many labels, oversized images), with repeated strings and resource lists
// shared between pods and forgotten with them, so ten thousand injected pods fit the
// manager's memory limit whatever tenants write.
package podcache
