package qos

import (
	"net/netip"
	"os"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRTCPBinary(t *testing.T) {
	// Frame 529 of heplify-rtp_rtcp_sip_ipv4_udp.pcap: SR + RR + SDES, figures
	// as Wireshark shows them.
	r, kind, err := DecodeRTCP(readFixture(t, "rtcp-frame529.bin"))
	if err != nil || kind != KindRTCP {
		t.Fatalf("kind %q err %v", kind, err)
	}
	if r.SSRC != 0xd2bd4e3e || r.Sender == nil || r.Sender.Packets != 4 || r.Sender.Octets != 640 {
		t.Fatalf("sender: %#x %+v", r.SSRC, r.Sender)
	}
	if len(r.Blocks) != 2 || r.Blocks[1].SSRC != 0x58f33dea || r.Blocks[1].LSR != 2262103621 || r.Blocks[1].DLSR != 1 {
		t.Fatalf("blocks: %+v", r.Blocks)
	}
	if r.CNAME != "unknown@200.57.7.204" {
		t.Fatalf("cname %q", r.CNAME)
	}

	x, _, err := DecodeRTCP(readFixture(t, "rtcp-rr-xr.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(x.XR) != 1 {
		t.Fatalf("xr: %+v", x.XR)
	}
	m := x.XR[0]
	if m.SSRC != 0x11223344 || m.LossRate != 12 || m.RoundTripDelay != 80 || m.MOSLQ != 41 || m.JBNominal != 40 || m.SignalLevel != -20 {
		t.Fatalf("voip metrics: %+v", m)
	}
}

func TestDecodeRTCPRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version 1":   {0x41, 0xc8, 0, 1, 0, 0, 0, 0},
		"not rtcp pt": {0x80, 0x08, 0, 1, 0, 0, 0, 0}, // an RTP packet, PT 8
		"too long":    {0x80, 0xc9, 0, 9, 0, 0, 0, 0},
		"bad json":    []byte(`{"ssrc":`),
	} {
		if _, _, err := DecodeRTCP(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Padding and a truncated second packet keep what came before.
	b := readFixture(t, "rtcp-frame1181.bin")
	r, err := DecodeBinaryRTCP(append(b[:len(b):len(b)], 0x80, 0xc9, 0, 40))
	if err != nil || r.Sender == nil || r.Sender.Packets != 105 {
		t.Fatalf("truncated tail: %v %+v", err, r)
	}
}

func TestDecodeRTCPJSON(t *testing.T) {
	cases := []struct {
		file                string
		ssrc                uint32
		sender              bool
		block               ReportBlock
		xrMOS, xrRTT, xrJBN int
	}{
		{"rtcp-json-heplify.json", 3535621694, true,
			ReportBlock{SSRC: 1492336106, FractionLost: 13, Lost: 7, HighestSeq: 11480, Jitter: 1888, LSR: 2262431105, DLSR: 65536}, -1, 0, 0},
		{"rtcp-json-strings.json", 0x1a2b3c4d, false,
			ReportBlock{SSRC: 439041102, FractionLost: 25, Lost: -2, HighestSeq: 70000, Jitter: 160}, 41, 120, 60},
		{"rtcp-json-rtpengine.json", 305419896, false,
			ReportBlock{SSRC: 2596069104, HighestSeq: 24210, Jitter: 7, LSR: 1234567890, DLSR: 13107}, -1, 0, 0},
	}
	for _, c := range cases {
		r, kind, err := DecodeRTCP(readFixture(t, c.file))
		if err != nil || kind != KindRTCPJSON {
			t.Fatalf("%s: %q %v", c.file, kind, err)
		}
		if r.SSRC != c.ssrc || (r.Sender != nil) != c.sender {
			t.Errorf("%s: ssrc %d sender %+v", c.file, r.SSRC, r.Sender)
		}
		if len(r.Blocks) != 1 || r.Blocks[0] != c.block {
			t.Errorf("%s: blocks %+v, want %+v", c.file, r.Blocks, c.block)
		}
		if c.xrMOS < 0 {
			if len(r.XR) != 0 {
				t.Errorf("%s: an all-zero report_blocks_xr gave %+v", c.file, r.XR)
			}
			continue
		}
		if len(r.XR) != 1 || int(r.XR[0].MOSLQ) != c.xrMOS || int(r.XR[0].RoundTripDelay) != c.xrRTT || int(r.XR[0].JBNominal) != c.xrJBN {
			t.Errorf("%s: xr %+v", c.file, r.XR)
		}
	}
	// The heplify sender information: packets, octets, and the µs turned into
	// an NTP fraction (959000 µs = 0.959 × 2^32).
	r, _, _ := DecodeRTCP(readFixture(t, "rtcp-json-heplify.json"))
	if s := r.Sender; s.Packets != 105 || s.Octets != 16800 || s.NTPFrac != 4118873637 && s.NTPFrac != 4118873638 {
		t.Errorf("sender %+v", s)
	}
}

func TestRTCPJSONRoundTrip(t *testing.T) {
	for _, f := range []string{"rtcp-frame529.bin", "rtcp-frame1181.bin", "rtcp-frame1565.bin"} {
		bin, err := DecodeBinaryRTCP(readFixture(t, f))
		if err != nil {
			t.Fatal(err)
		}
		js, err := DecodeRTCPJSON(EncodeRTCPJSON(bin))
		if err != nil {
			t.Fatal(err)
		}
		if js.SSRC != bin.SSRC || len(js.Blocks) != len(bin.Blocks) || *js.Sender != *bin.Sender && js.Sender.Packets != bin.Sender.Packets {
			t.Fatalf("%s: json %+v, binary %+v", f, js, bin)
		}
		for i := range js.Blocks {
			if js.Blocks[i] != bin.Blocks[i] {
				t.Errorf("%s: block %d json %+v binary %+v", f, i, js.Blocks[i], bin.Blocks[i])
			}
		}
	}
}

func TestDecodeVQ(t *testing.T) {
	cases := []struct {
		file, typ, callID, codec string
		local, remote            netip.AddrPort
		localSSRC, remoteSSRC    uint32
		nlr, rtd, jbn, mos       float64
		hasMOS, hasRemote        bool
	}{
		{"vq-rfc6035.txt", "VQSessionReport", "6dg37f1890463", "G729", netip.MustParseAddrPort("10.10.1.100:5000"),
			netip.MustParseAddrPort("11.1.1.150:5002"), 0x2468abcd, 0x1357efff, 5, 200, 40, 4.2, true, true},
		{"vq-polycom.txt", "VQSessionReport", "4a2f7c1e-9d3b4c55@192.168.1.50", "PCMU", netip.MustParseAddrPort("192.168.1.50:2222"),
			netip.MustParseAddrPort("192.168.1.60:2224"), 0x5e1c8a21, 0x0c7d3e99, 0.6, 34, 50, 4.1, true, false},
		{"vq-yealink.txt", "VQSessionReport", "0_3861049125@10.0.0.21", "PCMA", netip.MustParseAddrPort("10.0.0.21:11780"),
			netip.MustParseAddrPort("10.0.0.22:11796"), 0x4fa2d001, 0x2b66c120, 2.5, 0, 60, 3.9, true, false},
		{"vq-snom-interval.txt", "VQIntervalReport", "3c2670a0d4f1-ou2v8eh4j9zn", "G722", netip.MustParseAddrPort("172.16.0.33:55342"),
			netip.MustParseAddrPort("172.16.0.34:63122"), 776453120, 1309431904, 10, 150, 20, 0, false, false},
	}
	for _, c := range cases {
		r, err := DecodeVQ(readFixture(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if r.Type != c.typ || r.CallID != c.callID || r.LocalAddr.AddrPort() != c.local || r.RemoteAddr.AddrPort() != c.remote ||
			r.LocalAddr.SSRC != c.localSSRC || r.RemoteAddr.SSRC != c.remoteSSRC {
			t.Errorf("%s: %+v", c.file, r)
		}
		if r.Local == nil || r.Local.Codec != c.codec || (r.Remote != nil) != c.hasRemote {
			t.Fatalf("%s: local %+v remote %+v", c.file, r.Local, r.Remote)
		}
		for k, want := range map[string]float64{"NLR": c.nlr, "RTD": c.rtd, "JBN": c.jbn} {
			if got, ok := r.Local.Get(k); !ok || got != want {
				t.Errorf("%s: %s = %v %v, want %v", c.file, k, got, ok, want)
			}
		}
		if got, ok := r.Local.Get("MOSLQ"); ok != c.hasMOS || ok && got != c.mos {
			t.Errorf("%s: MOSLQ %v %v", c.file, got, ok)
		}
	}
	if _, err := DecodeVQ([]byte("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n")); err == nil {
		t.Error("an SDP body decoded as vq-rtcpxr")
	}
}

func TestDecodeShort(t *testing.T) {
	r, err := DecodeShort(readFixture(t, "short-35.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.MOS != 4.03 || r.RFactor != 80.1 || r.JitterMS != 3.5 || r.Lost != 15 || r.Packets != 1500 || r.SSRC != 305419896 ||
		r.CallID != "a84b4c76e66710@pc33.example.org" {
		t.Errorf("%+v", r)
	}
	if want := 100 * 15.0 / 1515; r.LossPercent != want {
		t.Errorf("loss %% %v, want %v", r.LossPercent, want)
	}
	n, err := DecodeShort(readFixture(t, "short-35-number.txt"))
	if err != nil || n.MOS != 3.87 || n.RFactor != -1 {
		t.Errorf("bare number: %+v %v", n, err)
	}
	for _, bad := range []string{"", "hello", "17", "[1,2]", "{"} {
		if _, err := DecodeShort([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDecodeStatHeader(t *testing.T) {
	cases := []struct {
		name, value        string
		kind               Kind
		ps, os, pr, or, pl int64
		ji, mos            float64
	}{
		{"X-RTP-Stat", "PS=207;OS=49680;;PR=314;OR=50240;PL=0;JI=600;LA=40;", KindXRTPStat, 207, 49680, 314, 50240, 0, 600, -1},
		{"x-rtp-stat", "PS=1234,OS=34560,PR=1236,OR=24720,JI=1,DU=1230,PL=0,EN=G711U,DE=G711U,MOS=4.0", KindXRTPStat, 1234, 34560, 1236, 24720, 0, 1, 4},
		{"P-RTP-Stat", "PS=1522, PR=1510, OR=241600, PL=12, JI=18, DU=31", KindPRTPStat, 1522, -1, 1510, 241600, 12, 18, -1},
		{"RTP-RxStat", "Total_Rx_Pkts=1492,Total_Rx_Bytes=238720,Total_Lost_Pkts=8,Jitter=14", KindRTPRxStat, -1, -1, 1492, 238720, 8, 14, -1},
		{"RTP-TxStat", "Total_Tx_Pkts=1501,Total_Tx_Bytes=240160", KindRTPRxStat, 1501, 240160, -1, -1, -1, -1, -1},
		{"RTP-RxStat", "Dur=30,Pkt=1500,Oct=240000,LatePkt=0,LostPkt=3,AvgJit=2", KindRTPRxStat, -1, -1, 1500, 240000, 3, 2, -1},
		{"RTP-TxStat", "Dur=30,Pkt=1498,Oct=239680", KindRTPRxStat, 1498, 239680, -1, -1, -1, -1, -1},
	}
	for _, c := range cases {
		s, err := DecodeStatHeader(c.name, c.value)
		if err != nil {
			t.Fatalf("%s: %v", c.value, err)
		}
		if s.Kind != c.kind || s.PacketsSent != c.ps || s.OctetsSent != c.os || s.PacketsReceived != c.pr ||
			s.OctetsReceived != c.or || s.PacketsLost != c.pl || s.JitterMS != c.ji || s.MOS != c.mos {
			t.Errorf("%s: %s: %+v", c.name, c.value, s)
		}
	}
	if _, err := DecodeStatHeader("X-RTP-Stat", "nothing here"); err == nil {
		t.Error("a value without figures decoded")
	}
	if _, err := DecodeStatHeader("Subject", "PS=1"); err == nil {
		t.Error("an unknown header decoded")
	}
}
