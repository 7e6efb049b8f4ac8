package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"traced/segment"
)

// Source is what the follower reads: the segment directory. *segment.Dir
// satisfies it.
type Source interface {
	// Hours describes every segment file.
	Hours() []segment.HourInfo
	// Blocks calls fn for each complete block of hour h in file order, starting
	// with the block at file offset from (0 = the first block). An error
	// returned by fn stops the listing and is returned.
	Blocks(h segment.Hour, from int64, fn func(segment.BlockInfo) error) error
	// ReadBlock reads and decodes one block.
	ReadBlock(ref segment.BlockRef) (*segment.Block, error)
	// Notify returns a channel that receives (or is closed) when blocks have
	// been written since it was returned.
	Notify() <-chan struct{}
}

// Extract fills f with the index terms of the records of one block. f is empty
// when Extract is called; Extract may leave MinTime and MaxTime at zero, and the
// block header's time range is used.
type Extract func(recs []segment.Record, f *Fields)

// Backlog is what has been written to the segments but is not indexed yet, as of
// the follower's last look at the segments. It counts down as the follower
// indexes.
type Backlog struct {
	Blocks  int
	Records int64
	Bytes   int64     // bytes of segment file
	Oldest  time.Time // capture time of the first block not yet indexed, over all hours; zero when none
}

// pending is the backlog of one hour.
type pending struct {
	blocks  int
	records int64
	bytes   int64
	oldest  int64 // MinTime of the first block not indexed, when blocks > 0
}

// Backlog returns the blocks written but not yet indexed.
func (x *Index) Backlog() Backlog {
	x.backlogMu.Lock()
	defer x.backlogMu.Unlock()
	var b Backlog
	oldest, found := int64(0), false
	for _, p := range x.backlog {
		if p.blocks == 0 {
			continue
		}
		b.Blocks += p.blocks
		b.Records += p.records
		b.Bytes += p.bytes
		if !found || p.oldest < oldest {
			oldest, found = p.oldest, true
		}
	}
	if found {
		b.Oldest = time.UnixMicro(oldest).UTC()
	}
	return b
}

func (x *Index) setPending(h segment.Hour, p pending) {
	x.backlogMu.Lock()
	defer x.backlogMu.Unlock()
	if p.blocks <= 0 {
		delete(x.backlog, h)
		return
	}
	x.backlog[h] = p
}

// errStop ends a Blocks listing early.
var errStop = errors.New("stop listing")

// Follow keeps the index caught up with src until ctx is done: a CatchUp pass,
// then another whenever src notifies new blocks (at most one pass per
// FollowDelay) or FollowInterval has passed. A failed pass is logged (at most
// once per FollowInterval) and what failed is retried by the next pass; the
// hours that did not fail are indexed meanwhile. Follow returns nil when ctx is
// done, and ErrClosed if the index is closed under it.
func (x *Index) Follow(ctx context.Context, src Source, ex Extract) error {
	if ex == nil {
		return errors.New("follow: nil extract function")
	}
	tick := time.NewTicker(x.opts.FollowInterval)
	defer tick.Stop()
	var warned time.Time
	for {
		notify := src.Notify()
		last := time.Now()
		err := x.CatchUp(ctx, src, ex)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed):
			return err
		case err != nil && last.Sub(warned) >= x.opts.FollowInterval:
			x.log.Warn("index: follower pass failed; retrying at every pass", "err", err)
			warned = last
		}
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
		case <-tick.C:
		}
		if d := x.opts.FollowDelay - time.Since(last); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// hourPlan is what one pass has to do for one hour.
type hourPlan struct {
	info  segment.HourInfo
	from  int64 // file offset of the first block to index
	first bool  // a block is pending at from
	fresh bool  // from is the hour's first block: the shard starts empty
}

