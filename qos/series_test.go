package qos

import (
	"net/netip"
	"testing"
	"time"
)

var (
	addrA = netip.MustParseAddrPort("10.0.0.1:4001") // RTCP of A (RTP 4000)
	addrB = netip.MustParseAddrPort("10.0.0.2:5001") // RTCP of B (RTP 5000)
)

func legMedia(codec string, rate int) []LegMedia {
	return []LegMedia{
		{Leg: "leg", Media: Media{Type: "audio", RTP: netip.MustParseAddrPort("10.0.0.1:4000"), RTCP: addrA, Codec: codec, ClockRate: rate}},
		{Leg: "leg", Media: Media{Type: "audio", RTP: netip.MustParseAddrPort("10.0.0.2:5000"), RTCP: addrB, Codec: codec, ClockRate: rate}},
	}
}

func find(t *testing.T, ss []Stream, ssrc uint32, src, dst netip.AddrPort) *Stream {
	t.Helper()
	for i := range ss {
		if ss[i].SSRC == ssrc && ss[i].Src == src && ss[i].Dst == dst {
			return &ss[i]
		}
	}
	t.Fatalf("no stream %#x %s → %s in %+v", ssrc, src, dst, ss)
	return nil
}

// An SR from A, then an RR from B answering it: RTT from LSR/DLSR computed
// by hand.
func TestBuildRTTAndDirections(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 5, 0, 0, 250_000_000, time.UTC)
	// NTP short of t0: seconds since 1900 mod 2^16 in the high half, the
	// fraction's top 16 bits in the low half.
	sec := uint32(t0.Unix()+2208988800) & 0xffff
	lsr := sec<<16 | 0x4000 // .25 s = 0x4000/65536
	if got := NTPShort(t0); got != lsr {
		t.Fatalf("NTPShort = %#x, want %#x", got, lsr)
	}
	// B holds the SR 2.5 s (DLSR = 2.5·65536) and the RR arrives 2.54 s after
	// the SR: RTT = 2.54 − 2.5 = 40 ms (to 1/65536 s).
	sr := Record{Time: t0, Leg: "leg", Src: addrA, Dst: addrB, Kind: KindRTCP, RTCP: &RTCP{SSRC: 0xa,
		Sender: &SenderInfo{Packets: 125, Octets: 20000}, Blocks: []ReportBlock{{SSRC: 0xb, FractionLost: 64, Lost: 30, Jitter: 160}}}}
	rr := Record{Time: t0.Add(2540 * time.Millisecond), Leg: "leg", Src: addrB, Dst: addrA, Kind: KindRTCP,
		RTCP: &RTCP{SSRC: 0xb, Blocks: []ReportBlock{{SSRC: 0xa, Lost: 2, Jitter: 80, LSR: lsr, DLSR: 5 * 65536 / 2}}}}
	ss := Build([]Record{rr, sr}, legMedia("PCMU", 8000))
	if len(ss) != 2 {
		t.Fatalf("%d streams: %+v", len(ss), ss)
	}
	a := find(t, ss, 0xa, addrA, addrB) // A's media to B: A's SR and B's RR
	if len(a.Points) != 2 || *a.Points[0].Packets != 125 || *a.Points[0].Octets != 20000 {
		t.Fatalf("A→B points %+v", a.Points)
	}
	p := a.Points[1]
	if p.RTTMS == nil || !near(*p.RTTMS, 40, 1000.0/65536) {
		t.Fatalf("RTT %v, want 40 ms", p.RTTMS)
	}
	if *p.JitterMS != 10 || *p.Lost != 2 || *p.FractionLost != 0 {
		t.Errorf("A→B reception: jitter %v lost %v fraction %v", *p.JitterMS, *p.Lost, *p.FractionLost)
	}
	if p.MOS == nil || p.MOSSource != "e-model" || !near(*p.MOS, MOSFromR(RFactor(ImpairmentOf("PCMU"), 0, OneWayDelay(*p.RTTMS, 0, 10))), 0.01) {
		t.Errorf("MOS %v (%s)", p.MOS, p.MOSSource)
	}
	// B's media to A, as A reported it in its SR: fraction 64/256 = 25 %.
	b := find(t, ss, 0xb, addrB, addrA)
	if len(b.Points) != 1 || *b.Points[0].FractionLost != 25 || *b.Points[0].JitterMS != 20 || b.Points[0].RTTMS != nil {
		t.Fatalf("B→A points %+v", b.Points)
	}
	if a.Codec != "PCMU" || a.ClockRate != 8000 || a.Summary.Reports != 2 || *a.Summary.Packets != 125 {
		t.Errorf("A→B stream %+v", a)
	}
}

