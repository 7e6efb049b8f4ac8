package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"traced/httpui"
	"traced/ingest/record"
	"traced/segment"
)

// Sizes and offsets of segment/FORMAT.md: the file header, a block's header
// frame, and in it (after the 8-byte skippable frame header, hdr_crc and
// frame_crc) frame_len and, after raw_len, nrec.
const (
	fmtFileHeaderLen  = 32
	fmtBlockHeaderLen = 56
	fmtFrameLenAt     = 16
	fmtNRecAt         = 24
)

// TestDamagedBlockIsReported overwrites bytes in the middle of one sealed block
// (not the last) while traced is stopped. After a start, a search whose messages
// are in that block says that a damaged block could not be read, in tracectl's
// output and in the API; searches whose messages are in the other blocks still
// find them; and the status shows the corruption.
func TestDamagedBlockIsReported(t *testing.T) {
	binaries(t)
	data := filepath.Join(t.TempDir(), "data")
	d := startTraced(t, data, "--flush-interval", "100ms")
	const batches, perBatch = 6, 40
	total := 0
	for b := range batches {
		var pkts [][]byte
		for j := range perBatch {
			pkts = append(pkts, optionsPacket(nil, damageCallID(b, j), time.Now()))
		}
		d.sendUDP(pkts)
		total += perBatch
		d.waitStored(uint64(total)) // flushed: the next batch starts a new block
	}
	d.stop()

	blocks := busiestHourBlocks(t, data)
	target, first, last := pickDamageTarget(t, blocks)
	t.Logf("%d blocks; damaging %s (%d records, Call-ID %s)", len(blocks), target.ref, target.nrec, target.callID)

	d.start()
	if got := d.searchAPI(url.Values{"call_id": {target.callID}}); len(got.Messages) != 1 || got.Unreadable != 0 {
		t.Fatalf("before the damage, %s: %d messages, %d unreadable blocks", target.callID, len(got.Messages), got.Unreadable)
	}
	d.stop()
	corruptMiddle(t, target)
	d.start()

	cases := []struct {
		name       string
		query      url.Values
		messages   int
		unreadable int
	}{
		{"call_id_in_damaged_block", url.Values{"call_id": {target.callID}}, 0, 1},
		{"call_id_in_first_block", url.Values{"call_id": {first.callID}}, 1, 0},
		{"call_id_in_last_block", url.Values{"call_id": {last.callID}}, 1, 0},
		{"everything", url.Values{"since": {"2h"}, "limit": {"100000"}}, total - target.nrec, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := d.searchAPI(tc.query)
			if len(res.Messages) != tc.messages || res.Total != tc.messages || res.Unreadable != tc.unreadable {
				t.Errorf("API search %v: %d messages (total %d), %d unreadable blocks; want %d messages, %d unreadable",
					tc.query, len(res.Messages), res.Total, res.Unreadable, tc.messages, tc.unreadable)
			}
			args := []string{"search", "--json"}
			for k, v := range tc.query {
				args = append(args, "--"+strings.ReplaceAll(k, "_", "-"), v[0])
			}
			stdout, stderr := d.tracectlStreams(args...)
			lines := strings.Count(stdout, "\n")
			warned := strings.Contains(stderr, fmt.Sprintf("tracectl: %d damaged blocks could not be read", tc.unreadable))
			if lines != tc.messages || warned != (tc.unreadable > 0) {
				t.Errorf("tracectl %s: %d messages, stderr %q", strings.Join(args, " "), lines, stderr)
			}
		})
	}

	st, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Corruptions != 1 || st.RecoveredCuts != 0 {
		t.Errorf("status after reading the one damaged block: corruptions %d, recovered cuts %d", st.Corruptions, st.RecoveredCuts)
	}
	var js httpui.Status
	if err := json.Unmarshal(d.tracectl("status", "--json"), &js); err != nil || js.Corruptions != 1 {
		t.Errorf("tracectl status --json: corruptions %d (%v)", js.Corruptions, err)
	}
	text := string(d.tracectl("status"))
	if line := damageLine(text); !strings.Contains(line, "1 corrupt blocks read") || !strings.Contains(line, "0 torn tails cut") {
		t.Errorf("tracectl status does not show the damaged block:\n%s", text)
	}
}

