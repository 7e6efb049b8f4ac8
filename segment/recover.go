package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// recover brings the directory to a clean state before the writer starts: it
// removes temporary files, checks the footer of every sealed file, cuts the torn
// tail of every .part file and seals it. Format damage is repaired or reported;
// I/O errors fail Open.
func (d *Dir) recover() error {
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", d.dir, err)
	}
	type names struct{ sealed, part bool }
	found := make(map[Hour]*names)
	removed := false
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(name, tmpSuffix) {
			path := filepath.Join(d.dir, name)
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("open %s: remove %s: %w", d.dir, name, err)
			}
			d.log.Info("removed a temporary file left by an interrupted step; expected after an unclean stop", "path", path)
			removed = true
			continue
		}
		h, sealed, ok := parseName(name)
		if !ok {
			continue
		}
		n := found[h]
		if n == nil {
			n = &names{}
			found[h] = n
		}
		if sealed {
			n.sealed = true
		} else {
			n.part = true
		}
	}
	if removed {
		if err := d.syncDir(); err != nil {
			return fmt.Errorf("open %s: %w", d.dir, err)
		}
	}
	hours := make([]Hour, 0, len(found))
	for h := range found {
		hours = append(hours, h)
	}
	slices.Sort(hours)
	for _, h := range hours {
		n := found[h]
		if n.sealed && n.part {
			// No step of this package leaves both names: keep the sealed file
			// and set the other aside for the operator.
			aside := partName(h) + brokenSuffix
			if err := d.renameSync(partName(h), aside); err != nil {
				return fmt.Errorf("open %s: %w", d.dir, err)
			}
			d.log.Error("both a sealed and an unsealed file exist for one hour; the unsealed one was set aside, not read",
				"path", filepath.Join(d.dir, aside))
		}
		if n.sealed {
			hf, err := d.openSealed(h)
			if err == nil {
				d.hours[h] = hf
				continue
			}
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				return fmt.Errorf("open %s: %w", d.dir, err)
			}
			d.noteCorruption(BlockRef{Hour: h, Off: ce.Offset}, err)
			d.log.Warn("sealed segment's footer does not check; recovering it as an unsealed file", "path", ce.Path, "err", ce.Err)
			if err := d.renameSync(sealedName(h), partName(h)); err != nil {
				return fmt.Errorf("open %s: %w", d.dir, err)
			}
		}
		hf, err := d.recoverPart(h)
		if err != nil {
			return fmt.Errorf("open %s: %w", d.dir, err)
		}
		if hf != nil {
			d.hours[h] = hf
		}
	}
	return nil
}

// openSealed checks a sealed file's header and the cheap parts of its footer in
// three small reads, whatever the file's size: the file header; the tail with the
// last entry before it; the frame header with the first entry after it. Format
// damage is returned as *CorruptionError.
func (d *Dir) openSealed(h Hour) (*hourFile, error) {
	path := filepath.Join(d.dir, sealedName(h))
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	corrupt := func(off int64, err error) error { return &CorruptionError{Path: path, Offset: off, Err: err} }
	if err := checkFileHeader(f, h, size); err != nil {
		return nil, corrupt(0, err)
	}
	if size < fileHeaderLen+footerLen(0) {
		return nil, corrupt(fileHeaderLen, fmt.Errorf("footer: file of %d bytes too short", size))
	}
	var eb [footerEntryLen + footerTailLen]byte
	end := eb[max(0, int64(len(eb))-(size-fileHeaderLen)):]
	if err := readFull(f, end, size-int64(len(end))); err != nil {
		return nil, fmt.Errorf("read footer of %s: %w", path, err)
	}
	t, err := parseFooterTail(end[len(end)-footerTailLen:], size)
	if err != nil {
		return nil, corrupt(size-footerTailLen, err)
	}
	var fb [frameHeaderLen + footerEntryLen]byte
	n := frameHeaderLen
	if t.nblocks > 0 {
		n = len(fb)
	}
	if err := readFull(f, fb[:n], t.end); err != nil {
		return nil, fmt.Errorf("read footer of %s: %w", path, err)
	}
	p, err := parseFrameHeader(fb[:])
	if err != nil {
		return nil, corrupt(t.end, fmt.Errorf("footer: %w", err))
	}
	if int64(p) != size-t.end-frameHeaderLen {
		return nil, corrupt(t.end, fmt.Errorf("footer: frame of %d bytes, the tail says %d", p, size-t.end-frameHeaderLen))
	}
	if t.nblocks > 0 {
		first, err := parseFooterEntry(fb[frameHeaderLen:], h)
		if err != nil {
			return nil, corrupt(t.end, err)
		}
		last, err := parseFooterEntry(end[len(end)-footerTailLen-footerEntryLen:], h)
		if err != nil {
			return nil, corrupt(t.end, err)
		}
		if first.Ref.Off != fileHeaderLen || last.Next != t.end || last.Ref.Off < first.Ref.Off {
			return nil, corrupt(t.end, fmt.Errorf("footer: blocks %d..%d do not span the data %d..%d",
				first.Ref.Off, last.Next, fileHeaderLen, t.end))
		}
	}
	return &hourFile{
		hour: h, path: path, exists: true, sealed: true, end: t.end, size: size,
		blocks: int(t.nblocks), records: int64(t.nrec), minTime: t.minTime, maxTime: t.maxTime,
	}, nil
}

