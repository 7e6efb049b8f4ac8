package segment

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestAppendReadBack(t *testing.T) {
	forEachOptions(t, func(t *testing.T, opts Options) {
		clk := newClock(baseTime().Add(10 * time.Minute))
		opts.Now = clk.Now
		dir := t.TempDir()
		d := mustOpen(t, dir, opts)
		want := testRecords(0, 300)
		mustAppend(t, d, want...)
		mustFlush(t, d)

		sameRecords(t, readAll(t, d), want)
		infos := blockInfos(t, d, baseHour())
		st := d.Stats()
		if st.Appended != 300 || st.Stored != 300 || st.Blocks != int64(len(infos)) || st.LostRecords != 0 || st.WriteErrors != 0 {
			t.Errorf("stats %+v, want 300 appended and stored in %d blocks", st, len(infos))
		}
		hours := d.Hours()
		if len(hours) != 1 {
			t.Fatalf("Hours: %+v", hours)
		}
		hi := hours[0]
		minT := slices.MinFunc(want, func(a, b Record) int { return int(a.Time - b.Time) }).Time
		maxT := slices.MaxFunc(want, func(a, b Record) int { return int(a.Time - b.Time) }).Time
		if hi.Hour != baseHour() || hi.Sealed || hi.Records != 300 || hi.Blocks != len(infos) ||
			hi.MinTime != minT || hi.MaxTime != maxT || hi.End != infos[len(infos)-1].Next || hi.Size != hi.End {
			t.Errorf("active hour %+v", hi)
		}
		if st.BytesOnDisk != hi.Size || st.Hours != 1 {
			t.Errorf("stats bytes %d hours %d, want %d 1", st.BytesOnDisk, st.Hours, hi.Size)
		}
		mustClose(t, d)

		if got, want := dirNames(t, dir), []string{sealedName(baseHour())}; !slices.Equal(got, want) {
			t.Fatalf("after Close: %v, want %v", got, want)
		}
		d = mustOpen(t, dir, opts)
		sameRecords(t, readAll(t, d), want)
		hi2 := d.Hours()[0]
		if !hi2.Sealed || hi2.Records != 300 || hi2.Blocks != len(infos) || hi2.End != hi.End ||
			hi2.MinTime != minT || hi2.MaxTime != maxT || hi2.Size != fileSize(t, hi2.Path) {
			t.Errorf("sealed hour %+v", hi2)
		}
		if got := blockInfos(t, d, baseHour()); !slices.Equal(got, infos) {
			t.Errorf("footer walk differs from the header walk:\n%+v\n%+v", got, infos)
		}
		if st := d.Stats(); len(st.Recovered) != 0 || st.Corruptions != 0 {
			t.Errorf("clean reopen: %+v", st)
		}
	})
}

func TestAppendCopiesData(t *testing.T) {
	d := mustOpen(t, t.TempDir(), Options{Now: newClock(baseTime()).Now})
	buf := []byte("original")
	mustAppend(t, d, Record{Time: 1, Data: buf})
	copy(buf, "mutated!")
	mustFlush(t, d)
	got := readAll(t, d)
	if len(got) != 1 || string(got[0].Data) != "original" {
		t.Fatalf("got %+v", got)
	}
}

