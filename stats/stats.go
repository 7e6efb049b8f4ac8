package stats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"traced/segment"
)

// Source is what the follower reads: the segment directory. *segment.Dir
// satisfies it.
type Source interface {
	Hours() []segment.HourInfo
	Blocks(h segment.Hour, from int64, fn func(segment.BlockInfo) error) error
	ReadBlock(ref segment.BlockRef) (*segment.Block, error)
	Notify() <-chan struct{}
}

// Options configures a Stats. Zero values take the defaults given per field.
type Options struct {
	Logger *slog.Logger
	Limits Limits
	// PersistEvery is how often the sets being counted are written. Default 5 s.
	PersistEvery time.Duration
	// FollowDelay is the least time between passes. Default 200 ms.
	FollowDelay time.Duration
	// FollowInterval is the longest time between passes. Default 10 s.
	FollowInterval time.Duration
	// CacheHours is the number of finished hours kept decoded. Default 48.
	CacheHours int
	// Now is the clock of the last-hour ratios. nil: time.Now.
	Now func() time.Time
}

// hourState is an hour being counted.
type hourState struct {
	set      *Set
	dirty    bool
	verified bool
	saved    time.Time
}

// Stats owns the per-hour statistics sets of a data directory.
type Stats struct {
	dir  string
	opts Options
	log  *slog.Logger

	passMu sync.Mutex // one pass at a time
	fileMu sync.Mutex // file writes against DropHour

	mu       sync.Mutex
	active   map[segment.Hour]*hourState
	cache    map[segment.Hour]*Set // finished hours, decoded
	order    []segment.Hour        // cache insertion order
	dropped  map[segment.Hour]bool
	baseline map[segment.Hour]int64 // segment ends seen at the first pass: blocks after them are live traffic (RTCP)
	first    bool                   // the first pass has run
	closed   bool
	live     *engine
	rtcp     RTCPTotals   // live RTCP distributions (rtcp.go)
	ret      retired      // counts of the hours retention deleted (cumulative.go)
	sum      *finishedSum // merged counts of the finished hours, nil: to compute
}

// ErrClosed is returned by a pass on a closed Stats.
var ErrClosed = errors.New("stats closed")

// Open opens (creating it) the stats directory dir. Temporary files left by an
// interrupted write are removed.
func Open(dir string, opts Options) (*Stats, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PersistEvery <= 0 {
		opts.PersistEvery = 5 * time.Second
	}
	if opts.FollowDelay <= 0 {
		opts.FollowDelay = 200 * time.Millisecond
	}
	if opts.FollowInterval <= 0 {
		opts.FollowInterval = 10 * time.Second
	}
	if opts.CacheHours <= 0 {
		opts.CacheHours = 48
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Limits = opts.Limits.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open stats: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open stats: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("open stats: %w", err)
			}
		}
	}
	s := &Stats{dir: dir, opts: opts, log: opts.Logger, active: map[segment.Hour]*hourState{},
		cache: map[segment.Hour]*Set{}, dropped: map[segment.Hour]bool{}, baseline: map[segment.Hour]int64{}}
	s.live = newEngine(opts.Limits)
	s.rtcp = newRTCPTotals()
	if err := s.loadRetired(); err != nil {
		return nil, fmt.Errorf("open stats: %w", err)
	}
	return s, nil
}

// Close writes every set being counted and stops the Stats. A pass under way
// finishes first.
func (s *Stats) Close() error {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.persist(true, nil)
}

// DropHour deletes hour h's statistics and ignores the hour from then on. It is
// for retention, which calls it before deleting the hour's segment.
func (s *Stats) DropHour(h segment.Hour) error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	// Its counts go to the retired counts first, so the cumulative counters
	// keep them (cumulative.go).
	set, _, err := s.snapshot(h)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("stats: the counts of a deleted hour could not be read; the cumulative counters lack them", "hour", h, "err", err)
		}
		set = nil
	}
	oldest := h
	for _, x := range s.hours(time.Time{}, time.Time{}) {
		oldest = min(oldest, x)
	}
	if err := s.retireCounts(h, set, oldest); err != nil {
		return err
	}
	s.mu.Lock()
	s.dropped[h] = true
	delete(s.active, h)
	s.uncache(h)
	s.sum = nil
	s.mu.Unlock()
	if err := os.Remove(filepath.Join(s.dir, FileName(h))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("drop stats of %s: %w", h, err)
	}
	return nil
}

func (s *Stats) uncache(h segment.Hour) {
	if _, ok := s.cache[h]; ok {
		delete(s.cache, h)
		s.order = slices.DeleteFunc(s.order, func(x segment.Hour) bool { return x == h })
	}
}

