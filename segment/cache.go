package segment

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// blockCache is an LRU of decoded blocks, bounded by block count. The blocks it
// returns are shared and must not be modified.
type blockCache struct {
	max    int
	hits   atomic.Int64
	misses atomic.Int64

	mu  sync.Mutex
	lru list.List // of *cacheEntry, most recent first
	m   map[BlockRef]*list.Element
}

type cacheEntry struct {
	ref BlockRef
	b   *Block
}

// newBlockCache returns a cache of up to n blocks; n <= 0 disables it.
func newBlockCache(n int) *blockCache {
	return &blockCache{max: max(n, 0), m: make(map[BlockRef]*list.Element)}
}

func (c *blockCache) enabled() bool { return c.max > 0 }

func (c *blockCache) get(ref BlockRef) *Block {
	if c.max == 0 {
		c.misses.Add(1)
		return nil
	}
	c.mu.Lock()
	e, ok := c.m[ref]
	if ok {
		c.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return e.Value.(*cacheEntry).b
}

func (c *blockCache) put(ref BlockRef, b *Block) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[ref]; ok {
		e.Value.(*cacheEntry).b = b
		c.lru.MoveToFront(e)
		return
	}
	c.m[ref] = c.lru.PushFront(&cacheEntry{ref: ref, b: b})
	for c.lru.Len() > c.max {
		e := c.lru.Back()
		c.lru.Remove(e)
		delete(c.m, e.Value.(*cacheEntry).ref)
	}
}

// dropHour forgets every block of hour h.
func (c *blockCache) dropHour(h Hour) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref, e := range c.m {
		if ref.Hour == h {
			c.lru.Remove(e)
			delete(c.m, ref)
		}
	}
}

func (c *blockCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
