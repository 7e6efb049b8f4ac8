package hep

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

const (
	hdrLen      = 6 // "HEP3" + u16 total length
	chunkHdrLen = 6 // vendor u16 + type u16 + length u16

	// MaxPacketLen is the largest HEPv3 packet: its length field is a u16.
	MaxPacketLen = 0xffff

	// Legacy (v1/v2) sizes: sizeof(struct hep_hdr), sizeof(struct
	// hep_timehdr) as C senders memcpy it (padded to 12).
	legacyHdrLen  = 8
	legacyTimeLen = 12

	// The plausibility window for capture times: [2000-01-01, 2100-01-01).
	minPlausibleSec = 946684800
	maxPlausibleSec = 4102444800

	afInet  = 2  // AF_INET, every system
	afInet6 = 10 // AF_INET6 on Linux, what the specification means
)

// Decode decodes the HEP packet b (v1, v2 or v3, one whole datagram or one
// TCP frame) into *p, which it resets first. The byte fields of p alias b.
// On error *p is left zeroed and the error is an *Error. Decode does not
// allocate when it succeeds and never panics; p must not be nil.
func Decode(b []byte, p *Packet) error {
	*p = Packet{}
	var err *Error
	switch {
	case len(b) == 0:
		err = newError(ReasonTruncated, 0, "empty packet")
	case b[0] == 1 || b[0] == 2:
		err = decodeLegacy(b, p)
	case b[0] == 'H' || b[0] == 'E':
		err = decodeV3(b, p)
	default:
		err = newError(ReasonBadMagic, 0, "not a HEP packet")
	}
	if err != nil {
		*p = Packet{}
		return err
	}
	return nil
}

// checkMagic classifies the first bytes of a would-be HEPv3 packet.
func checkMagic(b []byte) *Error {
	const magic = "HEP3"
	if len(b) < len(magic) {
		for i := range b {
			if b[i] != magic[i] && (i != 0 || b[i] != 'E') {
				return newError(ReasonBadMagic, 0, "not a HEP packet")
			}
		}
		return newError(ReasonTruncated, 0, "packet shorter than the HEP3 magic")
	}
	if (b[0] != 'H' && b[0] != 'E') || b[1] != 'E' || b[2] != 'P' {
		return newError(ReasonBadMagic, 0, "not a HEP packet")
	}
	if b[3] != '3' {
		return newError(ReasonUnknownVersion, 3, "HEP magic with a version other than 3")
	}
	return nil
}

// FrameLen returns the total length (6..65535) of the HEPv3 packet whose
// first bytes are hdr (at least 6, starting with "HEP3" or "EEP3"), for
// framing a TCP stream.
func FrameLen(hdr []byte) (int, error) {
	if err := checkMagic(hdr); err != nil {
		return 0, err
	}
	if len(hdr) < hdrLen {
		return 0, newError(ReasonTruncated, len(hdr), "HEP3 header shorter than 6 bytes")
	}
	n := int(binary.BigEndian.Uint16(hdr[4:]))
	if n < hdrLen {
		return 0, newError(ReasonBadLength, 4, "HEP3 length below 6")
	}
	return n, nil
}

// IndexMagic returns the index of the first "HEP3" or "EEP3" in b, or -1.
// A TCP reader resynchronises on it after a framing error.
func IndexMagic(b []byte) int {
	for from := 1; from < len(b); {
		i := bytes.Index(b[from:], []byte("EP3"))
		if i < 0 {
			return -1
		}
		i += from
		if c := b[i-1]; c == 'H' || c == 'E' {
			return i - 1
		}
		from = i + 1
	}
	return -1
}

func plausible(sec, usec uint32) bool {
	return sec >= minPlausibleSec && sec < maxPlausibleSec && usec < 1_000_000
}

// isAFInet6 reports whether f is AF_INET6 on some system: 10 Linux, 23
// Windows, 24 OpenBSD and NetBSD, 26 Solaris, 28 FreeBSD, 30 macOS.
func isAFInet6(f uint8) bool {
	switch f {
	case afInet6, 23, 24, 26, 28, 30:
		return true
	}
	return false
}

