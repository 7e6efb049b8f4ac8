package segment

import (
	"cmp"
	"fmt"
	"os"
	"slices"
)

// hourFile is the state of one hour's segment file. All fields are guarded by
// Dir.mu.
type hourFile struct {
	hour    Hour
	path    string
	exists  bool // the file is on disk (false: the hour has records in memory only)
	sealed  bool
	end     int64 // just past the last complete block
	size    int64
	blocks  int
	records int64
	minTime int64
	maxTime int64

	active  bool // Append writes this hour
	pending int  // seal requests queued for the writer
	deleted bool
	refs    int      // readers using rf
	rf      *os.File // read handle, opened on first use
}

func (hf *hourFile) addBlock(bi BlockInfo) {
	if hf.blocks == 0 || bi.MinTime < hf.minTime {
		hf.minTime = bi.MinTime
	}
	if hf.blocks == 0 || bi.MaxTime > hf.maxTime {
		hf.maxTime = bi.MaxTime
	}
	hf.blocks++
	hf.records += int64(bi.NRec)
	hf.end = bi.Next
	hf.size = max(hf.size, bi.Next)
}

// Hours lists the segment files, oldest first, including the one being written.
// The hour Append writes is listed (with Size 0) even before its file is created.
func (d *Dir) Hours() []HourInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]HourInfo, 0, len(d.hours))
	for _, hf := range d.hours {
		if hf.exists || hf.active {
			out = append(out, hf.info())
		}
	}
	slices.SortFunc(out, func(a, b HourInfo) int { return cmp.Compare(a.Hour, b.Hour) })
	return out
}

func (hf *hourFile) info() HourInfo {
	return HourInfo{
		Hour: hf.hour, Path: hf.path, Size: hf.size, Sealed: hf.sealed, End: hf.end,
		Blocks: hf.blocks, Records: hf.records, MinTime: hf.minTime, MaxTime: hf.maxTime,
	}
}

// DeleteHour removes the file of hour h and returns its size. The hour Append is
// writing cannot be deleted (ErrActive). Reads already under way finish; later
// reads of the hour fail with ErrNotFound.
func (d *Dir) DeleteHour(h Hour) (int64, error) {
	d.mu.Lock()
	if d.shut {
		d.mu.Unlock()
		return 0, ErrClosed
	}
	hf := d.hours[h]
	if hf == nil {
		d.mu.Unlock()
		return 0, fmt.Errorf("delete %s: %w", h, ErrNotFound)
	}
	if hf.active || hf.pending > 0 {
		d.mu.Unlock()
		return 0, fmt.Errorf("delete %s: %w", h, ErrActive)
	}
	// Rename first: a crash between the rename and the remove leaves a .tmp
	// name that Open removes, never a half-deleted segment.
	tmp := hf.path + ".delete" + tmpSuffix
	if hf.exists {
		if err := os.Rename(hf.path, tmp); err != nil {
			d.mu.Unlock()
			return 0, fmt.Errorf("delete %s: %w", h, err)
		}
	}
	freed, exists := hf.size, hf.exists
	delete(d.hours, h)
	hf.deleted = true
	if hf.refs == 0 && hf.rf != nil {
		hf.rf.Close()
		hf.rf = nil
	}
	d.mu.Unlock()
	d.cache.dropHour(h)
	if !exists {
		return 0, nil
	}
	if err := os.Remove(tmp); err != nil {
		return 0, fmt.Errorf("delete %s: %w", h, err)
	}
	if err := d.syncDir(); err != nil {
		return freed, fmt.Errorf("delete %s: %w", h, err)
	}
	d.log.Info("segment deleted", "hour", h.String(), "bytes", freed)
	return freed, nil
}

// Stats are counters since Open, plus the state of the directory.
type Stats struct {
	Appended    int64      // records accepted by Append
	Stored      int64      // records in blocks written and fsynced
	Blocks      int64      // blocks written
	LostRecords int64      // records whose block write or fsync failed
	WriteErrors int64      // failed block, footer or file-creation writes and fsyncs
	Recovered   []LostData // torn tails cut off by Open
	Corruptions int64      // distinct damaged blocks or footers met by reads, walks and Open
	BytesOnDisk int64      // sum of the segment file sizes
	Hours       int        // segment files, including the active one
	CacheHits   int64
	CacheMisses int64
}

// Counters returns the record, block and cache counters alone. It takes no
// lock, so it answers even while the writer is blocked in the file system
// (a hung or frozen disk), which is when a liveness check needs it.
func (d *Dir) Counters() Stats {
	return Stats{
		Appended:    d.appended.Load(),
		Stored:      d.stored.Load(),
		Blocks:      d.blocksOut.Load(),
		LostRecords: d.lost.Load(),
		WriteErrors: d.writeErrs.Load(),
		CacheHits:   d.cache.hits.Load(),
		CacheMisses: d.cache.misses.Load(),
	}
}

// Stats returns the counters and the directory state.
func (d *Dir) Stats() Stats {
	s := d.Counters()
	d.mu.Lock()
	defer d.mu.Unlock()
	s.Recovered = slices.Clone(d.recovered)
	s.Corruptions = int64(len(d.corrupt))
	for _, hf := range d.hours {
		if hf.exists {
			s.Hours++
			s.BytesOnDisk += hf.size
		}
	}
	return s
}

// noteCorruption counts a damaged block or footer once and logs it.
func (d *Dir) noteCorruption(ref BlockRef, err error) {
	d.mu.Lock()
	_, seen := d.corrupt[ref]
	d.corrupt[ref] = struct{}{}
	d.mu.Unlock()
	if !seen {
		d.log.Error("segment corruption", "hour", ref.Hour.String(), "offset", ref.Off, "err", err)
	}
}
