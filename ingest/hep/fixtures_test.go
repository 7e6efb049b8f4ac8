package hep

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Regenerate the built fixtures, then their golden files:
//
//	go test ./ingest/hep -run TestFixtures -gen
//	go test ./ingest/hep -run Golden -update
//
// Captured fixtures (kamailio_*.bin) are not built here and are left alone.
var gen = flag.Bool("gen", false, "rewrite the built testdata/*.bin fixtures")

// fixture is one built testdata/<name>.bin packet.
type fixture struct {
	name  string
	build func() []byte
	// exact: the committed bytes must equal the built ones. The gzip
	// fixture is compared by decoded fields instead, because compress/gzip
	// output may change between Go releases.
	exact bool
}

func fixtures() []fixture {
	return []fixture{
		{"spec_rev37", specRev37, true},
		{"hepv1_ipv4", hepV1IPv4, true},
		{"hepv1_ipv6", hepV1IPv6, true},
		{"hepv2_ipv4", hepV2IPv4, true},
		{"hepv2_be_time", hepV2BigEndianTime, true},
		{"sngrep_v2_ipv6", sngrepV2IPv6, true},
		{"asterisk_v3", asteriskV3, false},
		{"heplify_v3", heplifyV3, true},
		{"sngrep_v3", sngrepV3, true},
		{"freeswitch_v3", freeswitchV3, true},
		{"rtcp_v3", rtcpV3, true},
		{"log_v3", logV3, true},
		{"reject_chunk_len0", rejectChunkLen0, true},
	}
}

// TestFixtures checks that every built fixture is reproducible from its
// builder (and rewrites them with -gen).
func TestFixtures(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join("testdata", f.name+".bin")
			built := f.build()
			if *gen {
				if err := os.WriteFile(path, built, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			committed, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./ingest/hep -run TestFixtures -gen)", err)
			}
			if f.exact {
				if !bytes.Equal(committed, built) {
					t.Fatalf("%s differs from its builder:\ncommitted %x\nbuilt     %x", path, committed, built)
				}
				return
			}
			var pc, pb Packet
			vc, _ := marshalView(viewOf(&pc, Decode(committed, &pc)))
			vb, _ := marshalView(viewOf(&pb, Decode(built, &pb)))
			if !bytes.Equal(vc, vb) {
				t.Fatalf("%s decodes differently from its builder:\n%s\nbuilt:\n%s", path, vc, vb)
			}
		})
	}
}

// SIP messages used by the fixtures.
const (
	shortSIP = "OPTIONS sip:10.0.0.2:5080 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-opt-1\r\n" +
		"From: <sip:ping@10.0.0.1>;tag=a1\r\n" +
		"To: <sip:10.0.0.2:5080>\r\n" +
		"Call-ID: opt-1@10.0.0.1\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"

	registerSIP = "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-reg-7\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@example.com>;tag=r7\r\n" +
		"To: <sip:alice@example.com>\r\n" +
		"Call-ID: reg-7@192.0.2.10\r\n" +
		"CSeq: 7 REGISTER\r\n" +
		"Contact: <sip:alice@192.0.2.10:5060>\r\n" +
		"Expires: 3600\r\n" +
		"Content-Length: 0\r\n\r\n"

	okSIP = "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK-v6-3\r\n" +
		"From: <sip:bob@example.com>;tag=b3\r\n" +
		"To: <sip:carol@example.com>;tag=c3\r\n" +
		"Call-ID: v6-3@2001:db8::10\r\n" +
		"CSeq: 3 INVITE\r\n" +
		"Content-Length: 0\r\n\r\n"

	// inviteSIP is a typical INVITE with SDP, about 600 bytes.
	inviteSIP = "INVITE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: a84b4c76e66710@pc33.example.com\r\n" +
		"CSeq: 314159 INVITE\r\n" +
		"Contact: <sip:alice@192.0.2.10:5060>\r\n" +
		"User-Agent: traced-test\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 211\r\n\r\n" +
		"v=0\r\n" +
		"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.10\r\n" +
		"t=0 0\r\n" +
		"m=audio 49170 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=sendrecv\r\n"

	rtcpJSON = `{"sender_information":{"ntp_timestamp_sec":3972331330,"ntp_timestamp_usec":123456,` +
		`"rtp_timestamp":16000,"packets":250,"octets":40000},"ssrc":305419896,"type":200,"report_count":1,` +
		`"report_blocks":[{"source_ssrc":2596069104,"fraction_lost":0,"packets_lost":2,"highest_seq_no":1250,` +
		`"ia_jitter":12,"lsr":2856395776,"dlsr":65536}],"sdes_ssrc":305419896}`

	logLine = "routing INVITE to sip:bob@192.0.2.20:5060"
)

