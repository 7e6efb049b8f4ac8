package segment

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	goldenSeg  = "testdata/v1/small.seg"
	goldenJSON = "testdata/v1/small.json"
)

// goldenFile is the decoded content of a segment file: everything that does not
// depend on the compressor's output.
type goldenFile struct {
	Hour    string        `json:"hour"`
	Sealed  bool          `json:"sealed"`
	Records int64         `json:"records"`
	MinTime int64         `json:"min_time"`
	MaxTime int64         `json:"max_time"`
	Blocks  []goldenBlock `json:"blocks"`
}

type goldenBlock struct {
	NRec    uint32         `json:"nrec"`
	RawLen  uint32         `json:"raw_len"`
	MinTime int64          `json:"min_time"`
	MaxTime int64          `json:"max_time"`
	Records []goldenRecord `json:"records"`
}

type goldenRecord struct {
	Time int64  `json:"time"`
	Data string `json:"data"`
}

// goldenBlocks are the records of the golden file, one slice per block.
func goldenBlocks() [][]Record {
	t0 := baseTime().UnixMicro()
	msg := func(method string, i int) []byte {
		return fmt.Appendf(nil, "%s sip:alice@example.com SIP/2.0\r\nCall-ID: golden-%d@example.com\r\nCSeq: %d %s\r\n\r\n", method, i/3, i+1, method)
	}
	return [][]Record{
		{{Time: t0 + 1_000, Data: msg("INVITE", 0)}, {Time: t0 + 1_500, Data: msg("INVITE", 1)}, {Time: t0 + 900, Data: msg("ACK", 2)}},
		{{Time: t0 + 2_000_000, Data: msg("BYE", 3)}, {Time: t0 + 2_000_100, Data: []byte{}}},
		{{Time: t0 + 3_000_000, Data: msg("OPTIONS", 5)}, {Time: t0 + 3_000_000, Data: msg("REGISTER", 6)}, {Time: -1, Data: []byte("\x00\x01binary\xff")}},
	}
}

// writeGolden writes the golden records with the current writer and returns the
// path of the sealed file.
func writeGolden(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	d := mustOpen(t, dir, Options{Now: newClock(baseTime().Add(5 * time.Minute)).Now, FlushInterval: time.Hour})
	for _, blk := range goldenBlocks() {
		mustAppend(t, d, blk...)
		mustFlush(t, d)
	}
	mustClose(t, d)
	return filepath.Join(dir, sealedName(baseHour()))
}

// decodeGolden opens a copy of the sealed file at path and decodes it.
func decodeGolden(t *testing.T, path string) goldenFile {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, path, filepath.Join(dir, sealedName(baseHour())))
	d := mustOpen(t, dir, Options{Now: newClock(baseTime().Add(5 * time.Hour)).Now})
	defer mustClose(t, d)
	hours := d.Hours()
	if len(hours) != 1 {
		t.Fatalf("Hours: %+v", hours)
	}
	hi := hours[0]
	g := goldenFile{Hour: hi.Hour.String(), Sealed: hi.Sealed, Records: hi.Records, MinTime: hi.MinTime, MaxTime: hi.MaxTime}
	for _, bi := range blockInfos(t, d, hi.Hour) {
		b, err := d.ReadBlock(bi.Ref)
		if err != nil {
			t.Fatal(err)
		}
		gb := goldenBlock{NRec: bi.NRec, RawLen: bi.RawLen, MinTime: bi.MinTime, MaxTime: bi.MaxTime}
		for _, r := range b.Records {
			gb.Records = append(gb.Records, goldenRecord{Time: r.Time, Data: string(r.Data)})
		}
		g.Blocks = append(g.Blocks, gb)
	}
	if st := d.Stats(); len(st.Recovered) != 0 || st.Corruptions != 0 {
		t.Fatalf("golden file needed recovery: %+v", st)
	}
	return g
}

