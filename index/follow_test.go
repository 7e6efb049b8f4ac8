package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"traced/segment"
)

var _ Source = (*fakeSource)(nil)

// callRec is a record of call id in hour h's traffic, with a few more terms.
func callRec(t int64, id string) segment.Record {
	return rec(t, "cid="+id, "from=u-"+id, "to=callee", "src=10.0.0.1", "dst=10.0.0.2", "method=INVITE", "type=1")
}

// fill adds n blocks of 3 records to hour h, with call ids named after the
// hour and the block's number in the hour; it returns the call id of each new
// block.
func fill(src *fakeSource, h segment.Hour, n int) []string {
	src.mu.Lock()
	start := 0
	if fh := src.hours[h]; fh != nil {
		start = len(fh.blocks)
	}
	src.mu.Unlock()
	ids := make([]string, n)
	t0 := h.Time().UnixMicro()
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", h, start+i)
		t := t0 + int64(start+i)*1000
		src.add(h, callRec(t, ids[i]), callRec(t+1, ids[i]), rec(t+2, "cid=shared", "corr=corr-"+ids[i]))
	}
	return ids
}

func catchUp(t *testing.T, x *Index, src Source) {
	t.Helper()
	if err := x.CatchUp(context.Background(), src, extractTest); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
}

// blocksOf lists the refs of the blocks of src that hold call id.
func blocksOf(src *fakeSource, id string) []segment.BlockRef {
	src.mu.Lock()
	defer src.mu.Unlock()
	var refs []segment.BlockRef
	for _, hi := range src.hoursLocked() {
		for _, b := range src.hours[hi].blocks {
			var f Fields
			extractTest(b.Records, &f)
			if slices.Contains(f.CallIDs, id) || slices.Contains(f.CorrIDs, id) {
				refs = append(refs, b.Ref)
			}
		}
	}
	return refs
}

func (s *fakeSource) hoursLocked() []segment.Hour {
	var hs []segment.Hour
	for h := range s.hours {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

// checkFound asserts that every call id is found in exactly the blocks of src
// that hold it.
func checkFound(t *testing.T, x *Index, src *fakeSource, ids []string) {
	t.Helper()
	for _, id := range ids {
		want := blocksOf(src, id)
		if got := find(t, x, Query{CallID: id}); !slices.Equal(got, want) {
			t.Errorf("CallID %s: %v, want %v", id, got, want)
		}
	}
}

// snapshot runs a fixed set of queries and returns their results.
func snapshot(t *testing.T, x *Index) map[string][]segment.BlockRef {
	t.Helper()
	qs := map[string]Query{
		"all":      {},
		"shared":   {CallID: "shared"},
		"user":     {FromUser: "U-" + hourA.String() + "-3"},
		"any user": {AnyUser: "callee", Method: "invite"},
		"corr":     {CallID: "corr-" + hourB.String() + "-1"},
		"ip":       {IP: "10.0.0.2", Since: hourB.Time().UnixMicro()},
	}
	out := map[string][]segment.BlockRef{}
	for name, q := range qs {
		out[name] = find(t, x, q)
	}
	return out
}

func equalSnapshots(a, b map[string][]segment.BlockRef) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestCatchUpIndexesEveryBlock(t *testing.T) {
	src := newFakeSource()
	var ids []string
	for _, h := range []segment.Hour{hourA, hourB, hourC} {
		ids = append(ids, fill(src, h, 7)...)
	}
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 3})
	catchUp(t, x, src)

	checkFound(t, x, src, ids)
	checkFound(t, x, src, []string{"shared", "corr-" + ids[4]})
	if got := find(t, x, Query{}); len(got) != 21 {
		t.Errorf("%d blocks indexed, want 21", len(got))
	}
	for _, hi := range src.Hours() {
		last := src.hours[hi.Hour].blocks[hi.Blocks-1]
		if off, crc, ok := x.Mark(hi.Hour); !ok || off != last.Ref.Off || crc != last.CRC {
			t.Errorf("Mark(%s) = %d, %08x, %v; want %d, %08x", hi.Hour, off, crc, ok, last.Ref.Off, last.CRC)
		}
		if b, r := x.Indexed(hi.Hour); b != int64(hi.Blocks) || r != hi.Records {
			t.Errorf("Indexed(%s) = %d blocks %d records; want %d, %d", hi.Hour, b, r, hi.Blocks, hi.Records)
		}
	}
	if b, r := x.Indexed(hourA + 100); b != 0 || r != 0 {
		t.Errorf("Indexed of an hour without shard = %d, %d", b, r)
	}
	if b := x.Backlog(); b != (Backlog{}) {
		t.Errorf("Backlog() = %+v after a pass, want zero", b)
	}

	// A second pass reads nothing; new blocks are picked up.
	reads := src.readsOf(hourC)
	more := fill(src, hourC, 2)
	catchUp(t, x, src)
	if got := src.readsOf(hourC) - reads; got != 2 {
		t.Errorf("second pass read %d blocks of hour C, want 2", got)
	}
	checkFound(t, x, src, more)
}

