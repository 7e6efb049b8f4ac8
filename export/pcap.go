package export

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"traced/ingest/hep"
	"traced/ingest/record"
)

// PcapOptions tunes WritePcap. The zero value is the default export.
type PcapOptions struct {
	// HEP writes the messages that were not packets on the wire (every payload
	// type but SIP: RTCP reports, logs, ...) as HEPv3 packets in UDP datagrams
	// from port 9060 to port 9060. When false they are left out.
	HEP bool
	// MSS is the largest TCP segment payload; 0 means 1460 bytes over IPv4 and
	// 1440 over IPv6 (an Ethernet MTU of 1500). It is capped at 65495, the
	// most one IP packet can carry.
	MSS int
}

// HEPPort is the destination port of the HEP packets that PcapOptions.HEP
// writes.
const HEPPort = 9060

// Snaplen is the snapshot length in the file header: larger than any packet
// WritePcap writes, and Wireshark's own default.
const Snaplen = 262144

// IP protocol numbers of record.Message.Proto.
const (
	protoTCP  = 6
	protoUDP  = 17
	protoTLS  = 22 // Kamailio's fake protocol for decrypted TLS
	protoSCTP = 132
)

// Largest payloads that fit one IP packet (total length, or IPv6 payload
// length, at most 65535 bytes).
const (
	maxUDP4  = 65535 - 20 - 8
	maxUDP6  = 65535 - 8
	maxSCTP4 = 65535 - 20 - 12 - 16 - 3
	maxSCTP6 = 65535 - 12 - 16 - 3
)

// WritePcap writes msgs to w as a pcap file (see the package documentation
// for the format). Messages are written in capture-time order; nil messages
// are skipped. It returns the first error of w.
func WritePcap(w io.Writer, msgs []*record.Message, opts PcapOptions) error {
	pw := newPcapWriter(w, opts)
	if err := pw.pw.WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for _, m := range byTime(msgs) {
		if err := pw.message(m); err != nil {
			return err
		}
	}
	return pw.bw.Flush()
}

// pcapWriter holds the state of one export: the connections and associations
// seen so far, and the layers and buffers reused for every packet.
type pcapWriter struct {
	opts   PcapOptions
	bw     *bufio.Writer
	pw     *pcapgo.Writer
	buf    gopacket.SerializeBuffer
	last   int64 // capture time of the last packet written, µs
	ipID   uint16
	conns  map[pairKey]*tcpConn
	assocs map[pairKey]*sctpAssoc
	hep    []byte

	eth      layers.Ethernet
	ip4      layers.IPv4
	ip6      layers.IPv6
	udp      layers.UDP
	tcp      layers.TCP
	sctp     layers.SCTP
	chunk    layers.SCTPData
	payload  gopacket.Payload
	ls       [4]gopacket.SerializableLayer
	srcMAC   [6]byte
	dstMAC   [6]byte
	src, dst [16]byte
	synOpts  [3]layers.TCPOption
	mssOpt   [2]byte
	wsOpt    [1]byte
}

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

func newPcapWriter(w io.Writer, opts PcapOptions) *pcapWriter {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	return &pcapWriter{
		opts:   opts,
		bw:     bw,
		pw:     pcapgo.NewWriter(bw),
		buf:    gopacket.NewSerializeBufferExpectedSize(14+40+60, 1500),
		ipID:   1,
		conns:  make(map[pairKey]*tcpConn),
		assocs: make(map[pairKey]*sctpAssoc),
	}
}

// message writes the packets of one message.
func (pw *pcapWriter) message(m *record.Message) error {
	src, dst := endpoints(m.Src, m.Dst)
	if m.Type != 1 {
		if !pw.opts.HEP {
			return nil
		}
		return pw.hepPacket(m, netip.AddrPortFrom(src.Addr(), HEPPort), netip.AddrPortFrom(dst.Addr(), HEPPort))
	}
	switch m.Proto {
	case protoTCP, protoTLS:
		return pw.tcpMessage(m.Time, src, dst, m.Payload)
	case protoSCTP:
		return pw.sctpMessage(m.Time, src, dst, m.Payload)
	default:
		return pw.udpPacket(m.Time, src, dst, m.Payload)
	}
}

func (pw *pcapWriter) udpPacket(us int64, src, dst netip.AddrPort, payload []byte) error {
	limit := maxUDP4
	if src.Addr().Is6() {
		limit = maxUDP6
	}
	payload = payload[:min(len(payload), limit)]
	pw.udp = layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	pw.payload = payload
	return pw.packet(us, src.Addr(), dst.Addr(), layers.IPProtocolUDP, &pw.udp, &pw.payload)
}

