package loadbench

import (
	"net/netip"
	"testing"

	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/segment"
)

func decode(t *testing.T, pkt []byte) *record.Message {
	t.Helper()
	h := record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Agent: netip.MustParseAddrPort("127.0.0.1:1")}
	var m record.Message
	if err := record.Decode(segment.Record{Data: record.Append(nil, &h, pkt)}, &m); err != nil {
		t.Fatal(err)
	}
	if !m.IsSIP {
		t.Fatalf("not SIP: %q", m.Payload)
	}
	return &m
}

func TestPoolRenewsDialogs(t *testing.T) {
	p, err := NewPool(3, 500)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() < 500 {
		t.Fatalf("pool of %d packets", p.Len())
	}
	// A dialog's packets share a Call-ID; pools hold whole dialogs.
	callIDs := func() (ids []string, dialogs map[string]int) {
		dialogs = map[string]int{}
		for i := range p.Len() {
			m := decode(t, p.Packet(i, 1_700_000_000_123_456))
			id := string(m.SIP.CallID)
			if len(ids) > 0 && ids[len(ids)-1] != id && dialogs[id] > 0 {
				t.Fatalf("packet %d: Call-ID %s seen before, not in a row", i, id)
			}
			ids = append(ids, id)
			dialogs[id]++
			if m.HEP.TsSec != 1_700_000_000 || m.HEP.TsUsec != 123_456 {
				t.Fatalf("packet %d: time %d.%06d", i, m.HEP.TsSec, m.HEP.TsUsec)
			}
		}
		return ids, dialogs
	}
	first, d1 := callIDs()
	p.Renew()
	second, d2 := callIDs()
	if len(d1) != len(d2) {
		t.Fatalf("dialogs: %d then %d", len(d1), len(d2))
	}
	for i := range first {
		if first[i] == second[i] {
			t.Fatalf("packet %d kept its Call-ID %s", i, first[i])
		}
		if d2[first[i]] != 0 {
			t.Fatalf("Call-ID %s of the first pass is back in the second", first[i])
		}
	}
	for _, n := range d1 {
		if n != 7 && n != 4 && n != 2 {
			t.Fatalf("a dialog of %d packets", n)
		}
	}
	// Renewing keeps the packets valid HEP of the same length.
	for i := range p.Len() {
		var pkt hep.Packet
		if err := hep.Decode(p.Packet(i, 1), &pkt); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}

func TestFindStampRejectsOtherPackets(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("HEP3"), []byte("EEP2......"), []byte("HEP3\x00\x10\x00\x00\x00\x09\x00\x03")} {
		if _, err := FindStamp(b); err == nil {
			t.Errorf("FindStamp(%q) found a stamp", b)
		}
	}
}
