package main

import (
	"traced/internal/peer"

	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"traced/httpui"
	"traced/ingest/hep"
	"traced/qos"
)

// The capture with a call and its RTCP: X-Lite (200.57.7.204, media 8000)
// answers a Clarent gateway (media 200.57.7.196:40376); the gateway also
// relays RTCP on another leg (40379 ↔ 200.57.7.199:4801) that the capture has
// no SDP for.
const (
	qosCallID = "12013223@200.57.7.195"
	qosPcap   = "heplify-rtp_rtcp_sip_ipv4_udp.pcap" // in shared/pcaps
)

var (
	qosXLite   = netip.MustParseAddrPort("200.57.7.204:8001")
	qosGateway = netip.MustParseAddrPort("200.57.7.196:40377")
)

// pcapUDP is one UDP packet of the capture.
type pcapUDP struct {
	frame    int
	at       time.Time
	src, dst netip.AddrPort
	payload  []byte
}

func (p pcapUDP) isRTCP() bool {
	return len(p.payload) >= 8 && p.payload[0]>>6 == 2 && p.payload[1] >= 200 && p.payload[1] <= 207
}

// readQoSPcap returns the SIP of the call and every RTCP packet of the capture.
func readQoSPcap(t *testing.T) (sip, rtcp []pcapUDP) {
	t.Helper()
	f, err := os.Open(peer.SampleCapture(t, qosPcap))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for frame := 1; ; frame++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		u := pcapUDP{frame: frame, at: ci.Timestamp, src: netip.AddrPortFrom(src, uint16(udp.SrcPort)),
			dst: netip.AddrPortFrom(dst, uint16(udp.DstPort)), payload: append([]byte(nil), udp.Payload...)}
		switch {
		case u.isRTCP():
			rtcp = append(rtcp, u)
		case strings.Contains(string(u.payload), "Call-ID: "+qosCallID+"\r\n"):
			sip = append(sip, u)
		}
	}
	if len(sip) != 5 || len(rtcp) != 28 {
		t.Fatalf("the capture has %d SIP messages of the call and %d RTCP packets, want 5 and 28", len(sip), len(rtcp))
	}
	return sip, rtcp
}

// tsharkReport is what tshark reads of one RTCP packet.
type tsharkReport struct {
	sender  string // SSRC, 0x%08x
	packets int64
	blocks  []tsharkBlock
}

type tsharkBlock struct {
	ssrc             string
	fraction, lost   int64
	jitter, lsr, dsr int64
}

// tsharkReports reads every RTCP packet of the capture with tshark, by frame.
// Without tshark the test is skipped, unless CI is set.
func tsharkReports(t *testing.T) map[int]tsharkReport {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is needed in CI")
		}
		t.Skip("tshark is not installed")
	}
	// The relayed leg's port has no SDP in the capture: decode it as RTCP.
	out, err := exec.Command("tshark", "-r", peer.SampleCapture(t, qosPcap), "-d", "udp.port==4801,rtcp", "-Y", "rtcp", "-T", "fields",
		"-E", "separator=|", "-e", "frame.number", "-e", "rtcp.senderssrc", "-e", "rtcp.sender.packetcount",
		"-e", "rtcp.ssrc.identifier", "-e", "rtcp.ssrc.fraction", "-e", "rtcp.ssrc.cum_nr", "-e", "rtcp.ssrc.jitter",
		"-e", "rtcp.ssrc.lsr", "-e", "rtcp.ssrc.dlsr").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	num := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	rows := map[int]tsharkReport{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 9 {
			t.Fatalf("tshark line %q", line)
		}
		col := func(i int) []string { return strings.Split(f[i], ",") }
		r := tsharkReport{sender: col(1)[0], packets: num(col(2)[0])}
		if f[4] != "" {
			for i := range col(4) {
				r.blocks = append(r.blocks, tsharkBlock{ssrc: col(3)[i], fraction: num(col(4)[i]), lost: num(col(5)[i]),
					jitter: num(col(6)[i]), lsr: num(col(7)[i]), dsr: num(col(8)[i])})
			}
		}
		rows[int(num(f[0]))] = r
	}
	return rows
}

// hepOf makes one HEPv3 packet.
func hepOf(at time.Time, typ uint8, src, dst netip.AddrPort, corr string, payload []byte) []byte {
	p := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: src, Dst: dst, TsSec: uint32(at.Unix()),
		TsUsec: uint32(at.Nanosecond() / 1000), ProtoType: typ, CaptureID: 2001, NodeName: []byte("qos-agent"),
		Payload: payload}
	if corr != "" {
		p.CorrelationID = []byte(corr)
	}
	return hep.AppendV3(nil, &p)
}