func TestBlockCutting(t *testing.T) {
	tests := []struct {
		name      string
		blockSize int
		sizes     []int // data lengths appended
		wantNRec  []uint32
	}{
		{name: "one_block", blockSize: 1 << 10, sizes: []int{100, 100, 100}, wantNRec: []uint32{3}},
		{name: "cut_before_overflow", blockSize: 250, sizes: []int{100, 100, 100}, wantNRec: []uint32{2, 1}},
		{name: "cut_at_exact_size", blockSize: 2 * 109, sizes: []int{100, 100, 100}, wantNRec: []uint32{2, 1}},
		{name: "record_larger_than_block", blockSize: 64, sizes: []int{10, 500, 10}, wantNRec: []uint32{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustOpen(t, t.TempDir(), Options{BlockSize: tt.blockSize, Now: newClock(baseTime()).Now, FlushInterval: time.Hour})
			var want []Record
			for i, n := range tt.sizes {
				r := Record{Time: int64(i), Data: bytes.Repeat([]byte{'a' + byte(i)}, n)}
				want = append(want, r)
				mustAppend(t, d, r)
			}
			mustFlush(t, d)
			var got []uint32
			for _, bi := range blockInfos(t, d, baseHour()) {
				got = append(got, bi.NRec)
				if int(bi.RawLen) > tt.blockSize && bi.NRec > 1 {
					t.Errorf("block %s of %d raw bytes holds %d records, over BlockSize %d", bi.Ref, bi.RawLen, bi.NRec, tt.blockSize)
				}
			}
			if !slices.Equal(got, tt.wantNRec) {
				t.Errorf("records per block %v, want %v", got, tt.wantNRec)
			}
			sameRecords(t, readAll(t, d), want)
		})
	}
}

func TestRollover(t *testing.T) {
	forEachOptions(t, func(t *testing.T, opts Options) {
		clk := newClock(baseTime().Add(59 * time.Minute))
		opts.Now = clk.Now
		dir := t.TempDir()
		d := mustOpen(t, dir, opts)
		first, second := testRecords(0, 50), testRecords(50, 80)
		mustAppend(t, d, first...)
		clk.Set(baseTime().Add(61 * time.Minute))
		mustAppend(t, d, second...)
		mustFlush(t, d)

		h0, h1 := baseHour(), baseHour()+1
		want := []string{sealedName(h0), partName(h1)}
		if got := dirNames(t, dir); !slices.Equal(got, want) {
			t.Fatalf("files %v, want %v", got, want)
		}
		hours := d.Hours()
		if len(hours) != 2 || hours[0].Hour != h0 || !hours[0].Sealed || hours[1].Hour != h1 || hours[1].Sealed {
			t.Fatalf("Hours: %+v", hours)
		}
		if hours[0].Size != fileSize(t, hours[0].Path) {
			t.Errorf("sealed size %d, file %d", hours[0].Size, fileSize(t, hours[0].Path))
		}
		sameRecords(t, readHour(t, d, h0), first)
		sameRecords(t, readHour(t, d, h1), second)
		if _, err := d.DeleteHour(h1); !errors.Is(err, ErrActive) {
			t.Errorf("DeleteHour(active) = %v, want ErrActive", err)
		}
	})
}

func TestFlushSealsPastHour(t *testing.T) {
	clk := newClock(baseTime().Add(30 * time.Minute))
	dir := t.TempDir()
	d := mustOpen(t, dir, Options{Now: clk.Now, FlushInterval: time.Hour})
	mustAppend(t, d, testRecords(0, 10)...)
	mustFlush(t, d)
	clk.Set(baseTime().Add(90 * time.Minute))
	mustFlush(t, d)
	if got, want := dirNames(t, dir), []string{sealedName(baseHour())}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if hours := d.Hours(); len(hours) != 1 || !hours[0].Sealed {
		t.Fatalf("Hours: %+v", hours)
	}
	if _, err := d.DeleteHour(baseHour()); err != nil {
		t.Fatalf("DeleteHour of the sealed past hour: %v", err)
	}
}

func TestClockBackwardsStaysInLaterHour(t *testing.T) {
	clk := newClock(baseTime().Add(65 * time.Minute))
	d := mustOpen(t, t.TempDir(), Options{Now: clk.Now})
	mustAppend(t, d, testRecord(0))
	clk.Set(baseTime().Add(50 * time.Minute))
	mustAppend(t, d, testRecord(1))
	mustFlush(t, d)
	hours := d.Hours()
	if len(hours) != 1 || hours[0].Hour != baseHour()+1 || hours[0].Records != 2 {
		t.Fatalf("Hours: %+v", hours)
	}
}

