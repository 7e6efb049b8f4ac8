package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Layout constants of format version 1. FORMAT.md is the specification; this file
// is its only implementation of encoding and decoding.
const (
	// formatVersion is the version this package writes. Readers accept any
	// version from 1 up to it.
	formatVersion = 1

	// skippableMagic starts every frame that is not zstd data. zstd reserves
	// 0x184D2A50..0x184D2A5F for skippable frames; 0x184D2A5E is taken by the
	// seekable format, so traced uses 0x..5B.
	skippableMagic uint32 = 0x184D2A5B

	frameHeaderLen = 8 // skippable magic u32 | payload size u32

	fileMagic         = "TRSEG\x00"
	fileHeaderPayload = 24
	fileHeaderLen     = frameHeaderLen + fileHeaderPayload // 32: offset of the first block

	blockHeaderPayload = 48
	blockHeaderLen     = frameHeaderLen + blockHeaderPayload // 56

	footerMagic    = "TRSEGEND"
	footerEntryLen = 40
	footerTailLen  = 56

	// MaxRecordSize is the largest Record.Data that Append accepts.
	MaxRecordSize = 1 << 20

	// maxBlockSize is the largest Options.BlockSize.
	maxBlockSize = 16 << 20

	// maxRawLen and maxFrameLen bound what a reader accepts from a block header,
	// so a damaged header cannot make it allocate without limit. They leave room
	// above what this version writes.
	maxRawLen   = 32 << 20
	maxFrameLen = maxRawLen + maxRawLen/64 + 4096

	// recordFixedLen is the part of an encoded record that does not depend on the
	// data length: the capture time.
	recordFixedLen = 8
)

// castagnoli is the CRC-32C table, built once at package initialisation so that no
// lazy initialisation races with other users of hash/crc32.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// errShort reports a structure that ends before its declared length.
var errShort = errors.New("short structure")

