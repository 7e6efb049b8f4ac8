package stats

import (
	"fmt"
	"testing"
	"time"

	"traced/segment"
)

// BenchmarkCount is the statistics' share of the hot path: one stored SIP
// record counted (decoded, deduplicated, classified) into its hour's set.
// The records are the messages of answered calls, each seen by two capture
// points, so half are copies, as behind a proxy that mirrors what it receives
// and what it sends.
func BenchmarkCount(b *testing.B) {
	var recs []segment.Record
	for i := range 500 {
		id := fmt.Sprintf("bench-%d", i)
		for _, m := range answeredCall(time.Duration(i)*20*time.Millisecond, id) {
			recs = append(recs, m.rec())
		}
	}
	e := newEngine(Limits{})
	set := NewSet(segment.HourOf(testBase))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.count(recs[i%len(recs)], set)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
