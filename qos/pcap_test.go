package qos

import (
	"traced/internal/peer"

	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const rtcpPcap = "heplify-rtp_rtcp_sip_ipv4_udp.pcap" // in shared/pcaps

// pcapRTCP is one RTCP packet of the capture.
type pcapRTCP struct {
	frame    int
	at       time.Time
	src, dst netip.AddrPort
	payload  []byte
}

// readPcapRTCP reads the UDP payloads of the capture that are RTCP (version
// 2, packet type 200 to 207).
func readPcapRTCP(t testing.TB, path string) []pcapRTCP {
	t.Helper()
	f, err := os.Open(peer.SampleCapture(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []pcapRTCP
	for frame := 1; ; frame++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil || len(udp.Payload) < 8 || udp.Payload[0]>>6 != 2 || udp.Payload[1] < 200 || udp.Payload[1] > 207 {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		out = append(out, pcapRTCP{frame: frame, at: ci.Timestamp, src: netip.AddrPortFrom(src, uint16(udp.SrcPort)),
			dst: netip.AddrPortFrom(dst, uint16(udp.DstPort)), payload: append([]byte(nil), udp.Payload...)})
	}
	return out
}

// tsharkRow is what tshark says of one RTCP frame.
type tsharkRow struct {
	senderSSRC, packets string
	blocks              [][6]string // identifier, fraction, cum lost, jitter, lsr, dlsr
}

// tsharkRTCP runs tshark over the capture. Without tshark the test is
// skipped, unless CI is set: then it fails.
func tsharkRTCP(t *testing.T, path string) map[int]tsharkRow {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is needed in CI")
		}
		t.Skip("tshark is not installed")
	}
	// tshark tells RTCP by the SDP it has seen; the gateway's other leg
	// (200.57.7.196:40379 ↔ 200.57.7.199:4801) has no SDP in the capture, so
	// its port is decoded as RTCP explicitly.
	out, err := exec.Command(bin, "-r", peer.SampleCapture(t, path), "-d", "udp.port==4801,rtcp", "-Y", "rtcp", "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "rtcp.senderssrc", "-e", "rtcp.sender.packetcount", "-e", "rtcp.ssrc.identifier",
		"-e", "rtcp.ssrc.fraction", "-e", "rtcp.ssrc.cum_nr", "-e", "rtcp.ssrc.jitter", "-e", "rtcp.ssrc.lsr",
		"-e", "rtcp.ssrc.dlsr").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	rows := map[int]tsharkRow{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 9 {
			t.Fatalf("tshark line %q", line)
		}
		n, _ := strconv.Atoi(f[0])
		row := tsharkRow{senderSSRC: first(f[1]), packets: first(f[2])}
		fr := split(f[4])
		ids, cum, jit, lsr, dlsr := split(f[3]), split(f[5]), split(f[6]), split(f[7]), split(f[8])
		for i := range fr { // identifiers go on with the SDES chunks' SSRCs
			row.blocks = append(row.blocks, [6]string{ids[i], fr[i], cum[i], jit[i], lsr[i], dlsr[i]})
		}
		rows[n] = row
	}
	return rows
}

func first(s string) string { return strings.Split(s, ",")[0] }

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func blockFields(b ReportBlock) [6]string {
	return [6]string{fmt.Sprintf("0x%08x", b.SSRC), strconv.Itoa(int(b.FractionLost)), strconv.Itoa(int(b.Lost)),
		strconv.FormatUint(uint64(b.Jitter), 10), strconv.FormatUint(uint64(b.LSR), 10), strconv.FormatUint(uint64(b.DLSR), 10)}
}

// TestPcapRTCPMatchesTshark decodes every RTCP packet of a real capture, as
// binary and as the heplify JSON made from it, and compares each with what
// tshark reads: sender SSRC, sender packet count, and every report block.
func TestPcapRTCPMatchesTshark(t *testing.T) {
	pkts := readPcapRTCP(t, rtcpPcap)
	want := tsharkRTCP(t, rtcpPcap)
	if len(pkts) != len(want) || len(pkts) != 28 {
		t.Fatalf("read %d RTCP packets, tshark %d (want 28)", len(pkts), len(want))
	}
	type last struct {
		packets uint32
		block   ReportBlock
	}
	perSSRC := map[string][2]string{} // tshark: SSRC → last packet count, last block of reports about it
	mine := map[uint32]last{}
	for _, p := range pkts {
		w, ok := want[p.frame]
		if !ok {
			t.Fatalf("frame %d is not RTCP for tshark", p.frame)
		}
		bin, err := DecodeBinaryRTCP(p.payload)
		if err != nil {
			t.Fatalf("frame %d: %v", p.frame, err)
		}
		js, err := DecodeRTCPJSON(EncodeRTCPJSON(bin))
		if err != nil {
			t.Fatalf("frame %d json: %v", p.frame, err)
		}
		for name, r := range map[string]*RTCP{"binary": bin, "json": js} {
			if got := fmt.Sprintf("0x%08x", r.SSRC); got != w.senderSSRC {
				t.Errorf("frame %d %s: sender SSRC %s, tshark %s", p.frame, name, got, w.senderSSRC)
			}
			if r.Sender == nil || strconv.FormatUint(uint64(r.Sender.Packets), 10) != w.packets {
				t.Errorf("frame %d %s: packets %+v, tshark %s", p.frame, name, r.Sender, w.packets)
			}
			if len(r.Blocks) != len(w.blocks) {
				t.Fatalf("frame %d %s: %d blocks, tshark %d", p.frame, name, len(r.Blocks), len(w.blocks))
			}
			for i, b := range r.Blocks {
				if got := blockFields(b); got != w.blocks[i] {
					t.Errorf("frame %d %s block %d: %v, tshark %v", p.frame, name, i, got, w.blocks[i])
				}
			}
		}
		perSSRC[w.senderSSRC] = [2]string{w.packets, perSSRC[w.senderSSRC][1]}
		l := mine[bin.SSRC]
		l.packets = bin.Sender.Packets
		mine[bin.SSRC] = l
		for i, b := range bin.Blocks {
			k := w.blocks[i][0]
			perSSRC[k] = [2]string{perSSRC[k][0], strings.Join(w.blocks[i][1:4], "/")}
			l := mine[b.SSRC]
			l.block = b
			mine[b.SSRC] = l
		}
	}
	// Per SSRC, the last figures: packet count, and fraction/cumulative
	// lost/jitter of the last block about it.
	for ssrc, w := range perSSRC {
		v, _ := strconv.ParseUint(strings.TrimPrefix(ssrc, "0x"), 16, 32)
		m := mine[uint32(v)]
		got := [2]string{"", fmt.Sprintf("%d/%d/%d", m.block.FractionLost, m.block.Lost, m.block.Jitter)}
		if w[0] != "" {
			got[0] = strconv.FormatUint(uint64(m.packets), 10)
		}
		if got != w {
			t.Errorf("SSRC %s: %v, tshark %v", ssrc, got, w)
		}
		t.Logf("SSRC %s: packets %s, last fraction/cum lost/jitter %s (tshark and traced)", ssrc, w[0], w[1])
	}
}

// TestPcapStreams builds the call's streams from the capture's RTCP, binary
// and JSON alike, with the call's SDP (PCMA at 200.57.7.196:40376 and
// 200.57.7.204:8000).
func TestPcapStreams(t *testing.T) {
	pkts := readPcapRTCP(t, rtcpPcap)
	media := []LegMedia{
		{Leg: "12013223@200.57.7.195", Media: ParseSDP([]byte("c=IN IP4 200.57.7.196\r\nm=audio 40376 RTP/AVP 8 18 4 0\r\na=rtpmap:8 PCMA/8000\r\n"))[0]},
		{Leg: "12013223@200.57.7.195", Media: ParseSDP([]byte("c=IN IP4 200.57.7.204\r\nm=audio 8000 RTP/AVP 8 0 3\r\na=rtpmap:8 pcma/8000\r\n"))[0]},
	}
	var bin, js []Record
	for _, p := range pkts {
		r, _ := DecodeBinaryRTCP(p.payload)
		j, _ := DecodeRTCPJSON(EncodeRTCPJSON(r))
		bin = append(bin, Record{Time: p.at, Leg: "12013223@200.57.7.195", Src: p.src, Dst: p.dst, Kind: KindRTCP, RTCP: r})
		js = append(js, Record{Time: p.at, Leg: "12013223@200.57.7.195", Src: p.src, Dst: p.dst, Kind: KindRTCPJSON, RTCP: j})
	}
	sb, sj := Build(bin, media), Build(js, media)
	if len(sb) != len(sj) {
		t.Fatalf("%d streams from binary, %d from json", len(sb), len(sj))
	}
	x := netip.MustParseAddrPort("200.57.7.204:8001")
	c := netip.MustParseAddrPort("200.57.7.196:40377")
	up := find(t, sb, 0xd2bd4e3e, x, c)   // X-Lite's media: its SRs, and the gateway's reports of it
	down := find(t, sb, 0x58f33dea, c, x) // the gateway's media
	if up.Codec != "PCMA" || *up.Summary.Packets != 548 || *down.Summary.Packets != 749 {
		t.Errorf("packets: up %v down %v codec %s", *up.Summary.Packets, *down.Summary.Packets, up.Codec)
	}
	// The gateway's jitter reports of X-Lite's stream: 16, 0, 4, 20 units of
	// 1/8000 s; X-Lite's of the gateway's: up to 9244 units = 1155.5 ms.
	if *up.Summary.MaxJitterMS != 20.0/8 || *down.Summary.MaxJitterMS != 9244.0/8 {
		t.Errorf("jitter: up %v down %v", *up.Summary.MaxJitterMS, *down.Summary.MaxJitterMS)
	}
	for i := range sb {
		if len(sb[i].Points) != len(sj[i].Points) {
			t.Fatalf("stream %d: %d points binary, %d json", i, len(sb[i].Points), len(sj[i].Points))
		}
		for k := range sb[i].Points {
			a, b := sb[i].Points[k], sj[i].Points[k]
			a.Kind, b.Kind = "", ""
			if fmt.Sprint(deref(a)) != fmt.Sprint(deref(b)) {
				t.Errorf("stream %d point %d: binary %v json %v", i, k, deref(a), deref(b))
			}
		}
	}
}

func deref(p Point) []any {
	out := []any{p.Time}
	for _, v := range []*int64{p.Packets, p.Octets, p.Lost} {
		if v != nil {
			out = append(out, *v)
		} else {
			out = append(out, nil)
		}
	}
	for _, v := range []*float64{p.FractionLost, p.JitterMS, p.RTTMS, p.MOS} {
		if v != nil {
			out = append(out, *v)
		} else {
			out = append(out, nil)
		}
	}
	return out
}
