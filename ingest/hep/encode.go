package hep

import (
	"encoding/binary"
	"net/netip"
)

// maxChunkData is the most data one chunk can carry.
const maxChunkData = MaxPacketLen - chunkHdrLen

// AppendV3 appends p encoded as HEPv3 ("HEP3") to dst and returns the
// extended slice.
//
// It always writes the core chunks every sender writes (family when known,
// IP protocol, both addresses and ports when the addresses are valid, time
// when not zero, protocol type, capture id), then each optional field that
// is set (non-zero numbers, non-nil byte slices, the payload as chunk 0x10
// when Compressed), then the vendor and unknown chunks of p.Raw when it is
// a HEPv3 packet. Byte fields longer than a chunk can hold are cut to
// 65529 bytes. A packet over 65535 bytes cannot be HEPv3: its length field
// is then written as 0, which Decode rejects.
func AppendV3(dst []byte, p *Packet) []byte {
	start := len(dst)
	dst = append(dst, 'H', 'E', 'P', '3', 0, 0)

	fam := encFamily(p)
	switch fam {
	case 4:
		dst = appendU8(dst, ChunkFamily, afInet)
	case 6:
		dst = appendU8(dst, ChunkFamily, afInet6)
	default:
		if p.Family != 0 {
			dst = appendU8(dst, ChunkFamily, p.Family)
		}
	}
	dst = appendU8(dst, ChunkProto, p.Proto)
	src, dstAddr := p.Src.Addr(), p.Dst.Addr()
	dst = appendAddr(dst, ChunkSrcIPv4, ChunkSrcIPv6, src)
	dst = appendAddr(dst, ChunkDstIPv4, ChunkDstIPv6, dstAddr)
	if src.IsValid() || dstAddr.IsValid() {
		dst = appendU16(dst, ChunkSrcPort, p.Src.Port())
		dst = appendU16(dst, ChunkDstPort, p.Dst.Port())
	}
	if p.TsSec != 0 || p.TsUsec != 0 {
		dst = appendU32(dst, ChunkTimeSec, p.TsSec)
		dst = appendU32(dst, ChunkTimeUsec, p.TsUsec)
	}
	dst = appendU8(dst, ChunkProtoType, p.ProtoType)
	dst = appendU32(dst, ChunkCaptureID, p.CaptureID)

	if p.KeepAlive != 0 {
		dst = appendU16(dst, ChunkKeepAlive, p.KeepAlive)
	}
	dst = appendOctets(dst, ChunkAuthKey, p.AuthKey)
	if p.Compressed {
		dst = appendOctets(dst, ChunkCompressed, p.Payload)
	} else {
		dst = appendOctets(dst, ChunkPayload, p.Payload)
	}
	dst = appendOctets(dst, ChunkCorrelationID, p.CorrelationID)
	if p.VLAN != 0 {
		dst = appendU16(dst, ChunkVLAN, p.VLAN)
	}
	dst = appendOctets(dst, ChunkNodeName, p.NodeName)
	if p.SrcMAC != 0 {
		dst = appendU64(dst, ChunkSrcMAC, p.SrcMAC)
	}
	if p.DstMAC != 0 {
		dst = appendU64(dst, ChunkDstMAC, p.DstMAC)
	}
	if p.EthType != 0 {
		dst = appendU16(dst, ChunkEthType, p.EthType)
	}
	if p.TCPFlags != 0 {
		dst = appendU8(dst, ChunkTCPFlags, p.TCPFlags)
	}
	if p.TOS != 0 {
		dst = appendU8(dst, ChunkTOS, p.TOS)
	}
	if p.MOS != 0 {
		dst = appendU16(dst, ChunkMOS, p.MOS)
	}
	if p.RFactor != 0 {
		dst = appendU16(dst, ChunkRFactor, p.RFactor)
	}
	dst = appendOctets(dst, ChunkGeo, p.Geo)
	if p.Jitter != 0 {
		dst = appendU32(dst, ChunkJitter, p.Jitter)
	}
	dst = appendOctets(dst, ChunkTxType, p.TxType)
	dst = appendOctets(dst, ChunkPayloadKeys, p.PayloadKeys)
	dst = appendOctets(dst, ChunkTags, p.Tags)
	if p.TagType != 0 {
		dst = appendU16(dst, ChunkTagType, p.TagType)
	}
	if p.EventType != 0 {
		dst = appendU16(dst, ChunkEventType, p.EventType)
	}
	dst = appendOctets(dst, ChunkGroupID, p.GroupID)

	p.Chunks(func(vendor, typ uint16, data []byte) bool {
		if !interpreted(vendor, typ, len(data)) {
			dst = appendChunk(dst, vendor, typ, data)
		}
		return true
	})

	if n := len(dst) - start; n <= MaxPacketLen {
		binary.BigEndian.PutUint16(dst[start+4:], uint16(n))
	}
	return dst
}

