package segment

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// testClock is an injected clock that tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// baseTime is the start of the hour most tests write in.
func baseTime() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }

func baseHour() Hour { return HourOf(baseTime()) }

// testRecord returns record i of a deterministic sequence: SIP-like text of
// varying length, with a capture time derived from i.
func testRecord(i int) Record {
	body := fmt.Sprintf("INVITE sip:%d@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.%d:5060;branch=z9hG4bK%x\r\n"+
		"Call-ID: %08x-%d@pbx.example.com\r\nCSeq: %d INVITE\r\n%s\r\n",
		1000+i%97, i%250, i*7919, i*2654435761, i, i%17+1, strings.Repeat("a=x", i%23))
	return Record{Time: baseTime().UnixMicro() + int64(i)*1000 - int64(i%5)*3000, Data: []byte(body)}
}

func testRecords(from, to int) []Record {
	out := make([]Record, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, testRecord(i))
	}
	return out
}

// optionSet is one permutation the storage tests run under.
type optionSet struct {
	name string
	opts Options
}

func optionSets() []optionSet {
	return []optionSet{
		{name: "small_blocks", opts: Options{BlockSize: 1 << 10}},
		{name: "default", opts: Options{}},
		{name: "large_blocks_fast_flush", opts: Options{BlockSize: 1 << 20, FlushInterval: 5 * time.Millisecond}},
		{name: "tiny_queue_no_cache_level_default", opts: Options{BlockSize: 4 << 10, QueueBlocks: 1, CacheBlocks: -1, Level: zstd.SpeedDefault}},
	}
}

// forEachOptions runs fn under every option permutation.
func forEachOptions(t *testing.T, fn func(t *testing.T, opts Options)) {
	for _, set := range optionSets() {
		t.Run(set.name, func(t *testing.T) { fn(t, set.opts) })
	}
}

func mustOpen(t testing.TB, dir string, opts Options) *Dir {
	t.Helper()
	d, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mustAppend(t testing.TB, d *Dir, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := d.Append(r); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}

func mustFlush(t testing.TB, d *Dir) {
	t.Helper()
	if err := d.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func mustClose(t testing.TB, d *Dir) {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// blockInfos walks hour h from its first block.
func blockInfos(t testing.TB, d *Dir, h Hour) []BlockInfo {
	t.Helper()
	var out []BlockInfo
	if err := d.Blocks(h, 0, func(bi BlockInfo) error {
		out = append(out, bi)
		return nil
	}); err != nil {
		t.Fatalf("Blocks(%s): %v", h, err)
	}
	return out
}

// readHour reads every record of hour h through Blocks and ReadBlock, and checks
// that each block agrees with its header.
func readHour(t testing.TB, d *Dir, h Hour) []Record {
	t.Helper()
	var out []Record
	for _, bi := range blockInfos(t, d, h) {
		b, err := d.ReadBlock(bi.Ref)
		if err != nil {
			t.Fatalf("ReadBlock(%s): %v", bi.Ref, err)
		}
		if b.BlockInfo != bi {
			t.Fatalf("ReadBlock(%s) info %+v, Blocks said %+v", bi.Ref, b.BlockInfo, bi)
		}
		out = append(out, b.Records...)
	}
	return out
}

// readAll reads every record of every hour, oldest hour first.
func readAll(t testing.TB, d *Dir) []Record {
	t.Helper()
	var out []Record
	for _, hi := range d.Hours() {
		out = append(out, readHour(t, d, hi.Hour)...)
	}
	return out
}

func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Time != want[i].Time || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("record %d: got {%d %.40q}, want {%d %.40q}", i, got[i].Time, got[i].Data, want[i].Time, want[i].Data)
		}
	}
}

// dirNames lists the directory, without the lock file.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != lockName {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// fixture describes a segment file written by writeFixture.
type fixture struct {
	dir    string
	path   string // the segment file
	hour   Hour
	recs   []Record
	blocks []BlockInfo
}

// writeFixture writes nblocks blocks of perBlock records into hour baseHour,
// one Flush per block. sealed: Close (the file is sealed); otherwise the Dir is
// abandoned after the last Flush, as if the process had been killed.
func writeFixture(t testing.TB, nblocks, perBlock int, sealed bool) fixture {
	t.Helper()
	dir := t.TempDir()
	clk := newClock(baseTime().Add(10 * time.Minute))
	d, err := Open(dir, Options{Now: clk.Now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fx := fixture{dir: dir, hour: baseHour()}
	for b := range nblocks {
		recs := testRecords(b*perBlock, (b+1)*perBlock)
		mustAppend(t, d, recs...)
		mustFlush(t, d)
		fx.recs = append(fx.recs, recs...)
	}
	fx.blocks = blockInfos(t, d, fx.hour)
	if len(fx.blocks) != nblocks {
		t.Fatalf("fixture has %d blocks, want %d", len(fx.blocks), nblocks)
	}
	if sealed {
		mustClose(t, d)
		fx.path = filepath.Join(dir, sealedName(fx.hour))
	} else {
		d.abandon()
		fx.path = filepath.Join(dir, partName(fx.hour))
	}
	return fx
}

// recordsUpTo returns the records of the fixture's blocks that end at or before off.
func (fx fixture) recordsUpTo(off int64) []Record {
	n := 0
	for _, bi := range fx.blocks {
		if bi.Next <= off {
			n += int(bi.NRec)
		}
	}
	return fx.recs[:n]
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func isCorruption(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}

// copyFile copies src to dst.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o640); err != nil {
		t.Fatal(err)
	}
}
