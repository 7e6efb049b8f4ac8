package index

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"traced/segment"
)

// ErrClosed is returned by the methods of a closed Index.
var ErrClosed = errors.New("index closed")

// Options configures an Index. The zero value of every field means its default.
type Options struct {
	// Logger receives warnings about damaged or stale shards and follower
	// errors. Default: discard.
	Logger *slog.Logger
	// BatchBlocks caps the blocks in one bleve batch. Default 32.
	BatchBlocks int
	// BatchRecords caps the records of the blocks the follower reads for one
	// batch, which bounds the memory a batch holds. Default 32768.
	BatchRecords int
	// FollowDelay is the least time between two passes of Follow; blocks written
	// meanwhile are indexed in one batch. Default 100 ms.
	FollowDelay time.Duration
	// FollowInterval is how often Follow catches up without a notification, as a
	// safety net, and how long it waits after a failed pass. Default 5 s.
	FollowInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.BatchBlocks <= 0 {
		o.BatchBlocks = 32
	}
	if o.BatchRecords <= 0 {
		o.BatchRecords = 32768
	}
	if o.FollowDelay <= 0 {
		o.FollowDelay = 100 * time.Millisecond
	}
	if o.FollowInterval <= 0 {
		o.FollowInterval = 5 * time.Second
	}
	return o
}

// Index is the set of per-hour shards in one directory. Its methods are safe for
// concurrent use.
type Index struct {
	dir  string
	opts Options
	log  *slog.Logger

	// writeMu serialises everything that writes: batches, shard creation and
	// removal. It is held for one batch or one drop at a time, never for a
	// whole follower pass.
	writeMu sync.Mutex
	// passMu serialises follower passes.
	passMu sync.Mutex

	// mu guards the fields below and the marks and flags of the shards.
	mu      sync.RWMutex
	shards  map[segment.Hour]*shard
	dropped map[segment.Hour]struct{} // hours removed by DropHour; never indexed again
	closed  bool

	backlogMu sync.Mutex
	backlog   map[segment.Hour]pending
}

// Open opens every shard in dir, creating dir if needed. A shard that fails to
// open or whose mark is unreadable is removed and logged; the follower rebuilds
// it from its segment.
func Open(dir string, opts Options) (*Index, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create index directory: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list index directory: %w", err)
	}
	x := &Index{
		dir:     dir,
		opts:    opts,
		log:     opts.Logger,
		shards:  make(map[segment.Hour]*shard),
		dropped: make(map[segment.Hour]struct{}),
		backlog: make(map[segment.Hour]pending),
	}
	var hours []segment.Hour
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, shardSuffix) {
			continue
		}
		path := filepath.Join(dir, name)
		h, err := segment.ParseHour(strings.TrimSuffix(name, shardSuffix))
		if err != nil || !de.IsDir() || x.shardPath(h) != path {
			x.log.Warn("index: not a shard, left alone", "path", path)
			continue
		}
		hours = append(hours, h)
	}
	// Shards open a few at a time: each reads its own small files.
	shards := make([]*shard, len(hours))
	errs := make([]error, len(hours))
	sem := make(chan struct{}, openParallel)
	var wg sync.WaitGroup
	for i, h := range hours {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			shards[i], errs[i] = x.openOrRemove(h)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range shards {
			if s != nil {
				_ = s.close(false, mark{})
			}
		}
		return nil, err
	}
	for _, s := range shards {
		if s != nil {
			x.shards[s.hour] = s
		}
	}
	return x, nil
}

// openParallel is how many shards Open opens at once.
const openParallel = 4

// openOrRemove opens the shard of hour h, or removes it when it does not open.
// It returns an error only when the removal fails.
func (x *Index) openOrRemove(h segment.Hour) (*shard, error) {
	path := x.shardPath(h)
	s, err := openShard(h, path)
	if err == nil {
		return s, nil
	}
	x.log.Warn("index: removing a shard that does not open; it will be rebuilt from its segment",
		"hour", h, "path", path, "err", err)
	if rerr := os.RemoveAll(path); rerr != nil {
		return nil, fmt.Errorf("remove damaged shard %s: %w", path, rerr)
	}
	return nil, nil
}

func (x *Index) shardPath(h segment.Hour) string {
	return filepath.Join(x.dir, h.String()+shardSuffix)
}

// Add indexes the blocks, one bleve document per block, grouped by hour with one
// batch (or several, of at most BatchBlocks blocks) per shard. Every batch
// carries the shard's mark: the last block it indexed, its CRC, and the count of
// blocks and records indexed. Adding a block again replaces its document, so Add
// is idempotent. Within an hour the blocks must come in file order without gaps,
// continuing from Mark: the mark says that everything up to it is indexed.
// Blocks of an hour removed by DropHour are ignored.
func (x *Index) Add(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	return x.addLocked(entries)
}