func TestUnsealOnRestart(t *testing.T) {
	forEachOptions(t, func(t *testing.T, opts Options) {
		clk := newClock(baseTime().Add(10 * time.Minute))
		opts.Now = clk.Now
		dir := t.TempDir()
		d := mustOpen(t, dir, opts)
		first := testRecords(0, 40)
		mustAppend(t, d, first...)
		mustClose(t, d)
		sealedSize := fileSize(t, filepath.Join(dir, sealedName(baseHour())))

		d = mustOpen(t, dir, opts)
		before := blockInfos(t, d, baseHour())
		if hi := d.Hours()[0]; !hi.Sealed {
			t.Fatalf("reopened hour not sealed: %+v", hi)
		}
		clk.Set(baseTime().Add(20 * time.Minute))
		second := testRecords(40, 70)
		mustAppend(t, d, second...)
		mustFlush(t, d)
		if got, want := dirNames(t, dir), []string{partName(baseHour())}; !slices.Equal(got, want) {
			t.Fatalf("after the first append: %v, want %v", got, want)
		}
		hi := d.Hours()[0]
		if hi.Sealed || hi.Records != 70 || hi.Size <= before[len(before)-1].Next || hi.Size == sealedSize {
			t.Errorf("unsealed hour %+v", hi)
		}
		after := blockInfos(t, d, baseHour())
		if !slices.Equal(after[:len(before)], before) || after[len(before)].Ref.Off != before[len(before)-1].Next {
			t.Errorf("appended blocks do not follow the old ones:\nbefore %+v\nafter  %+v", before, after)
		}
		for _, bi := range before {
			if _, err := d.ReadBlock(bi.Ref); err != nil {
				t.Errorf("old ref %s: %v", bi.Ref, err)
			}
		}
		all := append(slices.Clone(first), second...)
		sameRecords(t, readAll(t, d), all)
		mustClose(t, d)

		d = mustOpen(t, dir, opts)
		sameRecords(t, readAll(t, d), all)
		if st := d.Stats(); len(st.Recovered) != 0 {
			t.Errorf("recovered %+v after clean stops", st.Recovered)
		}
	})
}

func TestBlocksWalk(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			fx := writeFixture(t, 5, 7, sealed)
			d := mustOpen(t, fx.dir, Options{Now: newClock(baseTime().Add(10 * time.Minute)).Now})
			if !sealed {
				// Open sealed the recovered file; append to make it active again.
				mustAppend(t, d, testRecord(100))
				mustFlush(t, d)
				b := blockInfos(t, d, fx.hour)
				fx.blocks = b
			}
			end := fx.blocks[len(fx.blocks)-1].Next
			stop := errors.New("stop")
			tests := []struct {
				name     string
				from     int64
				stopAt   int // fn returns stop on this call (0: never)
				wantFrom int // index of the first block wanted
				wantN    int
				wantErr  error
			}{
				{name: "from_zero", from: 0, wantFrom: 0, wantN: len(fx.blocks)},
				{name: "from_first_offset", from: fileHeaderLen, wantFrom: 0, wantN: len(fx.blocks)},
				{name: "from_third_block", from: fx.blocks[2].Ref.Off, wantFrom: 2, wantN: len(fx.blocks) - 2},
				{name: "from_end", from: end, wantN: 0},
				{name: "past_end", from: end + 1, wantErr: ErrNotFound},
				{name: "fn_error_stops", from: 0, stopAt: 2, wantFrom: 0, wantN: 2, wantErr: stop},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var got []BlockInfo
					err := d.Blocks(fx.hour, tt.from, func(bi BlockInfo) error {
						got = append(got, bi)
						if len(got) == tt.stopAt {
							return stop
						}
						return nil
					})
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err %v, want %v", err, tt.wantErr)
					}
					if tt.wantErr == ErrNotFound {
						return
					}
					if want := fx.blocks[tt.wantFrom : tt.wantFrom+tt.wantN]; !slices.Equal(got, want) {
						t.Fatalf("got %+v\nwant %+v", got, want)
					}
				})
			}
			t.Run("not_a_block_offset", func(t *testing.T) {
				for _, bi := range []BlockInfo{fx.blocks[1], fx.blocks[len(fx.blocks)-1]} {
					called := false
					err := d.Blocks(fx.hour, bi.Ref.Off+1, func(BlockInfo) error { called = true; return nil })
					if err == nil || called {
						t.Errorf("walk from inside block %s: err %v, fn called %v", bi.Ref, err, called)
					}
				}
			})
			t.Run("chained", func(t *testing.T) {
				for i, bi := range fx.blocks {
					if i > 0 && bi.Ref.Off != fx.blocks[i-1].Next {
						t.Errorf("block %d at %d, previous ends at %d", i, bi.Ref.Off, fx.blocks[i-1].Next)
					}
					if bi.Next-bi.Ref.Off != blockHeaderLen+int64(bi.FrameLen) {
						t.Errorf("block %d: Next %d does not match its frame length", i, bi.Next)
					}
				}
			})
			if err := d.Blocks(fx.hour+5, 0, func(BlockInfo) error { return nil }); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown hour: %v", err)
			}
		})
	}
}