// hepPacket writes a non-wire message as a HEPv3 packet over UDP from src to
// dst, without the sender's auth key and vendor chunks.
func (pw *pcapWriter) hepPacket(m *record.Message, src, dst netip.AddrPort) error {
	p := hep.Packet{
		Version:       3,
		Proto:         m.Proto,
		Src:           m.Src,
		Dst:           m.Dst,
		TsSec:         uint32(m.Time / 1e6),
		TsUsec:        uint32(m.Time % 1e6),
		ProtoType:     m.Type,
		CaptureID:     m.CaptureID,
		Payload:       m.Payload,
		CorrelationID: m.CorrID,
		NodeName:      m.Node,
	}
	limit := maxUDP4
	if src.Addr().Is6() {
		limit = maxUDP6
	}
	limit = min(limit, hep.MaxPacketLen)
	pw.hep = hep.AppendV3(pw.hep[:0], &p)
	if over := len(pw.hep) - limit; over > 0 {
		p.Payload = p.Payload[:max(0, len(p.Payload)-over)]
		pw.hep = hep.AppendV3(pw.hep[:0], &p)
	}
	return pw.udpPacket(m.Time, src, dst, pw.hep)
}

// sctpChecksum sets the CRC32c checksum of the SCTP packet b. gopacket's SCTP
// layer sums the packet without zeroing the checksum field first, so a reused
// buffer's old bytes would end up in the sum.
func sctpChecksum(b []byte) {
	clear(b[8:12])
	binary.LittleEndian.PutUint32(b[8:12], crc32.Checksum(b, castagnoli))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func ipHeaderLen(a netip.Addr) int {
	if a.Is4() {
		return 20
	}
	return 40
}

// packet serialises one Ethernet frame carrying transport (and inner, when
// not nil: the payload or an SCTP chunk) from src to dst, and writes it with
// the capture time us.
func (pw *pcapWriter) packet(us int64, src, dst netip.Addr, proto layers.IPProtocol, transport, inner gopacket.SerializableLayer) error {
	pw.srcMAC, pw.dstMAC = mac(src), mac(dst)
	pw.eth = layers.Ethernet{SrcMAC: pw.srcMAC[:], DstMAC: pw.dstMAC[:]}
	var ip gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if src.Is4() {
		pw.src, pw.dst = [16]byte{}, [16]byte{}
		s4, d4 := src.As4(), dst.As4()
		copy(pw.src[:], s4[:])
		copy(pw.dst[:], d4[:])
		pw.eth.EthernetType = layers.EthernetTypeIPv4
		pw.ip4 = layers.IPv4{
			Version: 4, TTL: 64, Id: pw.ipID, Protocol: proto,
			SrcIP: pw.src[:4], DstIP: pw.dst[:4],
		}
		if proto != layers.IPProtocolUDP {
			pw.ip4.Flags = layers.IPv4DontFragment
		}
		pw.ipID++
		ip, nl = &pw.ip4, &pw.ip4
	} else {
		pw.src, pw.dst = src.As16(), dst.As16()
		pw.eth.EthernetType = layers.EthernetTypeIPv6
		pw.ip6 = layers.IPv6{
			Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: pw.src[:], DstIP: pw.dst[:],
		}
		ip, nl = &pw.ip6, &pw.ip6
	}
	switch t := transport.(type) {
	case *layers.UDP:
		if err := t.SetNetworkLayerForChecksum(nl); err != nil {
			return err
		}
	case *layers.TCP:
		if err := t.SetNetworkLayerForChecksum(nl); err != nil {
			return err
		}
	}
	pw.ls[0], pw.ls[1], pw.ls[2] = &pw.eth, ip, transport
	ls := pw.ls[:3]
	if inner != nil {
		pw.ls[3] = inner
		ls = pw.ls[:4]
	}
	if err := gopacket.SerializeLayers(pw.buf, serializeOpts, ls...); err != nil {
		return fmt.Errorf("export: serialise packet %v -> %v: %w", src, dst, err)
	}
	pw.payload, pw.chunk.Payload = nil, nil // keep no reference to the caller's bytes
	data := pw.buf.Bytes()
	if proto == layers.IPProtocolSCTP {
		sctpChecksum(data[14+ipHeaderLen(src):])
	}
	ci := gopacket.CaptureInfo{Timestamp: time.UnixMicro(us), CaptureLength: len(data), Length: len(data)}
	if err := pw.pw.WritePacket(ci, data); err != nil {
		return err
	}
	pw.last = us
	return nil
}