func (x *Index) addLocked(entries []Entry) error {
	es := slices.Clone(entries)
	slices.SortStableFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Info.Ref.Hour, b.Info.Ref.Hour), cmp.Compare(a.Info.Ref.Off, b.Info.Ref.Off))
	})
	// Keep the last of several entries for one block.
	out := es[:0]
	for i := range es {
		if len(out) > 0 && out[len(out)-1].Info.Ref == es[i].Info.Ref {
			out[len(out)-1] = es[i]
			continue
		}
		out = append(out, es[i])
	}
	es = out
	for len(es) > 0 {
		h := es[0].Info.Ref.Hour
		n := 1
		for n < len(es) && es[n].Info.Ref.Hour == h {
			n++
		}
		if err := x.addHour(h, es[:n]); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

// addHour indexes the entries of hour h, sorted by offset. The caller holds
// writeMu.
func (x *Index) addHour(h segment.Hour, es []Entry) error {
	s, err := x.shardFor(h)
	if err != nil || s == nil {
		return err
	}
	for len(es) > 0 {
		n := min(len(es), x.opts.BatchBlocks)
		m := s.mark // only writers change it, and the caller is the writer
		for i := range es[:n] {
			m = m.advance(&es[i])
		}
		if err := s.batch(es[:n], m); err != nil {
			if errors.Is(err, errShardClosed) {
				return ErrClosed
			}
			return err
		}
		x.mu.Lock()
		s.mark, s.dirty = m, true
		x.mu.Unlock()
		es = es[n:]
	}
	return nil
}

// shardFor returns the shard of hour h, creating it when needed. It returns nil
// without an error for an hour removed by DropHour. The caller holds writeMu.
func (x *Index) shardFor(h segment.Hour) (*shard, error) {
	x.mu.RLock()
	s, closed := x.shards[h], x.closed
	_, dropped := x.dropped[h]
	x.mu.RUnlock()
	switch {
	case closed:
		return nil, ErrClosed
	case dropped:
		return nil, nil
	case s != nil:
		return s, nil
	}
	path := x.shardPath(h)
	// A directory left by a shard that failed to open or to be removed.
	if err := os.RemoveAll(path); err != nil {
		return nil, fmt.Errorf("clear shard directory %s: %w", path, err)
	}
	s, err := createShard(h, path)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	x.shards[h] = s
	x.mu.Unlock()
	return s, nil
}

// Mark returns the offset and CRC of the last block indexed for hour h; ok is
// false when nothing of the hour is indexed.
func (x *Index) Mark(h segment.Hour) (off int64, crc uint32, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := x.shards[h]
	if s == nil || !s.mark.valid {
		return 0, 0, false
	}
	return s.mark.off, s.mark.crc, true
}

// Indexed returns how many blocks and records of hour h are indexed (searchable).
// Compared with the segment's own counts it gives the exact backlog at any moment.
func (x *Index) Indexed(h segment.Hour) (blocks, records int64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := x.shards[h]
	if s == nil || !s.mark.valid {
		return 0, 0
	}
	return s.mark.blocks, s.mark.records
}

// Hours lists the hours that have a shard, oldest first.
func (x *Index) Hours() []segment.Hour {
	x.mu.RLock()
	defer x.mu.RUnlock()
	hs := make([]segment.Hour, 0, len(x.shards))
	for h := range x.shards {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

// DropHour removes the shard of hour h, waiting for searches that use it, and
// makes the index ignore that hour from then on, so that a follower pass that
// listed the hour before its segment was deleted cannot bring it back. It is
// meant for retention, which deletes the hour's segment. Dropping an hour without
// a shard is not an error.
func (x *Index) DropHour(h segment.Hour) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return ErrClosed
	}
	x.dropped[h] = struct{}{}
	x.mu.Unlock()
	return x.removeShardLocked(h)
}

// removeShardLocked closes and deletes the shard of hour h, if any. The caller
// holds writeMu.
func (x *Index) removeShardLocked(h segment.Hour) error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return ErrClosed
	}
	s := x.shards[h]
	delete(x.shards, h)
	x.mu.Unlock()
	x.setPending(h, pending{})
	if s == nil {
		return nil
	}
	cerr := s.close(false, mark{})
	if err := os.RemoveAll(s.path); err != nil {
		return fmt.Errorf("remove shard %s: %w", s.path, err)
	}
	if cerr != nil {
		x.log.Warn("index: closing a removed shard", "hour", h, "err", cerr)
	}
	return nil
}

// Close flushes every shard written since it was opened, waiting until its
// batches are on disk, and closes them all.
func (x *Index) Close() error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	shards := make([]*shard, 0, len(x.shards))
	for _, s := range x.shards {
		shards = append(shards, s)
	}
	x.mu.Unlock()
	// Shards flush in parallel: each waits for its own persister.
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Go(func() {
			// Marks and flags no longer change: writeMu is held and closed is set.
			errs[i] = s.close(s.dirty, s.mark)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
