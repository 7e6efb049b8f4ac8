package segment

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Options configure a Dir. The zero value of every field selects its default.
type Options struct {
	// FlushInterval is how often the current block is cut, written and the file
	// fsynced. It bounds what a crash can lose. 0: 1 s.
	FlushInterval time.Duration
	// BlockSize is the raw (uncompressed) size at which a block is cut. Blocks
	// never exceed it, except a block holding one record larger than it.
	// 0: 256 KiB; at most 16 MiB.
	BlockSize int
	// Level is the zstd encoder level. 0: zstd.SpeedFastest (see doc.go).
	Level zstd.EncoderLevel
	// CacheBlocks is the number of decoded blocks kept by the read cache.
	// 0: 256; negative: no cache.
	CacheBlocks int
	// QueueBlocks is the number of cut blocks that may wait for the writer before
	// Append blocks. 0: 4.
	QueueBlocks int
	// Now is the clock that decides which hour a record arrives in.
	// nil: time.Now.
	Now func() time.Time
	// Logger receives recovery reports, write errors and lifecycle events.
	// nil: discard.
	Logger *slog.Logger

	// hooks replace file writes and fsyncs; only tests set them.
	hooks *fileHooks
}

// fileHooks intercept the writes and fsyncs of segment files and the fsyncs of
// the directory.
type fileHooks struct {
	writeAt func(f *os.File, p []byte, off int64) (int, error)
	sync    func(f *os.File) error
	syncDir func(dir string) error
}

const (
	defaultFlushInterval = time.Second
	defaultBlockSize     = 256 << 10
	defaultLevel         = zstd.SpeedFastest
	defaultCacheBlocks   = 256
	defaultQueueBlocks   = 4
)

