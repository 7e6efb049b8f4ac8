package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestEncapsulations(t *testing.T) {
	sip := sipMsg("OPTIONS", "encap-1", "")
	u4 := udpIP(t, "192.0.2.1", "192.0.2.2", 5060, 5080, sip)
	u6 := udpIP(t, "2001:db8::1", "2001:db8::2", 5060, 5080, sip)
	want4 := Message{Proto: ProtoUDP, Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("192.0.2.2:5080"), Kind: KindSIP}
	want6 := Message{Proto: ProtoUDP, Src: netip.MustParseAddrPort("[2001:db8::1]:5060"), Dst: netip.MustParseAddrPort("[2001:db8::2]:5080"), Kind: KindSIP}
	sll := func(proto uint16, p []byte) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], proto)
		return append(h, p...)
	}
	sll2 := func(proto uint16, p []byte) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h, proto)
		binary.BigEndian.PutUint32(h[4:], 3)
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		return append(h, p...)
	}
	erspan2 := append([]byte{0x10, 0x01, 0x00, 0x05, 0, 0, 0, 0}, ether(0x0800, u4)...)
	erspan3 := append([]byte{0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ether(0x0800, u4)...)
	erspan3o := append([]byte{0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, 8)...)
	erspan3o = append(erspan3o, ether(0x0800, u4)...)
	mpls := append([]byte{0, 0x01, 0x00, 0x40, 0, 0x02, 0x01, 0x40}, u4...) // two labels, the second bottom of stack
	for _, c := range []struct {
		name string
		lt   layers.LinkType
		data []byte
		want Message
	}{
		{"ethernet ipv4", layers.LinkTypeEthernet, ether(0x0800, u4), want4},
		{"ethernet ipv6", layers.LinkTypeEthernet, ether(0x86dd, u6), want6},
		{"802.1Q", layers.LinkTypeEthernet, ether(0x8100, vlan(0x0800, 42, u4)), want4},
		{"QinQ", layers.LinkTypeEthernet, ether(0x88a8, vlan(0x8100, 7, vlan(0x86dd, 42, u6))), want6},
		{"QinQ 0x9100", layers.LinkTypeEthernet, ether(0x9100, vlan(0x8100, 7, vlan(0x0800, 42, u4))), want4},
		{"MPLS", layers.LinkTypeEthernet, ether(0x8847, mpls), want4},
		{"linux cooked", layers.LinkTypeLinuxSLL, sll(0x0800, u4), want4},
		{"linux cooked v2", layers.LinkTypeLinuxSLL2, sll2(0x86dd, u6), want6},
		{"linux cooked vlan", layers.LinkTypeLinuxSLL, sll(0x8100, vlan(0x0800, 5, u4)), want4},
		{"raw ipv4", layers.LinkTypeRaw, u4, want4},
		{"raw ipv6", layers.LinkTypeRaw, u6, want6},
		{"ipv4 link type", linkIPv4Only, u4, want4},
		{"null ipv4", layers.LinkTypeNull, append([]byte{2, 0, 0, 0}, u4...), want4},
		{"null ipv6 (macOS)", layers.LinkTypeNull, append([]byte{30, 0, 0, 0}, u6...), want6},
		{"loop ipv4", layers.LinkTypeLoop, append([]byte{0, 0, 0, 2}, u4...), want4},
		{"ipv4 in ipv4", layers.LinkTypeEthernet, ether(0x0800, serialize(t, ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolIPv4), gopacket.Payload(u4))), want4},
		{"ipv6 in ipv4", layers.LinkTypeRaw, serialize(t, ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolIPv6), gopacket.Payload(u6)), want6},
		{"ipv4 in ipv6", layers.LinkTypeRaw, serialize(t, ip6("2001:db8::a", "2001:db8::b", layers.IPProtocolIPv4), gopacket.Payload(u4)), want4},
		{"gre ipv4", layers.LinkTypeEthernet, ether(0x0800, greIP(t, 0x0800, false, u4)), want4},
		{"gre bridging", layers.LinkTypeEthernet, ether(0x0800, greIP(t, 0x6558, false, ether(0x86dd, u6))), want6},
		{"erspan I", layers.LinkTypeEthernet, ether(0x0800, greIP(t, 0x88be, false, ether(0x0800, u4))), want4},
		{"erspan II", layers.LinkTypeEthernet, ether(0x0800, greIP(t, 0x88be, true, erspan2)), want4},
		{"erspan III", layers.LinkTypeEthernet, ether(0x0800, greIP(t, 0x22eb, true, erspan3)), want4},
		{"erspan III subheader", layers.LinkTypeEthernet, ether(0x0800, greIP(t, 0x22eb, true, erspan3o)), want4},
		{"ethernet padding", layers.LinkTypeEthernet, append(ether(0x0800, u4), 0, 0, 0, 0), want4},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := t0.Add(time.Duration(len(c.name)) * time.Millisecond)
			for _, file := range [][]byte{writePcap(t, c.lt, frame{at, c.data}), writePcapng(t, c.lt, frame{at, c.data})} {
				ms, sum := readBytes(t, file)
				if len(ms) != 1 {
					t.Fatalf("%d messages, want 1; summary %+v", len(ms), sum)
				}
				m := ms[0]
				if !m.Time.Equal(at) || m.Proto != c.want.Proto || m.Src != c.want.Src || m.Dst != c.want.Dst || m.Kind != c.want.Kind || !bytes.Equal(m.Payload, sip) {
					t.Errorf("got %v %d %v→%v %v %q, want %v %d %v→%v %v", m.Time, m.Proto, m.Src, m.Dst, m.Kind, m.Payload,
						at, c.want.Proto, c.want.Src, c.want.Dst, c.want.Kind)
				}
				if sum.SIP != 1 || sum.Packets != 1 || sum.SkippedTotal() != 0 {
					t.Errorf("summary %+v", sum)
				}
			}
		})
	}
}