func marshalGolden(t *testing.T, g goldenFile) []byte {
	t.Helper()
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// compareGolden compares decoded content with small.json; on a mismatch it
// writes small.actual.json next to it.
func compareGolden(t *testing.T, g goldenFile) {
	t.Helper()
	got := marshalGolden(t, g)
	want, err := os.ReadFile(goldenJSON)
	if err != nil {
		t.Fatalf("%v (run go test ./segment -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		actual := filepath.Join(filepath.Dir(goldenJSON), "small.actual.json")
		if err := os.WriteFile(actual, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("decoded content differs from %s; see %s", goldenJSON, actual)
	}
}

// TestGoldenV1Decode: the committed v1 file must always decode to small.json.
// Regenerate both only for a deliberate format change:
//
//	go test ./segment -run Golden -update
func TestGoldenV1Decode(t *testing.T) {
	if *update {
		path := writeGolden(t)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenSeg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenSeg, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenJSON, marshalGolden(t, decodeGolden(t, goldenSeg)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before, err := os.ReadFile(goldenSeg)
	if err != nil {
		t.Fatal(err)
	}
	g := decodeGolden(t, goldenSeg)
	var n int
	for i, blk := range goldenBlocks() {
		if i >= len(g.Blocks) || len(g.Blocks[i].Records) != len(blk) {
			t.Fatalf("block %d of the golden file does not hold the golden records", i)
		}
		n += len(blk)
	}
	if g.Records != int64(n) || !g.Sealed {
		t.Fatalf("golden file: %d records sealed=%v", g.Records, g.Sealed)
	}
	compareGolden(t, g)
	after, err := os.ReadFile(goldenSeg)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the golden file changed while being read (%v)", err)
	}
}

// TestGoldenV1Writer: what the current writer produces decodes to the same
// content (bytes may differ when the zstd library changes).
func TestGoldenV1Writer(t *testing.T) {
	compareGolden(t, decodeGolden(t, writeGolden(t)))
}

// zstdCLI returns the path of the zstd command, or skips the test when it is
// missing (fails instead when CI is set).
func zstdCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("zstd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("zstd CLI not on PATH: %v", err)
		}
		t.Skip("zstd CLI not on PATH; install zstd to check that segment files are zstd streams")
	}
	return path
}

// TestZstdCLI: sealed and active files are valid zstd streams whose content is
// the blocks' plaintext; a torn copy is not.
func TestZstdCLI(t *testing.T) {
	zstd := zstdCLI(t)
	sealed := writeFixture(t, 3, 4, true)
	active := writeFixture(t, 3, 4, true)
	d := mustOpen(t, active.dir, Options{Now: newClock(baseTime().Add(20 * time.Minute)).Now})
	more := testRecords(200, 210)
	mustAppend(t, d, more...)
	mustFlush(t, d)
	activePath := filepath.Join(active.dir, partName(active.hour))
	activeRecs := append(active.recs[:len(active.recs):len(active.recs)], more...)

	var goldenRecs []Record
	for _, blk := range goldenBlocks() {
		goldenRecs = append(goldenRecs, blk...)
	}
	tests := []struct {
		name string
		path string
		recs []Record
	}{
		{name: "sealed", path: sealed.path, recs: sealed.recs},
		{name: "active", path: activePath, recs: activeRecs},
		{name: "golden_v1", path: goldenSeg, recs: goldenRecs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := exec.Command(zstd, "-q", "-t", tt.path).CombinedOutput(); err != nil {
				t.Fatalf("zstd -t: %v\n%s", err, out)
			}
			out, err := exec.Command(zstd, "-q", "-d", "-c", tt.path).Output()
			if err != nil {
				t.Fatalf("zstd -dc: %v", err)
			}
			var want []byte
			for _, r := range tt.recs {
				want = appendRecord(want, r)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("zstdcat printed %d bytes, want the %d bytes of the records' plaintext", len(out), len(want))
			}
		})
	}
	t.Run("torn_copy_fails", func(t *testing.T) {
		b, err := os.ReadFile(sealed.path)
		if err != nil {
			t.Fatal(err)
		}
		l := sealed.blocks[len(sealed.blocks)-1]
		torn := filepath.Join(t.TempDir(), "torn.seg")
		if err := os.WriteFile(torn, b[:l.Ref.Off+blockHeaderLen+int64(l.FrameLen)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command(zstd, "-q", "-t", torn).Run(); err == nil {
			t.Fatal("zstd -t passed a file cut inside a frame")
		}
	})
}