// putFrameHeader writes a skippable frame header for a payload of n bytes.
func putFrameHeader(b []byte, n int) {
	binary.LittleEndian.PutUint32(b[0:], skippableMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
}

// parseFrameHeader checks that b starts with a skippable frame header and returns
// the payload size it declares.
func parseFrameHeader(b []byte) (uint32, error) {
	if len(b) < frameHeaderLen {
		return 0, errShort
	}
	if m := binary.LittleEndian.Uint32(b); m != skippableMagic {
		return 0, fmt.Errorf("frame magic %#08x, want %#08x", m, skippableMagic)
	}
	return binary.LittleEndian.Uint32(b[4:]), nil
}

// appendFileHeader appends the 32-byte file header of hour h.
func appendFileHeader(b []byte, h Hour) []byte {
	var hdr [fileHeaderLen]byte
	putFrameHeader(hdr[:], fileHeaderPayload)
	p := hdr[frameHeaderLen:]
	copy(p, fileMagic)
	p[6] = formatVersion
	binary.LittleEndian.PutUint64(p[8:], uint64(h))
	binary.LittleEndian.PutUint32(p[20:], crc32c(p[:20]))
	return append(b, hdr[:]...)
}

// parseFileHeader checks a file header and returns its hour.
func parseFileHeader(b []byte) (Hour, error) {
	n, err := parseFrameHeader(b)
	if err != nil {
		return 0, fmt.Errorf("file header: %w", err)
	}
	if n != fileHeaderPayload || len(b) < fileHeaderLen {
		return 0, fmt.Errorf("file header: payload of %d bytes, want %d", n, fileHeaderPayload)
	}
	p := b[frameHeaderLen:fileHeaderLen]
	if string(p[:6]) != fileMagic {
		return 0, fmt.Errorf("file header: magic %q", p[:6])
	}
	if got, want := binary.LittleEndian.Uint32(p[20:]), crc32c(p[:20]); got != want {
		return 0, fmt.Errorf("file header: crc %#08x, want %#08x", got, want)
	}
	if v := p[6]; v == 0 || v > formatVersion {
		return 0, fmt.Errorf("file header: version %d not supported (this build reads 1..%d)", v, formatVersion)
	}
	return Hour(binary.LittleEndian.Uint64(p[8:])), nil
}

// blockHeader is the payload of a block's header frame.
type blockHeader struct {
	frameCRC uint32
	frameLen uint32
	rawLen   uint32
	nrec     uint32
	minTime  int64
	maxTime  int64
}

// putBlockHeader writes the header frame of a block of hour at offset off into b.
func putBlockHeader(b []byte, h blockHeader, hour Hour, off int64) {
	putFrameHeader(b, blockHeaderPayload)
	p := b[frameHeaderLen:blockHeaderLen]
	binary.LittleEndian.PutUint32(p[4:], h.frameCRC)
	binary.LittleEndian.PutUint32(p[8:], h.frameLen)
	binary.LittleEndian.PutUint32(p[12:], h.rawLen)
	binary.LittleEndian.PutUint32(p[16:], h.nrec)
	binary.LittleEndian.PutUint32(p[20:], 0) // flags
	binary.LittleEndian.PutUint64(p[24:], uint64(off))
	binary.LittleEndian.PutUint64(p[32:], uint64(h.minTime))
	binary.LittleEndian.PutUint64(p[40:], uint64(h.maxTime))
	binary.LittleEndian.PutUint32(p[0:], blockHeaderCRC(p, hour))
}

// blockHeaderCRC is the CRC-32C of a block header payload after its CRC field,
// continued over the hour (i64 LE). With the offset inside the payload, a header
// checks only in the file and at the place it was written for.
func blockHeaderCRC(p []byte, hour Hour) uint32 {
	var hb [8]byte
	binary.LittleEndian.PutUint64(hb[:], uint64(hour))
	return crc32.Update(crc32c(p[4:blockHeaderPayload]), castagnoli, hb[:])
}

// parseBlockHeader checks a block header frame read at offset off of hour's file:
// magic, size, header CRC, offset and the plausibility of its fields.
func parseBlockHeader(b []byte, hour Hour, off int64) (blockHeader, error) {
	n, err := parseFrameHeader(b)
	if err != nil {
		return blockHeader{}, fmt.Errorf("block header: %w", err)
	}
	if n != blockHeaderPayload {
		return blockHeader{}, fmt.Errorf("block header: payload of %d bytes, want %d", n, blockHeaderPayload)
	}
	if len(b) < blockHeaderLen {
		return blockHeader{}, fmt.Errorf("block header: %w", errShort)
	}
	p := b[frameHeaderLen:blockHeaderLen]
	if got, want := binary.LittleEndian.Uint32(p[0:]), blockHeaderCRC(p, hour); got != want {
		return blockHeader{}, fmt.Errorf("block header: crc %#08x, want %#08x", got, want)
	}
	if at := int64(binary.LittleEndian.Uint64(p[24:])); at != off {
		return blockHeader{}, fmt.Errorf("block header: written for offset %d, found at %d", at, off)
	}
	h := blockHeader{
		frameCRC: binary.LittleEndian.Uint32(p[4:]),
		frameLen: binary.LittleEndian.Uint32(p[8:]),
		rawLen:   binary.LittleEndian.Uint32(p[12:]),
		nrec:     binary.LittleEndian.Uint32(p[16:]),
		minTime:  int64(binary.LittleEndian.Uint64(p[32:])),
		maxTime:  int64(binary.LittleEndian.Uint64(p[40:])),
	}
	if flags := binary.LittleEndian.Uint32(p[20:]); flags != 0 {
		return blockHeader{}, fmt.Errorf("block header: unknown flags %#x", flags)
	}
	if err := h.check(); err != nil {
		return blockHeader{}, fmt.Errorf("block header: %w", err)
	}
	return h, nil
}

// check reports fields that no writer produces.
func (h blockHeader) check() error {
	switch {
	case h.nrec == 0:
		return errors.New("no records")
	case h.frameLen == 0 || h.frameLen > maxFrameLen:
		return fmt.Errorf("frame length %d out of range", h.frameLen)
	case h.rawLen > maxRawLen:
		return fmt.Errorf("raw length %d out of range", h.rawLen)
	case uint64(h.rawLen) < uint64(h.nrec)*(recordFixedLen+1):
		return fmt.Errorf("%d records cannot fit in %d raw bytes", h.nrec, h.rawLen)
	case h.minTime > h.maxTime:
		return fmt.Errorf("time range %d..%d inverted", h.minTime, h.maxTime)
	}
	return nil
}

// info builds the BlockInfo of a block whose header frame starts at off.
func (h blockHeader) info(hour Hour, off int64) BlockInfo {
	return BlockInfo{
		Ref:      BlockRef{Hour: hour, Off: off},
		Next:     off + blockHeaderLen + int64(h.frameLen),
		FrameLen: h.frameLen,
		RawLen:   h.rawLen,
		NRec:     h.nrec,
		CRC:      h.frameCRC,
		MinTime:  h.minTime,
		MaxTime:  h.maxTime,
	}
}

// headerOf is the inverse of blockHeader.info.
func headerOf(bi BlockInfo) blockHeader {
	return blockHeader{
		frameCRC: bi.CRC, frameLen: bi.FrameLen, rawLen: bi.RawLen, nrec: bi.NRec,
		minTime: bi.MinTime, maxTime: bi.MaxTime,
	}
}

// encodedLen is the number of raw bytes a record of n data bytes takes in a block.
func encodedLen(n int) int {
	l := recordFixedLen + n + 1
	for v := uint64(n); v >= 0x80; v >>= 7 {
		l++
	}
	return l
}

// appendRecord appends the block encoding of r: uvarint(len(Data)) | Time i64 | Data.
func appendRecord(b []byte, r Record) []byte {
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Time))
	return append(b, r.Data...)
}

