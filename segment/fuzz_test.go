package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// FuzzRecover replaces or overwrites the tail of a valid segment file (sealed or
// unsealed) with fuzz bytes and opens the directory. Properties: Open does not
// fail or panic; every block that reads back is exactly the block written at that
// offset; every block written wholly before the damage reads back; without
// damaged blocks, the records read back are a prefix of those written.
//
//	go test ./segment -run '^$' -fuzz FuzzRecover -fuzztime 60s
func FuzzRecover(f *testing.F) {
	fixtures := map[bool]fixture{}
	bases := map[bool][]byte{}
	for _, sealed := range []bool{false, true} {
		fx := writeFixture(f, fixtureBlocks, fixturePerBlock, sealed)
		b, err := os.ReadFile(fx.path)
		if err != nil {
			f.Fatal(err)
		}
		fixtures[sealed], bases[sealed] = fx, b
	}
	// Seeds: the corruption table, expressed as (kept prefix, new tail).
	for _, tc := range corruptionCases() {
		base := bases[tc.sealed]
		dir := f.TempDir()
		fx := fixtures[tc.sealed]
		fx.dir, fx.path = dir, filepath.Join(dir, filepath.Base(fx.path))
		if err := os.WriteFile(fx.path, base, 0o640); err != nil {
			f.Fatal(err)
		}
		tc.corrupt(f, fx)
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 1 {
			f.Fatalf("seed %s: %v %v", tc.name, ents, err)
		}
		got, err := os.ReadFile(filepath.Join(dir, ents[0].Name()))
		if err != nil {
			f.Fatal(err)
		}
		pos := 0
		for pos < len(got) && pos < len(base) && got[pos] == base[pos] {
			pos++
		}
		f.Add(tc.sealed, uint32(len(base)-pos), got[pos:], true)
	}
	f.Add(false, uint32(0), []byte("garbage after the last block"), true)
	f.Add(true, uint32(100), []byte{0, 0, 0, 0}, false)

	noSync := &fileHooks{sync: func(*os.File) error { return nil }, syncDir: func(string) error { return nil }}
	f.Fuzz(func(t *testing.T, sealed bool, back uint32, data []byte, cut bool) {
		fx, base := fixtures[sealed], bases[sealed]
		pos := len(base) - int(back%uint32(len(base)+1))
		file := append(slices.Clone(base[:pos]), data...)
		if !cut && len(file) < len(base) {
			file = append(file, base[len(file):]...)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(fx.path)), file, 0o640); err != nil {
			t.Fatal(err)
		}
		d, err := Open(dir, Options{Now: newClock(baseTime().Add(10 * time.Minute)).Now, hooks: noSync, CacheBlocks: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer d.Close()
		checkRecovered(t, d, fx, int64(pos))
	})
}

// checkRecovered checks FuzzRecover's properties for a fixture damaged from
// offset pos on.
func checkRecovered(t *testing.T, d *Dir, fx fixture, pos int64) {
	t.Helper()
	index := make(map[int64]int)
	for i, bi := range fx.blocks {
		index[bi.Ref.Off] = i
	}
	var got []Record
	read := make(map[int]bool)
	damaged := false
	for _, hi := range d.Hours() {
		if hi.Hour != fx.hour {
			t.Fatalf("hour %s appeared", hi.Hour)
		}
		err := d.Blocks(hi.Hour, 0, func(bi BlockInfo) error {
			b, err := d.ReadBlock(bi.Ref)
			if isCorruption(err) {
				damaged = true
				return nil
			}
			if err != nil {
				return err
			}
			i, ok := index[bi.Ref.Off]
			if !ok || b.BlockInfo != fx.blocks[i] {
				t.Fatalf("block %+v read back, never written", b.BlockInfo)
			}
			want := fx.recs[i*fixturePerBlock : (i+1)*fixturePerBlock]
			sameRecords(t, b.Records, want)
			read[i] = true
			got = append(got, b.Records...)
			return nil
		})
		if isCorruption(err) {
			damaged = true
		} else if err != nil {
			t.Fatalf("Blocks: %v", err)
		}
	}
	for i, bi := range fx.blocks {
		if bi.Next <= pos && !read[i] {
			t.Fatalf("block %d (ends at %d, damage from %d) did not read back", i, bi.Next, pos)
		}
	}
	if !damaged {
		sameRecords(t, got, fx.recs[:len(got)])
	}
}

// encodeTestBlock builds the bytes of one block (header frame and zstd frame) as
// the writer does, for hour h at offset off.
func encodeTestBlock(t testing.TB, enc *zstd.Encoder, recs []Record, h Hour, off int64) []byte {
	t.Helper()
	var raw []byte
	bh := blockHeader{nrec: uint32(len(recs))}
	for i, r := range recs {
		raw = appendRecord(raw, r)
		if i == 0 || r.Time < bh.minTime {
			bh.minTime = r.Time
		}
		if i == 0 || r.Time > bh.maxTime {
			bh.maxTime = r.Time
		}
	}
	out := enc.EncodeAll(raw, make([]byte, blockHeaderLen))
	bh.rawLen, bh.frameLen, bh.frameCRC = uint32(len(raw)), uint32(len(out)-blockHeaderLen), crc32c(out[blockHeaderLen:])
	putBlockHeader(out, bh, h, off)
	return out
}

// FuzzBlockDecode feeds block bytes to the block decoder. With fix set, the
// header's frame length, offset and both CRCs are made to match, so that the
// fuzzer reaches the zstd decoder and the record parser. Property: no panic, and
// a block that decodes agrees with its header.
//
//	go test ./segment -run '^$' -fuzz FuzzBlockDecode -fuzztime 60s
func FuzzBlockDecode(f *testing.F) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(defaultLevel), zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	ref := BlockRef{Hour: baseHour(), Off: fileHeaderLen}
	seeds := goldenBlocks()
	seeds = append(seeds, testRecords(0, 5), testRecords(5, 6), []Record{{Time: 1, Data: []byte{}}})
	for _, recs := range seeds {
		b := encodeTestBlock(f, enc, recs, ref.Hour, ref.Off)
		f.Add(b, false)
		f.Add(b[:len(b)-3], true)
		bad := slices.Clone(b)
		bad[blockHeaderLen+len(bad[blockHeaderLen:])/2] ^= 0xff
		f.Add(bad, true)
		f.Add(b[:blockHeaderLen], false)
	}
	dec, err := newDecoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix && len(data) >= blockHeaderLen {
			data = slices.Clone(data)
			p := data[frameHeaderLen:blockHeaderLen]
			putFrameHeader(data, blockHeaderPayload)
			binary.LittleEndian.PutUint32(p[4:], crc32c(data[blockHeaderLen:]))
			binary.LittleEndian.PutUint32(p[8:], uint32(len(data)-blockHeaderLen))
			binary.LittleEndian.PutUint64(p[24:], uint64(ref.Off))
			binary.LittleEndian.PutUint32(p[0:], blockHeaderCRC(p, ref.Hour))
		}
		b, err := decodeBlock(dec, data, ref)
		if err != nil {
			return
		}
		if int(b.FrameLen) != len(data)-blockHeaderLen || b.Next != ref.Off+int64(len(data)) {
			t.Fatalf("frame length %d for %d bytes", b.FrameLen, len(data))
		}
		if uint32(len(b.Records)) != b.NRec {
			t.Fatalf("%d records, header says %d", len(b.Records), b.NRec)
		}
		raw := 0
		for _, r := range b.Records {
			raw += encodedLen(len(r.Data))
			if r.Time < b.MinTime || r.Time > b.MaxTime {
				t.Fatalf("record time %d outside %d..%d", r.Time, b.MinTime, b.MaxTime)
			}
		}
		if uint32(raw) != b.RawLen {
			t.Fatalf("records take %d raw bytes, header says %d", raw, b.RawLen)
		}
	})
}