// specRev37 is the test vector of the HEP specification rev 37 (113 bytes).
func specRev37() []byte {
	parts := []string{
		"484550330071",
		"00000001000702", "00000002000711",
		"00000003000ad4ca0001", "00000004000a527400d3",
		"0000000700082eea", "00000008000813c4",
		"00000009000a4e4982cb", "0000000a000a0001d4c0",
		"0000000b000701", "0000000c000a000000e4",
		"0000000f0014" + hex.EncodeToString([]byte("INVITE sip:bob")),
	}
	b, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The HEPv1/v2 fixtures are laid out field by field from Kamailio's C
// structs (kamailio/src/modules/sipcapture/hep.h), as siptrace's
// trace_send_hep2_duplicate fills and memcpys them:
//
//	struct hep_hdr     { u_int8_t hp_v, hp_l, hp_f, hp_p; u_int16_t hp_sport, hp_dport; }  ports htons()
//	struct hep_iphdr   { struct in_addr hp_src, hp_dst; }
//	struct hep_ip6hdr  { struct in6_addr hp6_src, hp6_dst; }
//	struct hep_timehdr { u_int32_t tv_sec, tv_usec; u_int16_t captid; }  sizeof 12 (tail padding);
//	                   tv_sec/tv_usec = to_le(...), captid in host (x86: little-endian) order
//
// with hp_l = sizeof(struct hep_hdr) + sizeof(the address struct).
type legacyHdr struct {
	hpV, hpL, hpF, hpP uint8
	sport, dport       uint16
	src, dst           []byte // 4 or 16 bytes each
}

func (h legacyHdr) bytes() []byte {
	b := []byte{h.hpV, h.hpL, h.hpF, h.hpP}
	b = binary.BigEndian.AppendUint16(b, h.sport) // htons
	b = binary.BigEndian.AppendUint16(b, h.dport)
	b = append(b, h.src...)
	return append(b, h.dst...)
}

// timeHdr is struct hep_timehdr in the given byte order, with its 2 bytes
// of tail padding.
func timeHdr(order binary.AppendByteOrder, sec, usec uint32, captid uint16) []byte {
	b := order.AppendUint32(nil, sec)
	b = order.AppendUint32(b, usec)
	b = order.AppendUint16(b, captid)
	return append(b, 0, 0)
}

var (
	v6a = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	v6b = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20}
)

func hepV1IPv4() []byte {
	h := legacyHdr{hpV: 1, hpL: 8 + 8, hpF: 2, hpP: 17, sport: 5060, dport: 5060,
		src: []byte{192, 0, 2, 10}, dst: []byte{192, 0, 2, 20}}
	return append(h.bytes(), registerSIP...)
}

func hepV1IPv6() []byte {
	h := legacyHdr{hpV: 1, hpL: 8 + 32, hpF: 10, hpP: 17, sport: 5060, dport: 5062, src: v6a, dst: v6b}
	return append(h.bytes(), okSIP...)
}

func hepV2IPv4() []byte {
	h := legacyHdr{hpV: 2, hpL: 8 + 8, hpF: 2, hpP: 17, sport: 5060, dport: 5060,
		src: []byte{192, 0, 2, 10}, dst: []byte{192, 0, 2, 20}}
	b := append(h.bytes(), timeHdr(binary.LittleEndian, testSec, testUsec, 2001)...)
	return append(b, registerSIP...)
}

// hepV2BigEndianTime is a v2 packet from a big-endian host that copies the
// time header in host order (captagent, OpenSIPS): seconds, microseconds
// and capture id all big-endian. It goes over TCP.
func hepV2BigEndianTime() []byte {
	h := legacyHdr{hpV: 2, hpL: 8 + 8, hpF: 2, hpP: 6, sport: 5060, dport: 5060,
		src: []byte{198, 51, 100, 7}, dst: []byte{198, 51, 100, 8}}
	b := append(h.bytes(), timeHdr(binary.BigEndian, testSec, 654321, 77)...)
	return append(b, shortSIP...)
}

// sngrepV2IPv6 is sngrep's capture_eep_send_v2: it writes htons(total
// length) into the u8 hp_l, keeping the low byte of the big-endian value,
// and copies the pcap timestamp in host order.
func sngrepV2IPv6() []byte {
	total := 8 + 32 + 12 + len(okSIP)
	h := legacyHdr{hpV: 2, hpL: uint8(total >> 8), hpF: 10, hpP: 17, sport: 5060, dport: 5062, src: v6a, dst: v6b}
	b := append(h.bytes(), timeHdr(binary.LittleEndian, testSec, 999999, 42)...)
	return append(b, okSIP...)
}

// asteriskV3 is res_hep's layout: struct hep_generic (family, proto, ports,
// times, proto type, capture id), the addresses, the auth key, the UUID
// (0x11, the Call-ID with uuid_type = call-id) and the payload, here
// gzip-compressed in chunk 0x10.
func asteriskV3() []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write([]byte(inviteSIP)); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return v3("HEP3",
		c8(ChunkFamily, 2), c8(ChunkProto, 17),
		c16(ChunkSrcPort, 5060), c16(ChunkDstPort, 5060),
		c32(ChunkTimeSec, testSec), c32(ChunkTimeUsec, testUsec),
		c8(ChunkProtoType, 1), c32(ChunkCaptureID, 1234),
		cip(ChunkSrcIPv4, 192, 0, 2, 10), cip(ChunkDstIPv4, 192, 0, 2, 20),
		cs(ChunkAuthKey, "s3cret"),
		cs(ChunkCorrelationID, "a84b4c76e66710@pc33.example.com"),
		cb(ChunkCompressed, z.Bytes()),
	)
}

