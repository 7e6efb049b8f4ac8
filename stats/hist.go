package stats

// Bounds are the upper bounds, in milliseconds, of the delay histogram buckets
// (PDD and setup time). The last bucket (index len(Bounds)) counts everything
// above the last bound. The bounds are fixed so that histograms of different
// hours merge by adding their buckets.
func Bounds() []int64 {
	return []int64{50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500,
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
	// The bounds are few; a linear scan beats building a slice per call.
	switch {
	case ms <= 50:
		return 0
	case ms <= 100:
		return 1
	case ms <= 200:
		return 2
	case ms <= 300:
		return 3
	case ms <= 500:
		return 4
	case ms <= 750:
		return 5
	case ms <= 1000:
		return 6
	case ms <= 1500:
		return 7
	case ms <= 2000:
		return 8
	case ms <= 3000:
		return 9
	case ms <= 4000:
		return 10
	case ms <= 5000:
		return 11
	case ms <= 7500:
		return 12
	case ms <= 10000:
		return 13
	case ms <= 15000:
		return 14
	case ms <= 20000:
		return 15
	case ms <= 30000:
		return 16
	case ms <= 60000:
		return 17
	}
	return 18
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
