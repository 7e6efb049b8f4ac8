package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
)

// writer is the state of the one goroutine that compresses, writes, fsyncs and
// seals. Only that goroutine touches it.
type writer struct {
	d     *Dir
	enc   *zstd.Encoder
	hf    *hourFile // file open for append, nil if none
	f     *os.File
	end   int64       // just past the last block written to f
	infos []BlockInfo // blocks of f, for its footer
	out   []byte      // header + compressed frame, reused

	dirty    bool  // written since the last fsync
	unsynced int64 // records written since the last fsync
	flushErr error // first failure since the last Flush reply

	burst     bool // inside a run of failures (logged once)
	burstLost int64
}

func (d *Dir) runWriter(w *writer) {
	defer close(d.writerDone)
	for j := range d.queue {
		switch j.kind {
		case jobBlock:
			w.writeBlock(j.blk)
			d.putBlock(j.blk)
		case jobSync:
			err := w.sync()
			if j.done != nil {
				j.done <- errors.Join(w.flushErr, err)
				w.flushErr = nil
			}
		case jobSeal:
			if w.hf == j.hf {
				if err := w.seal(); err != nil && w.flushErr == nil {
					w.flushErr = err
				}
			}
			d.mu.Lock()
			j.hf.pending--
			d.mu.Unlock()
		case jobClose:
			err := errors.Join(w.flushErr, w.sync())
			if w.hf != nil {
				err = errors.Join(err, w.seal())
			}
			j.done <- err
			return
		case jobAbort:
			if w.f != nil {
				w.f.Close()
			}
			j.done <- nil
			return
		}
	}
}

// writeBlock compresses b and writes it, with its header frame, in one write.
func (w *writer) writeBlock(b *pendingBlock) {
	d := w.d
	if w.hf != b.hf {
		if w.hf != nil {
			if err := w.seal(); err != nil && w.flushErr == nil {
				w.flushErr = err
			}
		}
		if err := w.open(b.hf); err != nil {
			w.fail(err, int64(b.nrec), "open segment", b.hf.path, 0)
			return
		}
	}
	out := w.enc.EncodeAll(b.buf, w.out[:blockHeaderLen])
	frame := out[blockHeaderLen:]
	h := blockHeader{
		frameCRC: crc32c(frame),
		frameLen: uint32(len(frame)),
		rawLen:   uint32(len(b.buf)),
		nrec:     b.nrec,
		minTime:  b.minTime,
		maxTime:  b.maxTime,
	}
	putBlockHeader(out, h, w.hf.hour, w.end)
	if cap(out) <= 2*cap(w.out) {
		w.out = out[:0]
	}
	if _, err := d.opts.hooks.writeAt(w.f, out, w.end); err != nil {
		// Cut whatever part of the block reached the file, so that the
		// next block follows the last good one.
		if terr := w.f.Truncate(w.end); terr != nil {
			err = errors.Join(err, fmt.Errorf("truncate back: %w", terr))
		}
		w.fail(err, int64(b.nrec), "write block", w.hf.path, w.end)
		return
	}
	bi := h.info(w.hf.hour, w.end)
	w.end = bi.Next
	w.infos = append(w.infos, bi)
	w.dirty = true
	w.unsynced += int64(b.nrec)
	w.recovered()
	if d.cache.enabled() {
		// The cache gets its own copy: b.buf goes back to the pool.
		raw := make([]byte, len(b.buf))
		copy(raw, b.buf)
		if recs, err := parseRecords(raw, h); err == nil {
			d.cache.put(bi.Ref, &Block{BlockInfo: bi, Records: recs})
		}
	}
	d.mu.Lock()
	w.hf.addBlock(bi)
	d.mu.Unlock()
	d.blocksOut.Add(1)
	d.wake()
}

// sync fsyncs the open file if anything was written since the last fsync.
func (w *writer) sync() error {
	if !w.dirty || w.f == nil {
		return nil
	}
	w.dirty = false
	n := w.unsynced
	w.unsynced = 0
	if err := w.d.opts.hooks.sync(w.f); err != nil {
		// After a failed fsync the kernel may have dropped the pages: the
		// records written since the last good fsync are counted as lost,
		// although they may still read back until the next power loss.
		w.fail(err, n, "fsync segment", w.hf.path, w.end)
		return fmt.Errorf("fsync %s: %w", w.hf.path, err)
	}
	w.d.stored.Add(n)
	return nil
}

// fail counts and reports a failed write of nrec records. The first failure of a
// burst is logged; the burst's total is logged when writes succeed again.
func (w *writer) fail(err error, nrec int64, what, path string, off int64) {
	w.d.writeErrs.Add(1)
	w.d.lost.Add(nrec)
	if w.flushErr == nil {
		w.flushErr = fmt.Errorf("%s %s at %d: %w", what, path, off, err)
	}
	w.burstLost += nrec
	if !w.burst {
		w.burst = true
		w.d.log.Error("segment write failed; records dropped until writes succeed again",
			"op", what, "path", path, "offset", off, "records", nrec, "err", err)
	}
}