func TestBlocksSeesOnlyWrittenBlocks(t *testing.T) {
	d := mustOpen(t, t.TempDir(), Options{Now: newClock(baseTime()).Now, FlushInterval: time.Hour})
	mustAppend(t, d, testRecords(0, 5)...)
	if got := blockInfos(t, d, baseHour()); len(got) != 0 {
		t.Fatalf("blocks before any write: %+v", got)
	}
	mustFlush(t, d)
	mustAppend(t, d, testRecords(5, 10)...) // in memory only
	if got := blockInfos(t, d, baseHour()); len(got) != 1 || got[0].NRec != 5 {
		t.Fatalf("blocks after one flush: %+v", got)
	}
}

func TestDeleteHour(t *testing.T) {
	clk := newClock(baseTime().Add(10 * time.Minute))
	dir := t.TempDir()
	d := mustOpen(t, dir, Options{Now: clk.Now})
	mustAppend(t, d, testRecords(0, 20)...)
	clk.Set(baseTime().Add(70 * time.Minute))
	mustAppend(t, d, testRecords(20, 30)...)
	mustFlush(t, d)
	old := blockInfos(t, d, baseHour())
	size := fileSize(t, filepath.Join(dir, sealedName(baseHour())))
	before := d.Stats()

	tests := []struct {
		name      string
		hour      Hour
		wantErr   error
		wantFreed int64
	}{
		{name: "active_hour", hour: baseHour() + 1, wantErr: ErrActive},
		{name: "unknown_hour", hour: baseHour() - 3, wantErr: ErrNotFound},
		{name: "sealed_past_hour", hour: baseHour(), wantFreed: size},
		{name: "already_deleted", hour: baseHour(), wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			freed, err := d.DeleteHour(tt.hour)
			if !errors.Is(err, tt.wantErr) || freed != tt.wantFreed {
				t.Fatalf("DeleteHour = %d, %v; want %d, %v", freed, err, tt.wantFreed, tt.wantErr)
			}
		})
	}
	if got, want := dirNames(t, dir), []string{partName(baseHour() + 1)}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	if _, err := d.ReadBlock(old[0].Ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadBlock of a deleted hour: %v", err)
	}
	if err := d.Blocks(baseHour(), 0, func(BlockInfo) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Blocks of a deleted hour: %v", err)
	}
	after := d.Stats()
	if after.Hours != before.Hours-1 || after.BytesOnDisk != before.BytesOnDisk-size {
		t.Errorf("stats after delete: %d hours %d bytes; before %d hours %d bytes, freed %d",
			after.Hours, after.BytesOnDisk, before.Hours, before.BytesOnDisk, size)
	}
	sameRecords(t, readAll(t, d), testRecords(20, 30))
}

func TestReaderSurvivesDelete(t *testing.T) {
	fx := writeFixture(t, 3, 4, true)
	d := mustOpen(t, fx.dir, Options{Now: newClock(baseTime().Add(3 * time.Hour)).Now, CacheBlocks: -1})
	v, ok, err := d.acquire(fx.hour)
	if err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if _, err := d.DeleteHour(fx.hour); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fx.path); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
	b, err := d.readBlockAt(v, fx.blocks[2].Ref)
	if err != nil {
		t.Fatalf("read through a handle held across the delete: %v", err)
	}
	sameRecords(t, b.Records, fx.recs[8:])
	d.release(v)
	if _, err := d.ReadBlock(fx.blocks[2].Ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("new read after delete: %v", err)
	}
}

