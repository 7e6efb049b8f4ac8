package index

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"traced/segment"
)

// dirSize returns the bytes of the regular files under dir.
func dirSize(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkAdd indexes realistic blocks (400 records from about 60 calls) in
// batches of BatchBlocks, and reports records indexed per second and bytes of
// index per record after Close.
func BenchmarkAdd(b *testing.B) {
	for _, bb := range []struct {
		name  string
		batch int
	}{
		{"batch=8", 8},
		{"batch=64", 64},
	} {
		b.Run(bb.name, func(b *testing.B) {
			const recs, calls = 400, 60
			dir := b.TempDir()
			x, err := Open(dir, Options{BatchBlocks: bb.batch})
			if err != nil {
				b.Fatal(err)
			}
			g := newTraffic(1)
			h := segment.Hour(493_000)
			var off int64
			var blocks int
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				es := g.entries(h, off, bb.batch, recs, calls)
				off = es[len(es)-1].Info.Next
				b.StartTimer()
				if err := x.Add(es); err != nil {
					b.Fatal(err)
				}
				blocks += len(es)
			}
			b.StopTimer()
			if err := x.Close(); err != nil {
				b.Fatal(err)
			}
			// Reopening removes the files that merges made obsolete.
			if x, err = Open(dir, Options{}); err != nil {
				b.Fatal(err)
			}
			if err := x.Close(); err != nil {
				b.Fatal(err)
			}
			records := float64(blocks * recs)
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(dirSize(b, dir))/records, "B/record")
		})
	}
}

// BenchmarkSearchCallID looks one Call-ID up over 24 hourly shards of 200
// blocks each.
func BenchmarkSearchCallID(b *testing.B) {
	const hours, blocksPerHour, recs, calls = 24, 200, 400, 60
	x, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	g := newTraffic(2)
	var ids []string
	for i := range hours {
		es := g.entries(segment.Hour(493_000+i), 4096, blocksPerHour, recs, calls)
		for j := 0; j < len(es); j += 37 {
			ids = append(ids, es[j].Fields.CallIDs[0])
		}
		if err := x.Add(es); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		refs, err := x.Search(ctx, Query{CallID: ids[i%len(ids)]})
		if err != nil {
			b.Fatal(err)
		}
		if len(refs) != 1 {
			b.Fatalf("Call-ID %s: %d blocks, want 1", ids[i%len(ids)], len(refs))
		}
		i++
	}
}