// The SR's own NTP clock is far from the capture clock (2036 where the
// capture says 2026): the RTT comes from the capture times of the SR and of
// the report echoing it, 2.54 s apart, less DLSR 2.5 s: 40 ms.
func TestBuildRTTSkewedClock(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	ntpSec, ntpFrac := uint32(151531), uint32(3053721537) // an SR of the capture, Feb 2036
	lsr := ntpSec<<16 | ntpFrac>>16
	sr := Record{Time: t0, Leg: "leg", Src: addrA, Dst: addrB, Kind: KindRTCP,
		RTCP: &RTCP{SSRC: 0xa, Sender: &SenderInfo{NTPSec: ntpSec, NTPFrac: ntpFrac, Packets: 1}}}
	rr := Record{Time: t0.Add(2540 * time.Millisecond), Leg: "leg", Src: addrB, Dst: addrA, Kind: KindRTCP,
		RTCP: &RTCP{SSRC: 0xb, Blocks: []ReportBlock{{SSRC: 0xa, LSR: lsr, DLSR: 5 * 65536 / 2}}}}
	a := find(t, Build([]Record{sr, rr}, nil), 0xa, addrA, addrB)
	if p := a.Points[1]; p.RTTMS == nil || !near(*p.RTTMS, 40, 2000.0/65536) {
		t.Fatalf("RTT %v, want 40 ms", p.RTTMS)
	}
	// Without the SR, the capture time is taken as the SR sender's clock: the
	// 10-year gap gives no plausible RTT, and none is shown.
	a = find(t, Build([]Record{rr}, nil), 0xa, addrA, addrB)
	if p := a.Points[0]; p.RTTMS != nil {
		t.Fatalf("RTT %v from a clock 10 years off", *p.RTTMS)
	}
}

// Jitter in ms uses the codec's RTP clock: 8000 for G.722, 48000 for Opus.
func TestBuildJitterClock(t *testing.T) {
	for _, c := range []struct {
		codec    string
		rate     int
		jitter   uint32
		wantMS   float64
		wantRate int
	}{{"G722", 8000, 160, 20, 8000}, {"opus", 48000, 960, 20, 48000}, {"", 0, 80, 10, 0}} {
		rec := Record{Time: time.Unix(1, 0), Leg: "leg", Src: addrB, Dst: addrA, Kind: KindRTCPJSON,
			RTCP: &RTCP{SSRC: 0xb, Blocks: []ReportBlock{{SSRC: 0xa, Jitter: c.jitter}}}}
		ss := Build([]Record{rec}, legMedia(c.codec, c.rate))
		if got := *ss[0].Points[0].JitterMS; got != c.wantMS {
			t.Errorf("%s: jitter %v ms, want %v", c.codec, got, c.wantMS)
		}
	}
}

// One-way RTCP: only A reports. B's stream shows A's reception figures, A's
// its own SR; nothing is invented for the silent side.
func TestBuildOneWayAndLossDelta(t *testing.T) {
	var recs []Record
	for i, blk := range []ReportBlock{
		{SSRC: 0xb, HighestSeq: 1000, Lost: 0},
		{SSRC: 0xb, HighestSeq: 1490, Lost: 10}, // fraction 0 sent, but 10 of 490 lost: 2.04 %
		{SSRC: 0xb, HighestSeq: 1990, Lost: 10, FractionLost: 5},
	} {
		recs = append(recs, Record{Time: time.Unix(int64(100+5*i), 0), Leg: "leg", Src: addrA, Dst: addrB, Kind: KindRTCPJSON,
			RTCP: &RTCP{SSRC: 0xa, Sender: &SenderInfo{Packets: uint32(250 * (i + 1))}, Blocks: []ReportBlock{blk}}})
	}
	ss := Build(recs, nil)
	b := find(t, ss, 0xb, addrB, addrA)
	want := []float64{0, 100 * 10.0 / 490, 5 * 100.0 / 256}
	for i, p := range b.Points {
		if !near(*p.FractionLost, want[i], 1e-9) {
			t.Errorf("point %d: fraction %v, want %v", i, *p.FractionLost, want[i])
		}
	}
	a := find(t, ss, 0xa, addrA, addrB)
	if len(a.Points) != 3 || a.Points[0].FractionLost != nil || *a.Summary.Packets != 750 {
		t.Errorf("A's own stream %+v", a)
	}
	if len(ss) != 2 {
		t.Errorf("%d streams, want 2", len(ss))
	}
}

