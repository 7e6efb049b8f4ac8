package hep

import (
	"encoding/binary"
	"testing"
)

// v2 builds a Kamailio-layout HEPv2 IPv4 packet with the given raw time
// header bytes and payload.
func v2(timeHdr []byte, payload string) []byte {
	h := legacyHdr{hpV: 2, hpL: 16, hpF: 2, hpP: 17, sport: 5060, dport: 5060,
		src: []byte{192, 0, 2, 10}, dst: []byte{192, 0, 2, 20}}
	return append(append(h.bytes(), timeHdr...), payload...)
}

func legacyCases() []decodeCase {
	v4 := legacyHdr{hpV: 1, hpL: 16, hpF: 2, hpP: 17, sport: 5060, dport: 5060,
		src: []byte{192, 0, 2, 10}, dst: []byte{192, 0, 2, 20}}
	v6 := legacyHdr{hpV: 2, hpL: 40, hpF: 28, hpP: 17, sport: 5060, dport: 5062, src: v6a, dst: v6b}
	withHpL := func(h legacyHdr, l uint8) legacyHdr { h.hpL = l; return h }
	withFamily := func(h legacyHdr, f uint8) legacyHdr { h.hpF = f; return h }
	leTime := timeHdr(binary.LittleEndian, testSec, testUsec, 2001)
	fs := withHpL(v4, 28)
	fs.hpV = 2
	v2hpl28 := append(append(fs.bytes(), leTime...), shortSIP...)

	// 0x6a000040 (2026) little-endian and 0x4000006a (2004) big-endian
	// are both plausible seconds; only the microseconds tell them apart.
	ambiguousSec := []byte{0x40, 0, 0, 0x6a}
	leUsec := binary.LittleEndian.AppendUint32(nil, 123456)
	beUsec := binary.BigEndian.AppendUint32(nil, 123456)

	return []decodeCase{
		{name: "v1 IPv4 (Kamailio)", in: hepV1IPv4(), check: func(t *testing.T, p *Packet) {
			eq(t, "Version", p.Version, 1)
			eq(t, "Family", p.Family, 4)
			eq(t, "Proto", p.Proto, 17)
			eq(t, "Src", p.Src, ap("192.0.2.10:5060"))
			eq(t, "Dst", p.Dst, ap("192.0.2.20:5060"))
			eq(t, "TimeOK", p.TimeOK, false)
			eq(t, "TsSec", p.TsSec, 0)
			eq(t, "ProtoType", p.ProtoType, TypeSIP)
			eq(t, "CaptureID", p.CaptureID, 0)
			eqBytes(t, "Payload", p.Payload, registerSIP)
			eq(t, "Quirks", p.Quirks, 0)
		}},
		{name: "v1 IPv6 (Kamailio)", in: hepV1IPv6(), check: func(t *testing.T, p *Packet) {
			eq(t, "Version", p.Version, 1)
			eq(t, "Family", p.Family, 6)
			eq(t, "Src", p.Src, ap("[2001:db8::10]:5060"))
			eq(t, "Dst", p.Dst, ap("[2001:db8::20]:5062"))
			eqBytes(t, "Payload", p.Payload, okSIP)
			eq(t, "Quirks", p.Quirks, 0)
		}},
		{name: "v2 IPv4 little-endian time (Kamailio)", in: hepV2IPv4(), check: func(t *testing.T, p *Packet) {
			eq(t, "Version", p.Version, 2)
			eq(t, "Family", p.Family, 4)
			eq(t, "TsSec", p.TsSec, testSec)
			eq(t, "TsUsec", p.TsUsec, testUsec)
			eq(t, "TimeOK", p.TimeOK, true)
			eq(t, "CaptureID", p.CaptureID, 2001)
			eq(t, "ProtoType", p.ProtoType, TypeSIP)
			eqBytes(t, "Payload", p.Payload, registerSIP)
			eq(t, "Quirks", p.Quirks, 0)
		}},
		{name: "v2 big-endian time", in: hepV2BigEndianTime(), check: func(t *testing.T, p *Packet) {
			eq(t, "TsSec", p.TsSec, testSec)
			eq(t, "TsUsec", p.TsUsec, 654321)
			eq(t, "TimeOK", p.TimeOK, true)
			eq(t, "CaptureID", p.CaptureID, 77)
			eq(t, "Proto", p.Proto, 6)
			eq(t, "Quirks", p.Quirks, QuirkTimeBigEndian)
		}},
		{name: "v2 time implausible either way", in: v2(timeHdr(binary.LittleEndian, 5, 7, 3), shortSIP),
			check: func(t *testing.T, p *Packet) {
				eq(t, "TimeOK", p.TimeOK, false)
				eq(t, "TsSec", p.TsSec, 5)
				eq(t, "TsUsec", p.TsUsec, 7)
				eq(t, "CaptureID", p.CaptureID, 3)
				eq(t, "Quirks", p.Quirks, 0)
			}},
		{name: "v2 zero time", in: v2(make([]byte, 12), shortSIP), check: func(t *testing.T, p *Packet) {
			eq(t, "TimeOK", p.TimeOK, false)
		}},
		{name: "v2 microseconds pick little-endian", in: v2(append(append(append([]byte{}, ambiguousSec...), leUsec...), 1, 0, 0, 0), shortSIP),
			check: func(t *testing.T, p *Packet) {
				eq(t, "TsSec", p.TsSec, 0x6a000040)
				eq(t, "TsUsec", p.TsUsec, 123456)
				eq(t, "CaptureID", p.CaptureID, 1)
				eq(t, "Quirks", p.Quirks, 0)
			}},
		{name: "v2 microseconds pick big-endian", in: v2(append(append(append([]byte{}, ambiguousSec...), beUsec...), 0, 1, 0, 0), shortSIP),
			check: func(t *testing.T, p *Packet) {
				eq(t, "TsSec", p.TsSec, 0x4000006a)
				eq(t, "TsUsec", p.TsUsec, 123456)
				eq(t, "CaptureID", p.CaptureID, 1)
				eq(t, "Quirks", p.Quirks, QuirkTimeBigEndian)
			}},
		{name: "v2 IPv6 header length written by sngrep", in: sngrepV2IPv6(), check: func(t *testing.T, p *Packet) {
			eq(t, "Family", p.Family, 6)
			eq(t, "TsUsec", p.TsUsec, 999999)
			eq(t, "CaptureID", p.CaptureID, 42)
			eq(t, "Quirks", p.Quirks, QuirkHeaderLen)
			eqBytes(t, "Payload", p.Payload, okSIP)
		}},
		{name: "v2 header length including the time header (FreeSWITCH)", in: v2hpl28,
			check: func(t *testing.T, p *Packet) {
				eq(t, "Version", p.Version, 2)
				eq(t, "TimeOK", p.TimeOK, true)
				eq(t, "Quirks", p.Quirks, 0)
				eqBytes(t, "Payload", p.Payload, shortSIP)
			}},
		{name: "v1 header length byte garbage", in: append(withHpL(v4, 0xd3).bytes(), shortSIP...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Quirks", p.Quirks, QuirkHeaderLen)
				eqBytes(t, "Payload", p.Payload, shortSIP)
			}},
		{name: "v2 FreeBSD AF_INET6", in: append(append(v6.bytes(), leTime...), okSIP...), check: func(t *testing.T, p *Packet) {
			eq(t, "Family", p.Family, 6)
			eq(t, "Src", p.Src, ap("[2001:db8::10]:5060"))
			eq(t, "Quirks", p.Quirks, QuirkFamily)
			eq(t, "TimeOK", p.TimeOK, true)
		}},
		{name: "v1 Kamailio fake TLS protocol", in: append(legacyHdr{hpV: 1, hpL: 16, hpF: 2, hpP: 22, sport: 5061, dport: 5061,
			src: []byte{192, 0, 2, 10}, dst: []byte{192, 0, 2, 20}}.bytes(), shortSIP...),
			check: func(t *testing.T, p *Packet) { eq(t, "Proto", p.Proto, 22) }},

		{name: "v1 shorter than struct hep_hdr", in: []byte{1, 16, 2, 17, 0x13}, reason: ReasonTruncated, off: 5},
		{name: "v1 IPv6 addresses cut", in: withFamily(v4, 10).bytes(), reason: ReasonTruncated, off: 16},
		{name: "v2 time header cut", in: append(v2(nil, ""), 1, 2, 3), reason: ReasonTruncated, off: 19},
		{name: "v1 unknown family", in: append(withFamily(v4, 7).bytes(), shortSIP...), reason: ReasonBadAddress, off: 2},
		{name: "v1 no payload", in: v4.bytes(), reason: ReasonNoPayload, off: 16},
		{name: "v2 no payload", in: v2(leTime, ""), reason: ReasonNoPayload, off: 28},
	}
}