func TestCatchUpKeepsMarkAcrossReopen(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 5)
	fill(src, hourB, 5)
	dir := t.TempDir()
	x, err := Open(dir, Options{BatchBlocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	catchUp(t, x, src)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	ids := fill(src, hourB, 3)
	x = openTest(t, dir, Options{})
	catchUp(t, x, src)
	if got := src.readsOf(hourA); got != 5 {
		t.Errorf("hour A read %d times in all, want 5 (once per block)", got)
	}
	if got := src.readsOf(hourB); got != 8 {
		t.Errorf("hour B read %d times in all, want 8", got)
	}
	checkFound(t, x, src, append(ids, "shared", hourA.String()+"-4"))
}

func TestCatchUpRebuildsStaleHour(t *testing.T) {
	tests := []struct {
		name  string
		stale func(src *fakeSource) // changes hour B after it was indexed
	}{
		{"crc mismatch at the mark", func(src *fakeSource) {
			// The last block rewritten with other content at the same offset.
			src.rewrite(hourB, 5, []segment.Record{callRec(1, "new-1"), callRec(2, "new-1")})
		}},
		{"mark beyond the end of the file", func(src *fakeSource) {
			src.truncate(hourB, 3)
		}},
		{"mark inside a longer block", func(src *fakeSource) {
			src.truncate(hourB, 4)
			recs := []segment.Record{}
			for i := range 40 {
				recs = append(recs, callRec(int64(i), "long"))
			}
			src.add(hourB, recs...)
		}},
		{"file cut and grown again", func(src *fakeSource) {
			src.rewrite(hourB, 2,
				[]segment.Record{callRec(1, "new-1")},
				[]segment.Record{callRec(2, "new-2"), callRec(3, "new-2"), callRec(4, "new-2")},
				[]segment.Record{callRec(5, "new-3")},
				[]segment.Record{callRec(6, "new-4")},
				[]segment.Record{callRec(7, "new-5")})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource()
			idsA := fill(src, hourA, 6)
			idsB := fill(src, hourB, 6)
			dir := t.TempDir()
			x, err := Open(dir, Options{BatchBlocks: 4})
			if err != nil {
				t.Fatal(err)
			}
			catchUp(t, x, src)
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}

			tt.stale(src)
			readsA, readsB := src.readsOf(hourA), src.readsOf(hourB)
			var logs syncBuffer
			x = openTest(t, dir, Options{Logger: newTestLogger(&logs)})
			catchUp(t, x, src)

			if got := src.readsOf(hourA) - readsA; got != 0 {
				t.Errorf("hour A read %d blocks again; only the stale hour is rebuilt", got)
			}
			if got, want := src.readsOf(hourB)-readsB, len(src.hours[hourB].blocks); got != want {
				t.Errorf("hour B: %d blocks read, want all %d", got, want)
			}
			checkFound(t, x, src, append(append(idsA, idsB...), "new-1", "new-2", "new-5", "long", "shared"))
			if !containsAll(logs.String(), "stale", hourB.String()) {
				t.Errorf("the rebuild is not logged: %q", logs.String())
			}
		})
	}
}

