package segment

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fixture geometry of the corruption table: fixtureBlocks blocks of
// fixturePerBlock records each.
const (
	fixtureBlocks   = 4
	fixturePerBlock = 5
	fixtureRecords  = fixtureBlocks * fixturePerBlock
	lastBlockKept   = fixtureRecords - fixturePerBlock
)

// corruptionCase damages a fixture file the way a crash or the disk might.
type corruptionCase struct {
	name   string
	sealed bool // the fixture is sealed (clean stop) or a .part (killed writer)
	// corrupt damages fx.path and returns the data bytes recovery must report
	// as lost (0: none).
	corrupt func(t testing.TB, fx fixture) int64
	want    int           // records expected to survive
	clock   time.Duration // reopen clock, from the start of the fixture's hour
}

func corruptionCases() []corruptionCase {
	last := func(fx fixture) BlockInfo { return fx.blocks[len(fx.blocks)-1] }
	return []corruptionCase{
		{name: "torn_header", want: lastBlockKept, corrupt: func(t testing.TB, fx fixture) int64 {
			truncateFile(t, fx.path, last(fx).Ref.Off+20)
			return 20
		}},
		{name: "torn_frame", want: lastBlockKept, corrupt: func(t testing.TB, fx fixture) int64 {
			l := last(fx)
			cut := l.Ref.Off + blockHeaderLen + int64(l.FrameLen)/2
			truncateFile(t, fx.path, cut)
			return cut - l.Ref.Off
		}},
		{name: "zero_sector_in_last_block", want: lastBlockKept, corrupt: func(t testing.TB, fx fixture) int64 {
			l := last(fx)
			start := l.Ref.Off + blockHeaderLen + 8
			writeFileAt(t, fx.path, start, make([]byte, min(512, l.Next-start)))
			return l.Next - l.Ref.Off
		}},
		{name: "bad_frame_crc", want: lastBlockKept, corrupt: func(t testing.TB, fx fixture) int64 {
			l := last(fx)
			flipByte(t, fx.path, l.Ref.Off+blockHeaderLen+int64(l.FrameLen)/3)
			return l.Next - l.Ref.Off
		}},
		{name: "bad_header_crc", want: lastBlockKept, corrupt: func(t testing.TB, fx fixture) int64 {
			l := last(fx)
			flipByte(t, fx.path, l.Ref.Off+frameHeaderLen+16) // nrec
			return l.Next - l.Ref.Off
		}},
		{name: "zero_filled_tail", want: fixtureRecords, corrupt: func(t testing.TB, fx fixture) int64 {
			// The file size reached the disk, the data did not.
			writeFileAt(t, fx.path, last(fx).Next, make([]byte, 4096))
			return 4096
		}},
		{name: "block_copied_to_the_end", want: fixtureRecords, corrupt: func(t testing.TB, fx fixture) int64 {
			b := readFileRange(t, fx.path, fx.blocks[1].Ref.Off, fx.blocks[1].Next)
			writeFileAt(t, fx.path, last(fx).Next, b)
			return int64(len(b))
		}},
		{name: "first_block_torn", want: 0, corrupt: func(t testing.TB, fx fixture) int64 {
			truncateFile(t, fx.path, fileHeaderLen+30)
			return 30
		}},
		{name: "shorter_than_file_header", want: 0, corrupt: func(t testing.TB, fx fixture) int64 {
			truncateFile(t, fx.path, 10)
			return 10
		}},
		{name: "bad_file_header", want: 0, corrupt: func(t testing.TB, fx fixture) int64 {
			flipByte(t, fx.path, 12)
			return fileSize(t, fx.path)
		}},
		{name: "footer_magic", sealed: true, want: fixtureRecords, corrupt: func(t testing.TB, fx fixture) int64 {
			flipByte(t, fx.path, fileSize(t, fx.path)-1)
			return 0
		}},
		{name: "footer_crc", sealed: true, want: fixtureRecords, corrupt: func(t testing.TB, fx fixture) int64 {
			flipByte(t, fx.path, fileSize(t, fx.path)-footerTailLen+44)
			return 0
		}},
		{name: "footer_offsets_past_eof", sealed: true, want: fixtureRecords, corrupt: func(t testing.TB, fx fixture) int64 {
			rewriteFooter(t, fx, func(entries []byte) {
				e := entries[len(entries)-footerEntryLen:]
				binary.LittleEndian.PutUint64(e, binary.LittleEndian.Uint64(e)+1<<20)
			})
			return 0
		}},
		{name: "torn_footer", sealed: true, want: fixtureRecords, corrupt: func(t testing.TB, fx fixture) int64 {
			// The seal was interrupted while the footer was being written.
			truncateFile(t, fx.path, last(fx).Next+30)
			if err := os.Rename(fx.path, filepath.Join(fx.dir, partName(fx.hour))); err != nil {
				t.Fatal(err)
			}
			return 0
		}},
		{name: "part_of_past_hour", want: fixtureRecords, clock: 3 * time.Hour, corrupt: func(testing.TB, fixture) int64 { return 0 }},
		{name: "part_of_current_hour", want: fixtureRecords, clock: 30 * time.Minute, corrupt: func(testing.TB, fixture) int64 { return 0 }},
	}
}