// CatchUp makes one pass over src. It removes the shards of hours that have no
// segment; for every other hour it checks the shard's mark against the segment
// (the block at the mark's offset must exist with the same CRC, otherwise the
// shard is stale: it is removed and the hour indexed again from its first
// block) and indexes every block after the mark. Hours are done newest first,
// and the newest hour is topped up between the batches of older hours, so a
// long rebuild does not hold back the live hour. A failure in one hour does not
// stop the others; the errors are joined.
func (x *Index) CatchUp(ctx context.Context, src Source, ex Extract) error {
	if ex == nil {
		return errors.New("catch up: nil extract function")
	}
	x.passMu.Lock()
	defer x.passMu.Unlock()
	if x.isClosed() {
		return ErrClosed
	}

	infos := src.Hours()
	slices.SortFunc(infos, func(a, b segment.HourInfo) int { return cmp.Compare(b.Hour, a.Hour) })
	live := make(map[segment.Hour]bool, len(infos))
	for _, hi := range infos {
		live[hi.Hour] = true
	}
	var errs []error
	for _, h := range x.Hours() {
		if !live[h] {
			x.log.Info("index: removing the shard of an hour without segment", "hour", h)
			if err := x.removeShard(h); err != nil {
				errs = append(errs, err)
			}
		}
	}
	x.backlogMu.Lock()
	for h := range x.backlog {
		if !live[h] {
			delete(x.backlog, h)
		}
	}
	x.backlogMu.Unlock()

	plans := make([]hourPlan, 0, len(infos))
	for _, hi := range infos {
		p, err := x.plan(src, hi)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p.first {
			plans = append(plans, p)
		}
	}

	var newest segment.Hour
	if len(infos) > 0 {
		newest = infos[0].Hour
	}
	topUp := func() error {
		hs := src.Hours()
		if len(hs) == 0 {
			return nil
		}
		n := slices.MaxFunc(hs, func(a, b segment.HourInfo) int { return cmp.Compare(a.Hour, b.Hour) })
		if n.Hour < newest {
			return nil
		}
		newest = n.Hour
		p, err := x.plan(src, n)
		if err != nil || !p.first {
			return err
		}
		return x.run(ctx, src, ex, p, nil)
	}
	for _, p := range plans {
		var top func() error
		if p.info.Hour != newest {
			top = topUp
		}
		if err := x.run(ctx, src, ex, p, top); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrClosed) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (x *Index) isDropped(h segment.Hour) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.dropped[h]
	return ok
}

func (x *Index) isClosed() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.closed
}

// removeShard removes the shard of hour h without marking the hour dropped.
func (x *Index) removeShard(h segment.Hour) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	return x.removeShardLocked(h)
}

// gone reports whether hour h has left src: a failed read of a deleted hour is
// not an error.
func gone(src Source, h segment.Hour) bool {
	for _, hi := range src.Hours() {
		if hi.Hour == h {
			return false
		}
	}
	return true
}

// plan checks the mark of hour hi.Hour against src, removes the shard when it
// is stale, finds the first block to index and records the hour's backlog.
func (x *Index) plan(src Source, hi segment.HourInfo) (hourPlan, error) {
	h := hi.Hour
	p := hourPlan{info: hi}
	x.mu.RLock()
	s := x.shards[h]
	_, dropped := x.dropped[h]
	var m mark
	var verified bool
	if s != nil {
		m, verified = s.mark, s.verified
	}
	x.mu.RUnlock()
	if dropped {
		x.setPending(h, pending{})
		return p, nil
	}

	if m.valid {
		stale := ""
		switch {
		case hi.End < m.next:
			stale = fmt.Sprintf("the segment ends at %d, before the indexed block at %d", hi.End, m.off)
		case verified && m.next == hi.End:
			x.setPending(h, pending{})
			return p, nil
		case !verified:
			var err error
			stale, err = x.verify(src, h, m)
			if err != nil {
				if gone(src, h) {
					return p, x.removeShard(h)
				}
				return p, err
			}
		}
		if stale == "" {
			x.mu.Lock()
			s.verified = true
			x.mu.Unlock()
			p.from = m.next
		} else {
			x.log.Warn("index: shard is stale; indexing its hour again", "hour", h, "why", stale)
			if err := x.removeShard(h); err != nil {
				return p, err
			}
			m = mark{}
		}
	}

	var first segment.BlockInfo
	err := src.Blocks(h, p.from, func(bi segment.BlockInfo) error {
		first, p.first = bi, true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		if gone(src, h) {
			return hourPlan{}, x.removeShard(h)
		}
		return hourPlan{}, fmt.Errorf("list blocks of hour %s from %d: %w", h, p.from, err)
	}
	if !p.first {
		x.setPending(h, pending{})
		return p, nil
	}
	if first.Ref.Off != p.from && p.from != 0 {
		return hourPlan{}, fmt.Errorf("list blocks of hour %s from %d: first block at %d", h, p.from, first.Ref.Off)
	}
	p.from = first.Ref.Off
	p.fresh = !m.valid
	x.setPending(h, pending{
		blocks:  max(hi.Blocks-int(m.blocks), 1),
		records: max(hi.Records-m.records, int64(first.NRec)),
		bytes:   max(hi.End-p.from, int64(first.Next-first.Ref.Off)),
		oldest:  first.MinTime,
	})
	return p, nil
}

// verify checks that the block at the mark's offset is the block the mark
// describes. It returns why the mark is stale, or "" when it holds; an error
// only when src cannot be read at all.
func (x *Index) verify(src Source, h segment.Hour, m mark) (string, error) {
	var got segment.BlockInfo
	found := false
	err := src.Blocks(h, m.off, func(bi segment.BlockInfo) error {
		got, found = bi, true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		// Not a block boundary, or past the end: stale, if the hour can still be
		// listed from its start.
		if err0 := src.Blocks(h, 0, func(segment.BlockInfo) error { return errStop }); err0 != nil && !errors.Is(err0, errStop) {
			return "", fmt.Errorf("list blocks of hour %s: %w", h, err0)
		}
		return fmt.Sprintf("no block at offset %d: %v", m.off, err), nil
	}
	switch {
	case !found:
		return fmt.Sprintf("no block at offset %d", m.off), nil
	case got.Ref.Off != m.off:
		return fmt.Sprintf("no block at offset %d (next one at %d)", m.off, got.Ref.Off), nil
	case got.CRC != m.crc:
		return fmt.Sprintf("block at offset %d has CRC %08x, indexed %08x", m.off, got.CRC, m.crc), nil
	case got.Next != m.next:
		return fmt.Sprintf("block at offset %d ends at %d, indexed %d", m.off, got.Next, m.next), nil
	}
	return "", nil
}

// run indexes the blocks of plan p from p.from to the end of the hour, in
// batches, calling topUp (when not nil) between batches.
func (x *Index) run(ctx context.Context, src Source, ex Extract, p hourPlan, topUp func() error) error {
	h := p.info.Hour
	from := p.from
	infos := make([]segment.BlockInfo, 0, x.opts.BatchBlocks)
	entries := make([]Entry, x.opts.BatchBlocks)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if x.isDropped(h) {
			x.setPending(h, pending{})
			return nil
		}
		infos = infos[:0]
		var recs int
		var next segment.BlockInfo
		more := false
		err := src.Blocks(h, from, func(bi segment.BlockInfo) error {
			if len(infos) == x.opts.BatchBlocks || (len(infos) > 0 && recs+int(bi.NRec) > x.opts.BatchRecords) {
				next, more = bi, true
				return errStop
			}
			infos = append(infos, bi)
			recs += int(bi.NRec)
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			if gone(src, h) {
				return x.removeShard(h)
			}
			return fmt.Errorf("list blocks of hour %s from %d: %w", h, from, err)
		}
		if len(infos) == 0 {
			x.setPending(h, pending{})
			return nil
		}
		var readErr error
		for i, bi := range infos {
			e := &entries[i]
			e.Info = bi
			e.Fields.Reset()
			blk, err := src.ReadBlock(bi.Ref)
			if err != nil {
				var ce *segment.CorruptionError
				switch {
				case gone(src, h):
					return x.removeShard(h)
				case errors.As(err, &ce):
					// A damaged block is indexed without terms, so the mark
					// moves past it; only a time-only query finds it, and the
					// search then reports the damage.
					x.log.Error("index: block damaged; indexed without terms", "block", bi.Ref, "err", err)
					continue
				}
				// Index what was read; the next pass retries from this block.
				readErr = fmt.Errorf("read block %s: %w", bi.Ref, err)
				next, more = bi, true
				infos = infos[:i]
				break
			}
			ex(blk.Records, &e.Fields)
		}
		if len(infos) > 0 {
			if err := x.addNext(h, entries[:len(infos)], p.fresh && from == p.from); err != nil {
				return fmt.Errorf("index hour %s: %w", h, err)
			}
		}
		if readErr != nil {
			if len(infos) > 0 {
				x.countDown(h, infos, more, next)
			}
			return readErr
		}
		x.countDown(h, infos, more, next)
		if !more {
			return nil
		}
		from = next.Ref.Off
		if topUp != nil {
			if err := topUp(); err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) {
					return err
				}
				x.log.Warn("index: indexing the newest hour", "err", err)
			}
		}
	}
}

