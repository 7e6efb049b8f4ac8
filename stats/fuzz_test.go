package stats

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecode: a stats file never panics the decoder (traced reads the files
// it finds in its data directory at every start), and whatever decodes
// encodes to a file that decodes to the same encoding.
func FuzzDecode(f *testing.F) {
	_, sets := countAll(f, join(answeredCall(0, "fz1"), failedCall(ms(300), "fz2", "486 Busy Here"),
		register(time.Second, "r1", "1", "401 Unauthorized", "10.0.0.9:5060")))
	for _, s := range sets {
		b, err := Encode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	if b, err := os.ReadFile(filepath.Join("..", "httpui", "testdata", "stats", "20261207T17Z.stats")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("traced-stats 1 00000000 2\n{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := Encode(s)
		if err != nil {
			t.Fatalf("a decoded set does not encode: %v", err)
		}
		s2, err := Decode(enc)
		if err != nil {
			t.Fatalf("an encoded set does not decode: %v", err)
		}
		enc2, err := Encode(s2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %v", err)
		}
	})
}