func TestCatchUpRebuildsMissingOrDamagedShard(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"shard directory deleted", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, hourA.String()+shardSuffix)); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage in every file", func(t *testing.T, dir string) { damageShard(t, dir, hourA) }},
		{"garbage in the segment files", func(t *testing.T, dir string) {
			zaps, err := filepath.Glob(filepath.Join(dir, hourA.String()+shardSuffix, "store", "*.zap"))
			if err != nil || len(zaps) == 0 {
				t.Fatalf("no segment files: %v", err)
			}
			for _, z := range zaps {
				if err := os.WriteFile(z, []byte("garbage!garbage!garbage!garbage!garbage!garbage!"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource()
			fill(src, hourA, 9)
			fill(src, hourB, 4)
			dir := t.TempDir()
			x, err := Open(dir, Options{BatchBlocks: 4})
			if err != nil {
				t.Fatal(err)
			}
			catchUp(t, x, src)
			before := snapshot(t, x)
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}

			tt.damage(t, dir)
			readsB := src.readsOf(hourB)
			x = openTest(t, dir, Options{})
			catchUp(t, x, src)
			if after := snapshot(t, x); !equalSnapshots(before, after) {
				t.Errorf("results differ after the rebuild:\nbefore %v\nafter  %v", before, after)
			}
			if got := src.readsOf(hourB) - readsB; got != 0 {
				t.Errorf("hour B read %d blocks again", got)
			}
			if b := x.Backlog(); b != (Backlog{}) {
				t.Errorf("Backlog() = %+v", b)
			}
		})
	}
}

func TestSearchRemovesShardDamagedWhileOpen(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 9)
	fill(src, hourB, 2)
	dir := t.TempDir()
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	catchUp(t, x, src)
	before := snapshot(t, x)
	if err := x.Close(); err != nil { // so that the segment files are on disk
		t.Fatal(err)
	}
	var logs syncBuffer
	x = openTest(t, dir, Options{Logger: newTestLogger(&logs)})

	x.mu.RLock()
	store := filepath.Join(x.shards[hourA].path, "store")
	x.mu.RUnlock()
	zaps, err := filepath.Glob(filepath.Join(store, "*.zap"))
	if err != nil || len(zaps) == 0 {
		t.Fatalf("no segment files in %s: %v", store, err)
	}
	for _, z := range zaps {
		fi, err := os.Stat(z)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, fi.Size()-200)
		for i := range junk {
			junk[i] = byte(i * 7)
		}
		f, err := os.OpenFile(z, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, werr := f.WriteAt(junk, 100)
		if err := errors.Join(werr, f.Close()); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := x.Search(context.Background(), Query{CallID: "shared"}); !errors.Is(err, errDamaged) {
		t.Fatalf("Search over a damaged shard: %v, want a damage error", err)
	}
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB}) {
		t.Errorf("Hours() = %v: the damaged shard was kept", got)
	}
	if !containsAll(logs.String(), "damaged", hourA.String()) {
		t.Errorf("the removal is not logged: %q", logs.String())
	}
	catchUp(t, x, src)
	if after := snapshot(t, x); !equalSnapshots(before, after) {
		t.Errorf("results differ after the rebuild:\nbefore %v\nafter  %v", before, after)
	}
}

func TestCatchUpDropsHourWithoutSegment(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 3)
	idsB := fill(src, hourB, 3)
	dir := t.TempDir()
	x := openTest(t, dir, Options{})
	catchUp(t, x, src)

	src.deleteHour(hourA)
	catchUp(t, x, src)
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB}) {
		t.Errorf("Hours() = %v, want [%s]", got, hourB)
	}
	if _, err := os.Stat(filepath.Join(dir, hourA.String()+shardSuffix)); !os.IsNotExist(err) {
		t.Errorf("shard of the deleted hour still on disk: %v", err)
	}
	if got, want := find(t, x, Query{CallID: "shared"}), blocksOf(src, "shared"); !slices.Equal(got, want) || len(want) != 3 {
		t.Errorf("shared: %v, want %v", got, want)
	}
	checkFound(t, x, src, idsB)
}

func TestCatchUpHourVanishingDuringPass(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 6)
	idsB := fill(src, hourB, 2)
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 2})
	// Hour A is deleted (by retention) after its first batch was read.
	var once sync.Once
	src.setOnRead(func(ref segment.BlockRef) error {
		if ref.Hour == hourA && ref.Off > fakeHeaderLen {
			once.Do(func() { src.deleteHour(hourA) })
		}
		return nil
	})
	catchUp(t, x, src)
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB}) {
		t.Errorf("Hours() = %v, want [%s]", got, hourB)
	}
	checkFound(t, x, src, idsB)
}

