package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
)

// maxDepth bounds nested encapsulations (VLAN tags, MPLS labels, tunnels).
const maxDepth = 16

// Link types seen in the wild that gopacket names differently or not at all.
const (
	linkRawOpenBSD = 12  // DLT_RAW on OpenBSD
	linkRawBSD     = 14  // DLT_RAW on BSD/OS
	linkIPv4Only   = 228 // LINKTYPE_IPV4
	linkIPv6Only   = 229 // LINKTYPE_IPV6
)

// EtherTypes handled beyond those gopacket names.
const (
	etherQinQOld   = 0x9100
	etherMPLS      = 0x8847
	etherMPLSMulti = 0x8848
	etherERSPAN2   = 0x88be
	etherERSPAN3   = 0x22eb
	etherTEB       = 0x6558 // transparent Ethernet bridging (GRE)
)

// decoder holds the per-file state of the packet path: the layer structs that
// decode in place, the fragment tables and the TCP streams.
type decoder struct {
	sum  Summary
	emit func(Message)

	eth  layers.Ethernet
	sll  layers.LinuxSLL
	sll2 layers.LinuxSLL2
	ip4  layers.IPv4
	ip6  layers.IPv6
	udp  layers.UDP
	tcp  layers.TCP
	gre  layers.GRE

	frag4     *ip4defrag.IPv4Defragmenter
	frag4Keys map[frag4Key]time.Time // datagrams being reassembled, for bounds and expiry
	frag6     *defrag6
	lastSweep time.Time

	streams *tcpStreams
	sctp    *sctpAssoc
}

func newDecoder() *decoder {
	d := &decoder{sum: Summary{Skipped: map[string]int{}}, frag4: ip4defrag.NewIPv4Defragmenter(),
		frag4Keys: map[frag4Key]time.Time{}, frag6: newDefrag6(defrag6Limits{})}
	d.streams = newTCPStreams(d, tcpLimits{})
	d.sctp = newSCTPAssoc()
	return d
}

func (d *decoder) skip(reason string) { d.sum.Skipped[reason]++ }

// yield hands one message to the reader, copying its payload.
func (d *decoder) yield(ts time.Time, proto uint8, src, dst netip.AddrPort, k Kind, payload []byte) {
	m := Message{Time: ts, Proto: proto, Src: src, Dst: dst, Kind: k, Payload: append([]byte(nil), payload...)}
	switch k {
	case KindSIP:
		d.sum.SIP++
	case KindRTCP:
		d.sum.RTCP++
	}
	if d.sum.First.IsZero() || ts.Before(d.sum.First) {
		d.sum.First = ts
	}
	if ts.After(d.sum.Last) {
		d.sum.Last = ts
	}
	d.emit(m)
}

// packet decodes one captured frame.
func (d *decoder) packet(lt layers.LinkType, data []byte, ts time.Time) {
	d.sweep(ts)
	switch lt {
	case layers.LinkTypeEthernet:
		d.ethernet(data, ts, 0)
	case layers.LinkTypeLinuxSLL:
		if d.sll.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			d.skip(SkipMalformed)
			return
		}
		d.ethertype(uint16(d.sll.EthernetType), d.sll.Payload, ts, 0)
	case layers.LinkTypeLinuxSLL2:
		if d.sll2.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			d.skip(SkipMalformed)
			return
		}
		d.ethertype(uint16(d.sll2.ProtocolType), d.sll2.Payload, ts, 0)
	case layers.LinkTypeRaw, linkRawOpenBSD, linkRawBSD, linkIPv4Only, linkIPv6Only:
		d.rawIP(data, ts, 0)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) < 4 {
			d.skip(SkipMalformed)
			return
		}
		fam := binary.LittleEndian.Uint32(data)
		if lt == layers.LinkTypeLoop || data[0] == 0 && data[1] == 0 {
			fam = binary.BigEndian.Uint32(data)
		}
		switch fam {
		case 2: // AF_INET
			d.ipv4(data[4:], ts, 0)
		case 10, 24, 28, 30: // AF_INET6 on Linux, the BSDs, macOS
			d.ipv6(data[4:], ts, 0)
		default:
			d.skip(SkipNotIP)
		}
	default:
		d.skip(SkipLinkType)
	}
}