func (s *Stats) addCache(set *Set) {
	if _, ok := s.cache[set.Hour]; !ok {
		s.order = append(s.order, set.Hour)
	}
	s.cache[set.Hour] = set
	for len(s.order) > s.opts.CacheHours {
		delete(s.cache, s.order[0])
		s.order = s.order[1:]
	}
}

// Follow keeps the statistics caught up with src until ctx is done: a pass,
// then another whenever src notifies new blocks (at most one per FollowDelay)
// or FollowInterval has passed. Sets are written every PersistEvery. It
// returns nil when ctx is done and ErrClosed when the Stats is closed.
func (s *Stats) Follow(ctx context.Context, src Source) error {
	tick := time.NewTicker(s.opts.FollowInterval)
	defer tick.Stop()
	var warned time.Time
	for {
		notify := src.Notify()
		last := time.Now()
		err := s.CatchUp(ctx, src)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed):
			return err
		case err != nil && last.Sub(warned) >= s.opts.FollowInterval:
			s.log.Warn("stats: pass failed; retrying at every pass", "err", err)
			warned = last
		}
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
		case <-tick.C:
		}
		if d := s.opts.FollowDelay - time.Since(last); d > 0 {
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

// CatchUp makes one pass: it counts every block of src not counted yet, hours
// in ascending order, and writes the sets that are due. The newest two hours
// are counted by one long-lived engine, so calls that cross the hour are
// followed; older hours (rebuilt after a lost or damaged file) by an engine of
// their own, and the newest hour is topped up between their blocks.
func (s *Stats) CatchUp(ctx context.Context, src Source) error {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	infos := src.Hours()
	slices.SortFunc(infos, func(a, b segment.HourInfo) int { return cmp.Compare(a.Hour, b.Hour) })
	if !s.first {
		s.firstPass(infos)
	}
	var errs []error
	var newest segment.Hour
	if len(infos) > 0 {
		newest = infos[len(infos)-1].Hour
	}
	var old *engine
	topUp := func() error {
		hs := src.Hours()
		if len(hs) == 0 {
			return nil
		}
		n := slices.MaxFunc(hs, func(a, b segment.HourInfo) int { return cmp.Compare(a.Hour, b.Hour) })
		if n.Hour < newest {
			return nil
		}
		return s.countHour(ctx, src, n, s.live, nil)
	}
	for _, hi := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		eng, top := s.live, func() error { return nil }
		if hi.Hour < newest-1 {
			if old == nil {
				old = newEngine(s.opts.Limits)
			}
			eng, top = old, topUp
		}
		if err := s.countHour(ctx, src, hi, eng, top); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	finished := map[segment.Hour]bool{}
	present := map[segment.Hour]bool{}
	for _, hi := range src.Hours() {
		present[hi.Hour] = true
		if hi.Sealed {
			finished[hi.Hour] = true
		}
	}
	s.mu.Lock()
	var vanished []segment.Hour
	for h, st := range s.active {
		if !present[h] {
			vanished = append(vanished, h)
		}
		if finished[h] && st.set.Mark.Next != endOf(src, h) {
			delete(finished, h)
		}
	}
	s.mu.Unlock()
	for _, h := range vanished {
		if err := s.DropHour(h); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.persist(false, finished); err != nil {
		errs = append(errs, err)
	}
	s.retire(finished)
	return errors.Join(errs...)
}

// firstPass removes the files of hours without a segment and notes where
// every segment ends now.
func (s *Stats) firstPass(infos []segment.HourInfo) {
	s.first = true
	live := map[string]bool{}
	for _, hi := range infos {
		live[FileName(hi.Hour)] = true
		s.baseline[hi.Hour] = hi.End
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Warn("stats: list files", "err", err)
		return
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), fileExt) && !live[e.Name()] {
			s.log.Info("stats: removing the file of an hour without segment", "file", e.Name())
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				s.log.Warn("stats: remove file", "err", err)
			}
		}
	}
}

// errStop ends a Blocks listing early.
var errStop = errors.New("stop listing")

// batchBlocks is the number of blocks listed at once.
const batchBlocks = 32

// state returns the state of hour hi, loading its file or starting it empty;
// nil when the hour is finished (counted to the end of its sealed file) or
// dropped.
func (s *Stats) state(src Source, hi segment.HourInfo) *hourState {
	h := hi.Hour
	s.mu.Lock()
	if s.dropped[h] {
		s.mu.Unlock()
		return nil
	}
	if st := s.active[h]; st != nil {
		s.mu.Unlock()
		return st
	}
	cached := s.cache[h]
	s.mu.Unlock()
	if cached != nil && hi.Sealed && cached.Mark.Next == hi.End {
		return nil
	}
	set := cached
	if set == nil {
		var err error
		set, err = readFile(s.dir, h)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("stats: counting the hour again", "hour", h, "err", err)
			}
			set = nil
		}
	}
	if set != nil && set.Mark.Next > 0 {
		if why := verify(src, h, set.Mark, hi); why != "" {
			s.log.Warn("stats: file out of step with its segment; counting the hour again", "hour", h, "why", why)
			set = nil
		}
	}
	if set == nil {
		set = NewSet(h)
	}
	st := &hourState{set: set, verified: true, saved: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped[h] {
		return nil
	}
	if set.Mark.Next == hi.End && hi.Sealed {
		s.addCache(set)
		return nil
	}
	s.uncache(h)
	s.active[h] = st
	return st
}

