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

package localcluster

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretVolumeStandIn does for a manager running outside a pod what the kubelet's
// secret volume does for one inside: until ctx ends, it keeps the files of the Secret
// key in dir (one file per data key, replaced atomically when they change). It is a
// stand-in, used by `make run` and the integration suites, never by the operator.
func SecretVolumeStandIn(ctx context.Context, c client.Reader, key client.ObjectKey, dir string, onError func(error)) {
	_ = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		secret := &corev1.Secret{}
		if err := c.Get(ctx, key, secret); err != nil {
			return false, nil
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			onError(err)
			return false, nil
		}
		for name, data := range secret.Data {
			path := filepath.Join(dir, name)
			if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
				continue
			}
			// Write then rename, so a reader never sees half a file.
			err := os.WriteFile(path+".tmp", data, 0o600)
			if err == nil {
				err = os.Rename(path+".tmp", path)
			}
			if err != nil {
				onError(err)
			}
		}
		return false, nil
	})
}