func TestSkippedByReason(t *testing.T) {
	rtp := append([]byte{0x80, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2}, make([]byte, 160)...)
	icmp := serialize(t, ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolICMPv4), gopacket.Payload([]byte{8, 0, 0, 0, 0, 0, 0, 0}))
	frames := []frame{
		{t0, ether(0x0806, make([]byte, 28))},                                                      // ARP
		{t0, append([]byte{1, 0x80, 0xc2, 0, 0, 0, 0, 1, 2, 3, 4, 5, 0, 38}, make([]byte, 38)...)}, // 802.3 STP
		{t0, ether(0x0800, icmp)},
		{t0, ether(0x0800, udpIP(t, "192.0.2.1", "192.0.2.2", 4000, 4002, rtp))},
		{t0, ether(0x0800, udpIP(t, "192.0.2.1", "192.0.2.2", 5060, 5060, []byte("\r\n\r\n")))},
		{t0, ether(0x0800, udpIP(t, "192.0.2.1", "192.0.2.2", 4001, 4003, rtcpRR(0x1234)))},
		{t0, ether(0x0800, []byte{0x45, 0})}, // cut IPv4 header
		{t0, ether(0x0800, udpIP(t, "192.0.2.1", "192.0.2.2", 5060, 5060, []byte("HELLO sip:x SIP/3.0\r\n\r\n")))},
	}
	ms, sum := readBytes(t, writePcap(t, layers.LinkTypeEthernet, frames...))
	want := map[string]int{SkipNotIP: 2, SkipOtherProto: 1, SkipUDPOther: 2, SkipKeepAlive: 1, SkipMalformed: 1}
	if fmt.Sprint(sum.Skipped) != fmt.Sprint(want) {
		t.Errorf("skipped %v, want %v", sum.Skipped, want)
	}
	if len(ms) != 1 || ms[0].Kind != KindRTCP || sum.RTCP != 1 || sum.Packets != len(frames) {
		t.Errorf("messages %v, summary %+v: want the one RTCP packet", ms, sum)
	}
	if sum.SkipReasons()[0] != SkipNotIP && sum.SkipReasons()[0] != SkipUDPOther {
		t.Errorf("reasons by count: %v", sum.SkipReasons())
	}
}

func TestUnsupportedLinkTypeAndTruncatedFile(t *testing.T) {
	file := writePcap(t, layers.LinkTypeEthernet, frame{t0, ether(0x0800, udpIP(t, "192.0.2.1", "192.0.2.2", 5060, 5060, sipMsg("BYE", "trunc", "")))},
		frame{t0, ether(0x0800, udpIP(t, "192.0.2.1", "192.0.2.2", 5060, 5060, sipMsg("BYE", "trunc2", "")))})
	ms, sum := readBytes(t, file[:len(file)-20])
	if len(ms) != 1 || sum.Skipped[SkipFileTruncated] != 1 {
		t.Errorf("cut file: %d messages, summary %+v", len(ms), sum)
	}
	_, sum = readBytes(t, writePcap(t, layers.LinkTypeFDDI, frame{t0, make([]byte, 40)}))
	if sum.Skipped[SkipLinkType] != 1 {
		t.Errorf("FDDI: summary %+v", sum)
	}
	if _, err := NewReader(bytes.NewReader([]byte("not a capture at all"))); err == nil {
		t.Error("a text file was taken for a capture")
	}
}

// fragments4 cuts an IPv4 packet's payload into fragments of n bytes (a multiple
// of 8).
func fragments4(t *testing.T, pkt []byte, n int) [][]byte {
	t.Helper()
	var ip layers.IPv4
	if err := ip.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for off := 0; off < len(ip.Payload); off += n {
		end := min(off+n, len(ip.Payload))
		f := ip
		f.Flags = 0
		if end < len(ip.Payload) {
			f.Flags = layers.IPv4MoreFragments
		}
		f.FragOffset = uint16(off / 8)
		out = append(out, serialize(t, &f, gopacket.Payload(ip.Payload[off:end])))
	}
	return out
}

