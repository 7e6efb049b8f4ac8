package peer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lookPath finds bin on $PATH or in the sbin directories: Debian installs
// kamailio in /usr/sbin, which is not on an unprivileged user's $PATH.
func lookPath(bin string) (string, error) {
	p, err := exec.LookPath(bin)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		cand := filepath.Join(dir, bin)
		if fi, serr := os.Stat(cand); serr == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", err
}

// mustLookPath is lookPath for code that runs after Require: a missing binary
// there is a harness bug, so it fails the test.
func mustLookPath(t testing.TB, bin string) string {
	t.Helper()
	p, err := lookPath(bin)
	if err != nil {
		t.Fatalf("peer: %s: %v (call peer.Require first)", bin, err)
	}
	return p
}

// Require makes sure every named binary (for example "kamailio", "sipp",
// "tshark") is installed. When one is missing it fails the test if the CI
// environment variable is set, since CI must run the real-peer tests, and
// skips it otherwise.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	var missing []string
	for _, b := range bins {
		if _, err := lookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	what := strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not installed; CI must run the real-peer tests: run scripts/install-test-deps.sh as root", what)
	}
	t.Skipf("%s not installed; run scripts/install-test-deps.sh as root (skipped outside CI)", what)
}

// SampleCapture returns the path of the public sample capture name, in
// ../shared/pcaps beside the module root (where CI lays shared/). When it is
// missing the test fails under CI and is skipped, saying so, elsewhere.
func SampleCapture(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("peer: no go.mod above the test's directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "pcaps", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer: sample capture missing: %v", err)
		}
		t.Skipf("sample capture missing (%v): skipped outside CI", err)
	}
	return p
}
