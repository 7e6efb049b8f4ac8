package export

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/segment"
)

// base is the capture time of the fixtures' first message.
var base = time.Date(2026, 11, 23, 3, 5, 7, 123456000, time.UTC).UnixMicro()

// spec describes one stored message of a fixture.
type spec struct {
	at       int64 // µs after base
	proto    uint8
	typ      uint8
	src, dst string
	payload  string
}

// stored encodes s as the ingest path does (a HEPv3 packet in a stored
// record) and decodes it back into a Message.
func stored(tb testing.TB, s spec) *record.Message {
	tb.Helper()
	src, dst := netip.MustParseAddrPort(s.src), netip.MustParseAddrPort(s.dst)
	t := base + s.at
	p := hep.Packet{
		Version: 3, Proto: s.proto, Src: src, Dst: dst,
		TsSec: uint32(t / 1e6), TsUsec: uint32(t % 1e6),
		ProtoType: s.typ, CaptureID: 2001,
		AuthKey:  []byte("secret-key"),
		Payload:  []byte(s.payload),
		NodeName: []byte("edge-1"),
	}
	if s.typ != 1 {
		p.CorrelationID = []byte("udp-call-1@traced.test")
	}
	h := record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: t + 700,
		Agent: netip.MustParseAddrPort("198.51.100.7:47000")}
	data := record.Append(nil, &h, hep.AppendV3(nil, &p))
	m := new(record.Message)
	if err := record.Decode(segment.Record{Time: t, Data: data}, m); err != nil {
		tb.Fatalf("decode %s -> %s: %v", s.src, s.dst, err)
	}
	if m.Time != t || string(m.Payload) != s.payload {
		tb.Fatalf("decoded message differs from its spec: time %d, %d payload bytes", m.Time, len(m.Payload))
	}
	return m
}

func storedAll(tb testing.TB, specs []spec) []*record.Message {
	tb.Helper()
	out := make([]*record.Message, len(specs))
	for i, s := range specs {
		out[i] = stored(tb, s)
	}
	return out
}

// sipMsg builds a SIP message: start is the request or status line; body, when
// not empty, is sent as SDP with padding lines added until it has at least
// bodyLen bytes.
func sipMsg(start, callID string, cseq int, method, from, to, body string, bodyLen int) string {
	for len(body) < bodyLen {
		body += fmt.Sprintf("a=x-pad:%064d\r\n", len(body))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\r\n", start)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%d-%s\r\n", from, cseq, strings.ToLower(method))
	fmt.Fprintf(&b, "From: <sip:alice@%s>;tag=a1\r\n", from)
	fmt.Fprintf(&b, "To: <sip:bob@%s>\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", cseq, method)
	b.WriteString("Max-Forwards: 70\r\n")
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func sdp(ip string) string {
	return "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
}

// dialog is the messages of one call between a and b over proto: a sends the
// requests marked 'a', b the others. at is the first message's offset, step
// the gap between messages.
func dialog(callID string, proto uint8, a, b string, at, step int64, bigInvite, bigOK int) []spec {
	type leg struct {
		fromA         bool
		start, method string
		cseq          int
		body          bool
		bodyLen       int
	}
	legs := []leg{
		{true, "INVITE sip:bob@example.net SIP/2.0", "INVITE", 1, true, bigInvite},
		{false, "SIP/2.0 100 Trying", "INVITE", 1, false, 0},
		{false, "SIP/2.0 180 Ringing", "INVITE", 1, false, 0},
		{false, "SIP/2.0 200 OK", "INVITE", 1, true, bigOK},
		{true, "ACK sip:bob@example.net SIP/2.0", "ACK", 1, false, 0},
		{false, "BYE sip:alice@example.net SIP/2.0", "BYE", 1, false, 0},
		{true, "SIP/2.0 200 OK", "BYE", 1, false, 0},
	}
	var out []spec
	for i, l := range legs {
		src, dst := a, b
		if !l.fromA {
			src, dst = b, a
		}
		body := ""
		if l.body {
			body = sdp(netip.MustParseAddrPort(src).Addr().String())
		}
		out = append(out, spec{at: at + int64(i)*step, proto: proto, typ: 1, src: src, dst: dst,
			payload: sipMsg(l.start, callID, l.cseq, l.method, src, dst, body, l.bodyLen)})
	}
	return out
}

// fixture is a four-leg call with its RTCP report and a log line: SIP over
// UDP (with a 2.6 KB INVITE, a jumbo datagram), over TCP (with messages
// larger than an MSS, interleaved with the other legs), over IPv6 UDP, over
// Kamailio's decrypted TLS (protocol 22) on port 5061, and two messages over
// SCTP. No two messages share a capture time.
func fixture(tb testing.TB) []*record.Message {
	var specs []spec
	specs = append(specs, dialog("udp-call-1@traced.test", protoUDP, "10.0.0.1:5060", "10.0.0.2:5060", 0, 10_000, 2600, 0)...)
	specs = append(specs, dialog("tcp-call-2@traced.test", protoTCP, "192.168.1.10:40312", "192.168.1.20:5060", 3_001, 10_000, 3500, 1600)...)
	specs = append(specs, dialog("ipv6-call-3@traced.test", protoUDP, "[2001:db8::10]:5060", "[2001:db8::20]:5060", 6_002, 10_000, 0, 0)...)
	specs = append(specs, dialog("tls-call-5@traced.test", protoTLS, "10.0.0.2:38000", "10.0.0.9:5061", 1_500, 10_000, 0, 0)...)
	specs = append(specs,
		spec{at: 25_003, proto: protoSCTP, typ: 1, src: "10.0.0.5:5060", dst: "10.0.0.6:5060",
			payload: sipMsg("OPTIONS sip:ping@10.0.0.6 SIP/2.0", "sctp-call-4@traced.test", 7, "OPTIONS", "10.0.0.5:5060", "10.0.0.6:5060", "", 0)},
		spec{at: 25_904, proto: protoSCTP, typ: 1, src: "10.0.0.6:5060", dst: "10.0.0.5:5060",
			payload: sipMsg("SIP/2.0 200 OK", "sctp-call-4@traced.test", 7, "OPTIONS", "10.0.0.6:5060", "10.0.0.5:5060", "", 0)},
		spec{at: 45_005, proto: protoUDP, typ: 5, src: "10.0.0.1:10001", dst: "10.0.0.2:20001",
			payload: `{"type":200,"ssrc":305419896,"report_count":1,"report_blocks":[{"fraction_lost":0,"packets_lost":0,"ia_jitter":3}]}`},
		spec{at: 47_006, proto: protoUDP, typ: 100, src: "10.0.0.1:5060", dst: "10.0.0.2:5060",
			payload: "WARNING: <script>: call udp-call-1@traced.test answered after 30 ms"},
	)
	return storedAll(tb, specs)
}