func TestBuildVQAndHeaders(t *testing.T) {
	vq, err := DecodeVQ(readFixture(t, "vq-rfc6035.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sipA := netip.MustParseAddrPort("192.0.2.1:5060")
	sipB := netip.MustParseAddrPort("192.0.2.2:5060")
	stat, err := DecodeStatHeader("X-RTP-Stat", "PS=1000;OS=160000;PR=980;OR=156800;PL=20;JI=12;LA=40")
	if err != nil {
		t.Fatal(err)
	}
	ss := Build([]Record{
		{Time: time.Unix(10, 0), Leg: "leg", Src: sipA, Dst: sipB, Kind: KindRTCPXR, VQ: vq},
		{Time: time.Unix(11, 0), Leg: "leg", Src: sipA, Dst: sipB, Kind: KindXRTPStat, Stat: stat},
	}, nil)
	local := find(t, ss, 0x1357efff, netip.MustParseAddrPort("11.1.1.150:5002"), netip.MustParseAddrPort("10.10.1.100:5000"))
	p := local.Points[0]
	if *p.FractionLost != 5 || *p.RTTMS != 200 || *p.MOS != 4.2 || p.MOSSource != "reported" || *p.JitterMS != 2 || local.Codec != "G729" {
		t.Errorf("LocalMetrics point %+v codec %s", p, local.Codec)
	}
	find(t, ss, 0x2468abcd, netip.MustParseAddrPort("10.10.1.100:5000"), netip.MustParseAddrPort("11.1.1.150:5002"))
	// The BYE's sender A received 980 and lost 20: 2 % on B → A.
	rx := find(t, ss, 0, sipB, sipA).Points[0]
	if *rx.Packets != 980 || *rx.Lost != 20 || *rx.FractionLost != 2 || *rx.JitterMS != 12 || rx.MOSSource != "e-model" {
		t.Errorf("received %+v", rx)
	}
	// MOS: G.711 default, 2 % loss, delay = jitter buffer LA 40 ms.
	if want := round2(MOSFromR(RFactor(ImpairmentOf(""), 2, 40))); *rx.MOS != want {
		t.Errorf("MOS %v, want %v", *rx.MOS, want)
	}
	tx := find(t, ss, 0, sipA, sipB).Points[0]
	if *tx.Packets != 1000 || *tx.Octets != 160000 || tx.Lost != nil {
		t.Errorf("sent %+v", tx)
	}
}

func TestParseSDP(t *testing.T) {
	body := "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n" +
		"m=audio 40376 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n" +
		"m=audio 0 RTP/AVP 0\r\n" +
		"m=audio 50000 RTP/AVP 111\r\nc=IN IP4 203.0.113.9\r\na=rtpmap:111 opus/48000/2\r\na=rtcp:50011 IN IP4 203.0.113.10\r\na=rtcp-mux\r\n"
	ms := ParseSDP([]byte(body))
	if len(ms) != 2 {
		t.Fatalf("%+v", ms)
	}
	if m := ms[0]; m.RTP.String() != "198.51.100.1:40376" || m.RTCP.String() != "198.51.100.1:40377" || m.Codec != "PCMA" || m.ClockRate != 8000 {
		t.Errorf("first %+v", m)
	}
	m := ms[1]
	if m.RTP.String() != "203.0.113.9:50000" || m.RTCP.String() != "203.0.113.10:50011" || !m.Mux || m.Codec != "opus" || m.ClockRate != 48000 {
		t.Errorf("second %+v", m)
	}
	if !m.Matches(netip.MustParseAddrPort("203.0.113.9:50000")) || !m.Matches(netip.MustParseAddrPort("[::ffff:203.0.113.10]:50011")) ||
		m.Matches(netip.MustParseAddrPort("203.0.113.9:50001")) {
		t.Error("Matches")
	}
}