func TestWriterFillsCache(t *testing.T) {
	d := mustOpen(t, t.TempDir(), Options{Now: newClock(baseTime()).Now, CacheBlocks: 2})
	mustAppend(t, d, testRecords(0, 10)...)
	mustFlush(t, d)
	infos := blockInfos(t, d, baseHour())
	before := d.Stats()
	if _, err := d.ReadBlock(infos[0].Ref); err != nil {
		t.Fatal(err)
	}
	after := d.Stats()
	if after.CacheHits != before.CacheHits+1 || after.CacheMisses != before.CacheMisses {
		t.Errorf("read of a block just written: hits %d→%d misses %d→%d", before.CacheHits, after.CacheHits, before.CacheMisses, after.CacheMisses)
	}
}

func TestBlockCache(t *testing.T) {
	c := newBlockCache(2)
	ref := func(h Hour, off int64) BlockRef { return BlockRef{Hour: h, Off: off} }
	blk := func(n uint32) *Block { return &Block{BlockInfo: BlockInfo{NRec: n}} }
	c.put(ref(1, 10), blk(1))
	c.put(ref(1, 20), blk(2))
	if c.get(ref(1, 10)) == nil { // 10 becomes the most recent
		t.Fatal("miss on a cached block")
	}
	c.put(ref(2, 10), blk(3)) // evicts 20
	if c.get(ref(1, 20)) != nil {
		t.Error("least recently used block not evicted")
	}
	if b := c.get(ref(1, 10)); b == nil || b.NRec != 1 {
		t.Errorf("recent block: %+v", b)
	}
	c.dropHour(1)
	if c.get(ref(1, 10)) != nil || c.get(ref(2, 10)) == nil || c.len() != 1 {
		t.Errorf("dropHour: len %d", c.len())
	}
	off := newBlockCache(-1)
	off.put(ref(1, 1), blk(1))
	if off.get(ref(1, 1)) != nil {
		t.Error("disabled cache returned a block")
	}
}

// TestNotify: every follower that took the channel before a block was written
// is woken by it (the index and the statistics both follow the segments).
func TestNotify(t *testing.T) {
	d := mustOpen(t, t.TempDir(), Options{Now: newClock(baseTime()).Now, FlushInterval: time.Hour})
	first, second := d.Notify(), d.Notify()
	select {
	case <-first:
		t.Fatal("notified before any block")
	default:
	}
	mustAppend(t, d, testRecord(0))
	mustFlush(t, d)
	for i, ch := range []<-chan struct{}{first, second} {
		select {
		case <-ch:
		default:
			t.Fatalf("follower %d not notified after a block was written", i+1)
		}
	}
	select {
	case <-d.Notify():
		t.Fatal("a channel taken after the write is already closed")
	default:
	}
}

func TestClosedDir(t *testing.T) {
	d := mustOpen(t, t.TempDir(), Options{Now: newClock(baseTime()).Now})
	mustAppend(t, d, testRecord(0))
	mustClose(t, d)
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := d.Append(testRecord(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append: %v", err)
	}
	if err := d.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush: %v", err)
	}
	if _, err := d.ReadBlock(BlockRef{Hour: baseHour(), Off: fileHeaderLen}); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadBlock: %v", err)
	}
	if _, err := d.DeleteHour(baseHour()); !errors.Is(err, ErrClosed) {
		t.Errorf("DeleteHour: %v", err)
	}
}

