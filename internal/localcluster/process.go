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
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// RunProcess starts binary with args (and env added to this process's), its output to
// out. done receives an error when the process exits by itself, or nil once it has
// stopped because ctx ended: then it gets SIGTERM, and SIGKILL 30 s later. If this
// process dies without cleaning up, the kernel stops it too.
func RunProcess(ctx context.Context, binary string, env []string, out io.Writer, args ...string) (done <-chan error, err error) {
	return runProcess(ctx, nil, binary, env, out, args...)
}

// runProcess is RunProcess that also stores the started process in started, if set.
func runProcess(ctx context.Context, started **os.Process, binary string, env []string, out io.Writer, args ...string) (<-chan error, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	if started != nil {
		*started = cmd.Process
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	result := make(chan error, 1)
	go func() {
		select {
		case err := <-exited:
			result <- fmt.Errorf("%s exited: %v", filepath.Base(binary), err)
		case <-ctx.Done():
			// Stopped on purpose: its exit status after the signal says nothing.
			_ = stop(cmd, exited, 30*time.Second)
			result <- nil
		}
	}()
	return result, nil
}

// stop sends SIGTERM, then SIGKILL after grace, and returns the result of cmd.Wait
// that exited delivers.
func stop(cmd *exec.Cmd, exited <-chan error, grace time.Duration) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		return err
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		return <-exited
	}
}
