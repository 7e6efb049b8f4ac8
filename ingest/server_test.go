package ingest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/segment"
)

// memStore keeps appended records in memory.
type memStore struct {
	mu   sync.Mutex
	recs []segment.Record
	ch   chan struct{}
}

func newMemStore() *memStore { return &memStore{ch: make(chan struct{}, 1024)} }

func (m *memStore) Append(r segment.Record) error {
	m.mu.Lock()
	m.recs = append(m.recs, segment.Record{Time: r.Time, Data: append([]byte(nil), r.Data...)})
	m.mu.Unlock()
	select {
	case m.ch <- struct{}{}:
	default:
	}
	return nil
}

func (m *memStore) len() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.recs) }

func (m *memStore) all() []segment.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]segment.Record(nil), m.recs...)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startServer(t *testing.T, cfg Config) (*Server, *memStore) {
	t.Helper()
	st := newMemStore()
	cfg.Store = st
	if cfg.HEPAddrs == nil {
		cfg.HEPAddrs = []string{"127.0.0.1:0"}
	}
	cfg.LogEvery = time.Hour
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, st
}

const invite = "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n" +
	"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n" +
	"Content-Length: 0\r\n\r\n"

func hepPacket(callID string, key string) []byte {
	p := hep.Packet{
		Version: 3, Family: 4, Proto: 17,
		Src:   netip.MustParseAddrPort("10.0.0.1:5060"),
		Dst:   netip.MustParseAddrPort("10.0.0.2:5060"),
		TsSec: 1_700_000_000, TsUsec: 123456, ProtoType: 1, CaptureID: 2001,
		Payload: []byte(fmt.Sprintf(invite, callID)),
	}
	if key != "" {
		p.AuthKey = []byte(key)
	}
	return hep.AppendV3(nil, &p)
}

func sendUDP(t *testing.T, to net.Addr, pkts ...[]byte) {
	t.Helper()
	c, err := net.Dial("udp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range pkts {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

func callIDs(t *testing.T, recs []segment.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		var m record.Message
		if err := record.Decode(r, &m); err != nil {
			t.Fatalf("stored record does not decode: %v", err)
		}
		out = append(out, string(m.SIP.CallID))
	}
	return out
}

func TestUDPStoresPacketWithCaptureTime(t *testing.T) {
	s, st := startServer(t, Config{})
	sendUDP(t, s.UDPAddrs()[0], hepPacket("c1@test", ""))
	waitFor(t, "one record", func() bool { return st.len() == 1 })
	r := st.all()[0]
	if r.Time != 1_700_000_000_123456 {
		t.Errorf("capture time %d, want 1700000000123456", r.Time)
	}
	var m record.Message
	if err := record.Decode(r, &m); err != nil {
		t.Fatal(err)
	}
	if m.Listener != record.ListenerUDP || m.Version != 3 || m.CaptureID != 2001 || string(m.SIP.CallID) != "c1@test" {
		t.Errorf("stored message %+v", m.Header)
	}
	if m.Src.String() != "10.0.0.1:5060" || m.Dst.String() != "10.0.0.2:5060" {
		t.Errorf("addresses %s -> %s", m.Src, m.Dst)
	}
	if got := s.Stats().Received["udp"]; got != 1 {
		t.Errorf("received udp %d", got)
	}
}

// Each kind of bad input is rejected under its reason, and a good packet sent
// right after it on the same socket is stored.
func TestUDPRejectionsCostNoNeighbour(t *testing.T) {
	good := func(n int) []byte { return hepPacket(fmt.Sprintf("good-%d@test", n), "") }
	v3 := hepPacket("x@test", "")
	badLen := append([]byte(nil), v3...)
	badLen[5]++ // length field no longer the datagram length
	badChunk := append([]byte(nil), v3...)
	badChunk[6+4], badChunk[6+5] = 0, 2 // first chunk length 2
	garbageSIP := hep.AppendV3(nil, &hep.Packet{Version: 3, Family: 4, Proto: 17,
		Src: netip.MustParseAddrPort("10.0.0.1:1"), Dst: netip.MustParseAddrPort("10.0.0.2:2"),
		TsSec: 1_700_000_000, ProtoType: 1, Payload: []byte("\x00\x01garbage that is not SIP")})
	cases := []struct {
		name   string
		pkt    []byte
		reason string
	}{
		{"not_hep", []byte("GET / HTTP/1.1\r\n\r\n"), "bad_magic"},
		{"unknown_version", append([]byte("HEP4"), v3[4:]...), "unknown_version"},
		{"not_hep_binary", []byte{9, 16, 2, 17, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, "bad_magic"},
		{"truncated_v3", v3[:4], "truncated"},
		{"bad_length", badLen, "bad_length"},
		{"bad_chunk", badChunk, "bad_chunk"},
		{"garbage_sip", garbageSIP, ReasonBadSIP},
	}
	s, st := startServer(t, Config{})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.Stats().Rejected[c.reason]
			n := st.len()
			sendUDP(t, s.UDPAddrs()[0], c.pkt, good(i))
			waitFor(t, "the good packet", func() bool { return st.len() == n+1 })
			if got := s.Stats().Rejected[c.reason]; got != before+1 {
				t.Errorf("rejected[%s] = %d, want %d (all: %v)", c.reason, got, before+1, s.Stats().Rejected)
			}
			if id := callIDs(t, st.all()[n:])[0]; id != fmt.Sprintf("good-%d@test", i) {
				t.Errorf("stored %q", id)
			}
		})
	}
}

