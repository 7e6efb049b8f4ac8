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

var _ Source = (*segment.Dir)(nil)

// clock is a settable time source for segment.Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// truth maps every call id of src to the blocks that hold it, by reading every
// block.
func truth(t *testing.T, src Source) map[string][]segment.BlockRef {
	t.Helper()
	out := map[string][]segment.BlockRef{}
	for _, hi := range src.Hours() {
		var infos []segment.BlockInfo
		if err := src.Blocks(hi.Hour, 0, func(bi segment.BlockInfo) error {
			infos = append(infos, bi)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, bi := range infos {
			b, err := src.ReadBlock(bi.Ref)
			if err != nil {
				t.Fatal(err)
			}
			var f Fields
			extractTest(b.Records, &f)
			seen := map[string]bool{}
			for _, id := range append(f.CallIDs, f.CorrIDs...) {
				if !seen[id] {
					seen[id] = true
					out[id] = append(out[id], bi.Ref)
				}
			}
		}
	}
	return out
}

func checkTruth(t *testing.T, x *Index, src Source) {
	t.Helper()
	want := truth(t, src)
	if len(want) == 0 {
		t.Fatal("no call ids in the segments")
	}
	for id, refs := range want {
		if got := find(t, x, Query{CallID: id}); !slices.Equal(got, refs) {
			t.Errorf("CallID %s: %v, want %v", id, got, refs)
		}
	}
}

// TestWithSegmentDir follows a real segment directory: two hours written and
// sealed, live blocks in the third, deletion of the oldest.
func TestWithSegmentDir(t *testing.T) {
	clk := &clock{now: hourA.Time().Add(10 * time.Minute)}
	sd, err := segment.Open(filepath.Join(t.TempDir(), "segments"), segment.Options{
		Now: clk.Now, BlockSize: 2048, FlushInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	write := func(h segment.Hour, n int, prefix string) {
		t.Helper()
		clk.Set(h.Time().Add(10 * time.Minute))
		for i := range n {
			id := fmt.Sprintf("%s-%d", prefix, i/4) // four messages a call
			if err := sd.Append(callRec(clk.Now().UnixMicro()+int64(i), id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := sd.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(hourA, 200, "a")
	write(hourB, 120, "b")

	dir := t.TempDir()
	x, err := Open(dir, Options{BatchBlocks: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CatchUp(context.Background(), sd, extractTest); err != nil {
		t.Fatal(err)
	}
	checkTruth(t, x, sd)
	if b := x.Backlog(); b != (Backlog{}) {
		t.Errorf("Backlog() = %+v", b)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened, the index follows live writes in a new hour.
	x = openTest(t, dir, Options{FollowDelay: time.Millisecond, FollowInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- x.Follow(ctx, sd, extractTest) }()
	write(hourC, 60, "c")
	deadline := time.Now().Add(10 * time.Second)
	for len(find(t, x, Query{CallID: "c-14"})) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("live block not indexed")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Retention: the oldest hour's segment goes, and its shard with it.
	if _, err := sd.DeleteHour(hourA); err != nil {
		t.Fatal(err)
	}
	if err := x.DropHour(hourA); err != nil {
		t.Fatal(err)
	}
	write(hourC, 8, "c2")
	for len(find(t, x, Query{CallID: "c2-1"})) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("live block not indexed after the drop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow: %v", err)
	}
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB, hourC}) {
		t.Errorf("Hours() = %v", got)
	}
	if got := find(t, x, Query{CallID: "a-3"}); len(got) != 0 {
		t.Errorf("a call of the deleted hour is found: %v", got)
	}
	checkTruth(t, x, sd)
}

// TestWithSegmentDirTornTail cuts the end of a sealed segment file, as a disk
// that lost its last writes would; segment recovery drops the damaged blocks,
// and the index rebuilds that hour.
func TestWithSegmentDirTornTail(t *testing.T) {
	clk := &clock{now: hourA.Time().Add(10 * time.Minute)}
	segDir := filepath.Join(t.TempDir(), "segments")
	opts := segment.Options{Now: clk.Now, BlockSize: 2048, FlushInterval: time.Hour}
	sd, err := segment.Open(segDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := sd.Append(callRec(clk.Now().UnixMicro()+int64(i), fmt.Sprintf("a-%d", i/4))); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(hourB.Time().Add(time.Minute))
	for i := range 40 {
		if err := sd.Append(callRec(clk.Now().UnixMicro()+int64(i), fmt.Sprintf("b-%d", i/4))); err != nil {
			t.Fatal(err)
		}
	}
	if err := sd.Close(); err != nil {
		t.Fatal(err)
	}
	if sd, err = segment.Open(segDir, opts); err != nil {
		t.Fatal(err)
	}
	var pathA string
	for _, hi := range sd.Hours() {
		if hi.Hour == hourA {
			pathA = hi.Path
		}
	}

	dir := t.TempDir()
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CatchUp(context.Background(), sd, extractTest); err != nil {
		t.Fatal(err)
	}
	checkTruth(t, x, sd)
	if err := errors.Join(x.Close(), sd.Close()); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(pathA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(pathA, fi.Size()*2/3); err != nil {
		t.Fatal(err)
	}
	if sd, err = segment.Open(segDir, opts); err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	var logs syncBuffer
	x = openTest(t, dir, Options{Logger: newTestLogger(&logs)})
	if err := x.CatchUp(context.Background(), sd, extractTest); err != nil {
		t.Fatal(err)
	}
	if !containsAll(logs.String(), "stale", hourA.String()) {
		t.Errorf("no rebuild of hour A logged: %q", logs.String())
	}
	if containsAll(logs.String(), "stale", hourB.String()) {
		t.Errorf("hour B rebuilt: %q", logs.String())
	}
	if got := find(t, x, Query{CallID: "a-49"}); len(got) != 0 {
		t.Errorf("a call from the cut tail is found: %v", got)
	}
	checkTruth(t, x, sd)
}