// encFamily is 4 or 6 from p.Family, or from the source address when
// Family is unset; 0 when neither says.
func encFamily(p *Packet) uint8 {
	switch p.Family {
	case 4, 6:
		return p.Family
	case 0:
		for _, a := range []netip.Addr{p.Src.Addr(), p.Dst.Addr()} {
			switch {
			case a.Is4():
				return 4
			case a.Is6():
				return 6
			}
		}
	}
	return 0
}

func appendChunk(dst []byte, vendor, typ uint16, data []byte) []byte {
	if len(data) > maxChunkData {
		data = data[:maxChunkData]
	}
	dst = binary.BigEndian.AppendUint16(dst, vendor)
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(chunkHdrLen+len(data)))
	return append(dst, data...)
}

func chunkHeader(dst []byte, typ uint16, n int) []byte {
	return append(dst, 0, 0, byte(typ>>8), byte(typ), byte((chunkHdrLen+n)>>8), byte(chunkHdrLen+n))
}

func appendU8(dst []byte, typ uint16, v uint8) []byte {
	return append(chunkHeader(dst, typ, 1), v)
}

func appendU16(dst []byte, typ uint16, v uint16) []byte {
	return binary.BigEndian.AppendUint16(chunkHeader(dst, typ, 2), v)
}

func appendU32(dst []byte, typ uint16, v uint32) []byte {
	return binary.BigEndian.AppendUint32(chunkHeader(dst, typ, 4), v)
}

func appendU64(dst []byte, typ uint16, v uint64) []byte {
	return binary.BigEndian.AppendUint64(chunkHeader(dst, typ, 8), v)
}

// appendOctets writes an octet chunk when data is non-nil (an empty, non-nil
// slice gives an empty chunk, as heplify sends an empty auth key).
func appendOctets(dst []byte, typ uint16, data []byte) []byte {
	if data == nil {
		return dst
	}
	return appendChunk(dst, 0, typ, data)
}

// appendAddr writes a as an IPv4 chunk when it is IPv4, as an IPv6 chunk
// otherwise, and nothing when it is invalid.
func appendAddr(dst []byte, t4, t6 uint16, a netip.Addr) []byte {
	switch {
	case a.Is4():
		b := a.As4()
		return append(chunkHeader(dst, t4, 4), b[:]...)
	case a.Is6():
		b := a.As16()
		return append(chunkHeader(dst, t6, 16), b[:]...)
	}
	return dst
}

// AppendV2 appends p encoded as HEPv2, byte for byte as Kamailio's siptrace
// writes it: struct hep_hdr with hp_l = 16 (IPv4) or 40 (IPv6), the address
// header, struct hep_timehdr with tv_sec, tv_usec and captid little-endian
// plus 2 zero padding bytes, then the payload. CaptureID is cut to 16 bits;
// the payload is written as is, even when Compressed.
func AppendV2(dst []byte, p *Packet) []byte { return appendLegacy(dst, p, 2) }

// AppendV1 appends p encoded as HEPv1: AppendV2 without the time header.
func AppendV1(dst []byte, p *Packet) []byte { return appendLegacy(dst, p, 1) }

// appendLegacy writes struct hep_hdr, hep_iphdr or hep_ip6hdr, for v2
// hep_timehdr, then the payload. The family is p.Family, or that of Src
// when Family is unset; an address not of that family is written as zeros.
func appendLegacy(dst []byte, p *Packet, version uint8) []byte {
	v6 := encFamily(p) == 6
	af, alen := uint8(afInet), 4
	if v6 {
		af, alen = afInet6, 16
	}
	dst = append(dst, version, uint8(legacyHdrLen+2*alen), af, p.Proto)
	dst = binary.BigEndian.AppendUint16(dst, p.Src.Port())
	dst = binary.BigEndian.AppendUint16(dst, p.Dst.Port())
	for _, a := range []netip.Addr{p.Src.Addr(), p.Dst.Addr()} {
		if v6 {
			var b [16]byte
			if a.Is6() {
				b = a.As16()
			}
			dst = append(dst, b[:]...)
		} else {
			var b [4]byte
			if a.Is4() || a.Is4In6() {
				b = a.As4()
			}
			dst = append(dst, b[:]...)
		}
	}
	if version == 2 {
		dst = binary.LittleEndian.AppendUint32(dst, p.TsSec)
		dst = binary.LittleEndian.AppendUint32(dst, p.TsUsec)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(p.CaptureID))
		dst = append(dst, 0, 0)
	}
	return append(dst, p.Payload...)
}