func TestAuthKey(t *testing.T) {
	s, st := startServer(t, Config{AuthKeys: []string{"s3cret", "other"}})
	sendUDP(t, s.UDPAddrs()[0], hepPacket("nokey@test", ""), hepPacket("wrong@test", "guess"), hepPacket("ok@test", "s3cret"))
	waitFor(t, "the keyed packet", func() bool { return st.len() == 1 })
	waitFor(t, "two rejections", func() bool {
		r := s.Stats().Rejected
		return r[ReasonAuthMissing] == 1 && r[ReasonAuthWrong] == 1
	})
	if id := callIDs(t, st.all())[0]; id != "ok@test" {
		t.Errorf("stored %q", id)
	}
}

func TestTCPBackToBackFramesAndResync(t *testing.T) {
	s, st := startServer(t, Config{})
	c, err := net.Dial("tcp", s.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var stream []byte
	stream = append(stream, hepPacket("t1@test", "")...)
	stream = append(stream, hepPacket("t2@test", "")...)
	stream = append(stream, []byte("garbage between frames HEP")...) // includes a false start of a magic
	stream = append(stream, hepPacket("t3@test", "")...)
	bad := hepPacket("bad@test", "")
	bad[6+4], bad[6+5] = 0, 3 // a frame whose first chunk is broken: rejected, stream goes on
	stream = append(stream, bad...)
	stream = append(stream, hepPacket("t4@test", "")...)
	// Write in small pieces to exercise reassembly.
	for i := 0; i < len(stream); i += 7 {
		end := min(i+7, len(stream))
		if _, err := c.Write(stream[i:end]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "four frames", func() bool { return st.len() == 4 })
	ids := callIDs(t, st.all())
	want := []string{"t1@test", "t2@test", "t3@test", "t4@test"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", ids, want)
	}
	r := s.Stats().Rejected
	if r[ReasonTCPGarbage] != 1 || r["bad_chunk"] != 1 {
		t.Errorf("rejections %v", r)
	}
	var m record.Message
	if err := record.Decode(st.all()[0], &m); err != nil || m.Listener != record.ListenerTCP {
		t.Errorf("listener %v err %v", m.Listener, err)
	}
}

func TestTCPTruncatedFrameCounted(t *testing.T) {
	s, st := startServer(t, Config{})
	c, err := net.Dial("tcp", s.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	p := hepPacket("whole@test", "")
	c.Write(p)
	c.Write(hepPacket("cut@test", "")[:40])
	waitFor(t, "the whole frame", func() bool { return st.len() == 1 })
	c.Close()
	waitFor(t, "truncation counted", func() bool { return s.Stats().Rejected[ReasonTCPTrunc] == 1 })
	// A new connection still works.
	c2, err := net.Dial("tcp", s.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write(hepPacket("after@test", ""))
	waitFor(t, "the frame after", func() bool { return st.len() == 2 })
}

func TestTCPConnectionLimit(t *testing.T) {
	s, st := startServer(t, Config{MaxTCPConns: 2})
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", s.TCPAddrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitFor(t, "two open", func() bool { return s.Stats().TCPOpen == 2 })
	c3, err := net.Dial("tcp", s.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	waitFor(t, "the third refused", func() bool { return s.Stats().Rejected[ReasonTCPLimit] == 1 })
	conns[0].Write(hepPacket("still@test", ""))
	waitFor(t, "a frame on an open connection", func() bool { return st.len() == 1 })
}

func TestHEPv2AndHLOGFromOneSocket(t *testing.T) {
	s, st := startServer(t, Config{})
	v2 := hep.Packet{Version: 2, Family: 4, Proto: 17, Src: netip.MustParseAddrPort("127.0.0.20:5060"),
		Dst: netip.MustParseAddrPort("127.0.0.10:5060"), TsSec: 1_700_000_001, TsUsec: 5, CaptureID: 7,
		Payload: []byte(fmt.Sprintf(invite, "legacy@test"))}
	v1 := v2
	v1.Version = 1
	log := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: v2.Src, Dst: v2.Dst, TsSec: 1_700_000_002,
		ProtoType: 100, CorrelationID: []byte("legacy@test"), Payload: []byte("routing INVITE")}
	sendUDP(t, s.UDPAddrs()[0], hep.AppendV2(nil, &v2), hep.AppendV1(nil, &v1), hep.AppendV3(nil, &log))
	waitFor(t, "three records", func() bool { return st.len() == 3 })
	recs := st.all()
	var m record.Message
	for i, want := range []struct {
		version, typ uint8
	}{{2, 1}, {1, 1}, {3, 100}} {
		if err := record.Decode(recs[i], &m); err != nil {
			t.Fatal(err)
		}
		if m.Version != want.version || m.Type != want.typ {
			t.Errorf("record %d: version %d type %d, want %d %d", i, m.Version, m.Type, want.version, want.typ)
		}
	}
	if recs[0].Time != 1_700_000_001_000005 {
		t.Errorf("v2 capture time %d", recs[0].Time)
	}
}

func TestPlainSIPWithSiptraceHeaders(t *testing.T) {
	s, st := startServer(t, Config{SIPAddrs: []string{"127.0.0.1:0"}})
	msg := "OPTIONS sip:127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.20:5060;branch=z9hG4bK2\r\n" +
		"From: <sip:probe@x>;tag=9\r\nTo: <sip:127.0.0.10>\r\nCall-ID: dup@test\r\nCSeq: 1 OPTIONS\r\n" +
		"X-Siptrace-Fromip: udp:127.0.0.20:5060\r\nX-Siptrace-Toip: tcp:[2001:db8::1]:5061\r\n" +
		"X-Siptrace-Method: OPTIONS\r\nX-Siptrace-Dir: in\r\nContent-Length: 0\r\n\r\n"
	hlog := hep.AppendV3(nil, &hep.Packet{Version: 3, Family: 4, Proto: 17, Src: netip.MustParseAddrPort("127.0.0.10:5060"),
		Dst: netip.MustParseAddrPort("127.0.0.1:9"), TsSec: 1_700_000_000, ProtoType: 100,
		CorrelationID: []byte("dup@test"), Payload: []byte("log line")})
	sendUDP(t, s.SIPAddrs()[0], []byte(msg), []byte("\x16\x03\x01 not sip"), hlog)
	waitFor(t, "two records", func() bool { return st.len() == 2 })
	waitFor(t, "garbage rejected", func() bool { return s.Stats().Rejected[ReasonBadSIP] == 1 })
	var m record.Message
	if err := record.Decode(st.all()[0], &m); err != nil {
		t.Fatal(err)
	}
	if m.Kind != record.KindSIP || m.Src.String() != "127.0.0.20:5060" || m.Dst.String() != "[2001:db8::1]:5061" {
		t.Errorf("kind %d src %s dst %s", m.Kind, m.Src, m.Dst)
	}
	if string(m.SIP.CallID) != "dup@test" || m.Version != 0 {
		t.Errorf("call-id %q version %d", m.SIP.CallID, m.Version)
	}
	// The HEP log line sent to the same port is stored as HEP.
	if err := record.Decode(st.all()[1], &m); err != nil || m.Type != 100 || string(m.CorrID) != "dup@test" {
		t.Errorf("hlog on the SIP port: type %d corr %q err %v", m.Type, m.CorrID, err)
	}
}

func TestLooksLikeSIP(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"INVITE sip:a@b SIP/2.0\r\n", true},
		{"SIP/2.0 200 OK\r\n", true},
		{"FOO-BAR sip:x SIP/2.0\n", true},
		{"GET / HTTP/1.1\r\n", false},
		{"\r\n\r\n", false},
		{"", false},
		{"INVITE", false},
	} {
		if got := looksLikeSIP([]byte(c.in)); got != c.want {
			t.Errorf("looksLikeSIP(%q) = %v", c.in, got)
		}
	}
}

// A packet near the 64 KiB limit is stored whole over UDP and over TCP.
func TestLargePackets(t *testing.T) {
	s, st := startServer(t, Config{})
	body := strings.Repeat("a=x-large:0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 1000)
	msg := fmt.Sprintf(invite, "large@test")
	msg = strings.Replace(msg, "Content-Length: 0\r\n\r\n", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body), 1)
	p := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: netip.MustParseAddrPort("10.0.0.1:5060"),
		Dst: netip.MustParseAddrPort("10.0.0.2:5060"), TsSec: 1_700_000_000, ProtoType: 1, Payload: []byte(msg)}
	pkt := hep.AppendV3(nil, &p)
	if len(pkt) < 60000 || len(pkt) > 65507 {
		t.Fatalf("test packet of %d bytes", len(pkt))
	}
	sendUDP(t, s.UDPAddrs()[0], pkt)
	c, err := net.Dial("tcp", s.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(pkt)
	c.Write(hepPacket("after-large@test", ""))
	waitFor(t, "three records", func() bool { return st.len() == 3 })
	large := 0
	for _, r := range st.all() {
		var m record.Message
		if err := record.Decode(r, &m); err != nil {
			t.Fatal(err)
		}
		if string(m.SIP.CallID) == "large@test" {
			large++
			if len(m.Payload) != len(msg) {
				t.Errorf("listener %s: payload %d bytes, want %d", m.Listener, len(m.Payload), len(msg))
			}
		}
	}
	if large != 2 {
		t.Errorf("%d large packets stored, want 2", large)
	}
}

// A connection that sends only garbage and closes is counted once, as garbage,
// not also as a frame cut short.
func TestTCPGarbageOnlyCountedOnce(t *testing.T) {
	s, _ := startServer(t, Config{})
	c, err := net.Dial("tcp", s.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("this is not HEP at all, xyz"))
	c.Close()
	waitFor(t, "the garbage counted", func() bool { return s.Stats().Rejected[ReasonTCPGarbage] == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := s.Stats().Rejected[ReasonTCPTrunc]; n != 0 {
		t.Errorf("tcp_truncated = %d for a connection that sent no frame", n)
	}
}
