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
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() {
	if v := os.Getenv("VERSION"); v != "" {
		version = v
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	log.SetPrefix("sidecar " + version + ": ")
	if err := serve(); err != nil {
		log.Fatal(err)
	}
}

func serve() error {
	readyDelay, err := time.ParseDuration(env("READY_DELAY", "0s"))
	if err != nil {
		return fmt.Errorf("READY_DELAY: %w", err)
	}
	termDelay, err := time.ParseDuration(env("TERM_DELAY", "1s"))
	if err != nil {
		return fmt.Errorf("TERM_DELAY: %w", err)
	}

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready "+version, http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ready", version)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, version) })
	srv := &http.Server{Addr: ":" + env("PORT", "8081"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("started, serving on %s, ready in %s", srv.Addr, readyDelay)
	readyTimer := time.NewTimer(readyDelay)
	defer readyTimer.Stop()
	for stopping := false; !stopping; {
		select {
		case err := <-errc:
			return err
		case <-readyTimer.C:
			ready.Store(true)
			log.Printf("ready")
		case <-ctx.Done():
			stopping = true
		}
	}
	ready.Store(false)
	log.Printf("SIGTERM received, exiting in %s", termDelay)
	time.Sleep(termDelay)
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Printf("exited")
	return nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
