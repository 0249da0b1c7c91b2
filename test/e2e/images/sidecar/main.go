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

// Command sidecar is the e2e test sidecar (outrigger.test/sidecar:v1 and :v2, the same
// program built with -ldflags "-X main.version=v1" or v2). It serves HTTP on $PORT
// (8081), becomes ready $READY_DELAY (0s) after it starts, and on SIGTERM logs and
// exits after $TERM_DELAY (1s). $VERSION, when set, overrides the built-in version.
//
//	GET /ready     503 until ready, then 200 "ready <version>"
//	GET /healthz   200 "ok"
//	GET /version   the version
//
// Every line it logs carries the version, so pod logs show which image ran.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/outrigger-dev/outrigger/test/e2e/images/internal/serve"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() {
	if v := os.Getenv("VERSION"); v != "" {
		version = v
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	log.SetPrefix("sidecar " + version + ": ")
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	readyDelay, err := time.ParseDuration(serve.Env("READY_DELAY", "0s"))
	if err != nil {
		return fmt.Errorf("READY_DELAY: %w", err)
	}
	termDelay, err := time.ParseDuration(serve.Env("TERM_DELAY", "1s"))
	if err != nil {
		return fmt.Errorf("TERM_DELAY: %w", err)
	}

	// The sidecar is ready from readyDelay after its start until SIGTERM, never after.
	const starting, ready, stopping = 0, 1, 2
	var state atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if state.Load() != ready {
			http.Error(w, "not ready "+version, http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ready", version)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, version) })
	srv := &http.Server{Addr: ":" + serve.Env("PORT", "8081"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	log.Printf("started, serving on %s, ready in %s", srv.Addr, readyDelay)
	readyTimer := time.AfterFunc(readyDelay, func() {
		if state.CompareAndSwap(starting, ready) {
			log.Printf("ready")
		}
	})
	return serve.UntilTerminated(srv, termDelay, func() {
		readyTimer.Stop()
		state.Store(stopping)
	})
}