// heplifyV3 follows heplify's makeHEPChuncks order over IPv6/TCP (with its
// always-present, here empty, auth key chunk), plus the node name, TCP
// flags, TOS and MOS chunks the agent can add, and a vendor chunk.
func heplifyV3() []byte {
	return v3("HEP3",
		c8(ChunkFamily, 10), c8(ChunkProto, 6),
		cb(ChunkSrcIPv6, v6a), cb(ChunkDstIPv6, v6b),
		c16(ChunkSrcPort, 5060), c16(ChunkDstPort, 5062),
		c32(ChunkTimeSec, testSec), c32(ChunkTimeUsec, 500),
		c8(ChunkProtoType, 1), c32(ChunkCaptureID, 2002),
		cs(ChunkAuthKey, ""),
		cs(ChunkPayload, inviteSIP),
		cs(ChunkNodeName, "edge-node-1"),
		c8(ChunkTCPFlags, 0x18), c8(ChunkTOS, 0xb8), c16(ChunkMOS, 436),
		chunk{vendor: 5, typ: 0x0001, data: []byte("homer-extra")},
	)
}

// sngrepV3 is sngrep's capture_eep_send_v3: struct hep_generic, addresses,
// auth key, payload. It stores htons(capt_id) in the u32 capture id field,
// so on x86 the id 2001 goes out as bytes 07 D1 00 00.
func sngrepV3() []byte {
	return v3("HEP3",
		c8(ChunkFamily, 2), c8(ChunkProto, 17),
		c16(ChunkSrcPort, 5060), c16(ChunkDstPort, 5080),
		c32(ChunkTimeSec, testSec), c32(ChunkTimeUsec, testUsec),
		c8(ChunkProtoType, 1), cb(ChunkCaptureID, []byte{0x07, 0xd1, 0x00, 0x00}),
		cip(ChunkSrcIPv4, 10, 0, 0, 1), cip(ChunkDstIPv4, 10, 0, 0, 2),
		cs(ChunkAuthKey, "myHep"),
		cs(ChunkPayload, shortSIP),
	)
}

// freeswitchV3 is sofia-sip's tport_capt_msg_hepv3 for a TLS transport:
// IPPROTO_IDP (22) as the fake "TLS" protocol, struct hep_generic,
// addresses, payload; no auth key.
func freeswitchV3() []byte {
	return v3("HEP3",
		c8(ChunkFamily, 2), c8(ChunkProto, 22),
		c16(ChunkSrcPort, 5061), c16(ChunkDstPort, 49152),
		c32(ChunkTimeSec, testSec), c32(ChunkTimeUsec, 42),
		c8(ChunkProtoType, 1), c32(ChunkCaptureID, 300),
		cip(ChunkSrcIPv4, 203, 0, 113, 5), cip(ChunkDstIPv4, 203, 0, 113, 9),
		cs(ChunkPayload, registerSIP),
	)
}

// rtcpV3 is an agent's RTCP report: protocol type 5, the report as JSON,
// and the SIP Call-ID in the correlation id chunk.
func rtcpV3() []byte {
	return v3("HEP3",
		c8(ChunkFamily, 2), c8(ChunkProto, 17),
		cip(ChunkSrcIPv4, 192, 0, 2, 10), cip(ChunkDstIPv4, 192, 0, 2, 20),
		c16(ChunkSrcPort, 49171), c16(ChunkDstPort, 30001),
		c32(ChunkTimeSec, testSec), c32(ChunkTimeUsec, 777000),
		c8(ChunkProtoType, 5), c32(ChunkCaptureID, 2001),
		cs(ChunkAuthKey, "myhep"),
		cs(ChunkPayload, rtcpJSON),
		cs(ChunkCorrelationID, "a84b4c76e66710@pc33.example.com"),
	)
}

// logV3 is Kamailio siptrace's hlog(): the sending socket as source, the
// destination port chunk before the source port chunk, protocol type 100,
// the Call-ID as correlation id, then the auth key and the log line.
func logV3() []byte {
	return v3("HEP3",
		c8(ChunkFamily, 2), c8(ChunkProto, 17),
		cip(ChunkSrcIPv4, 127, 0, 0, 10), cip(ChunkDstIPv4, 127, 0, 0, 1),
		c16(ChunkDstPort, 9060), c16(ChunkSrcPort, 5060),
		c32(ChunkTimeSec, testSec), c32(ChunkTimeUsec, 1),
		c8(ChunkProtoType, 100), c32(ChunkCaptureID, 1),
		cs(ChunkCorrelationID, "a84b4c76e66710@pc33.example.com"),
		cs(ChunkAuthKey, "kamailio-key"),
		cs(ChunkPayload, logLine),
	)
}

// rejectChunkLen0 has a chunk whose length field is 0: Kamailio drops such
// a packet and so does Decode (bad_chunk).
func rejectChunkLen0() []byte {
	return v3("HEP3", with(withLen(c8(ChunkTOS, 0), 0), cs(ChunkPayload, shortSIP))...)
}
