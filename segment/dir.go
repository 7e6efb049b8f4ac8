package segment

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

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
	jobAbort                // stop without sealing or fsyncing (tests: a crash)
)

type job struct {
	kind jobKind
	blk  *pendingBlock
	hf   *hourFile
	done chan error
}

// Dir is an open segment directory. Its methods are safe for concurrent use.
type Dir struct {
	dir   string
	opts  Options
	log   *slog.Logger
	lock  *os.File
	dec   *zstd.Decoder
	cache *blockCache
	// notifyMu guards notify: the channel closed at the next block write
	// (every follower waiting on it wakes), then replaced.
	notifyMu sync.Mutex
	notify   chan struct{}
	queue    chan job
	free     chan *pendingBlock
	stop     chan struct{}

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
		notify:     make(chan struct{}),
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

// Notify returns a channel that is closed when a block is next written. Every
// caller is woken, so several followers (the index, the statistics) each see
// every write: take the channel, catch up, then wait on it.
func (d *Dir) Notify() <-chan struct{} {
	d.notifyMu.Lock()
	defer d.notifyMu.Unlock()
	return d.notify
}

// wake closes the channel Notify handed out and starts a new one.
func (d *Dir) wake() {
	d.notifyMu.Lock()
	close(d.notify)
	d.notify = make(chan struct{})
	d.notifyMu.Unlock()
}
