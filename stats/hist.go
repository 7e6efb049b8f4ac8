package stats

// Bounds are the upper bounds, in milliseconds, of the delay histogram buckets
// (PDD and setup time). The last bucket (index len(Bounds)) counts everything
// above the last bound. The bounds are fixed so that histograms of different
// hours merge by adding their buckets.
func Bounds() []int64 {
	b := bounds()
	return b[:]
}

// bounds returns the bounds by value: no allocation on the counting path.
func bounds() [numBuckets - 1]int64 {
	return [...]int64{50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500,
		10000, 15000, 20000, 30000, 60000}
}

// numBuckets is len(Bounds())+1.
const numBuckets = 19

// Hist is a fixed-bucket histogram of delays in milliseconds.
type Hist struct {
	Buckets [numBuckets]int64
	Count   int64
	SumMS   int64
}

// bucketOf returns the bucket of a delay of ms milliseconds.
func bucketOf(ms int64) int {
	b := bounds()
	for i, le := range b {
		if ms <= le {
			return i
		}
	}
	return len(b)
}

// Observe adds one delay.
func (h *Hist) Observe(ms int64) {
	ms = max(ms, 0)
	h.Buckets[bucketOf(ms)]++
	h.Count++
	h.SumMS += ms
}

// Merge adds o's buckets.
func (h *Hist) Merge(o *Hist) {
	for i := range h.Buckets {
		h.Buckets[i] += o.Buckets[i]
	}
	h.Count += o.Count
	h.SumMS += o.SumMS
}

// Quantile returns the q-quantile (0 < q ≤ 1) in milliseconds, interpolated
// linearly inside its bucket; the open last bucket reports its lower bound.
// It returns 0 for an empty histogram.
func (h *Hist) Quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	b := Bounds()
	rank := q * float64(h.Count)
	var seen float64
	for i, n := range h.Buckets {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			if i == len(b) {
				return float64(b[len(b)-1])
			}
			lo := 0.0
			if i > 0 {
				lo = float64(b[i-1])
			}
			hi := float64(b[i])
			return lo + (hi-lo)*(rank-seen)/float64(n)
		}
		seen += float64(n)
	}
	return float64(b[len(b)-1])
}