// FuzzFooterParse feeds footer frames, claimed to start at offset end, to the
// footer parser. Property: no panic; an accepted footer lists contiguous blocks
// from the first block offset up to end.
//
//	go test ./segment -run '^$' -fuzz FuzzFooterParse -fuzztime 60s
func FuzzFooterParse(f *testing.F) {
	fx := writeFixture(f, fixtureBlocks, fixturePerBlock, true)
	b, err := os.ReadFile(fx.path)
	if err != nil {
		f.Fatal(err)
	}
	end := fx.blocks[len(fx.blocks)-1].Next
	footer := b[end:]
	f.Add(footer, end)
	f.Add(appendFooter(nil, nil, fileHeaderLen), int64(fileHeaderLen))
	for _, i := range []int{0, 9, len(footer) - 1, len(footer) - footerTailLen, len(footer) - 12} {
		bad := slices.Clone(footer)
		bad[i] ^= 0x5a
		f.Add(bad, end)
	}
	f.Fuzz(func(t *testing.T, footer []byte, end int64) {
		if len(footer) < footerTailLen || end < 0 || end > 1<<40 {
			return
		}
		size := end + int64(len(footer))
		tail, err := parseFooterTail(footer[len(footer)-footerTailLen:], size)
		if err != nil || tail.end < end {
			return
		}
		fr := footer[tail.end-end:] // the footer frame, where the tail says it starts
		n, err := parseFrameHeader(fr)
		if err != nil || int(n) != len(fr)-frameHeaderLen {
			return
		}
		infos, err := parseFooterEntries(fr[frameHeaderLen:len(fr)-footerTailLen], tail, fx.hour)
		if err != nil {
			return
		}
		next := int64(fileHeaderLen)
		for _, bi := range infos {
			if bi.Ref.Off != next || bi.Next <= bi.Ref.Off {
				t.Fatalf("entries not contiguous: %+v", infos)
			}
			next = bi.Next
		}
		if next != tail.end {
			t.Fatalf("entries end at %d, footer at %d", next, tail.end)
		}
	})
}

func TestFuzzHelpers(t *testing.T) {
	// The block encoder of the fuzz seeds must produce what the writer writes.
	fx := writeFixture(t, 2, 3, true)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(defaultLevel), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	bi := fx.blocks[1]
	got := encodeTestBlock(t, enc, fx.recs[3:6], fx.hour, bi.Ref.Off)
	if !bytes.Equal(got, b[bi.Ref.Off:bi.Next]) {
		t.Fatal("encodeTestBlock differs from the writer's block")
	}
	if _, err := decodeBlock(nil, got[:10], bi.Ref); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("decode of a torn header: %v", err)
	}
}
