package correlate

import (
	"cmp"
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"traced/index"
	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/internal/sipgen"
	"traced/search"
	"traced/segment"
)

// BenchmarkCallThreeLegs correlates a three-leg call (A–B by X-CID, B–C by
// X-Session-Id, RTCP on A) stored among a minute of other traffic: 400 000
// packets of internal/sipgen calls, registrations and pings (about 6 700
// packets a second) in blocks of the default 256 KiB. It reports the index
// searches, blocks read and rounds of one call.
//
//	go test ./correlate -run '^$' -bench CallThreeLegs -benchtime 20x
func BenchmarkCallThreeLegs(b *testing.B) {
	const pcv = "P-Charging-Vector: icid-value=bench-icid;orig-ioi=home.net"
	icid, err := ParseHeader("P-Charging-Vector,icid-value=([^;]+)")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		cache int // segment.Options.CacheBlocks
		opts  Options
	}{
		{"warm_cache", 0, Options{}},
		{"no_cache", -1, Options{}},
		{"configured_header_scan", 0, Options{Headers: []Header{icid}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			clk := &clock{t: base}
			seg, err := segment.Open(filepath.Join(dir, "segments"), segment.Options{Now: clk.Now, FlushInterval: time.Hour,
				CacheBlocks: c.cache})
			if err != nil {
				b.Fatal(err)
			}
			defer seg.Close()
			idx, err := index.Open(filepath.Join(dir, "index"), index.Options{})
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range benchArchive(b, pcv) {
				if err := seg.Append(r); err != nil {
					b.Fatal(err)
				}
			}
			if err := seg.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := idx.CatchUp(context.Background(), seg, record.Extract); err != nil {
				b.Fatal(err)
			}
			// Reopened, the index has persisted its batches: the timing is not
			// shared with the indexing of the archive.
			if err := idx.Close(); err != nil {
				b.Fatal(err)
			}
			if idx, err = index.Open(filepath.Join(dir, "index"), index.Options{}); err != nil {
				b.Fatal(err)
			}
			defer idx.Close()
			quiesce()
			e := &Engine{Searcher: &search.Searcher{Index: idx, Blocks: seg, Now: clk.Now}, Options: c.opts}
			var last *Call
			b.ReportAllocs()
			for b.Loop() {
				if last, err = e.Call(context.Background(), "bench-c@pbx"); err != nil {
					b.Fatal(err)
				}
			}
			if len(last.Legs) != 3 || len(last.Messages) != 20 {
				b.Fatalf("legs %v, %d messages", legIDs(last), len(last.Messages))
			}
			b.ReportMetric(float64(last.Searches), "searches/op")
			b.ReportMetric(float64(last.Blocks), "blocks/op")
			b.ReportMetric(float64(last.Rounds), "rounds/op")
		})
	}
}

// benchArchive returns the records of the benchmark's archive in capture time
// order: the three legs, whose messages carry pcv, among the other traffic.
func benchArchive(b *testing.B, pcv string) []segment.Record {
	const noisePackets = 400_000
	var recs []segment.Record
	g := sipgen.New(11, base.Add(-30*time.Second))
	var p hep.Packet
	for range noisePackets {
		raw := g.Next()
		if err := hep.Decode(raw, &p); err != nil {
			b.Fatal(err)
		}
		ts := int64(p.TsSec)*1e6 + int64(p.TsUsec)
		recs = append(recs, segment.Record{Time: ts, Data: record.Append(nil,
			&record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: ts}, raw)})
	}
	call := all(
		// Every leg carries a P-Charging-Vector: when it is configured, the
		// closure scans the window for its value (and finds no other leg).
		dialog{callID: "bench-a@pbx", hdrs: []string{"X-Session-Id: bench-sa", pcv}}.packets(),
		dialog{callID: "bench-b@pbx", at: 80 * time.Millisecond, a: "10.0.0.2:5060", b: "10.0.0.3:5060",
			hdrs: []string{"X-Session-Id: bench-s2", pcv}, first: []string{"X-CID: bench-a@pbx"}}.packets(),
		dialog{callID: "bench-c@pbx", at: 160 * time.Millisecond, a: "10.0.0.3:5060", b: "10.0.0.4:5060",
			hdrs: []string{"X-Session-Id: bench-s2", pcv}}.packets(),
		[]pkt{rtcp("bench-a@pbx", 5*time.Second, 5), rtcp("bench-a@pbx", 10*time.Second, 5)},
	)
	for _, p := range call {
		recs = append(recs, p.encode())
	}
	slices.SortStableFunc(recs, func(a, b segment.Record) int { return cmp.Compare(a.Time, b.Time) })

	return recs
}

// quiesce waits, up to a minute, until the index's background merges are done
// (the process allocates next to nothing for 300 ms), and collects the records
// appended, so that neither weighs on the timing.
func quiesce() {
	var ms runtime.MemStats
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		time.Sleep(300 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		if ms.Mallocs-before < 1000 {
			return
		}
	}
}
