package search

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"traced/index"
	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/segment"
)

func sipRecord(t testing.TB, ts int64, src, dst string, msg string, corr string, typ uint8) segment.Record {
	t.Helper()
	p := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst),
		TsSec: uint32(ts / 1e6), TsUsec: uint32(ts % 1e6), ProtoType: typ, CaptureID: 2001, NodeName: []byte("proxy1"),
		CorrelationID: []byte(corr), Payload: []byte(msg)}
	data := record.Append(nil, &record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: ts}, hep.AppendV3(nil, &p))
	return segment.Record{Time: ts, Data: data}
}

const inviteFmt = "INVITE sip:%s@example.com SIP/2.0\r\nFrom: \"Alice\" <sip:%s@example.com>;tag=1\r\n" +
	"To: <sip:%s@example.com>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nUser-Agent: PBX 1.0\r\n" +
	"X-Session-Id: sess-%s\r\nX-CID: %s\r\nP-Asserted-Identity: <sip:+15550001@example.com>\r\n\r\n"

func invite(callID, from, to, xcid string) string {
	return fmt.Sprintf(inviteFmt, to, from, to, callID, callID, xcid)
}

const base = int64(1_700_000_000_000_000)

func TestMatch(t *testing.T) {
	inv := sipRecord(t, base, "10.0.0.1:5060", "10.0.0.2:5060", invite("call-1", "Alice", "bob", "a-leg"), "", 1)
	busy := sipRecord(t, base+10, "10.0.0.2:5060", "10.0.0.1:5060",
		"SIP/2.0 486 Busy Here\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\n"+
			"Call-ID: call-1\r\nCSeq: 1 INVITE\r\nServer: Phone 2\r\n\r\n", "", 1)
	rtcp := sipRecord(t, base+20, "10.0.0.3:7001", "10.0.0.4:7001", `{"type":200}`, "call-1", 5)
	cases := []struct {
		name string
		q    index.Query
		want [3]bool // inv, busy, rtcp
	}{
		{"call_id_finds_sip_and_correlated", index.Query{CallID: "call-1"}, [3]bool{true, true, true}},
		{"call_id_is_exact", index.Query{CallID: "CALL-1"}, [3]bool{false, false, false}},
		{"session_id", index.Query{SessionID: "sess-call-1"}, [3]bool{true, false, false}},
		{"xcid", index.Query{XCID: "a-leg"}, [3]bool{true, false, false}},
		{"refers_by_xcid", index.Query{Refers: "a-leg"}, [3]bool{true, false, false}},
		{"refers_not_own_call_id", index.Query{Refers: "call-1"}, [3]bool{false, false, false}},
		{"from_user_any_case", index.Query{FromUser: "alice"}, [3]bool{true, true, false}},
		{"to_user", index.Query{ToUser: "bob"}, [3]bool{true, true, false}},
		{"ruri_user", index.Query{RURIUser: "bob"}, [3]bool{true, false, false}},
		{"any_user_pai", index.Query{AnyUser: "+15550001"}, [3]bool{true, false, false}},
		{"ip_either_side", index.Query{IP: "10.0.0.2"}, [3]bool{true, true, false}},
		{"src_ip", index.Query{SrcIP: "10.0.0.2"}, [3]bool{false, true, false}},
		{"dst_ip", index.Query{DstIP: "10.0.0.4"}, [3]bool{false, false, true}},
		{"method_matches_cseq", index.Query{Method: "INVITE"}, [3]bool{true, true, false}},
		{"status", index.Query{Status: "486"}, [3]bool{false, true, false}},
		{"user_agent_or_server", index.Query{UserAgent: "Phone 2"}, [3]bool{false, true, false}},
		{"node_name", index.Query{Node: "proxy1"}, [3]bool{true, true, true}},
		{"capture_id", index.Query{Node: "2001"}, [3]bool{true, true, true}},
		{"type", index.Query{Type: "5"}, [3]bool{false, false, true}},
		{"time_range", index.Query{Since: base + 5, Until: base + 15}, [3]bool{false, true, false}},
		{"and_of_fields", index.Query{CallID: "call-1", Status: "486"}, [3]bool{false, true, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, r := range []segment.Record{inv, busy, rtcp} {
				var m record.Message
				if err := record.Decode(r, &m); err != nil {
					t.Fatal(err)
				}
				if got := Match(&c.q, &m); got != c.want[i] {
					t.Errorf("record %d: match %v, want %v", i, got, c.want[i])
				}
			}
		})
	}
}