func checkFileHeader(f *os.File, h Hour, size int64) error {
	if size < fileHeaderLen {
		return fmt.Errorf("file header: file of %d bytes too short", size)
	}
	var hb [fileHeaderLen]byte
	if err := readFull(f, hb[:], 0); err != nil {
		return fmt.Errorf("file header: %w", err)
	}
	fh, err := parseFileHeader(hb[:])
	if err != nil {
		return err
	}
	if fh != h {
		return fmt.Errorf("file header: hour %s, file name says %s", fh, h)
	}
	return nil
}

// scanResult is what scanPart finds in an unsealed file.
type scanResult struct {
	blocks   []BlockInfo // the blocks kept: all before end
	damaged  []BlockInfo // kept blocks whose frame does not check (not at the tail)
	end      int64       // just past the last block kept
	footerAt int64       // offset of a leftover footer frame that ended the scan, or -1
	reason   string      // why the blocks after end were not kept
}

// lost is the number of data bytes the scan did not keep in a file of size bytes
// (a leftover footer is not data).
func (r scanResult) lost(size int64) int64 {
	if r.footerAt >= 0 {
		return r.footerAt - r.end
	}
	return size - r.end
}

// scanPart walks the blocks of an unsealed file and finds where its torn tail
// begins: after the last block whose header and frame check and whose records
// decode. Damaged blocks with good blocks after them are not a tear: they are kept
// and reported.
func (d *Dir) scanPart(f *os.File, h Hour, size int64) (scanResult, error) {
	res := scanResult{end: fileHeaderLen, footerAt: -1}
	var (
		infos []BlockInfo
		good  []bool
		buf   []byte
		hb    [blockHeaderLen]byte
		off   = int64(fileHeaderLen)
	)
	for off < size {
		n := min(size-off, blockHeaderLen)
		if err := readFull(f, hb[:n], off); err != nil {
			return res, fmt.Errorf("scan at %d: %w", off, err)
		}
		if isFooterFrame(hb[:n], off, size) {
			res.footerAt = off
			break
		}
		if n < blockHeaderLen {
			res.reason = "torn block header"
			break
		}
		bh, err := parseBlockHeader(hb[:], h, off)
		if err != nil {
			res.reason = err.Error()
			break
		}
		next := off + blockHeaderLen + int64(bh.frameLen)
		if next > size {
			res.reason = fmt.Sprintf("frame of %d bytes overruns the file", bh.frameLen)
			break
		}
		buf = slices.Grow(buf[:0], int(bh.frameLen))[:bh.frameLen]
		if err := readFull(f, buf, off+blockHeaderLen); err != nil {
			return res, fmt.Errorf("scan at %d: %w", off, err)
		}
		infos = append(infos, bh.info(h, off))
		good = append(good, crc32c(buf) == bh.frameCRC)
		off = next
	}
	// The last block kept must decode: a frame whose checksum matches was
	// written whole, but only decoding proves the records are what the header
	// says.
	last := len(infos) - 1
	for ; last >= 0; last-- {
		if !good[last] {
			continue
		}
		bi := infos[last]
		b := make([]byte, bi.Next-bi.Ref.Off)
		if err := readFull(f, b, bi.Ref.Off); err != nil {
			return res, fmt.Errorf("scan at %d: %w", bi.Ref.Off, err)
		}
		if _, err := decodeBlock(d.dec, b, bi.Ref); err == nil {
			break
		}
		good[last] = false
	}
	if last < len(infos)-1 && res.reason == "" {
		res.reason = "last block's frame does not check"
	}
	res.blocks = infos[:last+1]
	if last >= 0 {
		res.end = infos[last].Next
	}
	for i, bi := range res.blocks {
		if !good[i] {
			res.damaged = append(res.damaged, bi)
		}
	}
	return res, nil
}

