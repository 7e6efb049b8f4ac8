package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"testing/iotest"

	"traced/ingest/hep"
	"traced/ingest/record"
)

// importPacket is a HEPv3 packet as tracectl import builds it.
func importPacket(typ uint8, sec, usec uint32, payload []byte) []byte {
	p := hep.Packet{Family: 4, Proto: 6,
		Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("192.0.2.2:5061"),
		TsSec: sec, TsUsec: usec, ProtoType: typ, NodeName: []byte("import"), Payload: payload}
	return hep.AppendV3(nil, &p)
}

func TestImportStoresWithCaptureTimes(t *testing.T) {
	// Auth keys are configured: the import does not need one.
	s, st := startServer(t, Config{AuthKeys: []string{"secret"}})
	rtcp := []byte{0x80, 0xc9, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef}
	var stream bytes.Buffer
	stream.Write(importPacket(1, 1_105_725_482, 965944, []byte(fmt.Sprintf(invite, "imp-1"))))
	stream.WriteString("junk!") // not a frame: skipped up to the next magic
	stream.Write(importPacket(5, 1_105_725_491, 463085, rtcp))
	stream.Write(importPacket(1, 1_105_725_492, 1, []byte("not sip at all\r\n"))) // bad_sip
	stream.Write(importPacket(0, 1_105_725_492, 2, []byte("bye")))                // ignored
	stream.Write(importPacket(1, 1_105_725_493, 999999, []byte(fmt.Sprintf(invite, "imp-2"))))
	last := importPacket(1, 1_105_725_494, 0, []byte(fmt.Sprintf(invite, "imp-3")))
	stream.Write(last[:len(last)-10]) // cut short

	// One byte per read, and the last bytes together with io.EOF.
	res, err := s.Import(iotest.DataErrReader(iotest.OneByteReader(&stream)))
	if err != nil {
		t.Fatal(err)
	}
	want := ImportResult{Packets: 5, Stored: 3, Ignored: 1,
		Rejected: map[string]int{ReasonBadSIP: 1, ReasonTCPGarbage: 1, ReasonTCPTrunc: 1}}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Fatalf("import result %+v, want %+v", res, want)
	}
	recs := st.all()
	if len(recs) != 3 {
		t.Fatalf("%d records stored, want 3", len(recs))
	}
	wantTimes := []int64{1_105_725_482_965944, 1_105_725_491_463085, 1_105_725_493_999999}
	for i, r := range recs {
		if r.Time != wantTimes[i] {
			t.Errorf("record %d time %d, want the capture time %d", i, r.Time, wantTimes[i])
		}
		var h record.Header
		if _, err := record.Split(r.Data, &h); err != nil {
			t.Fatal(err)
		}
		if h.Listener != record.ListenerImport || h.Kind != record.KindHEP {
			t.Errorf("record %d: listener %v kind %v", i, h.Listener, h.Kind)
		}
	}
	stats := s.Stats()
	if stats.Received["import"] != 5 || stats.RejectedBy["import"][ReasonBadSIP] != 1 || stats.Received["tcp"] != 0 {
		t.Errorf("counters: received %v, rejected by import %v", stats.Received, stats.RejectedBy["import"])
	}
}

func TestImportReadError(t *testing.T) {
	s, st := startServer(t, Config{})
	pkt := importPacket(1, 1_700_000_000, 5, []byte(fmt.Sprintf(invite, "imp-err")))
	boom := errors.New("connection reset")
	res, err := s.Import(io.MultiReader(bytes.NewReader(pkt), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want %v", err, boom)
	}
	if res.Stored != 1 || st.len() != 1 {
		t.Fatalf("stored %d (store holds %d), want the packet read before the error", res.Stored, st.len())
	}
}