func TestCatchUpDamagedBlock(t *testing.T) {
	src := newFakeSource()
	ids := fill(src, hourA, 5)
	bad := src.hours[hourA].blocks[2].BlockInfo
	src.setOnRead(func(ref segment.BlockRef) error {
		if ref == bad.Ref {
			return fmt.Errorf("read %s: %w", ref, &segment.CorruptionError{Path: "x.seg", Offset: ref.Off, Err: errors.New("bad frame crc")})
		}
		return nil
	})
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 2})
	catchUp(t, x, src)

	if off, _, ok := x.Mark(hourA); !ok || off != src.hours[hourA].blocks[4].Ref.Off {
		t.Errorf("Mark(hourA) = %d, %v: the follower is stuck at the damaged block", off, ok)
	}
	if got := find(t, x, Query{CallID: ids[2]}); len(got) != 0 {
		t.Errorf("a term of the damaged block is found: %v", got)
	}
	checkFound(t, x, src, []string{ids[1], ids[3]})
	if got := find(t, x, Query{Since: bad.MinTime, Until: bad.MaxTime}); !slices.Equal(got, []segment.BlockRef{bad.Ref}) {
		t.Errorf("time query over the damaged block: %v, want [%s]", got, bad.Ref)
	}
}

func TestCatchUpRetriesFailedRead(t *testing.T) {
	src := newFakeSource()
	ids := fill(src, hourA, 6)
	failing := src.hours[hourA].blocks[3].Ref
	src.setOnRead(func(ref segment.BlockRef) error {
		if ref == failing {
			return errors.New("read: input/output error")
		}
		return nil
	})
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 2})
	if err := x.CatchUp(context.Background(), src, extractTest); err == nil {
		t.Fatal("CatchUp hid a read error")
	}
	if off, _, _ := x.Mark(hourA); off != src.hours[hourA].blocks[2].Ref.Off {
		t.Errorf("Mark(hourA) at %d, want the block before the failing one", off)
	}
	if b := x.Backlog(); b.Blocks != 3 || b.Records != 9 {
		t.Errorf("Backlog() = %+v, want 3 blocks, 9 records", b)
	}

	src.setOnRead(nil)
	catchUp(t, x, src)
	checkFound(t, x, src, ids)
	if b := x.Backlog(); b != (Backlog{}) {
		t.Errorf("Backlog() = %+v", b)
	}
}

func TestCatchUpShardRemovedDuringPass(t *testing.T) {
	src := newFakeSource()
	ids := fill(src, hourA, 6)
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 2})
	// The shard goes (as when a search finds it damaged) after the first batch
	// was indexed: what follows must not be added below a mark that claims the
	// first blocks.
	n := 0
	ex := func(recs []segment.Record, f *Fields) {
		if n++; n == 3 {
			if err := x.removeShard(hourA); err != nil {
				t.Error(err)
			}
		}
		extractTest(recs, f)
	}
	if err := x.CatchUp(context.Background(), src, ex); !errors.Is(err, errMoved) {
		t.Fatalf("CatchUp: %v, want errMoved", err)
	}
	if _, _, ok := x.Mark(hourA); ok {
		t.Error("a shard with a gap was written")
	}
	catchUp(t, x, src)
	checkFound(t, x, src, ids)
}

func TestCatchUpIgnoresDroppedHour(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 3)
	fill(src, hourB, 3)
	x := openTest(t, t.TempDir(), Options{})
	catchUp(t, x, src)
	// Retention drops the index hour just before it deletes the segment.
	if err := x.DropHour(hourA); err != nil {
		t.Fatal(err)
	}
	catchUp(t, x, src)
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB}) {
		t.Errorf("Hours() = %v: a dropped hour came back", got)
	}
}