// isFooterFrame reports whether b, read at off, starts a footer frame (whole or
// torn) reaching the end of a file of the given size.
func isFooterFrame(b []byte, off, size int64) bool {
	if len(b) < frameHeaderLen || binary.LittleEndian.Uint32(b) != skippableMagic {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(b[4:]))
	return n >= footerTailLen && (n-footerTailLen)%footerEntryLen == 0 && off+frameHeaderLen+n >= size
}

// recoverPart cuts the torn tail of an unsealed file and seals it. It returns nil
// for a file it removed or set aside.
func (d *Dir) recoverPart(h Hour) (*hourFile, error) {
	path := filepath.Join(d.dir, partName(h))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if err := checkFileHeader(f, h, size); err != nil {
		if size > fileHeaderLen {
			// The header is written and fsynced before the file gets its
			// name, so this is damage, not a tear: keep the bytes.
			aside := partName(h) + brokenSuffix
			if err := d.renameSync(partName(h), aside); err != nil {
				return nil, err
			}
			d.lose(LostData{Path: path, Offset: 0, Bytes: size}, "header does not check; file set aside as "+aside, err)
			return nil, nil
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
		if err := d.syncDir(); err != nil {
			return nil, err
		}
		if size > 0 {
			d.lose(LostData{Path: path, Offset: 0, Bytes: size}, "file shorter than its header; removed", err)
		}
		return nil, nil
	}
	res, err := d.scanPart(f, h, size)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", path, err)
	}
	if res.end < size {
		if err := f.Truncate(res.end); err != nil {
			return nil, fmt.Errorf("recover %s: %w", path, err)
		}
		if err := d.opts.hooks.sync(f); err != nil {
			return nil, fmt.Errorf("recover %s: %w", path, err)
		}
		if lost := res.lost(size); lost > 0 {
			d.lose(LostData{Path: path, Offset: res.end, Bytes: lost}, "torn tail cut", errors.New(res.reason))
		}
		if res.footerAt >= 0 {
			d.log.Info("removed the footer of an unsealed file; it is rebuilt", "path", path, "offset", res.footerAt)
		}
	}
	for _, bi := range res.damaged {
		d.noteCorruption(bi.Ref, &CorruptionError{Path: path, Offset: bi.Ref.Off, Err: errors.New("frame checksum does not match")})
	}
	if len(res.blocks) == 0 {
		// Nothing but a header: nothing to keep.
		if err := os.Remove(path); err != nil {
			return nil, err
		}
		return nil, d.syncDir()
	}
	hf := &hourFile{hour: h, path: path, exists: true, end: res.end, size: res.end}
	for _, bi := range res.blocks {
		hf.addBlock(bi)
	}
	if err := d.sealRecovered(f, hf, res.blocks); err != nil {
		d.writeErrs.Add(1)
		d.log.Error("recovered segment could not be sealed; it stays unsealed", "path", path, "err", err)
	}
	return hf, nil
}

// lose records bytes dropped by recovery.
func (d *Dir) lose(ld LostData, what string, err error) {
	d.recovered = append(d.recovered, ld)
	d.log.Warn("segment recovery: "+what, "path", ld.Path, "offset", ld.Offset, "bytes_lost", ld.Bytes, "err", err)
}

// sealRecovered appends the footer to a recovered file and renames it.
func (d *Dir) sealRecovered(f *os.File, hf *hourFile, blocks []BlockInfo) error {
	foot := appendFooter(nil, blocks, hf.end)
	if _, err := d.opts.hooks.writeAt(f, foot, hf.end); err != nil {
		if terr := f.Truncate(hf.end); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("seal %s: %w", hf.path, err)
	}
	if err := d.opts.hooks.sync(f); err != nil {
		return fmt.Errorf("seal %s: %w", hf.path, err)
	}
	hf.size = hf.end + int64(len(foot))
	sealed := filepath.Join(d.dir, sealedName(hf.hour))
	if err := os.Rename(hf.path, sealed); err != nil {
		return fmt.Errorf("seal %s: %w", hf.path, err)
	}
	hf.sealed, hf.path = true, sealed
	return d.syncDir()
}
