package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"traced/segment"
)

// The cumulative counters (/metrics) are the counts of every hour traced has
// counted: the hours it still holds, plus the hours retention deleted. The
// second part is kept in DIR/retired.json, written before an hour's own file is
// removed, so the counters never go down when an hour ages out and stay exact
// across restarts.
//
// retired.json holds the merged counts of the deleted hours (as an encoded,
// checksummed set, see Encode) and the list of those hours that may still have
// a segment: an hour in the list is never counted again. After a crash between
// the write and the removal of the hour's file, Open finds the file of an hour
// in the list and removes it. The list keeps only hours at or after the oldest
// segment hour seen at the last write, so it stays short.
const retiredName = "retired.json"

type retiredFile struct {
	Hours []string `json:"hours"`
	Set   []byte   `json:"set"` // Encode of a set holding the merged counts
}

// retired is the in-memory form of retired.json.
type retired struct {
	counts Counts
	hours  map[segment.Hour]bool
}

// loadRetired reads retired.json (absent: nothing retired) and completes the
// removal of the files of retired hours.
func (s *Stats) loadRetired() error {
	s.ret = retired{hours: map[segment.Hour]bool{}}
	b, err := os.ReadFile(filepath.Join(s.dir, retiredName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", retiredName, err)
	}
	var rf retiredFile
	if err := json.Unmarshal(b, &rf); err != nil {
		// Counted again from nothing: the counters restart, as after a reset.
		s.log.Warn("stats: unreadable retired counts; cumulative counters restart", "err", err)
		return nil
	}
	set, err := Decode(rf.Set)
	if err != nil {
		s.log.Warn("stats: unreadable retired counts; cumulative counters restart", "err", err)
		return nil
	}
	s.ret.counts = set.Counts
	for _, name := range rf.Hours {
		h, err := segment.ParseHour(name)
		if err != nil {
			continue
		}
		s.ret.hours[h] = true
		s.dropped[h] = true
		if err := os.Remove(filepath.Join(s.dir, FileName(h))); err == nil {
			s.log.Info("stats: removed the file of an hour already retired", "hour", h)
		}
	}
	return nil
}

// writeRetired writes the retired counts atomically. s.fileMu is held.
func (s *Stats) writeRetired(r retired, oldest segment.Hour) error {
	set := NewSet(0)
	set.Counts = r.counts
	enc, err := Encode(set)
	if err != nil {
		return err
	}
	rf := retiredFile{Hours: []string{}, Set: enc}
	for h := range r.hours {
		if h >= oldest {
			rf.Hours = append(rf.Hours, h.String())
		}
	}
	slices.Sort(rf.Hours)
	b, err := json.Marshal(&rf)
	if err != nil {
		return fmt.Errorf("encode %s: %w", retiredName, err)
	}
	return atomicWrite(s.dir, retiredName, b)
}

// retireCounts adds hour h's counts (set, nil when it had none) to the retired
// counts and writes them, before h's file is removed. s.fileMu is held.
func (s *Stats) retireCounts(h segment.Hour, set *Set, oldest segment.Hour) error {
	s.mu.Lock()
	if s.ret.hours[h] {
		s.mu.Unlock()
		return nil
	}
	next := retired{counts: s.ret.counts, hours: map[segment.Hour]bool{h: true}}
	for x := range s.ret.hours {
		next.hours[x] = true
	}
	s.mu.Unlock()
	if set != nil {
		next.counts.Merge(&set.Counts)
	}
	if err := s.writeRetired(next, oldest); err != nil {
		return fmt.Errorf("retire stats of %s: %w", h, err)
	}
	s.mu.Lock()
	s.ret = next
	s.sum = nil
	s.mu.Unlock()
	return nil
}

// Cumulative returns the counts of every hour counted since the statistics
// directory was made: the hours held now (finished and being counted) plus the
// hours retention deleted. They only grow, and are the same after a restart:
// the figures behind the Prometheus counters.
func (s *Stats) Cumulative() Counts {
	s.mu.Lock()
	c := s.ret.counts
	memo := s.sum
	for _, st := range s.active {
		c.Merge(&st.set.Counts) // counts only: no copy of the set's tables
	}
	s.mu.Unlock()
	if hours := s.finishedHours(); memo == nil || !slices.Equal(memo.hours, hours) {
		memo = s.sumFinished(hours)
		s.mu.Lock()
		s.sum = memo
		s.mu.Unlock()
	}
	c.Merge(&memo.counts)
	return c
}

// finishedSum is the merged counts of the finished hours, kept between scrapes:
// a finished hour does not change.
type finishedSum struct {
	hours  []segment.Hour
	counts Counts
}

// finishedHours lists the hours with a set that are not being counted.
func (s *Stats) finishedHours() []segment.Hour {
	all := s.hours(time.Time{}, time.Time{})
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.DeleteFunc(all, func(h segment.Hour) bool { return s.active[h] != nil })
}

func (s *Stats) sumFinished(hours []segment.Hour) *finishedSum {
	f := &finishedSum{hours: hours}
	for _, h := range f.hours {
		set, active, err := s.snapshot(h)
		if err != nil || active {
			continue
		}
		f.counts.Merge(&set.Counts)
	}
	return f
}
