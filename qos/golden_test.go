package qos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// decodeFixture decodes a testdata file by its name: rtcp-*.bin and
// rtcp-json-*.json as HEP type 5, vq-*.txt as vq-rtcpxr, short-35* as type
// 35, stat-headers.txt as one header per line.
func decodeFixture(t *testing.T, name string, data []byte) any {
	t.Helper()
	switch {
	case strings.HasPrefix(name, "rtcp-"):
		r, kind, err := DecodeRTCP(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return map[string]any{"kind": kind, "rtcp": r}
	case strings.HasPrefix(name, "vq-"):
		r, err := DecodeVQ(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	case strings.HasPrefix(name, "short-35"):
		r, err := DecodeShort(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	case name == "stat-headers.txt":
		var out []*CallStat
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			n, v, _ := strings.Cut(sc.Text(), ":")
			s, err := DecodeStatHeader(n, v)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, sc.Text(), err)
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestGoldens decodes every fixture in testdata/ and compares the result,
// as JSON, with its .golden file (go test ./qos -update rewrites them).
func TestGoldens(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasSuffix(name, ".golden") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := decodeFixture(t, name, data)
		if v == nil {
			continue
		}
		n++
		got, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		golden := f + ".golden"
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./qos -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s decodes differently from %s:\n%s", name, golden, got)
		}
	}
	if n < 10 {
		t.Fatalf("only %d fixtures decoded", n)
	}
}
