package stats

import (
	"cmp"
	"slices"
)

// TopN counts keys with the space-saving algorithm (Metwally, Agrawal, El Abbadi
// 2005): at most Cap keys are kept; a new key arriving when the table is full
// replaces the key with the smallest count and inherits that count as its error
// bound. Every key whose true count exceeds total/Cap is guaranteed to be in the
// table, and a kept key's count overestimates its true count by at most its Err.
// Memory is bounded whatever the number of distinct keys (a scanner with random
// source addresses cannot grow it).
type TopN struct {
	Cap   int
	index map[string]int // key → position in heap
	heap  []TopEntry     // min-heap on Count
}

// TopEntry is one counted key.
type TopEntry struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
	Err   int64  `json:"err,omitempty"` // the count may be this much too high
}

// NewTopN returns an empty table of at most capacity keys.
func NewTopN(capacity int) *TopN {
	return &TopN{Cap: max(capacity, 1), index: make(map[string]int)}
}

// Len returns the number of keys kept.
func (t *TopN) Len() int { return len(t.heap) }

// Add counts n occurrences of key. Looking up a key already kept does not
// allocate.
func (t *TopN) Add(key []byte, n int64) {
	if i, ok := t.index[string(key)]; ok {
		t.heap[i].Count += n
		t.down(i)
		return
	}
	t.insert(string(key), n, 0)
}

// insert adds a key known to be absent.
func (t *TopN) insert(key string, n, errBound int64) {
	if t.index == nil {
		t.index = make(map[string]int)
	}
	if len(t.heap) < t.Cap {
		t.heap = append(t.heap, TopEntry{Key: key, Count: n, Err: errBound})
		i := len(t.heap) - 1
		t.index[key] = i
		t.up(i)
		return
	}
	// Replace the minimum.
	m := t.heap[0]
	delete(t.index, m.Key)
	t.heap[0] = TopEntry{Key: key, Count: m.Count + n, Err: m.Count + errBound}
	t.index[key] = 0
	t.down(0)
}

// Merge adds every entry of o (counts and error bounds).
func (t *TopN) Merge(o *TopN) {
	if o == nil {
		return
	}
	for _, e := range o.heap {
		if i, ok := t.index[e.Key]; ok {
			t.heap[i].Count += e.Count
			t.heap[i].Err += e.Err
			t.down(i)
			continue
		}
		t.insert(e.Key, e.Count, e.Err)
	}
}

// Top returns up to n entries, highest count first (ties by key).
func (t *TopN) Top(n int) []TopEntry {
	out := slices.Clone(t.heap)
	slices.SortFunc(out, func(a, b TopEntry) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// Clone returns a deep copy.
func (t *TopN) Clone() *TopN {
	c := &TopN{Cap: t.Cap, index: make(map[string]int, len(t.heap)), heap: slices.Clone(t.heap)}
	for i, e := range c.heap {
		c.index[e.Key] = i
	}
	return c
}

// fromEntries rebuilds a table from decoded entries, keeping at most Cap.
func topFromEntries(capacity int, es []TopEntry) *TopN {
	t := NewTopN(capacity)
	for _, e := range es {
		if _, dup := t.index[e.Key]; dup || e.Count < 0 || e.Err < 0 {
			continue
		}
		t.insert(e.Key, e.Count, e.Err)
	}
	return t
}

func (t *TopN) less(i, j int) bool { return t.heap[i].Count < t.heap[j].Count }

func (t *TopN) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.index[t.heap[i].Key] = i
	t.index[t.heap[j].Key] = j
}

func (t *TopN) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *TopN) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		s := l
		if r := l + 1; r < n && t.less(r, l) {
			s = r
		}
		if !t.less(s, i) {
			return
		}
		t.swap(i, s)
		i = s
	}
}
