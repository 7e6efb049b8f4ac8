package segment

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/klauspost/compress/zstd"
)

// view is what a reader needs of an hour, taken under Dir.mu.
type view struct {
	hf     *hourFile
	f      *os.File
	path   string
	sealed bool
	end    int64
	size   int64
}

// acquire pins hour h's read handle. ok is false for an hour that has records in
// memory but no file yet. The caller must release a pinned view.
func (d *Dir) acquire(h Hour) (v view, ok bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shut {
		return view{}, false, ErrClosed
	}
	hf := d.hours[h]
	if hf == nil {
		return view{}, false, ErrNotFound
	}
	if !hf.exists {
		return view{}, false, nil
	}
	if hf.rf == nil {
		f, err := os.Open(hf.path)
		if err != nil {
			return view{}, false, err
		}
		hf.rf = f
	}
	hf.refs++
	return view{hf: hf, f: hf.rf, path: hf.path, sealed: hf.sealed, end: hf.end, size: hf.size}, true, nil
}

func (d *Dir) release(v view) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v.hf.refs--
	if v.hf.refs == 0 && (v.hf.deleted || d.shut) && v.hf.rf != nil {
		v.hf.rf.Close()
		v.hf.rf = nil
	}
}

// ReadBlock returns the decoded block ref names, from the cache or from the file.
// A block that does not exist (deleted hour, offset past the end of the file)
// gives an error that errors.Is ErrNotFound; a damaged block gives a
// *CorruptionError and does not affect other blocks.
func (d *Dir) ReadBlock(ref BlockRef) (*Block, error) {
	v, ok, err := d.acquire(ref.Hour)
	if err == nil && !ok {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read block %s: %w", ref, err)
	}
	defer d.release(v)
	if ref.Off < fileHeaderLen || ref.Off >= v.end {
		return nil, fmt.Errorf("read block %s: past the end %d: %w", ref, v.end, ErrNotFound)
	}
	if b := d.cache.get(ref); b != nil {
		return b, nil
	}
	b, err := d.readBlockAt(v, ref)
	if err != nil {
		var ce *CorruptionError
		if errors.As(err, &ce) {
			d.noteCorruption(ref, err)
		}
		return nil, fmt.Errorf("read block %s: %w", ref, err)
	}
	d.cache.put(ref, b)
	return b, nil
}

func (d *Dir) readBlockAt(v view, ref BlockRef) (*Block, error) {
	corrupt := func(err error) error { return &CorruptionError{Path: v.path, Offset: ref.Off, Err: err} }
	var hb [blockHeaderLen]byte
	if err := readFull(v.f, hb[:], ref.Off); err != nil {
		return nil, corrupt(fmt.Errorf("block header: %w", err))
	}
	h, err := parseBlockHeader(hb[:], ref.Hour, ref.Off)
	if err != nil {
		return nil, corrupt(err)
	}
	if next := ref.Off + blockHeaderLen + int64(h.frameLen); next > v.end {
		return nil, corrupt(fmt.Errorf("frame of %d bytes overruns the data end %d", h.frameLen, v.end))
	}
	buf := make([]byte, blockHeaderLen+int(h.frameLen))
	copy(buf, hb[:])
	if err := readFull(v.f, buf[blockHeaderLen:], ref.Off+blockHeaderLen); err != nil {
		return nil, corrupt(fmt.Errorf("frame: %w", err))
	}
	b, err := decodeBlock(d.dec, buf, ref)
	if err != nil {
		return nil, corrupt(err)
	}
	return b, nil
}

// decodeBlock decodes one block: b is exactly its header frame and zstd frame.
// It checks the header CRC, the frame CRC, the zstd content checksum, the raw
// length and the records against the header.
func decodeBlock(dec *zstd.Decoder, b []byte, ref BlockRef) (*Block, error) {
	h, err := parseBlockHeader(b, ref.Hour, ref.Off)
	if err != nil {
		return nil, err
	}
	frame := b[blockHeaderLen:]
	if uint64(len(frame)) != uint64(h.frameLen) {
		return nil, fmt.Errorf("frame: %d bytes, header says %d", len(frame), h.frameLen)
	}
	if got := crc32c(frame); got != h.frameCRC {
		return nil, fmt.Errorf("frame: crc %#08x, want %#08x", got, h.frameCRC)
	}
	raw, err := dec.DecodeAll(frame, make([]byte, 0, h.rawLen))
	if err != nil {
		return nil, fmt.Errorf("frame: zstd: %w", err)
	}
	recs, err := parseRecords(raw, h)
	if err != nil {
		return nil, err
	}
	return &Block{BlockInfo: h.info(ref.Hour, ref.Off), Records: recs}, nil
}