// parseRecords splits a block's plaintext into exactly nrec records whose times lie
// in [minTime, maxTime]. The records' Data alias raw.
func parseRecords(raw []byte, h blockHeader) ([]Record, error) {
	if uint32(len(raw)) != h.rawLen {
		return nil, fmt.Errorf("records: %d raw bytes, header says %d", len(raw), h.rawLen)
	}
	recs := make([]Record, 0, h.nrec)
	for len(raw) > 0 {
		n, k := binary.Uvarint(raw)
		if k <= 0 {
			return nil, fmt.Errorf("records: bad length at record %d", len(recs))
		}
		raw = raw[k:]
		if n > MaxRecordSize || uint64(len(raw)) < recordFixedLen+n {
			return nil, fmt.Errorf("records: record %d of %d bytes overruns the block", len(recs), n)
		}
		if uint32(len(recs)) == h.nrec {
			return nil, fmt.Errorf("records: more than the %d the header says", h.nrec)
		}
		t := int64(binary.LittleEndian.Uint64(raw))
		if t < h.minTime || t > h.maxTime {
			return nil, fmt.Errorf("records: record %d time %d outside %d..%d", len(recs), t, h.minTime, h.maxTime)
		}
		end := recordFixedLen + int(n)
		recs = append(recs, Record{Time: t, Data: raw[recordFixedLen:end:end]})
		raw = raw[end:]
	}
	if uint32(len(recs)) != h.nrec {
		return nil, fmt.Errorf("records: %d, header says %d", len(recs), h.nrec)
	}
	return recs, nil
}

// footerTail is the fixed-size end of a footer frame.
type footerTail struct {
	entriesCRC uint32
	nblocks    uint32
	nrec       uint64
	minTime    int64
	maxTime    int64
	end        int64 // offset of the footer frame: just past the last block
}

// appendFooter appends the footer frame describing blocks, which start at
// fileHeaderLen and are contiguous up to end.
func appendFooter(b []byte, blocks []BlockInfo, end int64) []byte {
	payload := len(blocks)*footerEntryLen + footerTailLen
	start := len(b)
	b = append(b, make([]byte, frameHeaderLen+payload)...)
	putFrameHeader(b[start:], payload)
	p := b[start+frameHeaderLen:]
	t := footerTail{nblocks: uint32(len(blocks)), end: end}
	for i, bi := range blocks {
		e := p[i*footerEntryLen:]
		binary.LittleEndian.PutUint64(e[0:], uint64(bi.Ref.Off))
		binary.LittleEndian.PutUint32(e[8:], bi.FrameLen)
		binary.LittleEndian.PutUint32(e[12:], bi.RawLen)
		binary.LittleEndian.PutUint32(e[16:], bi.NRec)
		binary.LittleEndian.PutUint32(e[20:], bi.CRC)
		binary.LittleEndian.PutUint64(e[24:], uint64(bi.MinTime))
		binary.LittleEndian.PutUint64(e[32:], uint64(bi.MaxTime))
		t.nrec += uint64(bi.NRec)
		if i == 0 || bi.MinTime < t.minTime {
			t.minTime = bi.MinTime
		}
		if i == 0 || bi.MaxTime > t.maxTime {
			t.maxTime = bi.MaxTime
		}
	}
	t.entriesCRC = crc32c(p[:len(blocks)*footerEntryLen])
	tl := p[len(blocks)*footerEntryLen:]
	binary.LittleEndian.PutUint32(tl[0:], t.entriesCRC)
	binary.LittleEndian.PutUint32(tl[4:], t.nblocks)
	binary.LittleEndian.PutUint64(tl[8:], t.nrec)
	binary.LittleEndian.PutUint64(tl[16:], uint64(t.minTime))
	binary.LittleEndian.PutUint64(tl[24:], uint64(t.maxTime))
	binary.LittleEndian.PutUint64(tl[32:], uint64(t.end))
	tl[40] = formatVersion
	binary.LittleEndian.PutUint32(tl[44:], crc32c(tl[:44]))
	copy(tl[48:], footerMagic)
	return b
}