// verify checks that the block a mark names is in the segment with its CRC.
func verify(src Source, h segment.Hour, m Mark, hi segment.HourInfo) string {
	if hi.End < m.Next {
		return fmt.Sprintf("the segment ends at %d, before the counted block at %d", hi.End, m.Off)
	}
	var got segment.BlockInfo
	found := false
	err := src.Blocks(h, m.Off, func(bi segment.BlockInfo) error {
		got, found = bi, true
		return errStop
	})
	switch {
	case err != nil && !errors.Is(err, errStop):
		return fmt.Sprintf("no block at offset %d: %v", m.Off, err)
	case !found || got.Ref.Off != m.Off:
		return fmt.Sprintf("no block at offset %d", m.Off)
	case got.CRC != m.CRC || got.Next != m.Next:
		return fmt.Sprintf("block at offset %d is not the one counted", m.Off)
	}
	return ""
}

// countHour counts the blocks of hour hi after its mark with eng, calling top
// (when not nil) between batches.
func (s *Stats) countHour(ctx context.Context, src Source, hi segment.HourInfo, eng *engine, top func() error) error {
	st := s.state(src, hi)
	if st == nil {
		return nil
	}
	h := hi.Hour
	batch := make([]segment.BlockInfo, 0, batchBlocks)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		from := st.set.Mark.Next
		gone := s.dropped[h] || s.active[h] != st
		s.mu.Unlock()
		if gone {
			return nil
		}
		batch = batch[:0]
		err := src.Blocks(h, from, func(bi segment.BlockInfo) error {
			if len(batch) == batchBlocks {
				return errStop
			}
			batch = append(batch, bi)
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return fmt.Errorf("list blocks of hour %s from %d: %w", h, from, err)
		}
		if len(batch) == 0 {
			return nil
		}
		for _, bi := range batch {
			blk, err := src.ReadBlock(bi.Ref)
			var ce *segment.CorruptionError
			switch {
			case errors.As(err, &ce):
				s.log.Warn("stats: skipping a damaged block", "block", bi.Ref.String(), "err", err)
				blk = nil
			case err != nil:
				return fmt.Errorf("read block %s: %w", bi.Ref, err)
			}
			s.mu.Lock()
			if s.dropped[h] || s.active[h] != st {
				s.mu.Unlock()
				return nil
			}
			if base, ok := s.baseline[h]; !s.first || !ok || bi.Ref.Off >= base {
				eng.rtcp = &s.rtcp
			}
			if blk != nil {
				for _, r := range blk.Records {
					eng.count(r, st.set)
				}
			}
			eng.rtcp = nil
			st.set.Mark = Mark{Off: bi.Ref.Off, Next: bi.Next, CRC: bi.CRC, Blocks: st.set.Mark.Blocks + 1}
			st.dirty = true
			s.mu.Unlock()
		}
		if top != nil {
			if err := top(); err != nil {
				return err
			}
		}
	}
}

// persist writes the dirty sets that are due (all of them when force), and
// retires the hours that are finished: sealed and counted to their end.
func (s *Stats) persist(force bool, finished map[segment.Hour]bool) error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	now := time.Now()
	type job struct {
		set *Set
		b   []byte
	}
	var jobs []job
	var errs []error
	s.mu.Lock()
	for _, st := range s.active {
		if !st.dirty || (!force && !finished[st.set.Hour] && now.Sub(st.saved) < s.opts.PersistEvery) {
			continue
		}
		b, err := Encode(st.set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		jobs = append(jobs, job{st.set, b})
		st.dirty, st.saved = false, now
	}
	s.mu.Unlock()
	for _, j := range jobs {
		if err := writeBytes(s.dir, j.set.Hour, j.b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retire moves the finished hours, written, out of the sets being counted.
func (s *Stats) retire(finished map[segment.Hour]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h := range finished {
		if st := s.active[h]; st != nil && !st.dirty {
			delete(s.active, h)
			s.addCache(st.set)
		}
	}
}

// endOf returns the end of hour h's last complete block in src (-1 when the
// hour is not listed).
func endOf(src Source, h segment.Hour) int64 {
	for _, hi := range src.Hours() {
		if hi.Hour == h {
			return hi.End
		}
	}
	return -1
}