// TestTornTailIsCutAndReported kills traced, cuts its unsealed segment in the
// middle of the last block, as a crash during the write would, and starts it
// again: the torn block is cut, reported as a recovered cut with its bytes, and
// every message of the blocks before it is still found.
func TestTornTailIsCutAndReported(t *testing.T) {
	binaries(t)
	data := filepath.Join(t.TempDir(), "data")
	d := startTraced(t, data, "--flush-interval", "100ms")
	total := 0
	for b, n := range []int{50, 20} {
		var pkts [][]byte
		for j := range n {
			pkts = append(pkts, optionsPacket(nil, damageCallID(b, j), time.Now()))
		}
		d.sendUDP(pkts)
		total += n
		d.waitStored(uint64(total))
	}
	d.kill()

	parts, _ := filepath.Glob(filepath.Join(data, segmentsDir, "*.seg.part"))
	if len(parts) != 1 {
		t.Fatalf("after a kill, %d unsealed segments: %q", len(parts), parts)
	}
	lastOff, frameLen, nrec := lastBlockOf(t, parts[0])
	cut := lastOff + fmtBlockHeaderLen + frameLen/2
	if err := os.Truncate(parts[0], cut); err != nil {
		t.Fatal(err)
	}
	t.Logf("cut %s at %d, in the middle of its last block (%d records at %d)", filepath.Base(parts[0]), cut, nrec, lastOff)

	d.start()
	st := d.waitStored(0)
	if st.RecoveredCuts != 1 || st.RecoveredBytes != cut-lastOff || st.Records != int64(total-nrec) || st.Corruptions != 0 {
		t.Errorf("status after a torn tail: %d cuts of %d bytes, %d records, %d corruptions; want 1 cut of %d bytes, %d records, 0 corruptions",
			st.RecoveredCuts, st.RecoveredBytes, st.Records, st.Corruptions, cut-lastOff, total-nrec)
	}
	var js httpui.Status
	if err := json.Unmarshal(d.tracectl("status", "--json"), &js); err != nil || js.RecoveredCuts != 1 {
		t.Errorf("tracectl status --json: recovered_cuts %d (%v)", js.RecoveredCuts, err)
	}
	if text := string(d.tracectl("status")); !strings.Contains(damageLine(text), "1 torn tails cut at start") {
		t.Errorf("tracectl status does not show the cut:\n%s", text)
	}
	if res := d.searchAPI(url.Values{"since": {"2h"}, "limit": {"100000"}}); res.Total != total-nrec || res.Unreadable != 0 {
		t.Errorf("search of everything after the cut: %d messages, %d unreadable blocks; want %d, 0", res.Total, res.Unreadable, total-nrec)
	}
	for j := range 50 {
		id := damageCallID(0, j)
		if msgs := d.searchJSON("--call-id", id); len(msgs) != 1 {
			t.Errorf("Call-ID %s of a block before the tear: %d messages", id, len(msgs))
		}
	}
}

func damageCallID(batch, n int) string { return fmt.Sprintf("dmg-%d-%d@test", batch, n) }

// damageLine returns the "damage:" line of tracectl status, or "".
func damageLine(status string) string {
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, "damage:") {
			return line
		}
	}
	return ""
}

// storedBlock is one block of a stopped traced's segments.
type storedBlock struct {
	path     string
	ref      segment.BlockRef
	frameLen int64
	nrec     int
	callID   string // the Call-ID of its first record
}

// busiestHourBlocks lists the blocks of the hour with the most blocks in a
// stopped traced's data directory.
func busiestHourBlocks(t *testing.T, data string) []storedBlock {
	t.Helper()
	seg, err := segment.Open(filepath.Join(data, segmentsDir), segment.Options{})
	if err != nil {
		t.Fatalf("open the segments: %v", err)
	}
	defer seg.Close()
	var best []storedBlock
	var m record.Message
	for _, h := range seg.Hours() {
		var blocks []storedBlock
		err := seg.Blocks(h.Hour, 0, func(bi segment.BlockInfo) error {
			b, err := seg.ReadBlock(bi.Ref)
			if err != nil {
				return err
			}
			if err := record.Decode(b.Records[0], &m); err != nil {
				return err
			}
			blocks = append(blocks, storedBlock{path: h.Path, ref: bi.Ref, frameLen: int64(bi.FrameLen),
				nrec: len(b.Records), callID: string(m.SIP.CallID)})
			return nil
		})
		if err != nil {
			t.Fatalf("read the blocks of %s: %v", h.Hour, err)
		}
		if len(blocks) > len(best) {
			best = blocks
		}
	}
	return best
}

// pickDamageTarget returns a block in the middle of the hour, and the first and
// last blocks.
func pickDamageTarget(t *testing.T, blocks []storedBlock) (target, first, last storedBlock) {
	t.Helper()
	if len(blocks) < 3 {
		t.Fatalf("only %d blocks in one hour; need a first, a middle and a last", len(blocks))
	}
	if !strings.HasSuffix(blocks[0].path, ".seg") {
		t.Fatalf("%s is not sealed after a clean stop", blocks[0].path)
	}
	return blocks[len(blocks)/2], blocks[0], blocks[len(blocks)-1]
}

// corruptMiddle inverts 16 bytes in the middle of b's zstd frame.
func corruptMiddle(t *testing.T, b storedBlock) {
	t.Helper()
	if b.frameLen < 64 {
		t.Fatalf("block %s: frame of %d bytes is too short to damage in its middle", b.ref, b.frameLen)
	}
	f, err := os.OpenFile(b.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off := b.ref.Off + fmtBlockHeaderLen + b.frameLen/2
	buf := make([]byte, 16)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] ^= 0xff
	}
	if _, err := f.WriteAt(buf, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// lastBlockOf walks the block headers of an unsealed segment file (FORMAT.md)
// and returns the offset, frame length and record count of its last block.
func lastBlockOf(t *testing.T, path string) (off, frameLen int64, nrec int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off = -1
	for at := int64(fmtFileHeaderLen); at+fmtBlockHeaderLen <= int64(len(b)); {
		fl := int64(binary.LittleEndian.Uint32(b[at+fmtFrameLenAt:]))
		if at+fmtBlockHeaderLen+fl > int64(len(b)) {
			t.Fatalf("%s: block at %d overruns the file", path, at)
		}
		off, frameLen, nrec = at, fl, int(binary.LittleEndian.Uint32(b[at+fmtNRecAt:]))
		at += fmtBlockHeaderLen + fl
	}
	if off < 0 || frameLen < 2 {
		t.Fatalf("%s: no block to tear", path)
	}
	return off, frameLen, nrec
}
