package loadbench

import "time"

// Pacer is a token bucket that releases packets in batches at a fixed rate. It
// works on elapsed time given by the caller, so it can be tested without a clock.
//
// Tokens accrue at Rate per second up to Burst. Take releases a batch once
// Want tokens are there (Want is the rate's worth of one millisecond, between 1
// and the batch size), so batches go out at least every millisecond and a
// sleep is never shorter than the time one batch takes to accrue. Tokens past
// Burst are dropped and counted: a sender that was descheduled catches up at
// most Burst packets, and the shortfall shows in the achieved rate.
type Pacer struct {
	Rate    float64 // packets per second; 0: unlimited
	Burst   float64 // most tokens held
	Want    float64 // tokens that make a batch
	Dropped float64 // tokens dropped at Burst

	tokens float64
	last   time.Duration
}

// NewPacer returns a pacer for rate packets per second and batches of at most
// batch packets, holding at most burst worth of tokens (at least two batches).
func NewPacer(rate float64, batch int, burst time.Duration) *Pacer {
	p := &Pacer{Rate: rate}
	if rate <= 0 {
		return p
	}
	p.Want = min(max(rate/1000, 1), float64(batch))
	p.Burst = max(rate*burst.Seconds(), 2*float64(batch))
	p.tokens = p.Want // the first batch leaves at once
	return p
}

// Take says how many packets (at most max) may leave at elapsed time now, or,
// when none may, how long to wait before asking again.
func (p *Pacer) Take(now time.Duration, max int) (n int, wait time.Duration) {
	if p.Rate <= 0 {
		return max, 0
	}
	if now > p.last {
		p.tokens += (now - p.last).Seconds() * p.Rate
		p.last = now
	}
	if p.tokens > p.Burst {
		p.Dropped += p.tokens - p.Burst
		p.tokens = p.Burst
	}
	if p.tokens < p.Want {
		w := time.Duration((p.Want - p.tokens) / p.Rate * float64(time.Second))
		return 0, w + 1
	}
	n = min(int(p.tokens), max)
	p.tokens -= float64(n)
	return n, 0
}
