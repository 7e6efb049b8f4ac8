package hep

import "testing"

// BenchmarkDecode measures Decode on typical packets: a ~600-byte SIP
// INVITE over HEPv3, the same over HEPv2, and a gzip-compressed v3 payload
// decoded and inflated with a reused Inflater.
func BenchmarkDecode(b *testing.B) {
	invite := Packet{Family: 4, Proto: 17, Src: ap("192.0.2.10:5060"), Dst: ap("192.0.2.20:5060"),
		TsSec: testSec, TsUsec: testUsec, ProtoType: TypeSIP, CaptureID: 2001,
		AuthKey: []byte("myhep"), Payload: []byte(inviteSIP), CorrelationID: []byte("a84b4c76e66710@pc33.example.com")}
	v3SIP := AppendV3(nil, &invite)
	v2SIP := AppendV2(nil, &invite)
	benches := []struct {
		name    string
		in      []byte
		inflate bool
	}{
		{"v3_sip", v3SIP, false},
		{"v2_sip", v2SIP, false},
		{"v1_ipv6", hepV1IPv6(), false},
		{"v3_compressed", asteriskV3(), true},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			var p Packet
			var z Inflater
			buf := make([]byte, 0, MaxInflated)
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Decode(bc.in, &p); err != nil {
					b.Fatal(err)
				}
				if bc.inflate {
					if _, err := z.Payload(&p, buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkDecodeReject measures the cost of rejecting garbage (one small
// *Error allocation).
func BenchmarkDecodeReject(b *testing.B) {
	in := []byte(shortSIP)
	var p Packet
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if Decode(in, &p) == nil {
			b.Fatal("accepted plain SIP")
		}
	}
}

// BenchmarkAppendV3 measures encoding a ~600-byte SIP packet, as a load
// generator does.
func BenchmarkAppendV3(b *testing.B) {
	p := Packet{Family: 4, Proto: 17, Src: ap("192.0.2.10:5060"), Dst: ap("192.0.2.20:5060"),
		TsSec: testSec, TsUsec: testUsec, ProtoType: TypeSIP, CaptureID: 2001, Payload: []byte(inviteSIP)}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(AppendV3(nil, &p))))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendV3(buf[:0], &p)
	}
}
