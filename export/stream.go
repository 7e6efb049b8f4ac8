package export

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Window scaling announced in the SYNs: every data segment advertises 65535
// << 14 bytes (1 GiB), so one-way traffic never looks like a full window.
const (
	windowShift = 14
	window      = 65535
)

// tcpConn is a synthetic TCP connection between two endpoints. Side 0 is the
// endpoint that opened it.
type tcpConn struct {
	ends [2]netip.AddrPort
	next [2]uint32 // the next sequence number each side sends
}

// sipPort reports whether p is a port SIP servers listen on.
func sipPort(p uint16) bool { return p == 5060 || p == 5061 }

func (c *tcpConn) side(src netip.AddrPort) int {
	if src == c.ends[0] {
		return 0
	}
	return 1
}

// maxMSS is the largest segment payload one IPv4 packet can carry.
const maxMSS = 65535 - 20 - 20

// mss is the largest segment payload that src sends.
func (pw *pcapWriter) mss(src netip.AddrPort) int {
	switch {
	case pw.opts.MSS > 0:
		return min(pw.opts.MSS, maxMSS)
	case src.Addr().Is4():
		return 1460
	}
	return 1440
}

// tcpMessage writes payload as data segments from src to dst, opening the
// connection first when it is new.
func (pw *pcapWriter) tcpMessage(us int64, src, dst netip.AddrPort, payload []byte) error {
	if len(payload) == 0 {
		return nil // a data segment needs data
	}
	key := keyOf(src, dst)
	c := pw.conns[key]
	if c == nil {
		c = &tcpConn{ends: [2]netip.AddrPort{src, dst}}
		if sipPort(src.Port()) && !sipPort(dst.Port()) {
			// The first message seen came from the listening side: the
			// other side, on its ephemeral port, opened the connection.
			c.ends = [2]netip.AddrPort{dst, src}
		}
		pw.conns[key] = c
		if err := pw.handshake(us, c); err != nil {
			return err
		}
	}
	s := c.side(src)
	mss := pw.mss(src)
	for off := 0; off < len(payload); off += mss {
		seg := payload[off:min(off+mss, len(payload))]
		last := off+len(seg) == len(payload)
		err := pw.segment(us, src, dst, tcpFlags{ack: true, psh: last}, c.next[s], c.next[1-s], seg)
		if err != nil {
			return err
		}
		c.next[s] += uint32(len(seg))
	}
	return nil
}

// handshake writes SYN, SYN-ACK and ACK for c just before us: 3, 2 and 1 µs
// earlier, but never earlier than the last packet written.
func (pw *pcapWriter) handshake(us int64, c *tcpConn) error {
	a, b := c.ends[0], c.ends[1]
	isnA, isnB := seed32(a, b, 'a'), seed32(a, b, 'b')
	at := func(d int64) int64 { return max(us-d, min(pw.last, us)) }
	if err := pw.segment(at(3), a, b, tcpFlags{syn: true}, isnA, 0, nil); err != nil {
		return err
	}
	if err := pw.segment(at(2), b, a, tcpFlags{syn: true, ack: true}, isnB, isnA+1, nil); err != nil {
		return err
	}
	if err := pw.segment(at(1), a, b, tcpFlags{ack: true}, isnA+1, isnB+1, nil); err != nil {
		return err
	}
	c.next = [2]uint32{isnA + 1, isnB + 1}
	return nil
}

type tcpFlags struct{ syn, ack, psh bool }

// segment writes one TCP segment. A SYN carries the MSS and window scale
// options and an unscaled window, as RFC 7323 requires.
func (pw *pcapWriter) segment(us int64, src, dst netip.AddrPort, f tcpFlags, seq, ack uint32, data []byte) error {
	pw.tcp = layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, SYN: f.syn, ACK: f.ack, PSH: f.psh,
		Window: window,
	}
	if f.syn {
		// NOP, MSS (4 bytes) and window scale (3 bytes): no padding needed.
		m := pw.mss(src)
		pw.mssOpt = [2]byte{byte(m >> 8), byte(m)}
		pw.wsOpt = [1]byte{windowShift}
		pw.synOpts = [3]layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: pw.mssOpt[:]},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: pw.wsOpt[:]},
		}
		pw.tcp.Options = pw.synOpts[:]
	}
	var inner gopacket.SerializableLayer
	if data != nil {
		pw.payload = data
		inner = &pw.payload
	}
	return pw.packet(us, src.Addr(), dst.Addr(), layers.IPProtocolTCP, &pw.tcp, inner)
}

// sctpAssoc is a synthetic SCTP association between two endpoints. Side 0 is
// the endpoint that sent the first message.
type sctpAssoc struct {
	ends [2]netip.AddrPort
	tag  [2]uint32 // the verification tag each side expects on what it receives
	tsn  [2]uint32 // the next TSN each side sends
	ssn  [2]uint16 // the next stream sequence number each side sends on stream 0
}

// sctpMessage writes payload as one SCTP packet with one unfragmented DATA
// chunk from src to dst.
func (pw *pcapWriter) sctpMessage(us int64, src, dst netip.AddrPort, payload []byte) error {
	if len(payload) == 0 {
		return nil // a DATA chunk needs user data
	}
	key := keyOf(src, dst)
	a := pw.assocs[key]
	if a == nil {
		a = &sctpAssoc{ends: [2]netip.AddrPort{src, dst}}
		for i := range 2 {
			a.tag[i] = seed32(src, dst, 't'+byte(i)) | 1 // a tag is never 0
			a.tsn[i] = seed32(src, dst, 's'+byte(i))
		}
		pw.assocs[key] = a
	}
	s := 0
	if src != a.ends[0] {
		s = 1
	}
	limit := maxSCTP4
	if src.Addr().Is6() {
		limit = maxSCTP6
	}
	payload = payload[:min(len(payload), limit)]
	pw.sctp = layers.SCTP{
		SrcPort: layers.SCTPPort(src.Port()), DstPort: layers.SCTPPort(dst.Port()),
		VerificationTag: a.tag[1-s],
	}
	pw.chunk = layers.SCTPData{
		SCTPChunk:      layers.SCTPChunk{Type: layers.SCTPChunkTypeData, Length: uint16(16 + len(payload))},
		BeginFragment:  true,
		EndFragment:    true,
		TSN:            a.tsn[s],
		StreamSequence: a.ssn[s],
		Payload:        payload,
	}
	a.tsn[s]++
	a.ssn[s]++
	return pw.packet(us, src.Addr(), dst.Addr(), layers.IPProtocolSCTP, &pw.sctp, &pw.chunk)
}
