package loadbench

import (
	"math"
	"testing"
	"time"
)

// simulate drives p as a sender would, on a simulated clock: sending a batch
// takes cost, waits are taken as asked plus oversleep. It returns the packets
// sent by end and the number of batches.
func simulate(p *Pacer, batch int, end, cost, oversleep time.Duration, stall func(now time.Duration) time.Duration) (sent, batches int) {
	var now time.Duration
	for now < end {
		n, w := p.Take(now, batch)
		if n > 0 {
			if n > batch {
				panic("batch exceeded")
			}
			sent += n
			batches++
			now += cost
		} else {
			now += min(w+oversleep, end-now)
		}
		if stall != nil {
			now += stall(now)
		}
	}
	return sent, batches
}

func TestPacerHoldsRate(t *testing.T) {
	f := func(rate float64, batch int, oversleep time.Duration) {
		t.Helper()
		p := NewPacer(rate, batch, 200*time.Millisecond)
		sent, batches := simulate(p, batch, 10*time.Second, 20*time.Microsecond, oversleep, nil)
		want := rate * 10
		if math.Abs(float64(sent)-want) > want*0.001+float64(batch) {
			t.Errorf("rate %.0f batch %d oversleep %s: sent %d in 10 s, want %.0f", rate, batch, oversleep, sent, want)
		}
		if p.Dropped != 0 {
			t.Errorf("rate %.0f: dropped %.0f tokens without a stall", rate, p.Dropped)
		}
		// Batches leave at least every millisecond or full.
		if min := min(rate*10/float64(batch), 10*1000); float64(batches) < min*0.99 {
			t.Errorf("rate %.0f batch %d: %d batches, want at least %.0f", rate, batch, batches, min)
		}
	}
	f(100000, 64, 0)
	f(100000, 64, 80*time.Microsecond) // timers fire late: larger batches catch up
	f(40000, 64, 50*time.Microsecond)
	f(20000, 64, 0)
	f(1000, 64, 0)
	f(10, 64, 0)
}

func TestPacerCatchesUpWithinBurst(t *testing.T) {
	const rate = 50000
	p := NewPacer(rate, 64, 200*time.Millisecond)
	// One 150 ms stall, within the burst: nothing dropped, the rate holds.
	stalled := false
	sent, _ := simulate(p, 64, 5*time.Second, 10*time.Microsecond, 0, func(now time.Duration) time.Duration {
		if now > time.Second && !stalled {
			stalled = true
			return 150 * time.Millisecond
		}
		return 0
	})
	if p.Dropped != 0 || math.Abs(float64(sent)-rate*5) > 64 {
		t.Errorf("150 ms stall: sent %d dropped %.0f, want %d and none", sent, p.Dropped, rate*5)
	}
}

func TestPacerDropsPastBurst(t *testing.T) {
	const rate = 50000
	p := NewPacer(rate, 64, 200*time.Millisecond)
	stalled := false
	sent, _ := simulate(p, 64, 5*time.Second, 10*time.Microsecond, 0, func(now time.Duration) time.Duration {
		if now > time.Second && !stalled {
			stalled = true
			return time.Second
		}
		return 0
	})
	// A 1 s stall with 200 ms of burst loses 800 ms of tokens.
	want := rate * 0.8
	if math.Abs(p.Dropped-want) > 64 {
		t.Errorf("dropped %.0f, want %.0f", p.Dropped, want)
	}
	if got := float64(sent) + p.Dropped; math.Abs(got-rate*5) > 128 {
		t.Errorf("sent %d + dropped %.0f = %.0f, want %d", sent, p.Dropped, got, rate*5)
	}
}

func TestPacerUnlimited(t *testing.T) {
	p := NewPacer(0, 64, time.Second)
	if n, w := p.Take(0, 64); n != 64 || w != 0 {
		t.Fatalf("unlimited: %d, %s", n, w)
	}
}