func TestRecoverCorruption(t *testing.T) {
	for _, tc := range corruptionCases() {
		t.Run(tc.name, func(t *testing.T) {
			fx := writeFixture(t, fixtureBlocks, fixturePerBlock, tc.sealed)
			wantLost := tc.corrupt(t, fx)
			clock := tc.clock
			if clock == 0 {
				clock = 10 * time.Minute
			}
			opts := Options{Now: newClock(baseTime().Add(clock)).Now}
			d := mustOpen(t, fx.dir, opts)
			got := readAll(t, d)
			sameRecords(t, got, fx.recs[:tc.want])

			st := d.Stats()
			var lost int64
			for _, ld := range st.Recovered {
				lost += ld.Bytes
				if !strings.HasPrefix(filepath.Base(ld.Path), fx.hour.String()) {
					t.Errorf("LostData names %s", ld.Path)
				}
			}
			if lost != wantLost {
				t.Errorf("bytes reported lost %d (%+v), want %d", lost, st.Recovered, wantLost)
			}
			for _, name := range dirNames(t, fx.dir) {
				if strings.HasSuffix(name, partSuffix) {
					t.Errorf("%s left unsealed after recovery", name)
				}
			}
			hours := d.Hours()
			if tc.want > 0 && (len(hours) != 1 || !hours[0].Sealed || hours[0].Records != int64(tc.want)) {
				t.Errorf("Hours: %+v", hours)
			}
			if tc.want > 0 {
				// Recovery leaves a file whose whole footer checks.
				checkSealedFile(t, hours[0].Path, fx.hour, fx.blocks[:tc.want/fixturePerBlock])
			}
			mustClose(t, d)

			// Recovery is done once: a second start finds a clean directory.
			d = mustOpen(t, fx.dir, opts)
			sameRecords(t, readAll(t, d), fx.recs[:tc.want])
			if st := d.Stats(); len(st.Recovered) != 0 {
				t.Errorf("second Open recovered again: %+v", st.Recovered)
			}
		})
	}
}

// TestRecoverEveryTruncation cuts a file at every byte offset, as a crash can,
// and checks that exactly the blocks wholly before the cut come back.
func TestRecoverEveryTruncation(t *testing.T) {
	fx := writeFixture(t, 3, 3, true)
	base, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	end := fx.blocks[len(fx.blocks)-1].Next
	noSync := &fileHooks{sync: func(*os.File) error { return nil }, syncDir: func(string) error { return nil }}
	opts := Options{Now: newClock(baseTime().Add(10 * time.Minute)).Now, hooks: noSync, CacheBlocks: -1}
	for off := range int64(len(base)) {
		dir := filepath.Join(t.TempDir(), "seg")
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		name := partName(fx.hour)
		if off >= end {
			name = sealedName(fx.hour) // a sealed file that lost part of its footer
		}
		if err := os.WriteFile(filepath.Join(dir, name), base[:off], 0o640); err != nil {
			t.Fatal(err)
		}
		d, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", off, err)
		}
		want := fx.recordsUpTo(off)
		if off >= end {
			want = fx.recs
		}
		got := readAll(t, d)
		if len(got) != len(want) {
			t.Fatalf("cut at %d: %d records back, want %d", off, len(got), len(want))
		}
		sameRecords(t, got, want)
		if err := d.Close(); err != nil {
			t.Fatalf("cut at %d: Close: %v", off, err)
		}
	}
}

