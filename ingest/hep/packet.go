package hep

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"
)

// Generic (vendor 0) HEPv3 chunk types, HEP specification rev 37.
const (
	ChunkFamily        = 0x0001 // uint8: 2 IPv4, 10 IPv6
	ChunkProto         = 0x0002 // uint8: IP protocol (17 UDP, 6 TCP, 132 SCTP, 22 fake "TLS")
	ChunkSrcIPv4       = 0x0003 // 4 bytes
	ChunkDstIPv4       = 0x0004 // 4 bytes
	ChunkSrcIPv6       = 0x0005 // 16 bytes
	ChunkDstIPv6       = 0x0006 // 16 bytes
	ChunkSrcPort       = 0x0007 // uint16
	ChunkDstPort       = 0x0008 // uint16
	ChunkTimeSec       = 0x0009 // uint32, seconds since the epoch
	ChunkTimeUsec      = 0x000a // uint32, microseconds
	ChunkProtoType     = 0x000b // uint8, see the Type* constants
	ChunkCaptureID     = 0x000c // uint32
	ChunkKeepAlive     = 0x000d // uint16, seconds
	ChunkAuthKey       = 0x000e // octets
	ChunkPayload       = 0x000f // octets
	ChunkCompressed    = 0x0010 // octets, gzip or zlib
	ChunkCorrelationID = 0x0011 // octets
	ChunkVLAN          = 0x0012 // uint16
	ChunkNodeName      = 0x0013 // octets
	ChunkSrcMAC        = 0x0014 // uint64 (6-byte MACs accepted)
	ChunkDstMAC        = 0x0015 // uint64 (6-byte MACs accepted)
	ChunkEthType       = 0x0016 // uint16
	ChunkTCPFlags      = 0x0017 // uint8
	ChunkTOS           = 0x0018 // uint8
	ChunkMOS           = 0x0020 // uint16
	ChunkRFactor       = 0x0021 // uint16
	ChunkGeo           = 0x0022 // octets
	ChunkJitter        = 0x0023 // uint32
	ChunkTxType        = 0x0024 // octets
	ChunkPayloadKeys   = 0x0025 // octets
	ChunkTags          = 0x0026 // octets
	ChunkTagType       = 0x0027 // uint16
	ChunkEventType     = 0x0028 // uint16
	ChunkGroupID       = 0x0029 // octets
)

// Protocol types (chunk 0x000b) in common use. Decode treats all values
// alike; these only name the ones the rest of traced cares about.
const (
	TypeSIP    = 1   // SIP
	TypeRTCP   = 5   // RTCP as JSON
	TypeRTCPXR = 35  // MOS short report / RTCP-XR as JSON
	TypeDNS    = 53  // DNS as JSON
	TypeLog    = 100 // a log line (Kamailio hlog, heplify SIPLOG)
)

// Packet is one decoded HEP packet. After Decode, its byte slices alias the
// decoded buffer: copy them, or keep the buffer, before reusing it.
type Packet struct {
	Version   uint8 // 1, 2 or 3
	Family    uint8 // 4 or 6
	Proto     uint8 // IP protocol: 17 UDP, 6 TCP, 132 SCTP, 22 Kamailio's fake "TLS", ...
	Src, Dst  netip.AddrPort
	TsSec     uint32 // capture time as sent, seconds
	TsUsec    uint32 // capture time as sent, microseconds
	TimeOK    bool   // false when the time is missing or implausible: use the arrival time
	ProtoType uint8  // chunk 0x0b; 1 (SIP) for v1/v2
	CaptureID uint32 // chunk 0x0c, normalised; v2: the u16 captid
	KeepAlive uint16 // chunk 0x0d

	AuthKey       []byte // chunk 0x0e
	Payload       []byte // chunk 0x0f, or the still-compressed bytes of chunk 0x10
	Compressed    bool   // Payload came from chunk 0x10: see PayloadBytes
	CorrelationID []byte // chunk 0x11

	VLAN        uint16 // chunk 0x12
	NodeName    []byte // chunk 0x13
	SrcMAC      uint64 // chunk 0x14
	DstMAC      uint64 // chunk 0x15
	EthType     uint16 // chunk 0x16
	TCPFlags    uint8  // chunk 0x17
	TOS         uint8  // chunk 0x18
	MOS         uint16 // chunk 0x20
	RFactor     uint16 // chunk 0x21
	Geo         []byte // chunk 0x22
	Jitter      uint32 // chunk 0x23
	TxType      []byte // chunk 0x24
	PayloadKeys []byte // chunk 0x25
	Tags        []byte // chunk 0x26
	TagType     uint16 // chunk 0x27
	EventType   uint16 // chunk 0x28
	GroupID     []byte // chunk 0x29

	// Vendor counts the chunks that were not interpreted: vendor id != 0,
	// unknown or reserved generic types, and optional numeric chunks of an
	// unexpected size. They stay in Raw; Chunks iterates them.
	Vendor int
	// Quirks records how the packet departed from the specification and
	// what the decoder normalised.
	Quirks Quirk
	// Raw is the whole packet as decoded.
	Raw []byte
}