// fakeIndex returns every block; the exact filter must do the rest.
type fakeIndex struct{ refs []segment.BlockRef }

func (f fakeIndex) Search(context.Context, index.Query) ([]segment.BlockRef, error) {
	return f.refs, nil
}

type fakeBlocks map[segment.BlockRef]*segment.Block

func (f fakeBlocks) ReadBlock(ref segment.BlockRef) (*segment.Block, error) {
	b, ok := f[ref]
	if !ok {
		return nil, fmt.Errorf("hour gone: %w", segment.ErrNotFound)
	}
	if b == nil {
		return nil, errors.New("damaged")
	}
	return b, nil
}

func TestSearchOrdersByCaptureTimeAndCountsPastLimit(t *testing.T) {
	h := segment.Hour(470000)
	b1 := &segment.Block{Records: []segment.Record{
		sipRecord(t, base+300, "10.0.0.1:5060", "10.0.0.2:5060", invite("c", "a", "b", ""), "", 1),
		sipRecord(t, base+100, "10.0.0.1:5060", "10.0.0.2:5060", invite("c", "a", "b", ""), "", 1),
		sipRecord(t, base+100, "10.0.0.1:5060", "10.0.0.2:5060", invite("other", "a", "b", ""), "", 1),
	}}
	b2 := &segment.Block{Records: []segment.Record{
		sipRecord(t, base+200, "10.0.0.1:5060", "10.0.0.2:5060", invite("c", "a", "b", ""), "", 1),
	}}
	refs := []segment.BlockRef{{Hour: h, Off: 10}, {Hour: h, Off: 20}, {Hour: h, Off: 30}, {Hour: h + 1, Off: 10}}
	blocks := fakeBlocks{refs[0]: b1, refs[1]: b2, refs[2]: nil} // refs[3]: deleted hour
	s := &Searcher{Index: fakeIndex{refs}, Blocks: blocks, Now: func() time.Time { return time.UnixMicro(base) }}
	res, err := s.Search(context.Background(), Query{Query: index.Query{CallID: "c"}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 3 || len(res.Hits) != 2 || res.More() != 1 {
		t.Fatalf("total %d hits %d more %d", res.Total, len(res.Hits), res.More())
	}
	if res.Hits[0].Msg.Time != base+100 || res.Hits[1].Msg.Time != base+200 {
		t.Errorf("order %d %d", res.Hits[0].Msg.Time, res.Hits[1].Msg.Time)
	}
	if res.Unreadable != 1 || res.Blocks != 2 {
		t.Errorf("unreadable %d blocks %d", res.Unreadable, res.Blocks)
	}
	// Ports are checked on the records.
	for _, c := range []struct {
		q    Query
		want int
	}{
		{Query{Query: index.Query{CallID: "c"}, DstPort: 5060}, 3},
		{Query{Query: index.Query{CallID: "c"}, SrcPort: 5061}, 0},
		{Query{Query: index.Query{CallID: "c"}, Port: 5060}, 3},
	} {
		res, err := s.Search(context.Background(), c.q)
		if err != nil || res.Total != c.want {
			t.Errorf("ports %d/%d/%d: %d matches, want %d (%v)", c.q.Port, c.q.SrcPort, c.q.DstPort, res.Total, c.want, err)
		}
	}
}

func TestDefaultWindow(t *testing.T) {
	now := time.UnixMicro(base)
	s := &Searcher{Now: func() time.Time { return now }}
	for _, c := range []struct {
		name      string
		q         Query
		wantSince int64
	}{
		{"call_id_whole_archive", Query{Query: index.Query{CallID: "x"}}, 0},
		{"session_id_whole_archive", Query{Query: index.Query{SessionID: "x"}}, 0},
		{"xcid_whole_archive", Query{Query: index.Query{XCID: "x"}}, 0},
		{"user_last_hour", Query{Query: index.Query{FromUser: "x"}}, now.Add(-time.Hour).UnixMicro()},
		{"explicit_range_kept", Query{Query: index.Query{FromUser: "x", Since: 5}}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := c.q
			s.Normalize(&q)
			if q.Since != c.wantSince {
				t.Errorf("since %d, want %d", q.Since, c.wantSince)
			}
		})
	}
}