// TestSealedMidFileDamage damages one block in the middle of a sealed file: reads
// of that block fail with *CorruptionError, every other block reads.
func TestSealedMidFileDamage(t *testing.T) {
	tests := []struct {
		name   string
		block  int
		damage func(t testing.TB, path string, bi BlockInfo)
	}{
		{name: "frame_byte", block: 1, damage: func(t testing.TB, path string, bi BlockInfo) {
			flipByte(t, path, bi.Ref.Off+blockHeaderLen+int64(bi.FrameLen)/2)
		}},
		{name: "header_byte", block: 2, damage: func(t testing.TB, path string, bi BlockInfo) {
			flipByte(t, path, bi.Ref.Off+frameHeaderLen+12)
		}},
		{name: "zero_sector", block: 1, damage: func(t testing.TB, path string, bi BlockInfo) {
			writeFileAt(t, path, bi.Ref.Off+4, make([]byte, min(512, bi.Next-bi.Ref.Off-4)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := writeFixture(t, fixtureBlocks, fixturePerBlock, true)
			bad := fx.blocks[tt.block]
			tt.damage(t, fx.path, bad)
			d := mustOpen(t, fx.dir, Options{Now: newClock(baseTime().Add(2 * time.Hour)).Now})
			if got := blockInfos(t, d, fx.hour); !slices.Equal(got, fx.blocks) {
				t.Fatalf("the footer walk changed: %+v", got)
			}
			for range 2 {
				for i, bi := range fx.blocks {
					b, err := d.ReadBlock(bi.Ref)
					if i != tt.block {
						if err != nil {
							t.Fatalf("undamaged block %d: %v", i, err)
						}
						sameRecords(t, b.Records, fx.recs[i*fixturePerBlock:(i+1)*fixturePerBlock])
						continue
					}
					var ce *CorruptionError
					if !errors.As(err, &ce) {
						t.Fatalf("damaged block: err %v, want *CorruptionError", err)
					}
					if ce.Path != fx.path || ce.Offset != bad.Ref.Off || ce.Unwrap() == nil {
						t.Errorf("CorruptionError %+v, want path %s offset %d", ce, fx.path, bad.Ref.Off)
					}
				}
			}
			if st := d.Stats(); st.Corruptions != 1 || len(st.Recovered) != 0 {
				t.Errorf("stats: corruptions %d recovered %+v; want 1 and none", st.Corruptions, st.Recovered)
			}
		})
	}
}

// TestPartMidFileDamage: a damaged block followed by good blocks in an unsealed
// file is not a torn tail; recovery keeps everything and only that block fails.
func TestPartMidFileDamage(t *testing.T) {
	fx := writeFixture(t, fixtureBlocks, fixturePerBlock, false)
	bad := fx.blocks[1]
	flipByte(t, fx.path, bad.Ref.Off+blockHeaderLen+int64(bad.FrameLen)/2)
	d := mustOpen(t, fx.dir, Options{Now: newClock(baseTime().Add(10 * time.Minute)).Now})
	if st := d.Stats(); len(st.Recovered) != 0 || st.Corruptions != 1 {
		t.Fatalf("stats after Open: %+v", st)
	}
	for i, bi := range fx.blocks {
		_, err := d.ReadBlock(bi.Ref)
		if (i == 1) != isCorruption(err) || (i != 1 && err != nil) {
			t.Errorf("block %d: %v", i, err)
		}
	}
}

// TestFooterEntriesDamaged: damage inside the footer's entry array passes the
// cheap check at Open, is found by the first walk, and the walk falls back to
// the block headers. Appending to the hour still works.
func TestFooterEntriesDamaged(t *testing.T) {
	fx := writeFixture(t, fixtureBlocks, fixturePerBlock, true)
	flipByte(t, fx.path, fx.blocks[len(fx.blocks)-1].Next+frameHeaderLen+footerEntryLen+16)
	d := mustOpen(t, fx.dir, Options{Now: newClock(baseTime().Add(10 * time.Minute)).Now})
	if got := blockInfos(t, d, fx.hour); !slices.Equal(got, fx.blocks) {
		t.Fatalf("fallback walk: %+v", got)
	}
	if st := d.Stats(); st.Corruptions != 1 {
		t.Errorf("corruptions %d, want 1", st.Corruptions)
	}
	mustAppend(t, d, testRecord(500))
	mustFlush(t, d)
	sameRecords(t, readAll(t, d), append(slices.Clone(fx.recs), testRecord(500)))
}

func TestBothNamesForOneHour(t *testing.T) {
	fx := writeFixture(t, 2, 3, true)
	stray := filepath.Join(fx.dir, partName(fx.hour))
	copyFile(t, fx.path, stray)
	d := mustOpen(t, fx.dir, Options{Now: newClock(baseTime().Add(2 * time.Hour)).Now})
	sameRecords(t, readAll(t, d), fx.recs)
	want := []string{sealedName(fx.hour), partName(fx.hour) + brokenSuffix}
	if got := dirNames(t, fx.dir); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

// checkSealedFile reads the whole footer of a sealed file and compares it with
// the blocks expected.
func checkSealedFile(t testing.TB, path string, h Hour, want []BlockInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	infos, _, err := readFooter(f, h, fi.Size())
	if err != nil {
		t.Fatalf("footer of %s: %v", path, err)
	}
	if !slices.Equal(infos, want) {
		t.Fatalf("footer of %s lists %+v, want %+v", path, infos, want)
	}
}

func truncateFile(t testing.TB, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func writeFileAt(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func readFileRange(t testing.TB, path string, from, to int64) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[from:to]
}

func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	b := readFileRange(t, path, off, off+1)
	writeFileAt(t, path, off, []byte{^b[0]})
}

// rewriteFooter lets edit change a sealed fixture's footer entries, then makes
// both footer CRCs match again.
func rewriteFooter(t testing.TB, fx fixture, edit func(entries []byte)) {
	t.Helper()
	b, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	end := fx.blocks[len(fx.blocks)-1].Next
	entries := b[end+frameHeaderLen : int64(len(b))-footerTailLen]
	tail := b[len(b)-footerTailLen:]
	edit(entries)
	binary.LittleEndian.PutUint32(tail[0:], crc32c(entries))
	binary.LittleEndian.PutUint32(tail[44:], crc32c(tail[:44]))
	if err := os.WriteFile(fx.path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}
