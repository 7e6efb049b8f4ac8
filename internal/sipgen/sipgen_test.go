package sipgen

import (
	"testing"
	"time"

	"traced/ingest/hep"
)

func TestPacketsDecodeAndAverageSize(t *testing.T) {
	g := New(1, time.Unix(1_700_000_000, 0))
	var p hep.Packet
	total := 0
	const n = 2000
	for i := 0; i < n; i++ {
		b := g.Next()
		if err := hep.Decode(b, &p); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		total += len(p.Payload)
	}
	avg := total / n
	if avg < 450 || avg > 800 {
		t.Errorf("average SIP size %d bytes, want about 600", avg)
	}
	if g.Dialogs < n/8 {
		t.Errorf("%d dialogs for %d packets", g.Dialogs, n)
	}
}