// bLeg is a second leg of the call, tied by X-CID, with one-way RTCP (only
// its callee reports), statistics headers in its BYE and 200, and an RFC 6035
// report in a PUBLISH of its own.
type bLeg struct {
	callID           string
	caller, callee   netip.AddrPort // SIP
	callerM, calleeM netip.AddrPort // RTCP of the SDP media
	packets          [][]byte
}

func newBLeg(start time.Time) *bLeg {
	b := &bLeg{callID: "qos-bleg-" + strconv.FormatInt(start.UnixNano(), 36) + "@200.57.7.195",
		caller: netip.MustParseAddrPort("200.57.7.195:5060"), callee: netip.MustParseAddrPort("200.57.7.210:5060"),
		callerM: netip.MustParseAddrPort("200.57.7.195:30001"), calleeM: netip.MustParseAddrPort("200.57.7.210:31001")}
	sdp := func(ip string, port int) string {
		return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n", ip, ip, port)
	}
	msg := func(first, cseq, extra, body string) []byte {
		s := first + "\r\nVia: SIP/2.0/UDP 200.57.7.195;branch=z9hG4bK-" + strings.ReplaceAll(cseq, " ", "") +
			"\r\nFrom: <sip:gw@200.57.7.195>;tag=a1\r\nTo: <sip:francisco@200.57.7.210>;tag=b2\r\nCall-ID: " + b.callID +
			"\r\nCSeq: " + cseq + "\r\n" + extra
		if body != "" {
			s += "Content-Type: application/sdp\r\n"
		}
		return []byte(s + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	add := func(at time.Time, typ uint8, src, dst netip.AddrPort, corr string, payload []byte) {
		b.packets = append(b.packets, hepOf(at, typ, src, dst, corr, payload))
	}
	add(start, 1, b.caller, b.callee, "", msg("INVITE sip:francisco@200.57.7.210 SIP/2.0", "1 INVITE", "X-CID: "+qosCallID+"\r\n", sdp("200.57.7.195", 30000)))
	add(start.Add(300*time.Millisecond), 1, b.callee, b.caller, "", msg("SIP/2.0 200 OK", "1 INVITE", "", sdp("200.57.7.210", 31000)))
	for i := 1; i <= 3; i++ {
		r := &qos.RTCP{SSRC: 0xb1, Sender: &qos.SenderInfo{Packets: uint32(250 * i), Octets: uint32(5000 * i)},
			Blocks: []qos.ReportBlock{{SSRC: 0xb2, FractionLost: 26, Lost: int32(12 * i), HighestSeq: uint32(1000 + 250*i), Jitter: 400}}}
		add(start.Add(time.Duration(i)*5*time.Second), 5, b.calleeM, b.callerM, b.callID, qos.EncodeRTCPJSON(r))
	}
	add(start.Add(16*time.Second), 1, b.caller, b.callee, "", msg("BYE sip:francisco@200.57.7.210 SIP/2.0", "2 BYE",
		"X-RTP-Stat: PS=800;OS=16000;PR=780;OR=15600;PL=20;JI=15;LA=60;EN=G729;DE=G729\r\n", ""))
	add(start.Add(16100*time.Millisecond), 1, b.callee, b.caller, "", msg("SIP/2.0 200 OK", "2 BYE",
		"RTP-RxStat: Total_Rx_Pkts=790,Total_Rx_Bytes=15800,Total_Lost_Pkts=10,Jitter=4\r\nRTP-TxStat: Total_Tx_Pkts=781,Total_Tx_Bytes=15620\r\n", ""))
	vq := "VQSessionReport: CallTerm\r\nCallID: " + b.callID + "\r\nLocalID: <sip:francisco@200.57.7.210>\r\nRemoteID: <sip:gw@200.57.7.195>\r\n" +
		"LocalAddr: IP=200.57.7.210 PORT=31000 SSRC=0x000000b1\r\nRemoteAddr: IP=200.57.7.195 PORT=30000 SSRC=0x000000b2\r\n" +
		"LocalMetrics:\r\nSessionDesc: PT=18 PD=G729 SR=8000\r\nJitterBuffer: JBA=3 JBN=40 JBM=80\r\nPacketLoss: NLR=10.2 JDR=0.0\r\n" +
		"Delay: RTD=80 ESD=40 IAJ=50\r\nQualityEst: RLQ=70 MOSLQ=3.6 MOSCQ=3.6\r\n"
	pub := "PUBLISH sip:collector@200.57.7.250 SIP/2.0\r\nVia: SIP/2.0/UDP 200.57.7.210;branch=z9hG4bK-pub\r\n" +
		"From: <sip:francisco@200.57.7.210>;tag=p1\r\nTo: <sip:collector@200.57.7.250>\r\nCall-ID: pub-" + b.callID +
		"\r\nCSeq: 1 PUBLISH\r\nEvent: vq-rtcpxr\r\nContent-Type: application/vq-rtcpxr\r\nContent-Length: " +
		strconv.Itoa(len(vq)) + "\r\n\r\n" + vq
	add(start.Add(16200*time.Millisecond), 1, b.callee, netip.MustParseAddrPort("200.57.7.250:5060"), "", []byte(pub))
	return b
}

// TestQoSEndToEnd sends a real traced the SIP of a captured call with its
// RTCP twice, as heplify JSON (HEP type 5, correlation id = Call-ID) and as
// the raw packets (HEP type 5 without correlation id, as a pcap import
// stores them), plus a second leg with one-way RTCP, statistics headers and
// an RFC 6035 PUBLISH. The call's /qos must show every stream of both legs
// with the figures tshark reads in the capture, leave out the RTCP of the
// gateway's other leg, and the QoS tab must chart them.
func TestQoSEndToEnd(t *testing.T) {
	binaries(t)
	sip, rtcp := readQoSPcap(t)
	want := tsharkReports(t)
	d := startTraced(t, filepath.Join(t.TempDir(), "data"))

	pkts, jsonSent, b := qosCallPackets(t, sip, rtcp)
	d.sendUDP(pkts)
	d.waitStored(uint64(len(pkts)))

	get := webGet(t, d)
	var res httpui.QoSResult
	if err := json.Unmarshal(get("/api/v1/calls/"+url.PathEscape(qosCallID)+"/qos"), &res); err != nil {
		t.Fatal(err)
	}
	stream := func(leg string, ssrc uint32, src, dst netip.AddrPort) *httpui.QoSStream {
		t.Helper()
		return qosStream(t, res, leg, ssrc, src, dst)
	}
	for _, s := range res.Streams {
		if strings.Contains(s.Direction, "4801") || strings.Contains(s.Direction, "40379") {
			t.Errorf("the gateway's other leg's RTCP is in the call: %s", s.Direction)
		}
	}

	// Leg A, both directions, from each source: what tshark reads.
	checkLegA(t, res, rtcp, want, "rtcp", "rtcp-json")
	if n := len(res.NoReports); n != 0 {
		t.Errorf("SDP media without reports: %+v", res.NoReports)
	}

	// Leg B: one-way RTCP (the callee's SRs, reporting on the caller's media).
	rx := stream(b.callID, 0xb2, b.callerM, b.calleeM)
	if len(rx.Points) != 3 || rx.Codec != "G729" {
		t.Fatalf("leg B caller → callee: %+v", rx)
	}
	for _, p := range rx.Points {
		if *p.FractionLost != 26*100.0/256 || *p.JitterMS != 50 || p.MOS == nil || p.MOSSource != "e-model" {
			t.Errorf("leg B point %+v", p)
		}
	}
	if tx := stream(b.callID, 0xb1, b.calleeM, b.callerM); *tx.Summary.Packets != 750 {
		t.Errorf("leg B callee's packets %v", *tx.Summary.Packets)
	}
	// The BYE's sender (the caller) received 780 and lost 20: 2.5 %.
	if st := stream(b.callID, 0, b.callee, b.caller); st.Points[0].Source != "x-rtp-stat" || *st.Points[0].Packets != 780 ||
		*st.Points[0].FractionLost != 2.5 {
		t.Errorf("X-RTP-Stat: %+v", st.Points[0])
	}
	if st := stream(b.callID, 0, b.caller, b.callee); !slices.Contains(st.Sources, "rtp-stat") {
		t.Errorf("RTP-RxStat of the 200 to BYE: %+v", st)
	}
	xr := stream(b.callID, 0xb2, netip.MustParseAddrPort("200.57.7.195:30000"), netip.MustParseAddrPort("200.57.7.210:31000"))
	if p := xr.Points[0]; p.Source != "rtcp-xr" || *p.MOS != 3.6 || p.MOSSource != "reported" || *p.FractionLost != 10.2 || *p.RTTMS != 80 {
		t.Errorf("PUBLISH vq-rtcpxr: %+v", p)
	}

	// The QoS tab charts every stream: seven charts for an RTCP stream with
	// reports both ways (packets, octets, jitter, lost, fraction, RTT, MOS).
	page := string(get("/call/" + url.PathEscape(qosCallID) + "?tab=qos"))
	if n := strings.Count(page, `data-testid="qos-stream"`); n != len(res.Streams) {
		t.Errorf("the QoS tab shows %d streams, the API %d", n, len(res.Streams))
	}
	if n := strings.Count(page, `data-testid="qos-chart"`); n < 2*len(res.Streams) {
		t.Errorf("the QoS tab has %d charts for %d streams", n, len(res.Streams))
	}
	for _, s := range []string{"200.57.7.204:8001 → 200.57.7.196:40377", "<polyline", "Jitter (ms)", "MOS", b.callID} {
		if !strings.Contains(page, s) {
			t.Errorf("the QoS tab lacks %q", s)
		}
	}
	t.Logf("%d packets sent (%d RTCP as JSON); %d streams", len(pkts), jsonSent, len(res.Streams))
	checkRTCPMetrics(t, string(get("/metrics")), pkts)
}

func streamList(res httpui.QoSResult) string {
	var out []string
	for _, s := range res.Streams {
		out = append(out, s.Leg+" "+s.SSRC+" "+s.Direction+" "+strings.Join(s.Sources, "+"))
	}
	return strings.Join(out, "; ")
}

// qosCallPackets is the call of the sample capture as HEP, replayed as if
// captured two minutes ago: its SIP, its RTCP as binary HEP type 5 and, for
// the RTCP of the call's own media, once more as HEP type 5 JSON with the
// Call-ID as correlation id (jsonSent of them), and a B leg.
func qosCallPackets(t *testing.T, sip, rtcp []pcapUDP) (pkts [][]byte, jsonSent int, b *bLeg) {
	t.Helper()
	// The call is replayed as if captured two minutes ago.
	shift := time.Now().Add(-2 * time.Minute).Sub(sip[0].at)
	for _, p := range sip {
		pkts = append(pkts, hepOf(p.at.Add(shift), 1, p.src, p.dst, "", p.payload))
	}
	onCall := func(p pcapUDP) bool {
		return p.src == qosXLite && p.dst == qosGateway || p.src == qosGateway && p.dst == qosXLite
	}
	for _, p := range rtcp {
		pkts = append(pkts, hepOf(p.at.Add(shift), 5, p.src, p.dst, "", p.payload))
		if onCall(p) {
			r, err := qos.DecodeBinaryRTCP(p.payload)
			if err != nil {
				t.Fatal(err)
			}
			pkts = append(pkts, hepOf(p.at.Add(shift), 5, p.src, p.dst, qosCallID, qos.EncodeRTCPJSON(r)))
			jsonSent++
		}
	}
	b = newBLeg(sip[0].at.Add(shift).Add(200 * time.Millisecond))
	pkts = append(pkts, b.packets...)
	return pkts, jsonSent, b
}

// qosStream returns the stream of leg with ssrc from src to dst, failing t
// when there is none.
func qosStream(t *testing.T, res httpui.QoSResult, leg string, ssrc uint32, src, dst netip.AddrPort) *httpui.QoSStream {
	t.Helper()
	for i := range res.Streams {
		s := &res.Streams[i]
		if s.Leg == leg && s.SSRC == fmt.Sprintf("0x%08x", ssrc) && s.Src == src.String() && s.Dst == dst.String() {
			return s
		}
	}
	t.Fatalf("no stream %s %#x %s → %s in %s", leg, ssrc, src, dst, streamList(res))
	return nil
}

// checkLegA checks both directions of the sample call's media in res against
// what tshark reads in the capture: for each source kind (rtcp: the binary
// packets, rtcp-json: the same as HEP type 5 JSON), the packets of every SR
// and the jitter, cumulative and fractional loss of every report block.
func checkLegA(t *testing.T, res httpui.QoSResult, rtcp []pcapUDP, want map[int]tsharkReport, kinds ...string) {
	t.Helper()
	// Leg A, both directions, from each source: what tshark reads.
	for _, dir := range []struct {
		ssrc     uint32
		src, dst netip.AddrPort
	}{{0xd2bd4e3e, qosXLite, qosGateway}, {0x58f33dea, qosGateway, qosXLite}} {
		s := qosStream(t, res, qosCallID, dir.ssrc, dir.src, dir.dst)
		hasAll := true
		for _, k := range kinds {
			hasAll = hasAll && slices.Contains(s.Sources, k)
		}
		if !strings.EqualFold(s.Codec, "PCMA") || s.ClockRate != 8000 || !hasAll {
			t.Errorf("%s: codec %s/%d sources %v", s.Direction, s.Codec, s.ClockRate, s.Sources)
		}
		ssrc := fmt.Sprintf("0x%08x", dir.ssrc)
		var wantPackets, wantLost []int64
		var wantJitter, wantFraction []float64
		for _, p := range rtcp {
			w := want[p.frame]
			if p.src == dir.src && p.dst == dir.dst && w.sender == ssrc {
				wantPackets = append(wantPackets, w.packets)
			}
			if p.src == dir.dst && p.dst == dir.src && w.sender != ssrc {
				for _, bl := range w.blocks {
					if bl.ssrc == ssrc {
						wantJitter = append(wantJitter, float64(bl.jitter)/8)
						wantLost = append(wantLost, bl.lost)
						wantFraction = append(wantFraction, float64(bl.fraction)*100/256)
					}
				}
			}
		}
		if len(wantPackets) == 0 || len(wantJitter) == 0 {
			t.Fatalf("%s: tshark has no reports", s.Direction)
		}
		for _, kind := range kinds {
			var packets, lost []int64
			var jitter, fraction []float64
			for _, p := range s.Points {
				if p.Source != kind {
					continue
				}
				if p.Packets != nil {
					packets = append(packets, *p.Packets)
				}
				if p.JitterMS != nil {
					jitter = append(jitter, *p.JitterMS)
					lost = append(lost, *p.Lost)
					fraction = append(fraction, *p.FractionLost)
				}
			}
			if !slices.Equal(packets, wantPackets) || !slices.Equal(jitter, wantJitter) || !slices.Equal(lost, wantLost) ||
				!slices.Equal(fraction, wantFraction) {
				t.Errorf("%s from %s: packets %v jitter %v lost %v fraction %v; tshark: %v %v %v %v", s.Direction, kind,
					packets, jitter, lost, fraction, wantPackets, wantJitter, wantLost, wantFraction)
			}
		}
		t.Logf("%s SSRC %s: packets %v, jitter ms %v, lost %v (tshark and traced: %v)", s.Direction, ssrc,
			wantPackets, wantJitter, wantLost, kinds)
	}
}

// checkRTCPMetrics checks the RTCP histograms of /metrics against the RTCP
// sent: one observation per report block about a received stream (not the
// reporter's own SSRC, not SSRC 0), binary and JSON alike, with jitter in
// seconds at 8 kHz.
func checkRTCPMetrics(t *testing.T, metrics string, pkts [][]byte) {
	t.Helper()
	blocks, jitter := 0, 0.0
	var p hep.Packet
	for _, b := range pkts {
		if err := hep.Decode(b, &p); err != nil {
			t.Fatal(err)
		}
		if p.ProtoType != 5 {
			continue
		}
		r, _, err := qos.DecodeRTCP(p.Payload)
		if err != nil {
			continue
		}
		for _, bl := range r.Blocks {
			if bl.SSRC != 0 && bl.SSRC != r.SSRC {
				blocks++
				jitter += float64(bl.Jitter) / 8000
			}
		}
	}
	if blocks == 0 {
		t.Fatal("no RTCP report block sent")
	}
	for _, name := range []string{"traced_rtcp_jitter_seconds_count", "traced_rtcp_fraction_lost_count", "traced_rtcp_mos_count"} {
		if !strings.Contains(metrics, fmt.Sprintf("%s %d\n", name, blocks)) {
			t.Errorf("/metrics lacks %s %d", name, blocks)
		}
	}
	m := regexp.MustCompile(`traced_rtcp_jitter_seconds_sum ([0-9.e+-]+)`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatal("/metrics has no traced_rtcp_jitter_seconds_sum")
	}
	if got, _ := strconv.ParseFloat(m[1], 64); math.Abs(got-jitter) > 1e-9*max(1, jitter) {
		t.Errorf("traced_rtcp_jitter_seconds_sum %v, want %v", got, jitter)
	}
	t.Logf("/metrics: %d RTCP report blocks, jitter sum %.6f s", blocks, jitter)
}