// Blocks calls fn with the header of each block of hour h, in file order,
// starting with the block at offset from (0: the first block), without
// decompressing. For the file being written it stops at the last block
// completely written when Blocks was called. An error from fn stops the walk and
// is returned. A from that is past the end of the file gives ErrNotFound.
func (d *Dir) Blocks(h Hour, from int64, fn func(BlockInfo) error) error {
	v, ok, err := d.acquire(h)
	if err != nil {
		return fmt.Errorf("blocks %s: %w", h, err)
	}
	if !ok {
		return nil
	}
	defer d.release(v)
	if from == 0 {
		from = fileHeaderLen
	}
	if from < fileHeaderLen || from > v.end {
		return fmt.Errorf("blocks %s from %d: past the end %d: %w", h, from, v.end, ErrNotFound)
	}
	if v.sealed {
		infos, _, err := readFooter(v.f, h, v.size)
		if err == nil {
			i := sort.Search(len(infos), func(i int) bool { return infos[i].Ref.Off >= from })
			if (i < len(infos) && infos[i].Ref.Off != from) || (i == len(infos) && from != v.end) {
				return fmt.Errorf("blocks %s from %d: not a block offset", h, from)
			}
			for _, bi := range infos[i:] {
				if err := fn(bi); err != nil {
					return err
				}
			}
			return nil
		}
		if d.stillSealed(v.hf) {
			d.noteCorruption(BlockRef{Hour: h, Off: v.end}, &CorruptionError{Path: v.path, Offset: v.end, Err: err})
		}
		// Fall back to the block headers, which the footer only repeats.
	}
	_, err = walkHeaders(v.f, h, v.path, from, v.end, fn)
	var ce *CorruptionError
	if errors.As(err, &ce) {
		d.noteCorruption(BlockRef{Hour: h, Off: ce.Offset}, err)
	}
	return err
}

func (d *Dir) stillSealed(hf *hourFile) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return hf.sealed
}

// walkHeaders calls fn for each block header from off up to limit and returns
// the offset it reached. A header that does not check, or a frame that overruns
// limit, stops it with a *CorruptionError.
func walkHeaders(f *os.File, h Hour, path string, off, limit int64, fn func(BlockInfo) error) (int64, error) {
	var hb [blockHeaderLen]byte
	for off < limit {
		if err := readFull(f, hb[:], off); err != nil {
			return off, &CorruptionError{Path: path, Offset: off, Err: fmt.Errorf("block header: %w", err)}
		}
		bh, err := parseBlockHeader(hb[:], h, off)
		if err != nil {
			return off, &CorruptionError{Path: path, Offset: off, Err: err}
		}
		bi := bh.info(h, off)
		if bi.Next > limit {
			return off, &CorruptionError{Path: path, Offset: off, Err: fmt.Errorf("frame overruns the data end %d", limit)}
		}
		if err := fn(bi); err != nil {
			return off, err
		}
		off = bi.Next
	}
	return off, nil
}

// readTail checks the footer tail of a file of the given size.
func readTail(f *os.File, size int64) (footerTail, error) {
	if size < fileHeaderLen+footerLen(0) {
		return footerTail{}, fmt.Errorf("footer: file of %d bytes too short", size)
	}
	var tb [footerTailLen]byte
	if err := readFull(f, tb[:], size-footerTailLen); err != nil {
		return footerTail{}, fmt.Errorf("footer: %w", err)
	}
	return parseFooterTail(tb[:], size)
}

// readFooter reads and checks the whole footer of a sealed file.
func readFooter(f *os.File, h Hour, size int64) ([]BlockInfo, footerTail, error) {
	t, err := readTail(f, size)
	if err != nil {
		return nil, t, err
	}
	b := make([]byte, frameHeaderLen+int(t.nblocks)*footerEntryLen)
	if err := readFull(f, b, t.end); err != nil {
		return nil, t, fmt.Errorf("footer: %w", err)
	}
	n, err := parseFrameHeader(b)
	if err != nil {
		return nil, t, fmt.Errorf("footer: %w", err)
	}
	if int64(n) != size-t.end-frameHeaderLen {
		return nil, t, fmt.Errorf("footer: frame of %d bytes, want %d", n, size-t.end-frameHeaderLen)
	}
	infos, err := parseFooterEntries(b[frameHeaderLen:], t, h)
	return infos, t, err
}

// blockList returns the blocks of a file and the offset just past the last one:
// from the footer of a sealed file, or else from its block headers.
func (d *Dir) blockList(f *os.File, h Hour, path string, sealed bool, size int64) ([]BlockInfo, int64, error) {
	limit := size
	if sealed {
		infos, t, err := readFooter(f, h, size)
		if err == nil {
			return infos, t.end, nil
		}
		if t.end > 0 {
			limit = t.end
		}
		d.noteCorruption(BlockRef{Hour: h, Off: limit}, &CorruptionError{Path: path, Offset: limit, Err: err})
	}
	var infos []BlockInfo
	end, err := walkHeaders(f, h, path, fileHeaderLen, limit, func(bi BlockInfo) error {
		infos = append(infos, bi)
		return nil
	})
	if err != nil && sealed {
		// A sealed file whose footer and block headers are both damaged:
		// appending would cut the blocks after the damage.
		return nil, 0, fmt.Errorf("list blocks of %s: %w", path, err)
	}
	return infos, end, nil
}
