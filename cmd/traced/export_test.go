package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/internal/peer"
)

// exportCall is one call sent to traced as HEP: its messages and their capture
// times.
type exportCall struct {
	callID string
	proto  uint8
	src    netip.AddrPort
	dst    netip.AddrPort
	times  []time.Time
	pkts   [][]byte
}

func buildCall(callID string, proto uint8, src, dst string, start time.Time) exportCall {
	c := exportCall{callID: callID, proto: proto, src: netip.MustParseAddrPort(src), dst: netip.MustParseAddrPort(dst)}
	sdp := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n" +
		strings.Repeat("a=x-padding:0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 30)
	msgs := []struct {
		fwd  bool
		text string
	}{
		{true, fmt.Sprintf("INVITE sip:bob@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", callID, len(sdp), sdp)},
		{false, fmt.Sprintf("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>;tag=2\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", callID)},
		{false, fmt.Sprintf("SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>;tag=2\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", callID)},
		{true, fmt.Sprintf("BYE sip:bob@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>;tag=2\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n", callID)},
	}
	for i, m := range msgs {
		t := start.Add(time.Duration(i)*1500*time.Millisecond + time.Duration(i*7)*time.Microsecond)
		s, d := c.src, c.dst
		if !m.fwd {
			s, d = d, s
		}
		fam := uint8(4)
		if s.Addr().Is6() {
			fam = 6
		}
		p := hep.Packet{Version: 3, Family: fam, Proto: proto, Src: s, Dst: d, TsSec: uint32(t.Unix()),
			TsUsec: uint32(t.Nanosecond() / 1000), ProtoType: 1, CaptureID: 9, Payload: []byte(m.text)}
		c.pkts = append(c.pkts, hep.AppendV3(nil, &p))
		c.times = append(c.times, t.Truncate(time.Microsecond))
	}
	return c
}

// TestExportThroughTracectl stores a call over UDP, one over TCP (with an INVITE
// larger than a TCP segment) and one over IPv6, exports each with tracectl as pcap
// and text, and reads the pcaps back with tshark: the SIP messages, their count,
// Call-IDs and capture times are what was stored.
func TestExportThroughTracectl(t *testing.T) {
	peer.Require(t, "tshark")
	binaries(t)
	d := startTraced(t, filepath.Join(t.TempDir(), "data"))
	start := time.Now().Add(-time.Minute)
	calls := []exportCall{
		buildCall("export-udp@test", 17, "10.0.0.1:5060", "10.0.0.2:5060", start),
		buildCall("export-tcp@test", 6, "10.0.0.1:40123", "10.0.0.2:5060", start.Add(time.Second)),
		buildCall("export-v6@test", 17, "[2001:db8::1]:5060", "[2001:db8::2]:5060", start.Add(2*time.Second)),
	}
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", d.hepPort))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, call := range calls {
		for _, p := range call.pkts {
			c.Write(p)
			n++
		}
	}
	c.Close()
	d.waitStored(uint64(n))
	dir := t.TempDir()
	for _, call := range calls {
		t.Run(call.callID, func(t *testing.T) {
			pcap := filepath.Join(dir, call.callID+".pcap")
			d.tracectl("export", "--call-id", call.callID, "-o", pcap)
			out, err := exec.Command("tshark", "-r", pcap, "-o", "tcp.desegment_tcp_streams:TRUE", "-Y", "sip",
				"-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch", "-e", "sip.Call-ID", "-e", "sip.CSeq").CombinedOutput()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, out)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(line, "|")
				if len(f) != 3 {
					continue
				}
				sec, _ := strconv.ParseFloat(f[0], 64)
				ts := time.UnixMicro(int64(sec*1e6 + 0.5))
				got = append(got, fmt.Sprintf("%d %s %s", ts.UnixMicro(), f[1], f[2]))
			}
			var want []string
			for i, tm := range call.times {
				cseq := "1 INVITE"
				if i == 3 {
					cseq = "2 BYE"
				}
				want = append(want, fmt.Sprintf("%d %s %s", tm.UnixMicro(), call.callID, cseq))
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("tshark read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			text := filepath.Join(dir, call.callID+".txt")
			d.tracectl("export", "--call-id", call.callID, "--text", "-o", text)
			b, err := os.ReadFile(text)
			if err != nil || strings.Count(string(b), "Call-ID: "+call.callID) != 4 {
				t.Errorf("text export: %v, %d messages", err, strings.Count(string(b), "Call-ID: "+call.callID))
			}
		})
	}
}
