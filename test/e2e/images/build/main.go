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

// Command build writes the e2e test images as OCI archives (see package images):
//
//	go run ./test/e2e/images/build -out bin/e2e-images
//
// Run it from the module root. It prints one line per image: its name and archive.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

func main() {
	out := flag.String("out", "bin/e2e-images", "Directory to write the image archives to.")
	root := flag.String("module-root", ".", "Root of the outrigger module.")
	flag.Parse()
	paths, err := images.Build(context.Background(), *root, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build images:", err)
		os.Exit(1)
	}
	for i, p := range paths {
		fmt.Println(images.All[i].Ref, p)
	}
}