// errMoved reports a shard changed by someone else during a follower pass.
var errMoved = errors.New("the shard changed during the pass; the next pass starts over")

// addNext adds the entries, which follow one another in file order, if they
// continue the shard of hour h: they start just past its mark, or the shard is
// absent or empty and fresh says the entries start at the hour's first block.
// Otherwise the shard was removed or written by someone else since the pass
// planned the hour, and adding would leave a gap below the mark.
func (x *Index) addNext(h segment.Hour, es []Entry, fresh bool) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.RLock()
	s := x.shards[h]
	x.mu.RUnlock()
	if s == nil || !s.mark.valid {
		if !fresh {
			return errMoved
		}
	} else if s.mark.next != es[0].Info.Ref.Off {
		return errMoved
	}
	return x.addLocked(es)
}

// countDown takes a batch of hour h off the backlog. next is the first block
// after the batch when more is true.
func (x *Index) countDown(h segment.Hour, batch []segment.BlockInfo, more bool, next segment.BlockInfo) {
	x.backlogMu.Lock()
	defer x.backlogMu.Unlock()
	p, ok := x.backlog[h]
	if !ok || !more {
		delete(x.backlog, h)
		return
	}
	p.blocks -= len(batch)
	for _, bi := range batch {
		p.records -= int64(bi.NRec)
	}
	p.bytes -= batch[len(batch)-1].Next - batch[0].Ref.Off
	// Blocks written after the hour was planned are indexed too; the backlog
	// still has at least the next block.
	p.blocks = max(p.blocks, 1)
	p.records = max(p.records, int64(next.NRec))
	p.bytes = max(p.bytes, next.Next-next.Ref.Off)
	p.oldest = next.MinTime
	x.backlog[h] = p
}
