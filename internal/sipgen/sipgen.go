// Package sipgen generates realistic SIP traffic as HEP packets, for benchmarks
// and load tests: calls of seven messages with SDP (INVITE, 100, 180, 200, ACK,
// BYE, 200), registrations and OPTIONS pings, each dialog with a unique Call-ID
// and X-Session-Id, about 600 bytes of SIP on average.
package sipgen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"traced/ingest/hep"
)

// Generator produces packets of dialogs one after another. It is not safe for
// concurrent use.
type Generator struct {
	rng     *rand.Rand
	start   time.Time
	n       int
	queue   [][]byte
	scratch []byte
	Dialogs int // dialogs started
}

// New returns a generator whose capture times start at start.
func New(seed uint64, start time.Time) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: start}
}

// Next returns the next HEPv3 packet. The slice is the caller's.
func (g *Generator) Next() []byte {
	if len(g.queue) == 0 {
		g.dialog()
	}
	p := g.queue[0]
	g.queue = g.queue[1:]
	return p
}

func (g *Generator) ip(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

func (g *Generator) dialog() {
	g.Dialogs++
	id := g.Dialogs
	callID := fmt.Sprintf("%016x-%d@pbx%d.example.net", g.rng.Uint64(), id, id%7)
	sess := fmt.Sprintf("%032x", g.rng.Uint64())
	a := fmt.Sprintf("+1555%07d", g.rng.IntN(10_000_000))
	b := fmt.Sprintf("+1444%07d", g.rng.IntN(10_000_000))
	ua := g.ip(1 + g.rng.IntN(5000))
	proxy := g.ip(1 << 16)
	gw := g.ip(2<<16 + g.rng.IntN(40))
	now := g.start.Add(time.Duration(g.n) * 150 * time.Microsecond)
	kind := g.rng.IntN(10)
	var msgs []string
	var flows [][2]netip.Addr
	switch {
	case kind < 7: // a call
		sdp := sdpBody(ua, 10000+2*g.rng.IntN(10000))
		inv := g.request("INVITE", b, a, b, callID, sess, 1, sdp)
		msgs = []string{inv, g.response(100, "Trying", a, b, callID, 1, "INVITE", ""),
			g.response(180, "Ringing", a, b, callID, 1, "INVITE", ""),
			g.response(200, "OK", a, b, callID, 1, "INVITE", sdpBody(gw, 20000+2*g.rng.IntN(10000))),
			g.request("ACK", b, a, b, callID, sess, 1, ""), g.request("BYE", b, a, b, callID, sess, 2, ""),
			g.response(200, "OK", a, b, callID, 2, "BYE", "")}
		flows = [][2]netip.Addr{{ua, proxy}, {proxy, ua}, {gw, proxy}, {gw, proxy}, {ua, proxy}, {ua, proxy}, {proxy, ua}}
	case kind < 9: // a registration
		msgs = []string{g.request("REGISTER", a, a, a, callID, sess, 1, ""),
			g.response(401, "Unauthorized", a, a, callID, 1, "REGISTER", ""),
			g.request("REGISTER", a, a, a, callID, sess, 2, ""),
			g.response(200, "OK", a, a, callID, 2, "REGISTER", "")}
		flows = [][2]netip.Addr{{ua, proxy}, {proxy, ua}, {ua, proxy}, {proxy, ua}}
	default: // OPTIONS
		msgs = []string{g.request("OPTIONS", "ping", "monitor", "ping", callID, sess, 1, ""),
			g.response(200, "OK", "monitor", "ping", callID, 1, "OPTIONS", "")}
		flows = [][2]netip.Addr{{proxy, gw}, {gw, proxy}}
	}
	for i, m := range msgs {
		t := now.Add(time.Duration(i) * 20 * time.Millisecond)
		p := hep.Packet{Version: 3, Family: 4, Proto: 17,
			Src: netip.AddrPortFrom(flows[i][0], 5060), Dst: netip.AddrPortFrom(flows[i][1], 5060),
			TsSec: uint32(t.Unix()), TsUsec: uint32(t.Nanosecond() / 1000), ProtoType: 1, CaptureID: 2001,
			NodeName: []byte("proxy1"), Payload: []byte(m)}
		g.queue = append(g.queue, hep.AppendV3(nil, &p))
	}
	g.n += len(msgs)
}

func (g *Generator) request(method, ruri, from, to, callID, sess string, cseq int, body string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s sip:%s@gw.example.net SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&s, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK%08x;rport\r\n", g.rng.Uint32())
	s.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&s, "From: \"%s\" <sip:%s@pbx.example.net>;tag=%08x\r\n", from, from, g.rng.Uint32())
	fmt.Fprintf(&s, "To: <sip:%s@gw.example.net>\r\n", to)
	fmt.Fprintf(&s, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, cseq, method)
	fmt.Fprintf(&s, "Contact: <sip:%s@10.0.0.1:5060>\r\n", from)
	fmt.Fprintf(&s, "X-Session-Id: %s\r\n", sess)
	s.WriteString("User-Agent: PBX-Example/16.4\r\nAllow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY\r\n")
	return finish(&s, body)
}

func (g *Generator) response(code int, reason, from, to, callID string, cseq int, method, body string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "SIP/2.0 %d %s\r\n", code, reason)
	fmt.Fprintf(&s, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK%08x;rport=5060\r\n", g.rng.Uint32())
	fmt.Fprintf(&s, "From: \"%s\" <sip:%s@pbx.example.net>;tag=%08x\r\n", from, from, g.rng.Uint32())
	fmt.Fprintf(&s, "To: <sip:%s@gw.example.net>;tag=%08x\r\n", to, g.rng.Uint32())
	fmt.Fprintf(&s, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, cseq, method)
	s.WriteString("Server: Gateway-Example/5.2\r\n")
	return finish(&s, body)
}

func finish(s *strings.Builder, body string) string {
	if body != "" {
		s.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(s, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return s.String()
}

func sdpBody(ip netip.Addr, port int) string {
	return fmt.Sprintf("v=0\r\no=- 3 2 IN IP4 %s\r\ns=call\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0 8 101\r\n"+
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n", ip, ip, port)
}