func TestAppendTooLarge(t *testing.T) {
	d := mustOpen(t, t.TempDir(), Options{Now: newClock(baseTime()).Now})
	if err := d.Append(Record{Data: make([]byte, MaxRecordSize+1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized record: %v", err)
	}
	if err := d.Append(Record{Data: make([]byte, MaxRecordSize)}); err != nil {
		t.Errorf("record of MaxRecordSize: %v", err)
	}
	mustFlush(t, d)
	if got := readAll(t, d); len(got) != 1 || len(got[0].Data) != MaxRecordSize {
		t.Errorf("read back %d records", len(got))
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{name: "zero", opts: Options{}},
		{name: "negative_block_size", opts: Options{BlockSize: -1}, wantErr: true},
		{name: "block_size_too_large", opts: Options{BlockSize: maxBlockSize + 1}, wantErr: true},
		{name: "negative_flush_interval", opts: Options{FlushInterval: -time.Second}, wantErr: true},
		{name: "negative_queue", opts: Options{QueueBlocks: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(t.TempDir(), tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Open err %v, want error %v", err, tt.wantErr)
			}
			if d != nil {
				d.Close()
			}
		})
	}
}

func TestDirLocked(t *testing.T) {
	dir := t.TempDir()
	d := mustOpen(t, dir, Options{})
	if d2, err := Open(dir, Options{}); err == nil {
		d2.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
	mustClose(t, d)
	d2 := mustOpen(t, dir, Options{})
	mustClose(t, d2)
}

func TestOpenRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{partName(baseHour()) + tmpSuffix, sealedName(baseHour()) + ".delete" + tmpSuffix, "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	d := mustOpen(t, dir, Options{})
	if got, want := dirNames(t, dir), []string{"notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	if h := d.Hours(); len(h) != 0 {
		t.Errorf("Hours: %+v", h)
	}
}

// TestConcurrentAppendAndRead runs appenders, readers and flushes at once (run it
// with -race) and checks that every record lands exactly once and in each
// appender's order.
func TestConcurrentAppendAndRead(t *testing.T) {
	const writers, perWriter = 4, 500
	clk := newClock(baseTime().Add(10 * time.Minute))
	d := mustOpen(t, t.TempDir(), Options{Now: clk.Now, BlockSize: 4 << 10, QueueBlocks: 1, CacheBlocks: 8, FlushInterval: 2 * time.Millisecond})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				r := Record{Time: int64(w*perWriter + i), Data: fmt.Appendf(nil, "writer %d record %d %s", w, i, bytes.Repeat([]byte("x"), i%200))}
				if err := d.Append(r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		var from int64
		for {
			select {
			case <-done:
				return
			case <-d.Notify():
			}
			err := d.Blocks(baseHour(), from, func(bi BlockInfo) error {
				b, err := d.ReadBlock(bi.Ref)
				if err != nil {
					return err
				}
				if uint32(len(b.Records)) != bi.NRec {
					return fmt.Errorf("block %s: %d records, header %d", bi.Ref, len(b.Records), bi.NRec)
				}
				from = bi.Next
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	mustFlush(t, d)
	close(done)
	readers.Wait()

	next := make([]int, writers)
	for _, r := range readAll(t, d) {
		var w, i int
		if _, err := fmt.Sscanf(string(r.Data), "writer %d record %d", &w, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: record %d, want %d", w, i, next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != perWriter {
			t.Errorf("writer %d: %d records stored, want %d", w, n, perWriter)
		}
	}
	if st := d.Stats(); st.Appended != writers*perWriter || st.Stored != writers*perWriter {
		t.Errorf("stats %+v", st)
	}
}

// TestCountersWhileTheDirectoryIsLocked: the writer holds the directory's
// lock across a rename, which blocks on a frozen file system; Counters must
// still answer then (the liveness check behind systemd's watchdog reads it).
func TestCountersWhileTheDirectoryIsLocked(t *testing.T) {
	d := mustOpen(t, t.TempDir(), Options{})
	defer d.Close()
	for _, r := range testRecords(0, 10) {
		if err := d.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	got := make(chan Stats, 1)
	go func() { got <- d.Counters() }()
	select {
	case s := <-got:
		if s.Stored != 10 || s.Appended != 10 {
			t.Errorf("Counters = stored %d, appended %d; want 10, 10", s.Stored, s.Appended)
		}
	case <-time.After(5 * time.Second):
		t.Error("Counters blocked on the directory's lock")
	}
	d.mu.Unlock()
}
