package retention

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"traced/index"
	"traced/segment"
)

// clock is a time source the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// extract indexes each record by its payload as a Call-ID.
func extract(recs []segment.Record, f *index.Fields) {
	f.Reset()
	for _, r := range recs {
		f.CallIDs = append(f.CallIDs, string(r.Data))
		if f.MinTime == 0 || r.Time < f.MinTime {
			f.MinTime = r.Time
		}
		if r.Time > f.MaxTime {
			f.MaxTime = r.Time
		}
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// fillHours writes 40 records into each of n consecutive hours ending at the hour
// before end, moving the clock, and indexes them.
func fillHours(t *testing.T, clk *clock, seg *segment.Dir, idx *index.Index, first time.Time, n int) {
	t.Helper()
	for h := 0; h < n; h++ {
		at := first.Add(time.Duration(h) * time.Hour)
		clk.Set(at.Add(10 * time.Minute))
		for i := 0; i < 40; i++ {
			id := fmt.Sprintf("call-%02d-%02d", h, i)
			if err := seg.Append(segment.Record{Time: at.Add(time.Duration(i) * time.Second).UnixMicro(), Data: []byte(id)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := seg.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := idx.CatchUp(context.Background(), seg, extract); err != nil {
		t.Fatal(err)
	}
}

func found(t *testing.T, idx *index.Index, id string) bool {
	t.Helper()
	refs, err := idx.Search(context.Background(), index.Query{CallID: id})
	if err != nil {
		t.Fatal(err)
	}
	return len(refs) > 0
}

// With a real segment directory and index and a clock the test controls, hours
// past the retention period are deleted, their index data goes with them, and
// disk usage falls.
func TestRetentionOnRealStore(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk.Set(start)
	seg, err := segment.Open(filepath.Join(dir, "segments"), segment.Options{Now: clk.Now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	idx, err := index.Open(filepath.Join(dir, "index"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	fillHours(t, clk, seg, idx, start, 6)
	if got := len(seg.Hours()); got != 6 {
		t.Fatalf("%d hours written", got)
	}
	before := dirBytes(t, dir)
	if !found(t, idx, "call-00-00") {
		t.Fatal("first hour not indexed")
	}

	// Two days and three hours after the start, with two days of retention, the
	// first hours (those that ended more than 48 h ago) go.
	clk.Set(start.Add(50*time.Hour + 30*time.Minute))
	e := &Enforcer{Policy: Policy{MaxAge: 48 * time.Hour}, Segments: seg, Index: idx, Now: clk.Now}
	del, err := e.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 || del[0].Hour != segment.HourOf(start) || del[0].Freed <= 0 {
		t.Fatalf("deleted %+v", del)
	}
	if found(t, idx, "call-00-00") || found(t, idx, "call-01-39") {
		t.Error("a deleted hour is still found in the index")
	}
	if !found(t, idx, "call-02-00") {
		t.Error("a kept hour is no longer found")
	}
	if after := dirBytes(t, dir); after >= before {
		t.Errorf("disk usage %d → %d: did not fall", before, after)
	}
	if got := len(seg.Hours()); got != 4 {
		t.Errorf("%d hours left, want 4", got)
	}

	// A watermark the disk cannot meet removes the oldest hours first, one at a
	// time, and stops at the hour being written.
	used := func() uint64 { return uint64(dirBytes(t, filepath.Join(dir, "segments"))) }
	total := used() * 4
	disk := func() (uint64, uint64, error) { return total - used()*3, total, nil } // pretend other files fill the rest
	clk.Set(start.Add(5*time.Hour + 20*time.Minute))                               // the newest hour is being written
	e = &Enforcer{Policy: Policy{MaxAge: 0, MinFreeFrac: 0.5}, Segments: seg, Index: idx, Disk: disk, Now: clk.Now}
	del, err = e.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	if len(del) == 0 || del[0].Hour != segment.HourOf(start)+2 || del[0].Reason != ByDisk {
		t.Fatalf("deleted %+v", del)
	}
	for i := 1; i < len(del); i++ {
		if del[i].Hour <= del[i-1].Hour {
			t.Errorf("deletion %d (%s) not in age order", i, del[i].Hour)
		}
	}
	hours := seg.Hours()
	if len(hours) == 0 || hours[len(hours)-1].Hour != segment.HourOf(start)+5 {
		t.Errorf("the hour being written was deleted: %v", hours)
	}
}
