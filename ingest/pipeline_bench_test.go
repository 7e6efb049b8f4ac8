package ingest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"traced/index"
	"traced/ingest/record"
	"traced/internal/sipgen"
	"traced/segment"
)

// BenchmarkPipeline measures the whole per-packet path on the calling goroutine:
// HEP decode and checks → segment append (block cut, zstd, write) → index (SIP
// scan, term extraction, bleve) of the blocks written. Run it with -cpu 1 for the
// figure per core; packets/s is reported as pkts/s.
//
//	go test ./ingest -run '^$' -bench Pipeline -benchtime 200000x -cpu 1
func BenchmarkPipeline(b *testing.B) {
	dir := b.TempDir()
	seg, err := segment.Open(dir+"/segments", segment.Options{FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	idx, err := index.Open(dir+"/index", index.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	s, err := New(Config{Store: seg})
	if err != nil {
		b.Fatal(err)
	}
	g := sipgen.New(7, time.Now())
	const pool = 1 << 14
	pkts := make([][]byte, pool)
	bytes := 0
	for i := range pkts {
		pkts[i] = g.Next()
		bytes += len(pkts[i])
	}
	from := netip.MustParseAddrPort("127.0.0.1:5060")
	var w worker
	b.SetBytes(int64(bytes / pool))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.handleHEP(&w, pkts[i%pool], from, record.ListenerUDP)
		i++
		if i%50000 == 0 {
			if err := idx.CatchUp(context.Background(), seg, record.Extract); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := seg.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := idx.CatchUp(context.Background(), seg, record.Extract); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "pkts/s")
	if st := s.Stats(); st.Accepted != uint64(i) {
		b.Fatalf("accepted %d of %d", st.Accepted, i)
	}
	seg.Close()
}

// BenchmarkHandleHEP measures only the listener's part: decode, checks, append.
func BenchmarkHandleHEP(b *testing.B) {
	seg, err := segment.Open(b.TempDir(), segment.Options{FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	s, _ := New(Config{Store: seg})
	g := sipgen.New(7, time.Now())
	pkts := make([][]byte, 4096)
	for i := range pkts {
		pkts[i] = g.Next()
	}
	from := netip.MustParseAddrPort("127.0.0.1:5060")
	var w worker
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.handleHEP(&w, pkts[i%len(pkts)], from, record.ListenerUDP)
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "pkts/s")
}
