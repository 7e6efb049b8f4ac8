package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// seg is one TCP segment of a test stream: a byte range of the stream.
type seg struct {
	from, to int
	syn, fin bool
}

func TestTCPReassembly(t *testing.T) {
	a := sipMsg("INVITE", "tcp-a", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n")
	b := sipResp("200", "tcp-a")
	c := sipMsg("ACK", "tcp-a", "")
	stream := bytes.Join([][]byte{a, b, []byte("\r\n\r\n"), c}, nil) // a keep-alive between b and c
	ea, eb, ec := len(a), len(a)+len(b), len(stream)
	const isn = 0xfffffff0 // the sequence numbers wrap inside the stream
	for _, tc := range []struct {
		name  string
		segs  []seg
		want  []int // index of the segment completing each of a, b, c
		skips map[string]int
	}{
		{"one segment", []seg{{0, ec, false, false}}, []int{0, 0, 0}, nil},
		{"handshake then per message", []seg{{0, 0, true, false}, {0, ea, false, false}, {ea, eb, false, false}, {eb, ec, false, true}},
			[]int{1, 2, 3}, map[string]int{}},
		{"split everywhere", []seg{{0, 10, false, false}, {10, ea - 1, false, false}, {ea - 1, ea + 3, false, false}, {ea + 3, ec, false, false}},
			[]int{2, 3, 3}, nil},
		{"retransmission", []seg{{0, ea, false, false}, {0, ea, false, false}, {ea, ec, false, false}}, []int{0, 2, 2},
			map[string]int{SkipTCPRetrans: 1}},
		{"overlapping retransmission", []seg{{0, ea - 5, false, false}, {0, ea + 5, false, false}, {ea + 5, ec, false, false}},
			[]int{1, 2, 2}, nil},
		// Out of order after the handshake (without it, the first segment seen
		// is where the stream starts).
		{"out of order", []seg{{0, 0, true, false}, {ea, eb, false, false}, {eb, ec, false, false}, {0, ea, false, false}}, []int{3, 3, 3}, nil},
		{"out of order inside", []seg{{0, 20, false, false}, {40, ec, false, false}, {20, 40, false, false}}, []int{2, 2, 2}, nil},
		{"out of order and retransmitted", []seg{{0, 20, false, false}, {40, ec, false, false}, {40, ec, false, false}, {20, 40, false, false}},
			[]int{3, 3, 3}, map[string]int{SkipTCPRetrans: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var frames []frame
			for i, s := range tc.segs {
				seq := uint32(isn) + uint32(s.from)
				if !s.syn {
					seq++ // the SYN takes one
				}
				data := stream[s.from:s.to]
				frames = append(frames, frame{t0.Add(time.Duration(i) * time.Millisecond),
					ether(0x0800, tcpIP(t, "192.0.2.1", "192.0.2.2", 40000, 5060, seq, tcpFlags{syn: s.syn, fin: s.fin}, data))})
			}
			ms, sum := readBytes(t, writePcap(t, layers.LinkTypeEthernet, frames...))
			want := [][]byte{a, b, c}
			if len(ms) != len(want) {
				t.Fatalf("%d messages, want %d; summary %+v", len(ms), len(want), sum)
			}
			for i, m := range ms {
				if !bytes.Equal(m.Payload, want[i]) {
					t.Errorf("message %d: %q, want %q", i, m.Payload, want[i])
				}
				if at := t0.Add(time.Duration(tc.want[i]) * time.Millisecond); !m.Time.Equal(at) {
					t.Errorf("message %d at %v, want %v (segment %d)", i, m.Time, at, tc.want[i])
				}
				if m.Proto != ProtoTCP || m.Src.Port() != 40000 || m.Dst.Port() != 5060 {
					t.Errorf("message %d: proto %d %v→%v", i, m.Proto, m.Src, m.Dst)
				}
			}
			for r, n := range tc.skips {
				if sum.Skipped[r] != n {
					t.Errorf("skipped %v, want %s=%d", sum.Skipped, r, n)
				}
			}
			if sum.TCPStreams != 1 {
				t.Errorf("%d streams", sum.TCPStreams)
			}
		})
	}
}

func TestTCPMidStreamGapAndEnd(t *testing.T) {
	a := sipMsg("INVITE", "gap-a", "v=0\r\ns=-\r\n")
	b := sipMsg("BYE", "gap-b", "")
	c := sipMsg("MESSAGE", "gap-c", "hello there, a message body")
	stream := bytes.Join([][]byte{a, b, c}, nil)
	ea, eb := len(a), len(a)+len(b)
	seq := uint32(1000)
	pkt := func(from, to int) []byte {
		return ether(0x0800, tcpIP(t, "192.0.2.1", "192.0.2.2", 40000, 5060, seq+uint32(from), tcpFlags{}, stream[from:to]))
	}
	// The capture starts inside a: its tail is skipped, b is found. The
	// segment holding the start of c never comes: c's tail is held, given up
	// at the end of the file.
	frames := []frame{{t0, pkt(30, eb)}, {t0.Add(time.Millisecond), pkt(eb+10, len(stream))}}
	ms, sum := readBytes(t, writePcap(t, layers.LinkTypeEthernet, frames...))
	if len(ms) != 1 || !bytes.Equal(ms[0].Payload, b) {
		t.Fatalf("messages %d, summary %+v", len(ms), sum)
	}
	if sum.Skipped[SkipTCPNotSIP] != 1 || sum.Skipped[SkipTCPGap] != 1 {
		t.Errorf("skipped %v: want a's tail as not SIP and the hole before c's tail as a gap", sum.Skipped)
	}
	// A message cut by the end of the file.
	ms, sum = readBytes(t, writePcap(t, layers.LinkTypeEthernet, frame{t0, pkt(0, ea-4)}))
	if len(ms) != 0 || sum.Skipped[SkipTCPIncomplete] != 1 {
		t.Errorf("cut message: %d messages, skipped %v", len(ms), sum.Skipped)
	}
}

func TestTCPLimits(t *testing.T) {
	d := newDecoder()
	var got []Message
	d.emit = func(m Message) { got = append(got, m) }
	d.streams = newTCPStreams(d, tcpLimits{Streams: 2, Pending: 2})
	msg := sipMsg("OPTIONS", "lim", "")
	send := func(sport uint16, seq uint32, data []byte) {
		var tc layers.TCP
		if err := tc.DecodeFromBytes(tcpIP(t, "192.0.2.1", "192.0.2.2", sport, 5060, seq, tcpFlags{}, data)[20:], gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		d.streams.segment(&tc, ipA, ipB, t0)
	}
	send(1, 100, msg[:10])
	send(2, 100, msg[:10])
	send(3, 100, msg) // a third stream: the oldest is ended
	if len(d.streams.m) != 2 || d.sum.Skipped[SkipTCPStreams] != 1 || d.sum.Skipped[SkipTCPIncomplete] != 1 || len(got) != 1 {
		t.Errorf("%d streams, skipped %v, %d messages", len(d.streams.m), d.sum.Skipped, len(got))
	}
	// Held segments over the limit: the gap is given up and what follows read.
	send(4, 1000, []byte("x"))
	send(4, 1100, []byte("y"))
	send(4, 1200, []byte("z"))
	send(4, 1300, msg)
	if d.sum.Skipped[SkipTCPGap] != 1 || len(got) != 1 || len(d.streams.m[flowKey{addrPort(ipA, 4), addrPort(ipB, 5060)}].pending) != 2 {
		t.Errorf("skipped %v, %d messages", d.sum.Skipped, len(got))
	}
	d.flush()
	if len(d.streams.m) != 0 || len(got) != 2 || d.sum.Skipped[SkipTCPGap] != 3 {
		t.Errorf("after the end: %d streams, %d messages", len(d.streams.m), len(got))
	}
}

var ipA, ipB = mustAddr("192.0.2.1"), mustAddr("192.0.2.2")

// wsFrame builds a WebSocket frame; mask 0 sends it unmasked.
func wsFrame(fin bool, op byte, mask uint32, payload []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	m := byte(0)
	if mask != 0 {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	p := append([]byte(nil), payload...)
	if mask != 0 {
		k := binary.BigEndian.AppendUint32(nil, mask)
		b = append(b, k...)
		for i := range p {
			p[i] ^= k[i&3]
		}
	}
	return append(b, p...)
}

func TestWebSocket(t *testing.T) {
	upgrade := []byte("GET /ws HTTP/1.1\r\nHost: sip.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n")
	accept := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
	reg := sipMsg("REGISTER", "ws-1", "")
	big := sipMsg("MESSAGE", "ws-2", string(bytes.Repeat([]byte("z"), 300)))
	ok := sipResp("200", "ws-1")
	up := bytes.Join([][]byte{upgrade, wsFrame(true, 1, 0x11223344, reg), wsFrame(true, 9, 0x55667788, []byte("ping")),
		wsFrame(false, 1, 0x01020304, big[:100]), wsFrame(false, 0, 0x0a0b0c0d, big[100:250]), wsFrame(true, 0, 0x01010101, big[250:]),
		wsFrame(true, 2, 0x12345678, []byte("binary, not SIP"))}, nil)
	down := bytes.Join([][]byte{accept, wsFrame(true, 1, 0, ok), wsFrame(true, 8, 0, []byte{3, 232})}, nil)
	var frames []frame
	// The client's bytes in 50-byte segments, the server's in one.
	for i := 0; i < len(up); i += 50 {
		frames = append(frames, frame{t0.Add(time.Duration(i) * time.Microsecond),
			ether(0x0800, tcpIP(t, "192.0.2.1", "192.0.2.2", 50000, 443, uint32(1+i), tcpFlags{}, up[i:min(i+50, len(up))]))})
	}
	frames = append(frames, frame{t0.Add(time.Second), ether(0x0800, tcpIP(t, "192.0.2.2", "192.0.2.1", 443, 50000, 1, tcpFlags{}, down))})
	ms, sum := readBytes(t, writePcap(t, layers.LinkTypeEthernet, frames...))
	want := [][]byte{reg, big, ok}
	if len(ms) != len(want) {
		t.Fatalf("%d messages, summary %+v", len(ms), sum)
	}
	for i, m := range ms {
		if !bytes.Equal(m.Payload, want[i]) {
			t.Errorf("message %d: %q, want %q", i, m.Payload, want[i])
		}
	}
	if sum.Skipped[SkipWSControl] != 2 || sum.Skipped[SkipWSNotSIP] != 1 {
		t.Errorf("skipped %v", sum.Skipped)
	}
}

func TestSCTP(t *testing.T) {
	msg := sipMsg("INVITE", "sctp-1", string(bytes.Repeat([]byte("b"), 100)))
	data := func(flags byte, tsn uint32, stream uint16, user []byte) []byte {
		c := []byte{0, flags, 0, 0}
		binary.BigEndian.PutUint16(c[2:], uint16(16+len(user)))
		c = binary.BigEndian.AppendUint32(c, tsn)
		c = binary.BigEndian.AppendUint16(c, stream)
		c = append(c, 0, 0, 0, 0, 0, 0)
		c = append(c, user...)
		for len(c)%4 != 0 {
			c = append(c, 0)
		}
		return c
	}
	sctp := func(chunks ...[]byte) []byte {
		h := []byte{0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 0}
		return serialize(t, ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolSCTP), gopacket.Payload(append(h, bytes.Join(chunks, nil)...)))
	}
	sack := []byte{3, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 0}
	frames := []frame{
		{t0, ether(0x0800, sctp(data(3, 1, 0, msg), data(3, 2, 1, msg)))}, // two messages in one packet
		{t0.Add(time.Millisecond), ether(0x0800, sctp(sack))},
		{t0.Add(2 * time.Millisecond), ether(0x0800, sctp(data(2, 3, 0, msg[:50])))},
		{t0.Add(3 * time.Millisecond), ether(0x0800, sctp(data(0, 4, 0, msg[50:90])))},
		{t0.Add(4 * time.Millisecond), ether(0x0800, sctp(data(1, 5, 0, msg[90:])))},
		{t0.Add(5 * time.Millisecond), ether(0x0800, sctp(data(3, 6, 0, []byte("not sip"))))},
	}
	ms, sum := readBytes(t, writePcap(t, layers.LinkTypeEthernet, frames...))
	if len(ms) != 3 {
		t.Fatalf("%d messages, summary %+v", len(ms), sum)
	}
	for i, m := range ms {
		if !bytes.Equal(m.Payload, msg) || m.Proto != ProtoSCTP || m.Src.Port() != 5060 {
			t.Errorf("message %d: %d %v %q", i, m.Proto, m.Src, m.Payload)
		}
	}
	if !ms[2].Time.Equal(t0.Add(4*time.Millisecond)) || sum.Skipped[SkipSCTPControl] != 1 || sum.Skipped[SkipSCTPNotSIP] != 1 {
		t.Errorf("last at %v, skipped %v", ms[2].Time, sum.Skipped)
	}
}

func TestDetection(t *testing.T) {
	for _, c := range []struct {
		in   string
		sip  bool
		rtcp bool
	}{
		{"INVITE sip:bob@example.com SIP/2.0\r\n", true, false},
		{"OPTIONS sips:[2001:db8::1]:5061;transport=tls SIP/2.0\r\n", true, false},
		{"MESSAGE tel:+15551234 SIP/2.0\n", true, false},
		{"X-CUSTOM.1 urn:service:sos SIP/2.0\r\n", true, false},
		{"SIP/2.0 200 OK\r\n", true, false},
		{"SIP/2.0 100\r\n", true, false},
		{"SIP/2.0 2000 OK\r\n", false, false},
		{"HTTP/1.1 200 OK\r\n", false, false},
		{"GET / HTTP/1.1\r\n", false, false},
		{"INVITE sip:bob@example.com SIP/2.0", false, false}, // no line end
		{"INVITE bob SIP/2.0\r\n", false, false},
		{"INVITE sip:bob SIP/2.1\r\n", false, false},
		{"INV(TE sip:bob SIP/2.0\r\n", false, false},
		{"\x80\xc8\x00\x06\x00\x00\x00\x01" + string(make([]byte, 20)), false, true},
		{"\x80\xc9\x00\x01\x00\x00\x00\x01\x81\xca\x00\x01\x00\x00\x00\x01", false, true},
		{"\x80\xc9\x00\x01\x00\x00\x00\x01\x00\x00", false, true},                          // two bytes of trailer
		{"\x80\xc9\x00\x02\x00\x00\x00\x01", false, false},                                 // length past the end
		{"\x40\xc9\x00\x01\x00\x00\x00\x01", false, false},                                 // version 1
		{"\x80\xc0\x00\x01\x00\x00\x00\x01", false, false},                                 // FIR (192) first
		{"\x80\xc9\x00\x01\x00\x00\x00\x01\x80\x60\x00\x01\x00\x00\x00\x01", false, false}, // RTP after it
		{"\x80\x08\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02", false, false},                 // RTP
	} {
		if got := IsSIP([]byte(c.in)); got != c.sip {
			t.Errorf("IsSIP(%q) = %v", c.in, got)
		}
		if got := IsRTCP([]byte(c.in)); got != c.rtcp {
			t.Errorf("IsRTCP(%q) = %v", c.in, got)
		}
	}
}

func TestCouldStartAgreesWithIsStartLine(t *testing.T) {
	lines := []string{"INVITE sip:bob@example.com SIP/2.0", "SIP/2.0 180 Ringing", "SIP/2.0 200 Dé", "ACK sip:x SIP/2.0\r",
		"GET / HTTP/1.1", "INVITE sip:bob@example.com SIP/2.00", "SIP/2.0 20x", "A b:c SIP/2.0", "SIP/2.0 200"}
	for _, l := range lines {
		whole := IsStartLine([]byte(l))
		for i := 1; i <= len(l); i++ {
			if whole && !couldStart([]byte(l[:i])) {
				t.Errorf("couldStart(%q) = false, but %q is a start line", l[:i], l)
			}
		}
		if !whole && couldStart([]byte(l)) && IsStartLine([]byte(l)) {
			t.Errorf("%q", l)
		}
	}
	if couldStart([]byte("\x16\x03\x01")) || couldStart([]byte("INVITE  ")) || couldStart([]byte("SIP/2.0 2a")) {
		t.Error("couldStart accepts bytes no start line begins with")
	}
	_ = fmt.Sprint()
}