// decodeLegacy decodes HEPv1/v2 (struct hep_hdr, hep_iphdr or hep_ip6hdr,
// hep_timehdr for v2, then the payload).
func decodeLegacy(b []byte, p *Packet) *Error {
	if len(b) < legacyHdrLen {
		return newError(ReasonTruncated, len(b), "shorter than struct hep_hdr")
	}
	p.Version = b[0]
	var alen int
	switch fam := b[2]; {
	case fam == afInet:
		p.Family, alen = 4, 4
	case isAFInet6(fam):
		p.Family, alen = 6, 16
		if fam != afInet6 {
			p.Quirks |= QuirkFamily
		}
	default:
		return newError(ReasonBadAddress, 2, "unknown address family")
	}
	hl := legacyHdrLen + 2*alen
	if hpl := int(b[1]); hpl != hl && hpl != hl+legacyTimeLen {
		p.Quirks |= QuirkHeaderLen
	}
	if p.Version == 2 {
		hl += legacyTimeLen
	}
	if len(b) < hl {
		return newError(ReasonTruncated, len(b), "shorter than the HEPv1/v2 headers")
	}
	p.Proto = b[3]
	sport := binary.BigEndian.Uint16(b[4:])
	dport := binary.BigEndian.Uint16(b[6:])
	a := b[legacyHdrLen:]
	if alen == 4 {
		p.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), sport)
		p.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), dport)
	} else {
		p.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), sport)
		p.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), dport)
	}
	if p.Version == 2 {
		t := b[hl-legacyTimeLen : hl]
		le := binary.LittleEndian
		p.TsSec, p.TsUsec = le.Uint32(t), le.Uint32(t[4:])
		p.CaptureID = uint32(le.Uint16(t[8:]))
		p.TimeOK = plausible(p.TsSec, p.TsUsec)
		if !p.TimeOK {
			be := binary.BigEndian
			if sec, usec := be.Uint32(t), be.Uint32(t[4:]); plausible(sec, usec) {
				p.TsSec, p.TsUsec, p.TimeOK = sec, usec, true
				p.CaptureID = uint32(be.Uint16(t[8:]))
				p.Quirks |= QuirkTimeBigEndian
			}
		}
	}
	p.ProtoType = TypeSIP
	if len(b) == hl {
		return newError(ReasonNoPayload, hl, "nothing after the HEPv1/v2 headers")
	}
	p.Payload = b[hl:len(b):len(b)]
	p.Raw = b[:len(b):len(b)]
	return nil
}

// chunkKind says how a generic chunk type is decoded.
type chunkKind uint8

const (
	kindUnknown  chunkKind = iota // skipped, counted in Vendor
	kindFixed                     // fixed size, a wrong size is bad_chunk
	kindOptional                  // fixed size, a wrong size makes it unknown
	kindOctets                    // any size
)

// generic returns how the vendor-0 chunk type typ is decoded and its fixed
// size (0 for octets).
func generic(typ uint16) (chunkKind, int) {
	switch typ {
	case ChunkFamily, ChunkProto, ChunkProtoType:
		return kindFixed, 1
	case ChunkSrcPort, ChunkDstPort, ChunkVLAN:
		return kindFixed, 2
	case ChunkSrcIPv4, ChunkDstIPv4, ChunkTimeSec, ChunkTimeUsec, ChunkCaptureID:
		return kindFixed, 4
	case ChunkSrcIPv6, ChunkDstIPv6:
		return kindFixed, 16
	case ChunkTCPFlags, ChunkTOS:
		return kindOptional, 1
	case ChunkKeepAlive, ChunkEthType, ChunkMOS, ChunkRFactor, ChunkTagType, ChunkEventType:
		return kindOptional, 2
	case ChunkJitter:
		return kindOptional, 4
	case ChunkSrcMAC, ChunkDstMAC:
		return kindOptional, 8
	case ChunkAuthKey, ChunkPayload, ChunkCompressed, ChunkCorrelationID, ChunkNodeName,
		ChunkGeo, ChunkTxType, ChunkPayloadKeys, ChunkTags, ChunkGroupID:
		return kindOctets, 0
	}
	return kindUnknown, 0
}

// interpreted reports whether Decode stores the chunk (vendor, typ) with n
// data bytes in a Packet field, as opposed to counting it in Vendor.
func interpreted(vendor, typ uint16, n int) bool {
	if vendor != 0 {
		return false
	}
	switch kind, size := generic(typ); kind {
	case kindFixed, kindOctets:
		return true
	case kindOptional:
		return optionalSizeOK(size, n)
	}
	return false
}

