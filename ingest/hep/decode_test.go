package hep

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// decodeCase is one Decode table entry. A rejection names its reason and
// the offset the *Error must report; a success runs check.
type decodeCase struct {
	name   string
	in     []byte
	reason Reason // ReasonNone: must decode
	off    int    // Error.Off of a rejection
	check  func(t *testing.T, p *Packet)
}

// allDecodeCases is every table input, also the fuzz seed corpus.
func allDecodeCases() []decodeCase {
	return append(v3Cases(), legacyCases()...)
}

func TestDecode(t *testing.T) {
	for _, tc := range allDecodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := Packet{Version: 9, Payload: []byte("stale"), Vendor: 7, Quirks: 1} // must be reset
			err := Decode(tc.in, &p)
			if got := ReasonOf(err); got != tc.reason {
				t.Fatalf("reason = %v, want %v (err %v)", got, tc.reason, err)
			}
			if tc.reason != ReasonNone {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T is not *Error", err)
				}
				if e.Off != tc.off {
					t.Errorf("offset = %d, want %d (%v)", e.Off, tc.off, err)
				}
				if !reflect.DeepEqual(p, Packet{}) {
					t.Errorf("packet not zeroed after a rejection: %+v", p)
				}
				return
			}
			if len(p.Raw) != len(tc.in) || &p.Raw[0] != &tc.in[0] {
				t.Errorf("Raw does not alias the whole input")
			}
			unknown := 0
			p.Chunks(func(vendor, typ uint16, data []byte) bool {
				if !interpreted(vendor, typ, len(data)) {
					unknown++
				}
				return true
			})
			if unknown != p.Vendor {
				t.Errorf("Vendor = %d, but Chunks sees %d uninterpreted chunks", p.Vendor, unknown)
			}
			if tc.check != nil {
				tc.check(t, &p)
			}
		})
	}
}