// footerLen is the size of the footer frame for n blocks.
func footerLen(n int) int64 { return frameHeaderLen + int64(n)*footerEntryLen + footerTailLen }

// parseFooterTail checks the last footerTailLen bytes of a file of the given size.
func parseFooterTail(b []byte, size int64) (footerTail, error) {
	if len(b) != footerTailLen {
		return footerTail{}, fmt.Errorf("footer: %w", errShort)
	}
	if string(b[48:]) != footerMagic {
		return footerTail{}, fmt.Errorf("footer: magic %q", b[48:])
	}
	if got, want := binary.LittleEndian.Uint32(b[44:]), crc32c(b[:44]); got != want {
		return footerTail{}, fmt.Errorf("footer: crc %#08x, want %#08x", got, want)
	}
	if v := b[40]; v == 0 || v > formatVersion {
		return footerTail{}, fmt.Errorf("footer: version %d not supported", v)
	}
	t := footerTail{
		entriesCRC: binary.LittleEndian.Uint32(b[0:]),
		nblocks:    binary.LittleEndian.Uint32(b[4:]),
		nrec:       binary.LittleEndian.Uint64(b[8:]),
		minTime:    int64(binary.LittleEndian.Uint64(b[16:])),
		maxTime:    int64(binary.LittleEndian.Uint64(b[24:])),
		end:        int64(binary.LittleEndian.Uint64(b[32:])),
	}
	if t.end < fileHeaderLen || t.end > size || size-t.end != footerLen(int(t.nblocks)) {
		return footerTail{}, fmt.Errorf("footer: %d blocks ending at %d do not fit a file of %d bytes", t.nblocks, t.end, size)
	}
	if t.nblocks == 0 && t.end != fileHeaderLen {
		return footerTail{}, fmt.Errorf("footer: no blocks but data up to %d", t.end)
	}
	if t.nblocks > 0 && t.minTime > t.maxTime {
		return footerTail{}, fmt.Errorf("footer: time range %d..%d inverted", t.minTime, t.maxTime)
	}
	return t, nil
}

// parseFooterEntry decodes entry b of a footer.
func parseFooterEntry(b []byte, hour Hour) (BlockInfo, error) {
	h := blockHeader{
		frameLen: binary.LittleEndian.Uint32(b[8:]),
		rawLen:   binary.LittleEndian.Uint32(b[12:]),
		nrec:     binary.LittleEndian.Uint32(b[16:]),
		frameCRC: binary.LittleEndian.Uint32(b[20:]),
		minTime:  int64(binary.LittleEndian.Uint64(b[24:])),
		maxTime:  int64(binary.LittleEndian.Uint64(b[32:])),
	}
	if err := h.check(); err != nil {
		return BlockInfo{}, fmt.Errorf("footer entry: %w", err)
	}
	off := binary.LittleEndian.Uint64(b[0:])
	if off > 1<<62 {
		return BlockInfo{}, fmt.Errorf("footer entry: offset %d out of range", off)
	}
	return h.info(hour, int64(off)), nil
}

// parseFooterEntries decodes and checks the entry array of a footer whose tail is t:
// the CRC, and that the blocks are contiguous from fileHeaderLen to t.end.
func parseFooterEntries(b []byte, t footerTail, hour Hour) ([]BlockInfo, error) {
	if len(b) != int(t.nblocks)*footerEntryLen {
		return nil, fmt.Errorf("footer entries: %w", errShort)
	}
	if got := crc32c(b); got != t.entriesCRC {
		return nil, fmt.Errorf("footer entries: crc %#08x, want %#08x", got, t.entriesCRC)
	}
	out := make([]BlockInfo, 0, t.nblocks)
	next := int64(fileHeaderLen)
	for i := range int(t.nblocks) {
		bi, err := parseFooterEntry(b[i*footerEntryLen:], hour)
		if err != nil {
			return nil, err
		}
		if bi.Ref.Off != next {
			return nil, fmt.Errorf("footer entry %d: offset %d, want %d", i, bi.Ref.Off, next)
		}
		next = bi.Next
		out = append(out, bi)
	}
	if next != t.end {
		return nil, fmt.Errorf("footer entries: blocks end at %d, footer at %d", next, t.end)
	}
	return out, nil
}
