package stats

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/segment"
)

// base is 13:00 UTC of the test day; hour is its segment hour.
var testBase = time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)

// sipMsg is one SIP message of a test: who sent it to whom, when, what.
type sipMsg struct {
	at       time.Duration // after testBase
	src, dst string        // "ip:port"
	first    string        // request line or status line, e.g. "INVITE sip:bob@x SIP/2.0", "SIP/2.0 200 OK"
	callID   string
	cseq     string // "1 INVITE"
	toTag    string
	ua       string
	to       string // To user; default bob
}

// payload renders the SIP message.
func (m sipMsg) payload() []byte {
	to := m.to
	if to == "" {
		to = "bob"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\n", m.first, m.src, m.cseq)
	fmt.Fprintf(&b, "From: <sip:alice@example.com>;tag=f1\r\n")
	if m.toTag != "" {
		fmt.Fprintf(&b, "To: <sip:%s@example.com>;tag=%s\r\n", to, m.toTag)
	} else {
		fmt.Fprintf(&b, "To: <sip:%s@example.com>\r\n", to)
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %s\r\n", m.callID, m.cseq)
	if m.ua != "" {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", m.ua)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// rec encodes m as a stored plain-SIP record.
func (m sipMsg) rec() segment.Record {
	t := testBase.Add(m.at).UnixMicro()
	h := record.Header{Kind: record.KindSIP, Listener: record.ListenerUDP, Recv: t, Proto: 17,
		Agent: netip.MustParseAddrPort("10.0.0.1:5060"), Src: addr(m.src), Dst: addr(m.dst)}
	return segment.Record{Time: t, Data: record.Append(nil, &h, m.payload())}
}

func addr(s string) netip.AddrPort {
	if s == "" {
		return netip.AddrPort{}
	}
	return netip.MustParseAddrPort(s)
}

const (
	uac   = "192.0.2.10:5060"
	proxy = "192.0.2.1:5060"
	uas   = "192.0.2.20:5060"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// req and resp build the two hops (UAC→proxy→UAS, and back) of a message
// through a proxy that captures both.
func reqHops(at time.Duration, first, callID, cseq, toTag string) []sipMsg {
	return []sipMsg{
		{at: at, src: uac, dst: proxy, first: first, callID: callID, cseq: cseq, toTag: toTag},
		{at: at + ms(1), src: proxy, dst: uas, first: first, callID: callID, cseq: cseq, toTag: toTag},
	}
}

func respHops(at time.Duration, status, callID, cseq, toTag string) []sipMsg {
	first := "SIP/2.0 " + status
	return []sipMsg{
		{at: at, src: uas, dst: proxy, first: first, callID: callID, cseq: cseq, toTag: toTag},
		{at: at + ms(1), src: proxy, dst: uac, first: first, callID: callID, cseq: cseq, toTag: toTag},
	}
}

func join(parts ...[]sipMsg) []sipMsg {
	var out []sipMsg
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// countInto counts msgs with a fresh engine into sets of the hour each message
// falls in (its capture hour stands for the hour it was stored in), and
// returns the report of all.
func countAll(t testing.TB, msgs []sipMsg) (*Report, map[segment.Hour]*Set) {
	t.Helper()
	msgs = slices.Clone(msgs)
	slices.SortStableFunc(msgs, func(a, b sipMsg) int { return cmp.Compare(a.at, b.at) })
	e := newEngine(Limits{})
	sets := map[segment.Hour]*Set{}
	for _, m := range msgs {
		r := m.rec()
		h := segment.HourOf(time.UnixMicro(r.Time))
		if sets[h] == nil {
			sets[h] = NewSet(h)
		}
		e.count(r, sets[h])
	}
	var list []*Set
	for _, s := range sets {
		list = append(list, s)
	}
	return Build(list), sets
}

// rtcpRec is a stored HEP type 5 record holding a binary RTCP receiver report
// from SSRC reporter about SSRC source, with the given jitter (RTP units) and
// fraction lost (of 256).
func rtcpRec(at time.Duration, reporter, source, jitter uint32, fraction uint8) segment.Record {
	rr := make([]byte, 32)
	rr[0], rr[1] = 0x81, 201 // version 2, one report block, RR
	binary.BigEndian.PutUint16(rr[2:], 7)
	binary.BigEndian.PutUint32(rr[4:], reporter)
	binary.BigEndian.PutUint32(rr[8:], source)
	rr[12] = fraction
	binary.BigEndian.PutUint32(rr[20:], jitter)
	tm := testBase.Add(at)
	p := hep.Packet{Version: 3, Family: 4, Proto: 17, ProtoType: 5, TsSec: uint32(tm.Unix()), TsUsec: uint32(tm.Nanosecond() / 1000),
		Src: addr("192.0.2.10:4001"), Dst: addr("192.0.2.20:4001"), Payload: rr}
	h := record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: tm.UnixMicro(), Agent: netip.MustParseAddrPort("10.0.0.1:9060")}
	return segment.Record{Time: tm.UnixMicro(), Data: record.Append(nil, &h, hep.AppendV3(nil, &p))}
}

// appendRecords appends records to d and flushes.
func appendRecords(t *testing.T, d *segment.Dir, recs ...segment.Record) {
	t.Helper()
	for _, r := range recs {
		if err := d.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
}
