package correlate

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"traced/index"
	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/search"
	"traced/segment"
)

// base is the capture time the test calls start from.
var base = time.Date(2026, 11, 1, 10, 10, 0, 0, time.UTC)

// clock is a time source the tests set by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// pkt is one captured packet as a capture agent sends it over HEP.
type pkt struct {
	at       time.Duration // after base
	src, dst string
	node     string
	capID    uint32
	corr     string // HEP correlation id (chunk 0x11)
	typ      uint8  // HEP payload type; 0: SIP
	payload  string
}

// encode builds the stored record of p as the ingest path does: a HEPv3 packet
// wrapped in a record header.
func (p pkt) encode() segment.Record {
	ts := base.Add(p.at).UnixMicro()
	typ := p.typ
	if typ == 0 {
		typ = hep.TypeSIP
	}
	node, capID := p.node, p.capID
	if node == "" {
		node, capID = "proxy1", 2001
	}
	hp := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: netip.MustParseAddrPort(p.src),
		Dst: netip.MustParseAddrPort(p.dst), TsSec: uint32(ts / 1e6), TsUsec: uint32(ts % 1e6),
		ProtoType: typ, CaptureID: capID, NodeName: []byte(node), Payload: []byte(p.payload)}
	if p.corr != "" {
		hp.CorrelationID = []byte(p.corr)
	}
	data := record.Append(nil, &record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: ts,
		Agent: netip.MustParseAddrPort("192.0.2.200:9060")}, hep.AppendV3(nil, &hp))
	return segment.Record{Time: ts, Data: data}
}

// sipMsg is a SIP message to render.
type sipMsg struct {
	method     string // request method; "" for a response
	code       int
	reason     string
	callID     string
	cseq       int
	cseqMethod string // "": method
	fromTag    string
	toTag      string
	branch     string
	hdrs       []string // extra header lines
	body       string
}

func (m sipMsg) String() string {
	var b strings.Builder
	cm := m.cseqMethod
	if cm == "" {
		cm = m.method
	}
	if m.method != "" {
		fmt.Fprintf(&b, "%s sip:bob@example.com SIP/2.0\r\n", m.method)
	} else {
		fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", m.code, m.reason)
	}
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=%s\r\nMax-Forwards: 70\r\n", m.branch)
	fmt.Fprintf(&b, "From: <sip:alice@example.com>;tag=%s\r\n", m.fromTag)
	if m.toTag != "" {
		fmt.Fprintf(&b, "To: <sip:bob@example.com>;tag=%s\r\n", m.toTag)
	} else {
		b.WriteString("To: <sip:bob@example.com>\r\n")
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", m.callID, m.cseq, cm)
	for _, h := range m.hdrs {
		b.WriteString(h + "\r\n")
	}
	if m.body != "" {
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(m.body), m.body)
	} else {
		b.WriteString("Content-Length: 0\r\n\r\n")
	}
	return b.String()
}

// dialog is a basic call leg between two addresses: INVITE, 180, 200, ACK, then
// BYE from the caller after hold and its 200. hdrs go on every message; first
// only on the INVITE. corr is the HEP correlation id of every packet.
type dialog struct {
	callID   string
	at, hold time.Duration
	a, b     string
	hdrs     []string
	first    []string
	corr     string
}

func (d dialog) packets() []pkt {
	if d.hold == 0 {
		d.hold = 30 * time.Second
	}
	if d.a == "" {
		d.a, d.b = "10.0.0.1:5060", "10.0.0.2:5060"
	}
	br := "z9hG4bK-" + d.callID
	inv := sipMsg{method: "INVITE", callID: d.callID, cseq: 1, fromTag: "ft", branch: br,
		hdrs: append(append([]string{}, d.hdrs...), d.first...), body: offerSDP}
	ms := []struct {
		at       time.Duration
		toCallee bool
		m        sipMsg
	}{
		{0, true, inv},
		{200 * time.Millisecond, false, sipMsg{code: 180, reason: "Ringing", callID: d.callID, cseq: 1, cseqMethod: "INVITE", fromTag: "ft", toTag: "tt", branch: br, hdrs: d.hdrs}},
		{2 * time.Second, false, sipMsg{code: 200, reason: "OK", callID: d.callID, cseq: 1, cseqMethod: "INVITE", fromTag: "ft", toTag: "tt", branch: br, hdrs: d.hdrs, body: answerSDP}},
		{2100 * time.Millisecond, true, sipMsg{method: "ACK", callID: d.callID, cseq: 1, fromTag: "ft", toTag: "tt", branch: br + "-ack", hdrs: d.hdrs}},
		{2*time.Second + d.hold, true, sipMsg{method: "BYE", callID: d.callID, cseq: 2, fromTag: "ft", toTag: "tt", branch: br + "-bye", hdrs: d.hdrs}},
		{2*time.Second + d.hold + 50*time.Millisecond, false, sipMsg{code: 200, reason: "OK", callID: d.callID, cseq: 2, cseqMethod: "BYE", fromTag: "ft", toTag: "tt", branch: br + "-bye", hdrs: d.hdrs}},
	}
	var out []pkt
	for _, m := range ms {
		p := pkt{at: d.at + m.at, src: d.a, dst: d.b, corr: d.corr, payload: m.m.String()}
		if !m.toCallee {
			p.src, p.dst = d.b, d.a
		}
		out = append(out, p)
	}
	return out
}

const offerSDP = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
const answerSDP = "v=0\r\no=- 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n" +
	"m=audio 50000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"

// archive is a real segment directory and index over a temporary directory.
type archive struct {
	seg *segment.Dir
	idx *index.Index
	clk *clock
}

// newArchive stores pkts in blocks of blockSize raw bytes (a size below a
// record's puts each record in a block of its own) and indexes them with the
// ingest path's extraction.
func newArchive(t testing.TB, blockSize int, pkts []pkt) *archive {
	t.Helper()
	dir := t.TempDir()
	clk := &clock{t: base}
	seg, err := segment.Open(filepath.Join(dir, "segments"), segment.Options{Now: clk.Now, BlockSize: blockSize, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	idx, err := index.Open(filepath.Join(dir, "index"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	for _, p := range pkts {
		if err := seg.Append(p.encode()); err != nil {
			t.Fatal(err)
		}
	}
	if err := seg.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := idx.CatchUp(context.Background(), seg, record.Extract); err != nil {
		t.Fatal(err)
	}
	return &archive{seg: seg, idx: idx, clk: clk}
}

func (a *archive) engine(opts Options) *Engine {
	return &Engine{Searcher: &search.Searcher{Index: a.idx, Blocks: a.seg, Now: a.clk.Now}, Options: opts}
}

// all concatenates packet lists.
func all(lists ...[]pkt) []pkt {
	var out []pkt
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// byTime orders packets by capture time, as they reach the archive.
func byTime(ps []pkt) []pkt {
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b pkt) int { return cmp.Compare(a.at, b.at) })
	return out
}

// Block sizes of the test archives.
const (
	oneRecordBlocks = 256  // every record in a block of its own: candidate blocks are exact
	smallBlocks     = 4096 // a few records a block: the exact filter has work
)