// fragments6 cuts an IPv6 packet's payload into fragments of n bytes with a
// fragment header of identification id.
func fragments6(t *testing.T, pkt []byte, n int, id uint32) [][]byte {
	t.Helper()
	nh, payload := pkt[6], pkt[40:]
	var out [][]byte
	for off := 0; off < len(payload); off += n {
		end := min(off+n, len(payload))
		fh := make([]byte, 8)
		fh[0] = nh
		fo := uint16(off)
		if end < len(payload) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		f := append([]byte(nil), pkt[:40]...)
		f[6] = 44
		binary.BigEndian.PutUint16(f[4:], uint16(8+end-off))
		f = append(append(f, fh...), payload[off:end]...)
		out = append(out, f)
	}
	return out
}

func TestIPFragments(t *testing.T) {
	body := string(bytes.Repeat([]byte("a=x-filler:0123456789abcdef\r\n"), 120))
	sip := sipMsg("INVITE", "frag-1", body)
	f4 := fragments4(t, udpIP(t, "192.0.2.1", "192.0.2.2", 5060, 5060, sip), 1480)
	f6 := fragments6(t, udpIP(t, "2001:db8::1", "2001:db8::2", 5060, 5060, sip), 1232, 0xf88eb466)
	if len(f4) < 3 || len(f6) < 3 {
		t.Fatalf("%d and %d fragments", len(f4), len(f6))
	}
	// Out of order, with a duplicate; the last to arrive completes the datagram.
	var frames []frame
	order := []int{2, 0, 0, 1}
	for i, k := range order {
		frames = append(frames, frame{t0.Add(time.Duration(i) * time.Millisecond), ether(0x0800, f4[k])})
	}
	for i := len(f6) - 1; i >= 0; i-- {
		frames = append(frames, frame{t0.Add(time.Duration(10+len(f6)-i) * time.Millisecond), ether(0x86dd, f6[i])})
	}
	// A datagram whose first fragment never comes, and a fragment overlapping
	// another.
	frames = append(frames, frame{t0.Add(20 * time.Millisecond), ether(0x86dd, fragments6(t, udpIP(t, "2001:db8::1", "2001:db8::2", 5060, 5060, sip), 1232, 7)[1])})
	ms, sum := readBytes(t, writePcap(t, layers.LinkTypeEthernet, frames...))
	if len(ms) != 2 || sum.IPv4Reassembled != 1 || sum.IPv6Reassembled != 1 {
		t.Fatalf("%d messages, summary %+v", len(ms), sum)
	}
	for i, m := range ms {
		if !bytes.Equal(m.Payload, sip) {
			t.Errorf("message %d: %d bytes, want the %d of the datagram", i, len(m.Payload), len(sip))
		}
	}
	if !ms[0].Time.Equal(t0.Add(3*time.Millisecond)) || ms[1].Src.Addr() != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("times %v %v, sources %v %v", ms[0].Time, ms[1].Time, ms[0].Src, ms[1].Src)
	}
	if sum.Skipped[SkipFragIncomplete] != 1 {
		t.Errorf("the datagram left incomplete is not counted: %v", sum.Skipped)
	}
}

func TestDefrag6Bounds(t *testing.T) {
	k := func(id uint32) frag6Key {
		return frag6Key{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), id}
	}
	d := newDefrag6(defrag6Limits{Datagrams: 2, Pieces: 3})
	data := bytes.Repeat([]byte{1}, 16)
	if _, _, r := d.add(k(1), 0, true, 17, data, t0); r != fragPending {
		t.Fatal(r)
	}
	if _, _, r := d.add(k(1), 0, true, 17, data, t0); r != fragPending {
		t.Errorf("duplicate: %v", r)
	}
	if _, _, r := d.add(k(1), 8, true, 17, data, t0); r != fragInvalid || d.pending() != 0 {
		t.Errorf("overlap: %v, %d pending", r, d.pending())
	}
	if _, _, r := d.add(k(2), 0, true, 17, data[:10], t0); r != fragInvalid {
		t.Errorf("a middle fragment not a multiple of 8: %v", r)
	}
	d.add(k(3), 0, true, 17, data, t0)
	d.add(k(4), 0, true, 17, data, t0)
	if _, _, r := d.add(k(5), 0, true, 17, data, t0); r != fragTableFull {
		t.Errorf("a third datagram with room for two: %v", r)
	}
	if n := d.expire(t0.Add(time.Second)); n != 2 || d.pending() != 0 {
		t.Errorf("expired %d, %d left", n, d.pending())
	}
	for i := 0; i < 3; i++ {
		d.add(k(6), i*16, true, 17, data, t0)
	}
	if _, _, r := d.add(k(6), 48, false, 17, data, t0); r != fragInvalid {
		t.Errorf("a fourth piece with room for three: %v", r)
	}
	if _, _, r := d.add(k(7), 65528, false, 17, data, t0); r != fragInvalid {
		t.Errorf("past 65535 bytes: %v", r)
	}
	got, proto, r := d.add(k(8), 0, false, 6, data, t0)
	if r != fragDone || proto != 6 || !bytes.Equal(got, data) {
		t.Errorf("atomic fragment: %v %d %d bytes", r, proto, len(got))
	}
}
