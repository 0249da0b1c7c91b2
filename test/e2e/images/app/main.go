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

// Command app is the e2e test application (outrigger.test/app). It serves HTTP on
// $PORT (8080), records its start time, and on SIGTERM logs and exits after
// $TERM_DELAY (1s), so tests can see termination order.
//
//	GET /healthz   200 "ok"
//	GET /started   the start time (RFC 3339, nanoseconds), also written to $START_FILE
//	GET /routes    the IPv4 routing table of the pod, as app routes prints it
//
// "app routes" prints the pod's routing table (read from /proc/net/route, in the format
// of "ip route") and exits: the e2e check that no route leaves the pod subnet.
// "app dial HOST:PORT..." tries a TCP connection to each (2s timeout) and prints
// "HOST:PORT ok" or "HOST:PORT error: ..."; it exits 0 either way.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/outrigger-dev/outrigger/test/e2e/images/internal/serve"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	log.SetPrefix("app: ")
	if len(os.Args) > 1 && os.Args[1] == "routes" {
		out, err := routes("/proc/net/route")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(out)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "dial" {
		for _, addr := range os.Args[2:] {
			conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				fmt.Printf("%s error: %v\n", addr, err)
				continue
			}
			_ = conn.Close()
			fmt.Printf("%s ok\n", addr)
		}
		return
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	started := time.Now().UTC().Format(time.RFC3339Nano)
	if f := serve.Env("START_FILE", "/tmp/started"); f != "" {
		if err := os.WriteFile(f, []byte(started+"\n"), 0o644); err != nil {
			log.Printf("writing the start time to %s: %v", f, err)
		}
	}
	termDelay, err := time.ParseDuration(serve.Env("TERM_DELAY", "1s"))
	if err != nil {
		return fmt.Errorf("TERM_DELAY: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/started", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, started) })
	mux.HandleFunc("/routes", func(w http.ResponseWriter, _ *http.Request) {
		out, err := routes("/proc/net/route")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprint(w, out)
	})
	srv := &http.Server{Addr: ":" + serve.Env("PORT", "8080"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	log.Printf("version %s started at %s, serving on %s", version, started, srv.Addr)
	return serve.UntilTerminated(srv, termDelay, nil)
}

// routes renders /proc/net/route like "ip route": one line per route, "default via ..."
// for a default route. The file lists the routes of the reader's network namespace.
func routes(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	var b strings.Builder
	s := bufio.NewScanner(f)
	s.Scan() // header
	for s.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
		fields := strings.Fields(s.Text())
		if len(fields) < 8 {
			continue
		}
		dst, gw, mask := hexIP(fields[1]), hexIP(fields[2]), hexIP(fields[7])
		flags, _ := strconv.ParseUint(fields[3], 16, 32)
		ones, _ := net.IPMask(mask.To4()).Size()
		prefix := fmt.Sprintf("%s/%d", dst, ones)
		if ones == 0 {
			prefix = "default"
		}
		line := prefix
		if flags&0x2 != 0 { // RTF_GATEWAY
			line += " via " + gw.String()
		}
		line += " dev " + fields[0]
		if flags&0x2 == 0 {
			line += " scope link"
		}
		b.WriteString(line + "\n")
	}
	return b.String(), s.Err()
}

// hexIP decodes an address of /proc/net/route: 8 hex digits, host (little-endian) order.
func hexIP(s string) net.IP {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 4 {
		return net.IPv4zero
	}
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, binary.LittleEndian.Uint32(raw))
	return ip
}