func TestBacklogCountsDown(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 7)
	fill(src, hourB, 5)
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 3})

	var seen []Backlog
	ex := func(recs []segment.Record, f *Fields) {
		seen = append(seen, x.Backlog())
		extractTest(recs, f)
	}
	if err := x.CatchUp(context.Background(), src, ex); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 12 {
		t.Fatalf("%d blocks extracted, want 12", len(seen))
	}
	first := src.hours[hourA].blocks[0]
	var bytes int64
	for _, hi := range src.Hours() {
		bytes += hi.End - fakeHeaderLen
	}
	want := Backlog{Blocks: 12, Records: 36, Bytes: bytes, Oldest: time.UnixMicro(first.MinTime).UTC()}
	if seen[0] != want {
		t.Errorf("backlog at the start = %+v, want %+v", seen[0], want)
	}
	for i := 1; i < len(seen); i++ {
		p, c := seen[i-1], seen[i]
		if c.Blocks > p.Blocks || c.Records > p.Records || c.Bytes > p.Bytes {
			t.Errorf("backlog grew: %+v then %+v", p, c)
		}
	}
	// Newest hour first, in batches of 3: B's 5 blocks, then A's 7.
	if got := seen[3]; got.Blocks != 9 || got.Records != 27 {
		t.Errorf("after the first batch: %+v, want 9 blocks, 27 records", got)
	}
	if got := seen[5]; got.Blocks != 7 || !got.Oldest.Equal(want.Oldest) {
		t.Errorf("after hour B: %+v, want 7 blocks, oldest %v", got, want.Oldest)
	}
	if got := seen[8]; got.Blocks != 4 || got.Oldest.UnixMicro() != src.hours[hourA].blocks[3].MinTime {
		t.Errorf("after A's first batch: %+v, want 4 blocks from A's fourth block", got)
	}
	if b := x.Backlog(); b != (Backlog{}) {
		t.Errorf("Backlog() = %+v after the pass, want zero", b)
	}
}

func TestCatchUpTopsUpNewestHour(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 6)
	fill(src, hourB, 1)
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 1})
	// While the old hour is rebuilt, live blocks keep arriving in the newest.
	var mu sync.Mutex
	var live []string
	ex := func(recs []segment.Record, f *Fields) {
		extractTest(recs, f)
		if recs[0].Time < hourB.Time().UnixMicro() && len(live) < 3 {
			mu.Lock()
			id := fmt.Sprintf("live-%d", len(live))
			live = append(live, id)
			mu.Unlock()
			src.add(hourB, callRec(hourB.Time().UnixMicro(), id))
		}
	}
	if err := x.CatchUp(context.Background(), src, ex); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	checkFound(t, x, src, live)
}

func TestFollowReactsToNotify(t *testing.T) {
	src := newFakeSource()
	fill(src, hourA, 2)
	x := openTest(t, t.TempDir(), Options{FollowDelay: time.Millisecond, FollowInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Follow(ctx, src, extractTest) }()

	waitFound := func(id string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(find(t, x, Query{CallID: id})) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("call %s not indexed after a notification", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFound(hourA.String() + "-1")
	for i := range 3 {
		id := fmt.Sprintf("notified-%d", i)
		src.add(hourB, callRec(hourB.Time().UnixMicro()+int64(i), id))
		waitFound(id)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after cancel")
	}
	if b := x.Backlog(); b != (Backlog{}) {
		t.Errorf("Backlog() = %+v", b)
	}
}

func TestConcurrentSearchFollowAndDrop(t *testing.T) {
	src := newFakeSource()
	for h := hourA; h < hourA+4; h++ {
		fill(src, h, 6)
	}
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 2, FollowDelay: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = x.Follow(ctx, src, extractTest)
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := x.Search(ctx, Query{CallID: "shared"}); err != nil && ctx.Err() == nil {
				t.Errorf("Search: %v", err)
				return
			}
		}
	}()
	for h := hourA; h < hourA+2; h++ {
		time.Sleep(20 * time.Millisecond)
		src.deleteHour(h)
		if err := x.DropHour(h); err != nil {
			t.Error(err)
		}
		fill(src, h+4, 3)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := find(t, x, Query{CallID: "shared"})
		if slices.Equal(got, blocksOf(src, "shared")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index did not settle: %v, want %v", got, blocksOf(src, "shared"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if got, want := x.Hours(), []segment.Hour{hourA + 2, hourA + 3, hourA + 4, hourA + 5}; !slices.Equal(got, want) {
		t.Errorf("Hours() = %v, want %v", got, want)
	}
}
