// Package record owns the encoding of one stored packet (the Data of a
// segment.Record) and its decoding into a Message that the index, the search and
// the pages read.
//
// A stored record keeps the packet exactly as it was received (a HEP packet of any
// version, or a plain SIP message), preceded by a small header that says how it
// arrived. Nothing that the packet itself carries is duplicated in the header,
// except for plain SIP, which has no addresses of its own.
//
// Layout of Data (all integers big-endian):
//
//	kind      u8   1 = HEP packet, 2 = plain SIP
//	listener  u8   how it arrived: 1 UDP, 2 TCP, 3 TLS, 4 imported from a capture file
//	recv      i64  arrival time, Unix µs
//	agent     addr the sender's address (the HEP agent or SIP server)
//	[kind 2]  proto u8, src addr, dst addr   (from X-Siptrace-* headers or the socket)
//	payload        the packet as received
//
//	addr := len u8 (0, 4 or 16) | ip[len] | port u16
//
// Invariant: Decode never panics and never reads outside Data; a Message's slices
// alias the record's Data.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"traced/ingest/hep"
	"traced/ingest/sip"
	"traced/segment"
)

// Kind says what a record's payload is.
type Kind uint8

const (
	KindHEP Kind = 1 // a HEP packet (v1, v2 or v3) exactly as received
	KindSIP Kind = 2 // a plain SIP message received on the SIP listener
)

// Listener is the transport a packet arrived on at traced.
type Listener uint8

const (
	ListenerUDP Listener = 1
	ListenerTCP Listener = 2
	ListenerTLS Listener = 3
	// ListenerImport: HEP built from a capture file and sent over the control
	// socket (tracectl import).
	ListenerImport Listener = 4
)

func (l Listener) String() string {
	switch l {
	case ListenerUDP:
		return "udp"
	case ListenerTCP:
		return "tcp"
	case ListenerTLS:
		return "tls"
	case ListenerImport:
		return "import"
	}
	return fmt.Sprintf("listener(%d)", uint8(l))
}

// Header is what traced adds to a packet when it stores it.
type Header struct {
	Kind     Kind
	Listener Listener
	Recv     int64 // arrival time, Unix µs
	Agent    netip.AddrPort
	// For KindSIP only: the message's own addresses and IP protocol.
	Proto    uint8
	Src, Dst netip.AddrPort
}

// ErrCorrupt is returned for a record whose header cannot be decoded.
var ErrCorrupt = errors.New("corrupt record")

func appendAddr(dst []byte, a netip.AddrPort) []byte {
	ip := a.Addr()
	switch {
	case !ip.IsValid():
		dst = append(dst, 0)
	case ip.Is4() || ip.Is4In6():
		b := ip.Unmap().As4()
		dst = append(dst, 4)
		dst = append(dst, b[:]...)
	default:
		b := ip.As16()
		dst = append(dst, 16)
		dst = append(dst, b[:]...)
	}
	return binary.BigEndian.AppendUint16(dst, a.Port())
}

func readAddr(b []byte) (netip.AddrPort, []byte, bool) {
	if len(b) < 1 {
		return netip.AddrPort{}, nil, false
	}
	n := int(b[0])
	b = b[1:]
	if (n != 0 && n != 4 && n != 16) || len(b) < n+2 {
		return netip.AddrPort{}, nil, false
	}
	var ip netip.Addr
	switch n {
	case 4:
		ip = netip.AddrFrom4([4]byte(b[:4]))
	case 16:
		ip = netip.AddrFrom16([16]byte(b[:16]))
	}
	port := binary.BigEndian.Uint16(b[n:])
	return netip.AddrPortFrom(ip, port), b[n+2:], true
}

// Append appends the encoding of h and payload to dst.
func Append(dst []byte, h *Header, payload []byte) []byte {
	dst = append(dst, byte(h.Kind), byte(h.Listener))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.Recv))
	dst = appendAddr(dst, h.Agent)
	if h.Kind == KindSIP {
		dst = append(dst, h.Proto)
		dst = appendAddr(dst, h.Src)
		dst = appendAddr(dst, h.Dst)
	}
	return append(dst, payload...)
}