func (d *decoder) ethernet(data []byte, ts time.Time, depth int) {
	if d.eth.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		d.skip(SkipMalformed)
		return
	}
	if d.eth.EthernetType < 0x0600 { // an 802.3 length: LLC (STP...), not IP
		d.skip(SkipNotIP)
		return
	}
	d.ethertype(uint16(d.eth.EthernetType), d.eth.Payload, ts, depth+1)
}

// ethertype dispatches a payload by its EtherType, through VLAN tags and MPLS.
func (d *decoder) ethertype(et uint16, data []byte, ts time.Time, depth int) {
	for ; depth < maxDepth; depth++ {
		switch et {
		case uint16(layers.EthernetTypeIPv4):
			d.ipv4(data, ts, depth)
			return
		case uint16(layers.EthernetTypeIPv6):
			d.ipv6(data, ts, depth)
			return
		case uint16(layers.EthernetTypeDot1Q), uint16(layers.EthernetTypeQinQ), etherQinQOld:
			if len(data) < 4 {
				d.skip(SkipMalformed)
				return
			}
			et, data = binary.BigEndian.Uint16(data[2:]), data[4:]
		case etherMPLS, etherMPLSMulti:
			for {
				if len(data) < 4 {
					d.skip(SkipMalformed)
					return
				}
				bottom := data[2]&1 == 1
				data = data[4:]
				if bottom {
					break
				}
			}
			d.rawIP(data, ts, depth)
			return
		default:
			d.skip(SkipNotIP)
			return
		}
	}
	d.skip(SkipTunnelDepth)
}

// rawIP is an IP packet whose version says which.
func (d *decoder) rawIP(data []byte, ts time.Time, depth int) {
	if len(data) == 0 {
		d.skip(SkipMalformed)
		return
	}
	switch data[0] >> 4 {
	case 4:
		d.ipv4(data, ts, depth)
	case 6:
		d.ipv6(data, ts, depth)
	default:
		d.skip(SkipNotIP)
	}
}

func (d *decoder) ipv4(data []byte, ts time.Time, depth int) {
	if depth >= maxDepth {
		d.skip(SkipTunnelDepth)
		return
	}
	ip := &d.ip4
	if ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil || ip.Version != 4 {
		d.skip(SkipMalformed)
		return
	}
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	src, dst = src.Unmap(), dst.Unmap()
	if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		whole, ok := d.defrag4(ip, ts)
		if !ok {
			return
		}
		d.sum.IPv4Reassembled++
		d.transport(uint8(whole.Protocol), src, dst, whole.Payload, ts, depth)
		return
	}
	d.transport(uint8(ip.Protocol), src, dst, ip.Payload, ts, depth)
}

func (d *decoder) ipv6(data []byte, ts time.Time, depth int) {
	if depth >= maxDepth {
		d.skip(SkipTunnelDepth)
		return
	}
	// The fixed header only: extension headers are walked here, so that the
	// fragment header is seen wherever it is.
	if len(data) < 40 || data[0]>>4 != 6 {
		d.skip(SkipMalformed)
		return
	}
	src := netip.AddrFrom16([16]byte(data[8:24]))
	dst := netip.AddrFrom16([16]byte(data[24:40]))
	plen := int(binary.BigEndian.Uint16(data[4:]))
	payload := data[40:]
	if plen != 0 && plen <= len(payload) {
		payload = payload[:plen]
	}
	nh := data[6]
	for {
		switch nh {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(payload) < 8 || len(payload) < (int(payload[1])+1)*8 {
				d.skip(SkipMalformed)
				return
			}
			n := (int(payload[1]) + 1) * 8
			nh, payload = payload[0], payload[n:]
			continue
		case 51: // authentication header
			if len(payload) < 8 || len(payload) < (int(payload[1])+2)*4 {
				d.skip(SkipMalformed)
				return
			}
			n := (int(payload[1]) + 2) * 4
			nh, payload = payload[0], payload[n:]
			continue
		case 44:
			if len(payload) < 8 {
				d.skip(SkipMalformed)
				return
			}
			fo := binary.BigEndian.Uint16(payload[2:])
			key := frag6Key{src: src, dst: dst, id: binary.BigEndian.Uint32(payload[4:])}
			whole, proto, res := d.frag6.add(key, int(fo&^7), fo&1 == 1, payload[0], payload[8:], ts)
			switch res {
			case fragPending:
				return
			case fragInvalid:
				d.skip(SkipFragInvalid)
				return
			case fragTableFull:
				d.skip(SkipFragTable)
				return
			}
			d.sum.IPv6Reassembled++
			d.transport(proto, src, dst, whole, ts, depth)
			return
		}
		break
	}
	d.transport(nh, src, dst, payload, ts, depth)
}

