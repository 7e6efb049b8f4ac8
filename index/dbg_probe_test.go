package index

import (
	"testing"
	"time"

	"traced/segment"
)

func TestDbgProbe(t *testing.T) {
	for _, idle := range []time.Duration{0, 3 * time.Second} {
		dir := t.TempDir()
		x, _ := Open(dir, Options{BatchBlocks: 64})
		g := newTraffic(1)
		h := segment.Hour(493_000)
		var off int64
		for range 40 {
			es := g.entries(h, off, 64, 400, 60)
			off = es[len(es)-1].Info.Next
			if err := x.Add(es); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(idle)
		live1 := liveBytes(t, x)
		disk1 := dirSize(t, dir)
		x.Close()
		x, _ = Open(dir, Options{})
		live := liveBytes(t, x)
		time.Sleep(idle)
		disk := dirSize(t, dir)
		x.Close()
		rec := float64(40 * 64 * 400)
		t.Logf("idle %v: before close disk %.1f live %.1f; after reopen disk %.1f live %.1f B/rec", idle, float64(disk1)/rec, float64(live1)/rec, float64(disk)/rec, float64(live)/rec)
	}
}