// optionalSizeOK reports whether an optional numeric chunk of n data bytes
// has its expected size; MAC chunks (8 bytes) may also be bare 6-byte MACs.
func optionalSizeOK(size, n int) bool {
	return n == size || (size == 8 && n == 6)
}

// v3state collects what the chunk walk saw before addresses are resolved.
type v3state struct {
	family             uint8 // the family chunk's value, 0 if absent
	src4, dst4         []byte
	src6, dst6         []byte
	sport, dport       uint16
	havePlain, haveZip bool
	plain, zip         []byte
	rawCaptureID       uint32
	haveSec            bool
}

// decodeV3 decodes a HEPv3 packet.
func decodeV3(b []byte, p *Packet) *Error {
	if err := checkMagic(b); err != nil {
		return err
	}
	if b[0] == 'E' {
		p.Quirks |= QuirkEEP3
	}
	if len(b) < hdrLen {
		return newError(ReasonTruncated, len(b), "HEP3 header shorter than 6 bytes")
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n < hdrLen {
		return newError(ReasonBadLength, 4, "HEP3 length below 6")
	}
	if n != len(b) {
		return newError(ReasonBadLength, 4, "HEP3 length differs from the packet length")
	}
	p.Version = 3
	var s v3state
	be := binary.BigEndian
	for off := hdrLen; off < n; {
		if n-off < chunkHdrLen {
			return newError(ReasonBadChunk, off, "chunk header past the end")
		}
		clen := int(be.Uint16(b[off+4:]))
		if clen < chunkHdrLen {
			return newError(ReasonBadChunk, off, "chunk length below 6")
		}
		if clen > n-off {
			return newError(ReasonBadChunk, off, "chunk runs past the end")
		}
		vendor, typ := be.Uint16(b[off:]), be.Uint16(b[off+2:])
		d := b[off+chunkHdrLen : off+clen : off+clen]
		if vendor != 0 {
			p.Vendor++
			off += clen
			continue
		}
		switch kind, size := generic(typ); {
		case kind == kindFixed && len(d) != size:
			return newError(ReasonBadChunk, off, "fixed-size chunk of the wrong size")
		case kind == kindUnknown, kind == kindOptional && !optionalSizeOK(size, len(d)):
			p.Vendor++
		default:
			s.chunk(p, typ, d)
		}
		off += clen
	}
	p.Raw = b[:n:n]
	return s.finish(p)
}

// chunk stores one interpreted generic chunk, whose size is already checked.
func (s *v3state) chunk(p *Packet, typ uint16, d []byte) {
	be := binary.BigEndian
	switch typ {
	case ChunkFamily:
		s.family = d[0]
	case ChunkProto:
		p.Proto = d[0]
	case ChunkSrcIPv4:
		s.src4 = d
	case ChunkDstIPv4:
		s.dst4 = d
	case ChunkSrcIPv6:
		s.src6 = d
	case ChunkDstIPv6:
		s.dst6 = d
	case ChunkSrcPort:
		s.sport = be.Uint16(d)
	case ChunkDstPort:
		s.dport = be.Uint16(d)
	case ChunkTimeSec:
		p.TsSec, s.haveSec = be.Uint32(d), true
	case ChunkTimeUsec:
		p.TsUsec = be.Uint32(d)
	case ChunkProtoType:
		p.ProtoType = d[0]
	case ChunkCaptureID:
		s.rawCaptureID = be.Uint32(d)
	case ChunkKeepAlive:
		p.KeepAlive = be.Uint16(d)
	case ChunkAuthKey:
		p.AuthKey = d
	case ChunkPayload:
		s.plain, s.havePlain = d, true
	case ChunkCompressed:
		s.zip, s.haveZip = d, true
	case ChunkCorrelationID:
		p.CorrelationID = d
	case ChunkVLAN:
		p.VLAN = be.Uint16(d)
	case ChunkNodeName:
		p.NodeName = d
	case ChunkSrcMAC:
		p.SrcMAC = macValue(d)
	case ChunkDstMAC:
		p.DstMAC = macValue(d)
	case ChunkEthType:
		p.EthType = be.Uint16(d)
	case ChunkTCPFlags:
		p.TCPFlags = d[0]
	case ChunkTOS:
		p.TOS = d[0]
	case ChunkMOS:
		p.MOS = be.Uint16(d)
	case ChunkRFactor:
		p.RFactor = be.Uint16(d)
	case ChunkGeo:
		p.Geo = d
	case ChunkJitter:
		p.Jitter = be.Uint32(d)
	case ChunkTxType:
		p.TxType = d
	case ChunkPayloadKeys:
		p.PayloadKeys = d
	case ChunkTags:
		p.Tags = d
	case ChunkTagType:
		p.TagType = be.Uint16(d)
	case ChunkEventType:
		p.EventType = be.Uint16(d)
	case ChunkGroupID:
		p.GroupID = d
	}
}

// macValue reads a MAC chunk of 8 bytes (as specified) or 6 (a bare MAC).
func macValue(d []byte) uint64 {
	if len(d) == 8 {
		return binary.BigEndian.Uint64(d)
	}
	return uint64(binary.BigEndian.Uint16(d))<<32 | uint64(binary.BigEndian.Uint32(d[2:]))
}

// finish resolves payload, addresses, time and capture id once every chunk
// has been seen.
func (s *v3state) finish(p *Packet) *Error {
	switch {
	case s.havePlain:
		p.Payload = s.plain
	case s.haveZip:
		p.Payload, p.Compressed = s.zip, true
	default:
		return newError(ReasonNoPayload, hdrLen, "no payload chunk")
	}

	if err := s.addresses(p); err != nil {
		return err
	}

	p.TimeOK = s.haveSec && plausible(p.TsSec, p.TsUsec)

	p.CaptureID = s.rawCaptureID
	if lo, hi := s.rawCaptureID&0xffff, s.rawCaptureID>>16; lo == 0 && hi != 0 {
		p.CaptureID = hi
		p.Quirks |= QuirkCaptureIDHigh
	}
	return nil
}

// addresses picks the family and fills Src and Dst.
func (s *v3state) addresses(p *Packet) *Error {
	has4 := s.src4 != nil || s.dst4 != nil
	has6 := s.src6 != nil || s.dst6 != nil
	switch {
	case s.family == afInet:
		p.Family = 4
	case s.family == afInet6:
		p.Family = 6
	default:
		p.Quirks |= QuirkFamily
		switch {
		case has4 && has6:
			return newError(ReasonBadAddress, hdrLen, "IPv4 and IPv6 address chunks and no usable family chunk")
		case has4:
			p.Family = 4
		case has6:
			p.Family = 6
		}
	}
	switch {
	case !has4 && !has6:
		return newError(ReasonBadAddress, hdrLen, "no address chunk")
	case p.Family == 4 && !has4, p.Family == 6 && !has6:
		return newError(ReasonBadAddress, hdrLen, "family chunk contradicts the address chunks")
	case p.Family == 4 && ((s.src4 == nil && s.src6 != nil) || (s.dst4 == nil && s.dst6 != nil)),
		p.Family == 6 && ((s.src6 == nil && s.src4 != nil) || (s.dst6 == nil && s.dst4 != nil)):
		return newError(ReasonBadAddress, hdrLen, "source and destination of different families")
	}
	var src, dst netip.Addr
	if p.Family == 4 {
		src, dst = netip.IPv4Unspecified(), netip.IPv4Unspecified()
		if s.src4 != nil {
			src = netip.AddrFrom4([4]byte(s.src4))
		}
		if s.dst4 != nil {
			dst = netip.AddrFrom4([4]byte(s.dst4))
		}
		s.markMissing(p, s.src4, s.dst4)
	} else {
		src, dst = netip.IPv6Unspecified(), netip.IPv6Unspecified()
		if s.src6 != nil {
			src = netip.AddrFrom16([16]byte(s.src6))
		}
		if s.dst6 != nil {
			dst = netip.AddrFrom16([16]byte(s.dst6))
		}
		s.markMissing(p, s.src6, s.dst6)
	}
	p.Src = netip.AddrPortFrom(src, s.sport)
	p.Dst = netip.AddrPortFrom(dst, s.dport)
	return nil
}

func (s *v3state) markMissing(p *Packet, src, dst []byte) {
	if src == nil {
		p.Quirks |= QuirkSrcMissing
	}
	if dst == nil {
		p.Quirks |= QuirkDstMissing
	}
}