// Split decodes the header of data and returns it with the payload.
func Split(data []byte, h *Header) ([]byte, error) {
	*h = Header{}
	if len(data) < 10 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
	}
	h.Kind, h.Listener = Kind(data[0]), Listener(data[1])
	h.Recv = int64(binary.BigEndian.Uint64(data[2:]))
	rest := data[10:]
	var ok bool
	if h.Agent, rest, ok = readAddr(rest); !ok {
		return nil, fmt.Errorf("%w: agent address", ErrCorrupt)
	}
	switch h.Kind {
	case KindHEP:
	case KindSIP:
		if len(rest) < 1 {
			return nil, fmt.Errorf("%w: sip meta", ErrCorrupt)
		}
		h.Proto = rest[0]
		if h.Src, rest, ok = readAddr(rest[1:]); !ok {
			return nil, fmt.Errorf("%w: sip source", ErrCorrupt)
		}
		if h.Dst, rest, ok = readAddr(rest); !ok {
			return nil, fmt.Errorf("%w: sip destination", ErrCorrupt)
		}
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrCorrupt, h.Kind)
	}
	return rest, nil
}

// Message is a decoded stored record: the unified view of a HEP packet or a plain
// SIP message, with its SIP headers scanned when the payload is SIP.
type Message struct {
	Header
	Time int64 // capture time, Unix µs (the sender's, or the arrival time when it sent none)

	HEP hep.Packet // valid when Kind == KindHEP

	// The unified view.
	Version   uint8 // HEP version; 0 for plain SIP
	Type      uint8 // HEP payload type (1 SIP, 5 RTCP, 100 LOG, ...); 1 for plain SIP
	Proto     uint8 // IP protocol of the captured packet: 17 UDP, 6 TCP, 132 SCTP
	Src, Dst  netip.AddrPort
	CaptureID uint32
	Node      []byte // capture node name (HEP chunk 0x13)
	CorrID    []byte // HEP correlation id (chunk 0x11)
	Payload   []byte // the captured payload, inflated when it was sent compressed

	IsSIP bool        // the payload was scanned as SIP
	SIP   sip.Headers // valid when IsSIP
}

// Decode decodes the stored record r into m. A record whose payload is not valid SIP still decodes;
// only a record whose header or HEP packet cannot be decoded is an error.
func Decode(r segment.Record, m *Message) error {
	payload, err := Split(r.Data, &m.Header)
	if err != nil {
		return err
	}
	m.Time = r.Time
	m.IsSIP = false
	m.Node, m.CorrID = nil, nil
	switch m.Kind {
	case KindHEP:
		if err := hep.Decode(payload, &m.HEP); err != nil {
			return fmt.Errorf("decode stored hep: %w", err)
		}
		p := &m.HEP
		m.Version, m.Type, m.Proto = p.Version, p.ProtoType, p.Proto
		m.Src, m.Dst = p.Src, p.Dst
		m.CaptureID, m.Node, m.CorrID = p.CaptureID, p.NodeName, p.CorrelationID
		m.Payload = p.Payload
		if p.Compressed {
			pl, err := hep.PayloadBytes(p, nil)
			if err != nil {
				m.Payload = nil
			} else {
				m.Payload = pl
			}
		}
	case KindSIP:
		m.HEP = hep.Packet{}
		m.Version, m.Type, m.Proto = 0, 1, m.Header.Proto
		m.Src, m.Dst = m.Header.Src, m.Header.Dst
		m.CaptureID = 0
		m.Payload = payload
	}
	if m.Type == 1 {
		m.IsSIP = sip.Scan(m.Payload, &m.SIP) == nil || len(m.SIP.CallID) > 0
	}
	return nil
}

// TimeOf converts Unix µs to a time.Time in UTC.
func TimeOf(us int64) time.Time { return time.UnixMicro(us).UTC() }

// TypeName names a HEP payload type as admins know it.
func TypeName(t uint8) string {
	switch t {
	case 1:
		return "sip"
	case 5:
		return "rtcp"
	case 34:
		return "rtpagent"
	case 35:
		return "rtcpxr"
	case 53:
		return "dns"
	case 54:
		return "isup"
	case 100:
		return "log"
	}
	return fmt.Sprintf("%d", t)
}

// ProtoName names an IP protocol number.
func ProtoName(p uint8) string {
	switch p {
	case 17:
		return "udp"
	case 6:
		return "tcp"
	case 132:
		return "sctp"
	case 22:
		return "tls"
	case 0:
		return ""
	}
	return fmt.Sprintf("ip%d", p)
}
