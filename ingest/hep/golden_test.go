package hep

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the decoder's output")

// TestGolden decodes every testdata/*.bin packet (built fixtures and
// packets captured from real senders, such as kamailio_*.bin) and compares
// the result with testdata/<name>.golden.json. Regenerate with
//
//	go test ./ingest/hep -run Golden -update
func TestGolden(t *testing.T) {
	bins, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) == 0 {
		t.Fatal("no testdata/*.bin fixtures")
	}
	for _, bin := range bins {
		name := strings.TrimSuffix(filepath.Base(bin), ".bin")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			got, err := marshalView(viewOf(&p, Decode(raw, &p)))
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(bin, ".bin") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v: run go test ./ingest/hep -run Golden -update and review the result", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the decoder's output (go test ./ingest/hep -run Golden -update to accept)\n got: %s\nwant: %s",
					golden, got, want)
			}
		})
	}
}

// TestGoldenFilesHaveFixtures catches a golden file whose .bin was renamed
// or removed.
func TestGoldenFilesHaveFixtures(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		bin := strings.TrimSuffix(g, ".golden.json") + ".bin"
		if _, err := os.Stat(bin); err != nil {
			t.Errorf("%s has no fixture: %v", g, err)
		}
	}
}