func (o Options) withDefaults() (Options, error) {
	if o.FlushInterval < 0 || o.BlockSize < 0 || o.QueueBlocks < 0 {
		return o, fmt.Errorf("options: negative FlushInterval, BlockSize or QueueBlocks")
	}
	if o.BlockSize > maxBlockSize {
		return o, fmt.Errorf("options: BlockSize %d over %d", o.BlockSize, maxBlockSize)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.BlockSize == 0 {
		o.BlockSize = defaultBlockSize
	}
	if o.Level == 0 {
		o.Level = defaultLevel
	}
	if o.CacheBlocks == 0 {
		o.CacheBlocks = defaultCacheBlocks
	}
	if o.QueueBlocks == 0 {
		o.QueueBlocks = defaultQueueBlocks
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hooks := fileHooks{}
	if o.hooks != nil {
		hooks = *o.hooks
	}
	o.hooks = &hooks
	if o.hooks.writeAt == nil {
		o.hooks.writeAt = (*os.File).WriteAt
	}
	if o.hooks.sync == nil {
		o.hooks.sync = (*os.File).Sync
	}
	if o.hooks.syncDir == nil {
		o.hooks.syncDir = syncDir
	}
	return o, nil
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

// pendingBlock is a block being filled by Append or waiting for the writer.
type pendingBlock struct {
	hf      *hourFile
	buf     []byte
	nrec    uint32
	minTime int64
	maxTime int64
}

type jobKind uint8

const (
	jobBlock jobKind = iota // write blk
	jobSync                 // fsync; reply on done if set
	jobSeal                 // seal hf if it is open
	jobClose                // fsync, seal, reply and stop
	jobAbort                // stop without writing anything more (tests: a crash)
)

type job struct {
	kind jobKind
	blk  *pendingBlock
	hf   *hourFile
	done chan error
}

// Dir is an open segment directory. Its methods are safe for concurrent use.
type Dir struct {
	dir    string
	opts   Options
	log    *slog.Logger
	lock   *os.File
	dec    *zstd.Decoder
	cache  *blockCache
	notify chan struct{}
	queue  chan job
	free   chan *pendingBlock
	stop   chan struct{}

	tickerDone chan struct{}
	writerDone chan struct{}

	// amu guards the block being filled. It is held while a cut block is queued,
	// so that blocks reach the writer in order. Lock order: amu, then mu.
	amu     sync.Mutex
	closed  bool
	curHour Hour
	curHF   *hourFile // the hour Append writes; nil until the first Append of curHour
	cur     *pendingBlock

	// mu guards the hour table. It is never held while waiting for the writer.
	mu        sync.Mutex
	shut      bool
	hours     map[Hour]*hourFile
	recovered []LostData
	corrupt   map[BlockRef]struct{}

	appended  atomic.Int64
	stored    atomic.Int64
	blocksOut atomic.Int64
	lost      atomic.Int64
	writeErrs atomic.Int64
}

// newDecoder returns the block decoder: DecodeAll may run on up to GOMAXPROCS
// goroutines, and never decodes more than a block may hold.
func newDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(maxRawLen),
		zstd.WithDecodeAllCapLimit(true))
}

// Open opens (creating if needed) the segment directory dir, recovers it (see
// doc.go) and starts the writer and the flush ticker.
func Open(dir string, opts Options) (*Dir, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	dec, err := newDecoder()
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open %s: zstd decoder: %w", dir, err)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(opts.Level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true))
	if err != nil {
		dec.Close()
		lock.Close()
		return nil, fmt.Errorf("open %s: zstd encoder: %w", dir, err)
	}
	d := &Dir{
		dir:        dir,
		opts:       opts,
		log:        opts.Logger.With("dir", dir),
		lock:       lock,
		dec:        dec,
		cache:      newBlockCache(opts.CacheBlocks),
		notify:     make(chan struct{}, 1),
		queue:      make(chan job, opts.QueueBlocks),
		free:       make(chan *pendingBlock, opts.QueueBlocks+2),
		stop:       make(chan struct{}),
		tickerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		hours:      make(map[Hour]*hourFile),
		corrupt:    make(map[BlockRef]struct{}),
	}
	if err := d.recover(); err != nil {
		d.closeFiles()
		dec.Close()
		lock.Close()
		return nil, err
	}
	w := &writer{d: d, enc: enc, out: make([]byte, 0, blockHeaderLen+opts.BlockSize+opts.BlockSize/8+1024)}
	go d.runWriter(w)
	go d.runTicker()
	return d, nil
}

// Append adds r to the block being filled for the current hour. It copies r.Data
// and does not wait for the disk unless QueueBlocks cut blocks are already
// waiting for the writer. A record is durable after the next flush (FlushInterval,
// or Flush).
func (d *Dir) Append(r Record) error {
	if len(r.Data) > MaxRecordSize {
		return fmt.Errorf("append %d bytes: %w", len(r.Data), ErrTooLarge)
	}
	need := encodedLen(len(r.Data))
	d.amu.Lock()
	defer d.amu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if h := HourOf(d.opts.Now()); h > d.curHour || d.curHF == nil {
		d.enterHourLocked(max(h, d.curHour))
	}
	b := d.cur
	if b != nil && len(b.buf)+need > d.opts.BlockSize {
		d.cutLocked()
		b = nil
	}
	if b == nil {
		b = d.getBlock()
		b.hf = d.curHF
		d.cur = b
	}
	b.buf = appendRecord(b.buf, r)
	if b.nrec == 0 || r.Time < b.minTime {
		b.minTime = r.Time
	}
	if b.nrec == 0 || r.Time > b.maxTime {
		b.maxTime = r.Time
	}
	b.nrec++
	d.appended.Add(1)
	if len(b.buf) >= d.opts.BlockSize {
		d.cutLocked()
	}
	return nil
}

// enterHourLocked makes h the hour Append writes. The previous hour's block is
// cut and its file is sealed by the writer after that block.
func (d *Dir) enterHourLocked(h Hour) {
	if d.curHF != nil && h != d.curHour {
		d.leaveHourLocked()
	}
	d.curHour = h
	if d.curHF != nil {
		return
	}
	d.mu.Lock()
	hf := d.hours[h]
	if hf == nil {
		hf = &hourFile{hour: h, path: filepath.Join(d.dir, partName(h))}
		d.hours[h] = hf
	}
	hf.active = true
	d.curHF = hf
	d.mu.Unlock()
}

// leaveHourLocked cuts the current block and queues the seal of its hour.
func (d *Dir) leaveHourLocked() {
	d.cutLocked()
	hf := d.curHF
	d.mu.Lock()
	hf.active = false
	hf.pending++
	d.mu.Unlock()
	d.curHF = nil
	d.queue <- job{kind: jobSeal, hf: hf}
}

// cutLocked hands the block being filled to the writer.
func (d *Dir) cutLocked() {
	if d.cur == nil {
		return
	}
	b := d.cur
	d.cur = nil
	d.queue <- job{kind: jobBlock, blk: b}
}

func (d *Dir) getBlock() *pendingBlock {
	select {
	case b := <-d.free:
		return b
	default:
		return &pendingBlock{buf: make([]byte, 0, d.opts.BlockSize)}
	}
}

func (d *Dir) putBlock(b *pendingBlock) {
	*b = pendingBlock{buf: b.buf[:0]}
	if cap(b.buf) > d.opts.BlockSize {
		return // grown by an oversized record: let it go
	}
	select {
	case d.free <- b:
	default:
	}
}

// Flush cuts the current block, and returns once it and every block before it
// are written and fsynced. If the current hour is over, its file is sealed. The
// error reports write or fsync failures since the previous Flush: the records of
// those blocks are lost (Stats.LostRecords).
func (d *Dir) Flush() error {
	done := make(chan error, 1)
	if err := d.flush(done); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

func (d *Dir) flush(done chan error) error {
	d.amu.Lock()
	defer d.amu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if h := HourOf(d.opts.Now()); d.curHF != nil && h > d.curHour {
		d.leaveHourLocked()
		d.curHour = h
	} else {
		d.cutLocked()
	}
	d.queue <- job{kind: jobSync, done: done}
	return nil
}

func (d *Dir) runTicker() {
	defer close(d.tickerDone)
	t := time.NewTicker(d.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			if d.flush(nil) != nil {
				return
			}
		}
	}
}

// Close writes the current block, seals the active file and releases the
// directory. A cleanly closed directory holds only sealed files.
func (d *Dir) Close() error {
	d.amu.Lock()
	if d.closed {
		d.amu.Unlock()
		return nil
	}
	d.closed = true
	if d.curHF != nil {
		d.leaveHourLocked()
	}
	d.amu.Unlock()
	return d.shutdown(jobClose)
}

// abandon stops the Dir the way a crash would: the block being filled is dropped
// and nothing is sealed. Queued blocks are still written. Tests only.
func (d *Dir) abandon() {
	d.amu.Lock()
	d.closed = true
	d.cur = nil
	d.amu.Unlock()
	_ = d.shutdown(jobAbort)
}

func (d *Dir) shutdown(kind jobKind) error {
	close(d.stop)
	<-d.tickerDone
	done := make(chan error, 1)
	d.queue <- job{kind: kind, done: done}
	err := <-done
	<-d.writerDone
	d.closeFiles()
	d.dec.Close()
	if lerr := d.lock.Close(); err == nil && lerr != nil {
		err = fmt.Errorf("close %s: %w", d.dir, lerr)
	}
	return err
}

func (d *Dir) closeFiles() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shut = true
	for _, hf := range d.hours {
		if hf.rf != nil && hf.refs == 0 {
			hf.rf.Close()
			hf.rf = nil
		}
	}
}

// Notify returns a channel that receives a value after blocks are written. It
// has a buffer of one: a receiver that is slow sees one value for many blocks.
func (d *Dir) Notify() <-chan struct{} { return d.notify }

// Hours lists the segment files, oldest first, including the one being written.
func (d *Dir) Hours() []HourInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]HourInfo, 0, len(d.hours))
	for _, hf := range d.hours {
		out = append(out, hf.info())
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

// Stats returns the counters and the directory state.
func (d *Dir) Stats() Stats {
	s := Stats{
		Appended:    d.appended.Load(),
		Stored:      d.stored.Load(),
		Blocks:      d.blocksOut.Load(),
		LostRecords: d.lost.Load(),
		WriteErrors: d.writeErrs.Load(),
		CacheHits:   d.cache.hits.Load(),
		CacheMisses: d.cache.misses.Load(),
	}
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