// transport dispatches an IP payload by its protocol.
func (d *decoder) transport(proto uint8, src, dst netip.Addr, data []byte, ts time.Time, depth int) {
	switch proto {
	case ProtoUDP:
		if d.udp.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			d.skip(SkipMalformed)
			return
		}
		payload := d.udp.Payload
		if l := int(d.udp.Length); l >= 8 && l-8 <= len(payload) {
			payload = payload[:l-8]
		}
		d.datagram(netip.AddrPortFrom(src, uint16(d.udp.SrcPort)), netip.AddrPortFrom(dst, uint16(d.udp.DstPort)), payload, ts)
	case ProtoTCP:
		if d.tcp.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			d.skip(SkipMalformed)
			return
		}
		d.streams.segment(&d.tcp, src, dst, ts)
	case ProtoSCTP:
		d.sctpPacket(src, dst, data, ts)
	case 4: // IPv4 in IP
		d.ipv4(data, ts, depth+1)
	case 41: // IPv6 in IP
		d.ipv6(data, ts, depth+1)
	case 47:
		d.greTunnel(data, ts, depth+1)
	default:
		d.skip(SkipOtherProto)
	}
}

// greTunnel decodes GRE and what it carries: IP, Ethernet (transparent
// bridging) or ERSPAN.
func (d *decoder) greTunnel(data []byte, ts time.Time, depth int) {
	if depth >= maxDepth {
		d.skip(SkipTunnelDepth)
		return
	}
	if d.gre.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		d.skip(SkipMalformed)
		return
	}
	p := d.gre.Payload
	switch uint16(d.gre.Protocol) {
	case etherTEB:
		d.ethernet(p, ts, depth)
	case etherERSPAN2:
		// Type I has no ERSPAN header (and no GRE sequence number); type II
		// has 8 bytes.
		if d.gre.SeqPresent {
			if len(p) < 8 {
				d.skip(SkipMalformed)
				return
			}
			p = p[8:]
		}
		d.ethernet(p, ts, depth)
	case etherERSPAN3:
		if len(p) < 12 {
			d.skip(SkipMalformed)
			return
		}
		n := 12
		if p[11]&1 == 1 { // O: an 8-byte platform specific subheader follows
			n += 8
		}
		if len(p) < n {
			d.skip(SkipMalformed)
			return
		}
		d.ethernet(p[n:], ts, depth)
	default:
		d.ethertype(uint16(d.gre.Protocol), p, ts, depth)
	}
}

// datagram judges one UDP payload.
func (d *decoder) datagram(src, dst netip.AddrPort, payload []byte, ts time.Time) {
	switch {
	case IsSIP(payload):
		d.yield(ts, ProtoUDP, src, dst, KindSIP, payload)
	case IsRTCP(payload):
		d.yield(ts, ProtoUDP, src, dst, KindRTCP, payload)
	case onlyCRLF(payload):
		d.skip(SkipKeepAlive)
	default:
		d.skip(SkipUDPOther)
	}
}

// sweep expires fragments and idle streams by capture time, at most once per
// capture second.
func (d *decoder) sweep(ts time.Time) {
	if ts.Sub(d.lastSweep) < time.Second && !ts.Before(d.lastSweep) {
		return
	}
	d.lastSweep = ts
	cut := ts.Add(-fragTimeout)
	if n := d.expire4(cut); n > 0 {
		d.sum.Skipped[SkipFragExpired] += n
	}
	if n := d.frag6.expire(cut); n > 0 {
		d.sum.Skipped[SkipFragExpired] += n
	}
	d.streams.expire(ts)
}

// flush ends the file: whatever is incomplete is counted.
func (d *decoder) flush() {
	if n := len(d.frag4Keys); n > 0 {
		d.sum.Skipped[SkipFragIncomplete] += n
	}
	if n := d.frag6.pending(); n > 0 {
		d.sum.Skipped[SkipFragIncomplete] += n
	}
	d.streams.flushAll()
	d.sctp.flush(d)
}
