package capture

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Builders of synthetic packets: IP layers serialised by gopacket, link and
// tunnel headers written by hand so that the bytes are exactly the ones wanted.

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

type frame struct {
	at   time.Time
	data []byte
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

// udpIP is an IPv4 or IPv6 packet (by the form of src) carrying a UDP datagram.
func udpIP(t testing.TB, src, dst string, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if netip.MustParseAddr(src).Is4() {
		ip := ip4(src, dst, layers.IPProtocolUDP)
		_ = u.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, u, gopacket.Payload(payload))
	}
	ip := ip6(src, dst, layers.IPProtocolUDP)
	_ = u.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, u, gopacket.Payload(payload))
}

type tcpFlags struct{ syn, ack, fin, rst bool }

func tcpIP(t testing.TB, src, dst string, sport, dport uint16, seq uint32, fl tcpFlags, payload []byte) []byte {
	t.Helper()
	tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: 1, Window: 65535,
		SYN: fl.syn, ACK: !fl.syn || fl.ack, FIN: fl.fin, RST: fl.rst}
	ip := ip4(src, dst, layers.IPProtocolTCP)
	_ = tc.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, tc, gopacket.Payload(payload))
}

func ether(et uint16, payload []byte) []byte {
	b := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, byte(et >> 8), byte(et)}
	return append(b, payload...)
}

func vlan(inner uint16, id uint16, payload []byte) []byte {
	return append([]byte{byte(id >> 8), byte(id), byte(inner >> 8), byte(inner)}, payload...)
}

func ipEther(ip []byte) uint16 {
	if ip[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

// greIP wraps inner in GRE of protocol proto (with a sequence number when seq)
// in IPv4.
func greIP(t testing.TB, proto uint16, seq bool, inner []byte) []byte {
	t.Helper()
	g := []byte{0, 0, byte(proto >> 8), byte(proto)}
	if seq {
		g[0] |= 0x10
		g = append(g, 0, 0, 0, 7)
	}
	return serialize(t, ip4("198.51.100.1", "198.51.100.2", layers.IPProtocolGRE), gopacket.Payload(append(g, inner...)))
}

// writePcap writes frames as a pcap file of link type lt.
func writePcap(t testing.TB, lt layers.LinkType, frames ...frame) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(262144, lt); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: len(f.data)}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// writePcapng writes frames as a pcapng file of link type lt.
func writePcapng(t testing.TB, lt layers.LinkType, frames ...frame) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, lt)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: len(f.data)}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readBytes reads every message of a capture file held in memory.
func readBytes(t testing.TB, file []byte) ([]Message, Summary) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return ms, r.Summary()
}

func sipMsg(method, callID, body string) []byte {
	var b bytes.Buffer
	b.WriteString(method + " sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK" + callID +
		"\r\nCall-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\nContent-Length: ")
	b.WriteString(itoa(len(body)) + "\r\n\r\n" + body)
	return b.Bytes()
}

func sipResp(code, callID string) []byte {
	return []byte("SIP/2.0 " + code + " OK\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n")
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// rtcpRR is a receiver report with no report block.
func rtcpRR(ssrc uint32) []byte {
	b := []byte{0x80, 201, 0, 1, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], ssrc)
	return b
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func addrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
