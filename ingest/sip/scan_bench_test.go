package sip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchInvite is a ~700-byte INVITE with SDP, as a PBX sends it.
var benchInvite = strings.ReplaceAll(`INVITE sip:+14155550123@carrier.example.net SIP/2.0
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK7f3a1c2d;rport
Max-Forwards: 70
From: "Reception" <sip:201@203.0.113.10>;tag=as5f2a7c31
To: <sip:+14155550123@carrier.example.net>
Contact: <sip:201@203.0.113.10:5060>
Call-ID: 3c26700a6d4f1a2b0e1d7f5c5a0b7e11@203.0.113.10:5060
CSeq: 102 INVITE
User-Agent: Asterisk PBX 18.20.0
Supported: replaces, timer
Content-Type: application/sdp
Content-Length: 236

v=0
o=root 1834927163 1834927163 IN IP4 203.0.113.10
s=Asterisk
c=IN IP4 203.0.113.10
t=0 0
m=audio 14872 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
`, "\n", "\r\n")

// benchOK is a ~400-byte 200 OK without a body.
var benchOK = strings.ReplaceAll(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK7f3a1c2d;rport=5060
From: "Reception" <sip:201@203.0.113.10>;tag=as5f2a7c31
To: <sip:+14155550123@carrier.example.net>;tag=9Q3r8gK1Fp2vH
Call-ID: 3c26700a6d4f1a2b0e1d7f5c5a0b7e11@203.0.113.10:5060
CSeq: 102 INVITE
Contact: <sip:+14155550123@198.51.100.20:5080>
Server: FreeSWITCH-mod_sofia/1.10.11
Content-Length: 0

`, "\n", "\r\n")

func BenchmarkScan(b *testing.B) {
	for _, bc := range []struct {
		name string
		msg  string
	}{
		{name: "invite_sdp", msg: benchInvite},
		{name: "ok_200", msg: benchOK},
	} {
		msg := []byte(bc.msg)
		b.Run(bc.name, func(b *testing.B) {
			var h Headers
			if err := Scan(msg, &h); err != nil || !h.Complete {
				b.Fatalf("benchmark message does not scan: %v", err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				_ = Scan(msg, &h)
			}
		})
	}
}

// BenchmarkScanTestdata scans every testdata message in turn.
func BenchmarkScanTestdata(b *testing.B) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.sip"))
	if err != nil || len(paths) == 0 {
		b.Fatalf("no testdata: %v", err)
	}
	var msgs [][]byte
	var total int64
	for _, p := range paths {
		msg, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, msg)
		total += int64(len(msg))
	}
	var h Headers
	b.ReportAllocs()
	b.SetBytes(total)
	for b.Loop() {
		for _, msg := range msgs {
			_ = Scan(msg, &h)
		}
	}
}

func BenchmarkHeader(b *testing.B) {
	msg := []byte(benchInvite)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if Header(msg, "Supported") == nil {
			b.Fatal("Supported not found")
		}
	}
}

func BenchmarkUserOf(b *testing.B) {
	v := []byte(`"Reception" <sip:+14155550100;npdi@203.0.113.10;user=phone>;tag=as5f2a7c31`)
	b.ReportAllocs()
	for b.Loop() {
		if len(UserOf(v)) == 0 {
			b.Fatal("no user")
		}
	}
}

// BenchmarkScanPathological scans 64 KiB inputs built to expose work that grows
// faster than the input: the ns/op should stay within a small factor of a plain
// 64 KiB scan.
func BenchmarkScanPathological(b *testing.B) {
	const size = 64 << 10
	fill := func(prefix, unit string) []byte {
		return []byte(prefix + strings.Repeat(unit, (size-len(prefix))/len(unit)))
	}
	for _, bc := range []struct {
		name string
		msg  []byte
	}{
		{name: "long_headers", msg: fill(reqLine+"\r\n", "X-Filler: abcdefghijklmnopqrstuvwxyz0123456789\r\n")},
		{name: "colons_after_token", msg: fill(reqLine+"\r\nFrom: "+strings.Repeat("a", size/2), ":x")},
		{name: "colons_after_quote", msg: fill(reqLine+"\r\nTo: \""+strings.Repeat("a", size/2)+"\"", ":x")},
		{name: "semicolons", msg: fill(reqLine+"\r\nFrom: <sip:a@h>", "; x")},
		{name: "refer_to_queries", msg: fill(reqLine+"\r\nRefer-To: <sip:a@h", "?Replace&")},
		{name: "escapes", msg: fill(reqLine+"\r\nRefer-To: <sip:a@h?Replaces=", "%41")},
		{name: "continuations", msg: fill(reqLine+"\r\nCall-ID: x", "\r\n ")},
		{name: "empty_lines_lf", msg: fill("", "\n")},
		{name: "colons_only", msg: fill("", ":")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var h Headers
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.msg)))
			for b.Loop() {
				_ = Scan(bc.msg, &h)
			}
		})
	}
}