// Time returns the capture time as sent (UTC), whether or not it is
// plausible; check TimeOK first.
func (p *Packet) Time() time.Time {
	return time.Unix(int64(p.TsSec), int64(p.TsUsec)*1000).UTC()
}

// Chunks calls fn for every chunk of a HEPv3 packet's Raw bytes, in wire
// order, including vendor and unknown chunks, until fn returns false. data
// aliases Raw. It does nothing for v1/v2 packets and stops at the first
// malformed chunk (which Decode would have rejected).
func (p *Packet) Chunks(fn func(vendor, typ uint16, data []byte) bool) {
	if p.Version != 3 || len(p.Raw) < hdrLen {
		return
	}
	b := p.Raw
	n := min(int(binary.BigEndian.Uint16(b[4:])), len(b))
	for off := hdrLen; n-off >= chunkHdrLen; {
		clen := int(binary.BigEndian.Uint16(b[off+4:]))
		if clen < chunkHdrLen || clen > n-off {
			return
		}
		vendor := binary.BigEndian.Uint16(b[off:])
		typ := binary.BigEndian.Uint16(b[off+2:])
		if !fn(vendor, typ, b[off+chunkHdrLen:off+clen:off+clen]) {
			return
		}
		off += clen
	}
}

// Quirk is a set of flags recording a sender's departures from the
// specification that Decode accepted and normalised.
type Quirk uint16

// The quirks. See the package documentation for when each is set.
const (
	QuirkEEP3          Quirk = 1 << iota // magic "EEP3" instead of "HEP3"
	QuirkCaptureIDHigh                   // capture id taken from the high 16 bits of chunk 0x0c (sngrep, sipgrep)
	QuirkFamily                          // family missing or not Linux's AF_INET/AF_INET6; normalised
	QuirkSrcMissing                      // no source address chunk: Src is the unspecified address
	QuirkDstMissing                      // no destination address chunk: Dst is the unspecified address
	QuirkTimeBigEndian                   // v2 time header read big-endian
	QuirkHeaderLen                       // v1/v2 header length byte not what C senders write
	numQuirks          = iota
)

var quirkNames = [numQuirks]string{
	"eep3", "capture_id_high", "family", "src_missing", "dst_missing", "time_big_endian", "header_len",
}

// Has reports whether every flag of f is set in q.
func (q Quirk) Has(f Quirk) bool { return q&f == f }

// Names returns the snake_case names of the flags set in q, in bit order.
func (q Quirk) Names() []string {
	var names []string
	for i, name := range quirkNames {
		if q&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if rest := q &^ (1<<numQuirks - 1); rest != 0 {
		names = append(names, "unknown")
	}
	return names
}

// String returns the names of the flags set in q joined by '|', or "none".
func (q Quirk) String() string {
	if q == 0 {
		return "none"
	}
	return strings.Join(q.Names(), "|")
}
