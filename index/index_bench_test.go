package index

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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

// liveBytes sums the bytes of the segment files that the shards' current
// snapshots use.
func liveBytes(tb testing.TB, x *Index) int64 {
	tb.Helper()
	var n int64
	for _, s := range x.shards {
		st, ok := s.idx.StatsMap()["index"].(map[string]any)
		if !ok {
			tb.Fatalf("no index stats for shard %s", s.hour)
		}
		v, ok := st["num_bytes_used_disk_by_root"].(uint64)
		if !ok {
			tb.Fatalf("no disk usage in the stats of shard %s", s.hour)
		}
		n += int64(v)
	}
	return n
}

// processCPU is the CPU time the process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAdd indexes realistic blocks (400 records from about 60 calls) in
// batches of BatchBlocks. It reports records indexed per second of Add calls,
// records per CPU second of the whole process (background merges and the final
// flush included, generating the blocks excluded) and bytes of index per record
// after Close. Run with -cpu 1 for the figures of one core.
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
			// The CPU cost of generating a block, to take off the total.
			cpu0 := processCPU(b)
			g.entries(h, 0, 64, recs, calls)
			genCPU := (processCPU(b) - cpu0) / 64
			var off int64
			var blocks int
			cpu0 = processCPU(b)
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
			cpu := processCPU(b) - cpu0 - time.Duration(blocks)*genCPU
			// Reopening removes the files that merges made obsolete.
			if x, err = Open(dir, Options{}); err != nil {
				b.Fatal(err)
			}
			live := liveBytes(b, x)
			if err := x.Close(); err != nil {
				b.Fatal(err)
			}
			records := float64(blocks * recs)
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(records/cpu.Seconds(), "records/cpu-s")
			// On disk: every file, including segments that an older snapshot
			// still holds until the next merge; live: the segments of the
			// current snapshot, what the index settles to.
			b.ReportMetric(float64(dirSize(b, dir))/records, "disk-B/record")
			b.ReportMetric(float64(live)/records, "live-B/record")
		})
	}
}

// BenchmarkSearchCallID looks one Call-ID up over 24 hourly shards of 200
// blocks (80 000 records) each: over all hours, and with a time window of one
// hour, which skips the other shards.
func BenchmarkSearchCallID(b *testing.B) {
	const hours, blocksPerHour, recs, calls = 24, 200, 400, 60
	x, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	g := newTraffic(2)
	type probe struct {
		id   string
		hour segment.Hour
	}
	var probes []probe
	for i := range hours {
		h := segment.Hour(493_000 + i)
		es := g.entries(h, 4096, blocksPerHour, recs, calls)
		for j := 0; j < len(es); j += 37 {
			probes = append(probes, probe{es[j].Fields.CallIDs[0], h})
		}
		if err := x.Add(es); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, bb := range []struct {
		name   string
		window bool
	}{
		{"all_hours", false},
		{"one_hour_window", true},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p := probes[i%len(probes)]
				q := Query{CallID: p.id}
				if bb.window {
					q.Since = p.hour.Time().UnixMicro()
					q.Until = q.Since + 3600e6
				}
				refs, err := x.Search(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(refs) != 1 {
					b.Fatalf("Call-ID %s: %d blocks, want 1", p.id, len(refs))
				}
				i++
			}
		})
	}
}
