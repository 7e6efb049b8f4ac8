// Package depcheck enforces the direction of dependencies between traced's
// packages (docs/ARCHITECTURE.md): each package may import only the traced
// packages listed for it here, and only cmd/ may import the CLI and systemd
// libraries.
package depcheck

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// allowed lists, for each package, the traced packages it may import directly.
// A package missing from this table fails the test: add it with its place in the
// architecture.
var allowed = map[string][]string{
	"traced/segment":       {},
	"traced/ingest/hep":    {},
	"traced/ingest/sip":    {},
	"traced/index":         {"traced/segment"},
	"traced/ingest/record": {"traced/ingest/hep", "traced/ingest/sip", "traced/segment", "traced/index"},
	"traced/ingest":        {"traced/ingest/hep", "traced/ingest/sip", "traced/ingest/record", "traced/segment", "traced/index"},
	"traced/search":        {"traced/index", "traced/segment", "traced/ingest/record", "traced/ingest/hep", "traced/ingest/sip"},
	"traced/retention":     {"traced/segment"},
	"traced/httpui/auth":   {},
	"traced/correlate": {"traced/search", "traced/index", "traced/segment", "traced/ingest/record", "traced/ingest/sip",
		"traced/ingest/hep"},
	"traced/httpui": {"traced/search", "traced/index", "traced/segment", "traced/ingest/record", "traced/ingest/hep",
		"traced/ingest/sip", "traced/httpui/views", "traced/httpui/auth", "traced/correlate", "traced/export",
		"traced/quality", "traced/qos", "traced/stats"},
	// Call quality: qos decodes reports (pure); quality finds a call's reports
	// and logs and builds its streams.
	"traced/qos":     {"traced/ingest/sip"},
	"traced/quality": {"traced/qos", "traced/correlate", "traced/search", "traced/index", "traced/ingest/record", "traced/ingest/sip", "traced/segment"},
	// Traffic statistics: a follower of the segments, like the index.
	"traced/stats":             {"traced/segment", "traced/ingest/record", "traced/ingest/sip", "traced/ingest/hep", "traced/qos"},
	"traced/httpui/views":      {},
	"traced/export":            {"traced/ingest/record", "traced/ingest/sip", "traced/ingest/hep", "traced/segment"},
	"traced/internal/peer":     {},
	"traced/internal/depcheck": {},
	"traced/internal/sipgen":   {"traced/ingest/hep"},
	"traced/cmd/traced":        {"*"},
	"traced/cmd/tracectl":      {"traced/httpui", "traced/capture", "traced/ingest/hep"},
	// Capture files read for tracectl import: a leaf, it only builds HEP.
	"traced/capture": {"traced/ingest/hep"},
	// The load generator and the load and archive benchmarks: they drive the real
	// binaries from outside (httpui's control client), and build archives the way
	// the daemon writes them.
	"traced/cmd/hepload":                      {"traced/internal/loadbench"},
	"traced/internal/loadbench":               {"traced/internal/sipgen", "traced/ingest/hep", "traced/segment", "traced/index", "traced/ingest/record", "traced/httpui"},
	"traced/internal/loadbench/cmd/loadbench": {"traced/internal/loadbench"},
	// Packaging: the unit, the Debian package and their tests (which drive the
	// built binaries and dpkg from outside), and the copyright file generator.
	"traced/packaging":              {},
	"traced/packaging/debcopyright": {},
}

// cmdOnly are modules only cmd/ may import: flags and service management belong
// to the commands.
var cmdOnly = []string{"github.com/urfave/cli", "github.com/coreos/go-systemd"}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "traced/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	seen := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		pkg, imports := f[0], f[1:]
		seen++
		allow, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in the dependency table", pkg)
			continue
		}
		for _, imp := range imports {
			for _, m := range cmdOnly {
				if strings.HasPrefix(imp, m) && !strings.HasPrefix(pkg, "traced/cmd/") {
					t.Errorf("%s imports %s: only cmd/ may", pkg, imp)
				}
			}
			if !strings.HasPrefix(imp, "traced/") {
				continue
			}
			if strings.HasPrefix(imp, "traced/cmd/") {
				t.Errorf("%s imports a command, %s", pkg, imp)
			}
			if !contains(allow, imp) && !contains(allow, "*") {
				t.Errorf("%s imports %s, against the dependency direction", pkg, imp)
			}
		}
	}
	if seen < 8 {
		t.Fatalf("go list listed only %d packages", seen)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
