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

package manifests

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// grant is one row of kubectl auth can-i --list: a resource, the names it is limited
// to, and the verbs, sorted (kubectl prints them in the order the rules merge).
type grant struct{ resource, names, verbs string }

func sortedWords(s string) string {
	w := strings.Fields(s)
	slices.Sort(w)
	return strings.Join(w, " ")
}

// goldenGrants reads test/e2e/testdata/<file>, which the deployed e2e suite compares
// with kubectl auth can-i --list as the manager's ServiceAccount: its resource rows, and
// the non-resource URLs apart.
func goldenGrants(t *testing.T, file string) (grants []grant, urls []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "e2e", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	list := func(s string) string { return strings.Trim(s, "[]") }
	for line := range strings.Lines(string(data)) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), " | ")
		if len(f) != 4 {
			t.Fatalf("%s: row %q does not have 4 columns", file, line)
		}
		if f[0] == "" {
			urls = append(urls, strings.Fields(list(f[1]))...)
			continue
		}
		grants = append(grants, grant{f[0], list(f[2]), sortedWords(list(f[3]))})
	}
	slices.SortFunc(grants, func(a, b grant) int { return strings.Compare(a.resource+a.names, b.resource+b.names) })
	slices.Sort(urls)
	return grants, slices.Compact(urls)
}

// docsGrants reads docs/install.md's "What the installation grants": the table, as the
// rows kubectl prints in another namespace and in the operator's, and the URLs.
func docsGrants(t *testing.T) (other, operator []grant, urls []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## What the installation grants\n")
	if !ok {
		t.Fatal(`docs/install.md has no section "What the installation grants"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	code := regexp.MustCompile("`([^`]*)`")
	unquote := func(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "`", "")) }
	for line := range strings.Lines(section) {
		switch {
		case strings.HasPrefix(line, "| `"):
			f := strings.Split(line, "|")
			if len(f) != 7 {
				t.Fatalf("docs/install.md: row %q does not have 5 columns", line)
			}
			resource, names, everywhere, also := unquote(f[1]), unquote(f[2]), strings.TrimSpace(f[3]), strings.TrimSpace(f[4])
			if everywhere != "" {
				other = append(other, grant{resource, names, sortedWords(everywhere)})
			}
			operator = append(operator, grant{resource, names, sortedWords(everywhere + " " + also)})
		case strings.HasPrefix(line, "`/"):
			for _, m := range code.FindAllStringSubmatch(line, -1) {
				urls = append(urls, m[1])
			}
		}
	}
	for _, g := range [][]grant{other, operator} {
		slices.SortFunc(g, func(a, b grant) int { return strings.Compare(a.resource+a.names, b.resource+b.names) })
	}
	slices.Sort(urls)
	return other, operator, urls
}

// What docs/install.md says the installation grants is, row for row, what the deployed
// operator's ServiceAccount is found to hold (the e2e goldens).
func TestInstallDocsListTheGrantsOfTheDeployedOperator(t *testing.T) {
	other, operator, urls := docsGrants(t)
	if len(operator) == 0 || len(urls) == 0 {
		t.Fatalf("read %d rows and %d URLs from docs/install.md", len(operator), len(urls))
	}
	for _, c := range []struct {
		file string
		docs []grant
	}{
		{"rbac-other-namespace.txt", other},
		{"rbac-operator-namespace.txt", operator},
	} {
		golden, goldenURLs := goldenGrants(t, c.file)
		if diff := cmp.Diff(golden, c.docs, cmp.AllowUnexported(grant{})); diff != "" {
			t.Errorf("docs/install.md's table and test/e2e/testdata/%s differ (-testdata +docs):\n%s", c.file, diff)
		}
		if diff := cmp.Diff(goldenURLs, urls); diff != "" {
			t.Errorf("docs/install.md's URLs and test/e2e/testdata/%s differ (-testdata +docs):\n%s", c.file, diff)
		}
	}
}