// recovered closes a burst of failures.
func (w *writer) recovered() {
	if w.burst {
		w.d.log.Warn("segment writes succeed again", "path", w.hf.path, "records_lost", w.burstLost)
		w.burst = false
		w.burstLost = 0
	}
}

// open makes hf the file being appended to: it creates it, unseals it, or
// reopens a file left unsealed.
func (w *writer) open(hf *hourFile) error {
	d := w.d
	d.mu.Lock()
	exists, sealed, path, size := hf.exists, hf.sealed, hf.path, hf.size
	d.mu.Unlock()
	if !exists {
		return w.create(hf)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	infos, end, err := d.blockList(f, hf.hour, path, sealed, size)
	if err != nil {
		f.Close()
		return err
	}
	if sealed {
		// Unseal: rename first, so that the file never has the sealed name
		// without its footer; then cut the footer.
		part := filepath.Join(d.dir, partName(hf.hour))
		d.mu.Lock()
		err := os.Rename(path, part)
		if err == nil {
			hf.sealed, hf.path = false, part
		}
		d.mu.Unlock()
		if err != nil {
			f.Close()
			return fmt.Errorf("unseal %s: %w", path, err)
		}
		if err := d.syncDir(); err != nil {
			f.Close()
			return fmt.Errorf("unseal %s: %w", path, err)
		}
		path = part
	}
	if size > end {
		if err := f.Truncate(end); err != nil {
			f.Close()
			return fmt.Errorf("unseal %s: truncate footer: %w", path, err)
		}
		if err := d.opts.hooks.sync(f); err != nil {
			f.Close()
			return fmt.Errorf("unseal %s: %w", path, err)
		}
		d.mu.Lock()
		hf.size = end
		d.mu.Unlock()
	}
	if sealed {
		d.log.Info("segment unsealed for append", "path", path, "blocks", len(infos))
	}
	w.hf, w.f, w.end, w.infos = hf, f, end, infos
	return nil
}

// create writes a new file's header under a temporary name, fsyncs it and
// renames it into place.
func (w *writer) create(hf *hourFile) error {
	d := w.d
	part := filepath.Join(d.dir, partName(hf.hour))
	tmp := part + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("create %s: %w", part, err)
	}
	if _, err := d.opts.hooks.writeAt(f, appendFileHeader(nil, hf.hour), 0); err != nil {
		return fail(err)
	}
	if err := d.opts.hooks.sync(f); err != nil {
		return fail(err)
	}
	d.mu.Lock()
	err = os.Rename(tmp, part)
	if err == nil {
		hf.exists, hf.sealed, hf.path = true, false, part
		hf.end, hf.size = fileHeaderLen, fileHeaderLen
	}
	d.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	if err := d.syncDir(); err != nil {
		d.log.Warn("segment directory fsync failed", "path", part, "err", err)
	}
	w.hf, w.f, w.end, w.infos = hf, f, fileHeaderLen, w.infos[:0]
	return nil
}

// seal appends the footer to the open file, fsyncs it, renames it to its sealed
// name and closes it. On failure the file stays a .part (Open seals it later).
func (w *writer) seal() error {
	d := w.d
	syncErr := w.sync()
	hf, f := w.hf, w.f
	w.hf, w.f = nil, nil
	defer f.Close()
	if syncErr != nil {
		return syncErr
	}
	foot := appendFooter(w.out[:0], w.infos, w.end)
	if cap(foot) <= 2*cap(w.out) {
		w.out = foot[:0]
	}
	err := func() error {
		if _, err := d.opts.hooks.writeAt(f, foot, w.end); err != nil {
			return err
		}
		return d.opts.hooks.sync(f)
	}()
	if err != nil {
		if terr := f.Truncate(w.end); terr != nil {
			err = errors.Join(err, terr)
		}
		w.d.writeErrs.Add(1)
		d.log.Error("segment seal failed; the file stays unsealed until the next start",
			"path", hf.path, "err", err)
		return fmt.Errorf("seal %s: %w", hf.path, err)
	}
	sealedPath := filepath.Join(d.dir, sealedName(hf.hour))
	d.mu.Lock()
	hf.size = w.end + int64(len(foot))
	err = os.Rename(hf.path, sealedPath)
	if err == nil {
		hf.sealed, hf.path = true, sealedPath
	}
	d.mu.Unlock()
	if err != nil {
		d.log.Error("segment seal failed", "path", hf.path, "err", err)
		return fmt.Errorf("seal %s: %w", hf.path, err)
	}
	if err := d.syncDir(); err != nil {
		return fmt.Errorf("seal %s: %w", sealedPath, err)
	}
	d.log.Info("segment sealed", "path", sealedPath, "blocks", len(w.infos), "bytes", w.end+int64(len(foot)))
	return nil
}