// eq fails the test when got != want.
func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqBytes(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if got == nil || string(got) != want {
		t.Errorf("%s = %q (nil %v), want %q", what, got, got == nil, want)
	}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// Offsets used by the rejection cases: the HEP3 header is 6 bytes and the
// coreV4 chunks take 87, so a chunk appended to them starts at 93.
const afterCore = hdrLen + 87

func v3Cases() []decodeCase {
	sip := cs(ChunkPayload, shortSIP)
	return []decodeCase{
		{name: "spec rev37 test vector", in: specRev37(), check: func(t *testing.T, p *Packet) {
			eq(t, "Version", p.Version, 3)
			eq(t, "Family", p.Family, 4)
			eq(t, "Proto", p.Proto, 17)
			eq(t, "Src", p.Src, ap("212.202.0.1:12010"))
			eq(t, "Dst", p.Dst, ap("82.116.0.211:5060"))
			eq(t, "TsSec", p.TsSec, 1313440459)
			eq(t, "TsUsec", p.TsUsec, 120000)
			eq(t, "TimeOK", p.TimeOK, true)
			eq(t, "ProtoType", p.ProtoType, TypeSIP)
			eq(t, "CaptureID", p.CaptureID, 228)
			eqBytes(t, "Payload", p.Payload, "INVITE sip:bob")
			eq(t, "Compressed", p.Compressed, false)
			eq(t, "AuthKey nil", p.AuthKey == nil, true)
			eq(t, "CorrelationID nil", p.CorrelationID == nil, true)
			eq(t, "Vendor", p.Vendor, 0)
			eq(t, "Quirks", p.Quirks, 0)
			eq(t, "len(Raw)", len(p.Raw), 113)
		}},
		{name: "EEP3 magic", in: v3("EEP3", with(sip)...), check: func(t *testing.T, p *Packet) {
			eq(t, "Version", p.Version, 3)
			eq(t, "QuirkEEP3", p.Quirks, QuirkEEP3)
			eqBytes(t, "Payload", p.Payload, shortSIP)
		}},
		{name: "vendor chunk skipped and counted", in: v3("HEP3", with(
			chunk{vendor: 4, typ: ChunkPayload, data: []byte("asterisk private")}, sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Vendor", p.Vendor, 1)
				eqBytes(t, "Payload", p.Payload, shortSIP)
			}},
		{name: "vendor chunk is not a payload", reason: ReasonNoPayload, off: hdrLen,
			in: v3("HEP3", with(chunk{vendor: 4, typ: ChunkPayload, data: []byte(shortSIP)})...)},
		{name: "unknown generic types counted", in: v3("HEP3", with(
			cs(0x0000, "type zero"), cs(0x0019, "reserved"), cs(0x7777, "future"), sip)...),
			check: func(t *testing.T, p *Packet) { eq(t, "Vendor", p.Vendor, 3) }},
		{name: "optional chunk of the wrong size kept raw", in: v3("HEP3", with(
			cb(ChunkMOS, []byte{1, 2, 3}), cb(ChunkKeepAlive, []byte{5}), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Vendor", p.Vendor, 2)
				eq(t, "MOS", p.MOS, 0)
				eq(t, "KeepAlive", p.KeepAlive, 0)
			}},
		{name: "six and eight byte MACs", in: v3("HEP3", with(
			cb(ChunkSrcMAC, []byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}),
			cb(ChunkDstMAC, []byte{0, 0, 0x02, 0x42, 0xac, 0x11, 0, 0x02}), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "SrcMAC", p.SrcMAC, 0xaabbccddeeff)
				eq(t, "DstMAC", p.DstMAC, 0x0242ac110002)
				eq(t, "Vendor", p.Vendor, 0)
			}},
		{name: "every extension chunk", in: v3("HEP3", with(
			c16(ChunkKeepAlive, 5), cs(ChunkAuthKey, "key"), sip, cs(ChunkCorrelationID, "cid@host"),
			c16(ChunkVLAN, 100), cs(ChunkNodeName, "node1"),
			cb(ChunkSrcMAC, []byte{0, 0, 1, 2, 3, 4, 5, 6}), cb(ChunkDstMAC, []byte{0, 0, 6, 5, 4, 3, 2, 1}),
			c16(ChunkEthType, 0x0800), c8(ChunkTCPFlags, 0x12), c8(ChunkTOS, 0x2e),
			c16(ChunkMOS, 420), c16(ChunkRFactor, 93), cs(ChunkGeo, "52.5,13.4"), c32(ChunkJitter, 7),
			cs(ChunkTxType, "call"), cs(ChunkPayloadKeys, `["mos"]`), cs(ChunkTags, `{"a":"b"}`),
			c16(ChunkTagType, 3), c16(ChunkEventType, 1), cs(ChunkGroupID, "grp"))...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "KeepAlive", p.KeepAlive, 5)
				eqBytes(t, "AuthKey", p.AuthKey, "key")
				eqBytes(t, "CorrelationID", p.CorrelationID, "cid@host")
				eq(t, "VLAN", p.VLAN, 100)
				eqBytes(t, "NodeName", p.NodeName, "node1")
				eq(t, "SrcMAC", p.SrcMAC, 0x010203040506)
				eq(t, "DstMAC", p.DstMAC, 0x060504030201)
				eq(t, "EthType", p.EthType, 0x0800)
				eq(t, "TCPFlags", p.TCPFlags, 0x12)
				eq(t, "TOS", p.TOS, 0x2e)
				eq(t, "MOS", p.MOS, 420)
				eq(t, "RFactor", p.RFactor, 93)
				eqBytes(t, "Geo", p.Geo, "52.5,13.4")
				eq(t, "Jitter", p.Jitter, 7)
				eqBytes(t, "TxType", p.TxType, "call")
				eqBytes(t, "PayloadKeys", p.PayloadKeys, `["mos"]`)
				eqBytes(t, "Tags", p.Tags, `{"a":"b"}`)
				eq(t, "TagType", p.TagType, 3)
				eq(t, "EventType", p.EventType, 1)
				eqBytes(t, "GroupID", p.GroupID, "grp")
				eq(t, "Vendor", p.Vendor, 0)
			}},
		{name: "empty payload and empty auth key accepted", in: v3("HEP3", with(cs(ChunkAuthKey, ""), cs(ChunkPayload, ""))...),
			check: func(t *testing.T, p *Packet) {
				eqBytes(t, "Payload", p.Payload, "")
				eqBytes(t, "AuthKey", p.AuthKey, "")
			}},
		{name: "plain payload wins over compressed", in: v3("HEP3", with(cb(ChunkCompressed, gzipped("zipped")), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Compressed", p.Compressed, false)
				eqBytes(t, "Payload", p.Payload, shortSIP)
			}},
		{name: "compressed payload left compressed", in: v3("HEP3", with(cb(ChunkCompressed, gzipped(inviteSIP)))...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Compressed", p.Compressed, true)
				eqBytes(t, "Payload", p.Payload, string(gzipped(inviteSIP)))
			}},
		{name: "repeated chunk: the last wins", in: v3("HEP3", with(c32(ChunkCaptureID, 9), cs(ChunkNodeName, "a"), cs(ChunkNodeName, "b"), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "CaptureID", p.CaptureID, 9)
				eqBytes(t, "NodeName", p.NodeName, "b")
			}},
		{name: "protocol type 0 at the end of a heplify TCP session", in: v3("HEP3", with(c8(ChunkProtoType, 0), cs(ChunkPayload, ""))...),
			check: func(t *testing.T, p *Packet) { eq(t, "ProtoType", p.ProtoType, 0) }},
		{name: "RTCP JSON type 5 with correlation id", in: rtcpV3(), check: func(t *testing.T, p *Packet) {
			eq(t, "ProtoType", p.ProtoType, TypeRTCP)
			eqBytes(t, "Payload", p.Payload, rtcpJSON)
			eqBytes(t, "CorrelationID", p.CorrelationID, "a84b4c76e66710@pc33.example.com")
			eq(t, "Src", p.Src, ap("192.0.2.10:49171"))
		}},
		{name: "RTCP-XR type 35", in: v3("HEP3", with(c8(ChunkProtoType, TypeRTCPXR), cs(ChunkPayload, `{"mos":4.1}`))...),
			check: func(t *testing.T, p *Packet) { eq(t, "ProtoType", p.ProtoType, TypeRTCPXR) }},
		{name: "LOG type 100 from Kamailio hlog", in: logV3(), check: func(t *testing.T, p *Packet) {
			eq(t, "ProtoType", p.ProtoType, TypeLog)
			eqBytes(t, "Payload", p.Payload, logLine)
			eq(t, "Src", p.Src, ap("127.0.0.10:5060"))
			eq(t, "Dst", p.Dst, ap("127.0.0.1:9060"))
		}},
		{name: "unlisted type 200", in: v3("HEP3", with(c8(ChunkProtoType, 200), sip)...),
			check: func(t *testing.T, p *Packet) { eq(t, "ProtoType", p.ProtoType, 200) }},
		{name: "capture id in the high half (sngrep)", in: sngrepV3(), check: func(t *testing.T, p *Packet) {
			eq(t, "CaptureID", p.CaptureID, 2001)
			eq(t, "Quirks", p.Quirks, QuirkCaptureIDHigh)
		}},
		{name: "capture id in the low half", in: v3("HEP3", with(cb(ChunkCaptureID, []byte{0, 0, 0x07, 0xd1}), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "CaptureID", p.CaptureID, 2001)
				eq(t, "Quirks", p.Quirks, 0)
			}},
		{name: "capture id using both halves", in: v3("HEP3", with(c32(ChunkCaptureID, 0x00010001), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "CaptureID", p.CaptureID, 65537)
				eq(t, "Quirks", p.Quirks, 0)
			}},
		{name: "capture id zero", in: v3("HEP3", with(c32(ChunkCaptureID, 0), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "CaptureID", p.CaptureID, 0)
				eq(t, "Quirks", p.Quirks, 0)
			}},
		{name: "no time chunks", in: v3("HEP3", without(ChunkTimeSec, ChunkTimeUsec)...), check: func(t *testing.T, p *Packet) {
			eq(t, "TimeOK", p.TimeOK, false)
			eq(t, "TsSec", p.TsSec, 0)
		}},
		{name: "microseconds without seconds", in: v3("HEP3", without(ChunkTimeSec)...), check: func(t *testing.T, p *Packet) {
			eq(t, "TimeOK", p.TimeOK, false)
			eq(t, "TsUsec", p.TsUsec, testUsec)
		}},
		{name: "zero seconds", in: v3("HEP3", with(c32(ChunkTimeSec, 0), sip)...),
			check: func(t *testing.T, p *Packet) { eq(t, "TimeOK", p.TimeOK, false) }},
		{name: "seconds before 2000", in: v3("HEP3", with(c32(ChunkTimeSec, minPlausibleSec-1), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "TimeOK", p.TimeOK, false)
				eq(t, "TsSec", p.TsSec, minPlausibleSec-1)
			}},
		{name: "first second of 2000", in: v3("HEP3", with(c32(ChunkTimeSec, minPlausibleSec), sip)...),
			check: func(t *testing.T, p *Packet) { eq(t, "TimeOK", p.TimeOK, true) }},
		{name: "seconds from 2100", in: v3("HEP3", with(c32(ChunkTimeSec, maxPlausibleSec), sip)...),
			check: func(t *testing.T, p *Packet) { eq(t, "TimeOK", p.TimeOK, false) }},
		{name: "microseconds of a second or more", in: v3("HEP3", with(c32(ChunkTimeUsec, 1_000_000), sip)...),
			check: func(t *testing.T, p *Packet) { eq(t, "TimeOK", p.TimeOK, false) }},
		{name: "family chunk missing", in: v3("HEP3", without(ChunkFamily)...), check: func(t *testing.T, p *Packet) {
			eq(t, "Family", p.Family, 4)
			eq(t, "Quirks", p.Quirks, QuirkFamily)
		}},
		{name: "family chunk with FreeBSD AF_INET6", in: v3("HEP3", c8(ChunkFamily, 28), c8(ChunkProto, 17),
			cb(ChunkSrcIPv6, v6a), cb(ChunkDstIPv6, v6b), sip),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Family", p.Family, 6)
				eq(t, "Quirks", p.Quirks, QuirkFamily)
				eq(t, "Src", p.Src, ap("[2001:db8::10]:0"))
			}},
		{name: "family chunk chooses between both address pairs", in: v3("HEP3", with(cb(ChunkSrcIPv6, v6a), cb(ChunkDstIPv6, v6b), sip)...),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Family", p.Family, 4)
				eq(t, "Src", p.Src, ap("10.0.0.1:5060"))
			}},
		{name: "IPv4-mapped IPv6 address stays IPv6", in: v3("HEP3", c8(ChunkFamily, 10), c8(ChunkProto, 17),
			cb(ChunkSrcIPv6, netip.MustParseAddr("::ffff:192.0.2.1").AsSlice()), cb(ChunkDstIPv6, v6b), sip),
			check: func(t *testing.T, p *Packet) { eq(t, "Src", p.Src, ap("[::ffff:192.0.2.1]:0")) }},
		{name: "source address missing", in: v3("HEP3", without(ChunkSrcIPv4)...), check: func(t *testing.T, p *Packet) {
			eq(t, "Src", p.Src, ap("0.0.0.0:5060"))
			eq(t, "Dst", p.Dst, ap("10.0.0.2:5080"))
			eq(t, "Quirks", p.Quirks, QuirkSrcMissing)
		}},
		{name: "IPv6 destination address missing", in: v3("HEP3", c8(ChunkFamily, 10), cb(ChunkSrcIPv6, v6a), c16(ChunkDstPort, 5062), sip),
			check: func(t *testing.T, p *Packet) {
				eq(t, "Dst", p.Dst, ap("[::]:5062"))
				eq(t, "Quirks", p.Quirks, QuirkDstMissing)
			}},
		{name: "ports missing", in: v3("HEP3", without(ChunkSrcPort, ChunkDstPort)...), check: func(t *testing.T, p *Packet) {
			eq(t, "Src", p.Src, ap("10.0.0.1:0"))
			eq(t, "Dst", p.Dst, ap("10.0.0.2:0"))
		}},

		{name: "empty input", in: []byte{}, reason: ReasonTruncated, off: 0},
		{name: "magic cut short", in: []byte("HE"), reason: ReasonTruncated, off: 0},
		{name: "EEP magic cut short", in: []byte("EEP"), reason: ReasonTruncated, off: 0},
		{name: "header without length", in: []byte("HEP3\x00"), reason: ReasonTruncated, off: 5},
		{name: "plain SIP", in: []byte(shortSIP), reason: ReasonBadMagic, off: 0},
		{name: "HEX3", in: setLen([]byte("HEX3\x00\x06"), 6), reason: ReasonBadMagic, off: 0},
		{name: "H and garbage", in: []byte("Hxy"), reason: ReasonBadMagic, off: 0},
		{name: "zero byte", in: []byte{0, 0, 0, 0, 0, 0}, reason: ReasonBadMagic, off: 0},
		{name: "HEP2", in: v3("HEP2", with(sip)...), reason: ReasonUnknownVersion, off: 3},
		{name: "EEP1 draft", in: v3("EEP1", with(sip)...), reason: ReasonUnknownVersion, off: 3},
		{name: "length below 6", in: setLen(v3("HEP3", with(sip)...), 5), reason: ReasonBadLength, off: 4},
		{name: "length zero", in: setLen(v3("HEP3", with(sip)...), 0), reason: ReasonBadLength, off: 4},
		{name: "length longer than the datagram", in: setLen(v3("HEP3", with(sip)...), 1000), reason: ReasonBadLength, off: 4},
		{name: "trailing bytes after the packet", in: append(v3("HEP3", with(sip)...), 0, 0), reason: ReasonBadLength, off: 4},
		{name: "chunk length zero", in: v3("HEP3", with(withLen(c8(ChunkTOS, 0), 0), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "chunk length five", in: v3("HEP3", with(withLen(c8(ChunkTOS, 0), 5), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "chunk runs past the end", in: v3("HEP3", with(withLen(cs(ChunkPayload, "abc"), 200))...), reason: ReasonBadChunk, off: afterCore},
		{name: "chunk header past the end", in: extend(v3("HEP3", with(sip)...), 0, 0, 0),
			reason: ReasonBadChunk, off: afterCore + chunkHdrLen + len(shortSIP)},
		{name: "family chunk of 2 bytes", in: v3("HEP3", cb(ChunkFamily, []byte{0, 2}), sip), reason: ReasonBadChunk, off: hdrLen},
		{name: "empty IP protocol chunk", in: v3("HEP3", with(cb(ChunkProto, nil), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "IPv6 address in an IPv4 chunk", in: v3("HEP3", with(cb(ChunkSrcIPv4, v6a), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "IPv4 address in an IPv6 chunk", in: v3("HEP3", with(cip(ChunkDstIPv6, 1, 2, 3, 4), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "port of 4 bytes", in: v3("HEP3", with(c32(ChunkSrcPort, 5060), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "64-bit seconds", in: v3("HEP3", with(cb(ChunkTimeSec, make([]byte, 8)), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "16-bit capture id", in: v3("HEP3", with(c16(ChunkCaptureID, 2001), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "protocol type of 2 bytes", in: v3("HEP3", with(c16(ChunkProtoType, 1), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "VLAN of 4 bytes", in: v3("HEP3", with(c32(ChunkVLAN, 1), sip)...), reason: ReasonBadChunk, off: afterCore},
		{name: "no payload chunk", in: v3("HEP3", coreV4()...), reason: ReasonNoPayload, off: hdrLen},
		{name: "no chunks at all", in: v3("HEP3"), reason: ReasonNoPayload, off: hdrLen},
		{name: "no address chunk", in: v3("HEP3", without(ChunkSrcIPv4, ChunkDstIPv4)...), reason: ReasonBadAddress, off: hdrLen},
		{name: "IPv4 family with IPv6 addresses", in: v3("HEP3", c8(ChunkFamily, 2), cb(ChunkSrcIPv6, v6a), cb(ChunkDstIPv6, v6b), sip),
			reason: ReasonBadAddress, off: hdrLen},
		{name: "IPv6 family with IPv4 addresses", in: v3("HEP3", c8(ChunkFamily, 10), cip(ChunkSrcIPv4, 1, 2, 3, 4), cip(ChunkDstIPv4, 1, 2, 3, 5), sip),
			reason: ReasonBadAddress, off: hdrLen},
		{name: "IPv4 source, IPv6 destination", in: v3("HEP3", c8(ChunkFamily, 2), cip(ChunkSrcIPv4, 1, 2, 3, 4), cb(ChunkDstIPv6, v6b), sip),
			reason: ReasonBadAddress, off: hdrLen},
		{name: "IPv6 source, IPv4 destination", in: v3("HEP3", c8(ChunkFamily, 10), cb(ChunkSrcIPv6, v6a), cip(ChunkDstIPv4, 1, 2, 3, 4), sip),
			reason: ReasonBadAddress, off: hdrLen},
		{name: "both families and no family chunk", in: v3("HEP3", cip(ChunkSrcIPv4, 1, 2, 3, 4), cb(ChunkDstIPv6, v6b), sip),
			reason: ReasonBadAddress, off: hdrLen},
	}
}

// extend appends raw bytes to a HEPv3 packet and fixes its length field.
func extend(b []byte, extra ...byte) []byte {
	b = append(bytes.Clone(b), extra...)
	return setLen(b, uint16(len(b)))
}
