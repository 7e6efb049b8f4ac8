package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"traced/ingest/hep"
	"traced/ingest/record"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func writePcap(tb testing.TB, msgs []*record.Message, opts PcapOptions) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := WritePcap(&b, msgs, opts); err != nil {
		tb.Fatalf("WritePcap: %v", err)
	}
	return b.Bytes()
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		n := 0
		for n < min(len(got), len(want)) && got[n] == want[n] {
			n++
		}
		t.Errorf("%s: output differs from the golden file at byte %d (got %d bytes, want %d); run go test -update if the change is intended",
			path, n, len(got), len(want))
	}
}

func TestWritePcapGolden(t *testing.T) {
	tests := []struct {
		name string
		opts PcapOptions
		file string
	}{
		{"default", PcapOptions{}, "call.pcap"},
		{"hep", PcapOptions{HEP: true}, "call_hep.pcap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.file, writePcap(t, fixture(t), tc.opts))
		})
	}
}

func TestWritePcapDeterministic(t *testing.T) {
	msgs := fixture(t)
	first := writePcap(t, msgs, PcapOptions{HEP: true})
	if again := writePcap(t, msgs, PcapOptions{HEP: true}); !bytes.Equal(first, again) {
		t.Fatal("two exports of the same messages differ")
	}
	rev := slices.Clone(msgs)
	slices.Reverse(rev)
	rev = append(rev, nil)
	if got := writePcap(t, rev, PcapOptions{HEP: true}); !bytes.Equal(first, got) {
		t.Fatal("the export depends on the input order of messages with distinct times")
	}
}

func TestWritePcapEqualTimesKeepInputOrder(t *testing.T) {
	a := stored(t, spec{proto: protoUDP, typ: 1, src: "10.0.0.1:5060", dst: "10.0.0.2:5060", payload: "first"})
	b := stored(t, spec{proto: protoUDP, typ: 1, src: "10.0.0.3:5060", dst: "10.0.0.4:5060", payload: "second"})
	for _, tc := range []struct {
		name string
		in   []*record.Message
		want []string
	}{
		{"a then b", []*record.Message{a, b}, []string{"first", "second"}},
		{"b then a", []*record.Message{b, a}, []string{"second", "first"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range readPcap(t, writePcap(t, tc.in, PcapOptions{})) {
				got = append(got, string(p.udp.Payload))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("payload order %q, want %q", got, tc.want)
			}
		})
	}
}

// frame is one decoded packet of an export.
type frame struct {
	us   int64
	data []byte
	eth  *layers.Ethernet
	ip4  *layers.IPv4
	ip6  *layers.IPv6
	udp  *layers.UDP
	tcp  *layers.TCP
	sctp *layers.SCTP
	src  netip.AddrPort
	dst  netip.AddrPort
}

func readPcap(tb testing.TB, file []byte) []frame {
	tb.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(file))
	if err != nil {
		tb.Fatalf("pcap reader: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet || r.Snaplen() != Snaplen || r.Resolution() != gopacket.TimestampResolutionMicrosecond {
		tb.Fatalf("file header: link type %v, snaplen %d, resolution %v", r.LinkType(), r.Snaplen(), r.Resolution())
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("packet %d: %v", len(out)+1, err)
		}
		if ci.CaptureLength != ci.Length || ci.Length != len(data) {
			tb.Fatalf("packet %d: captured %d of %d bytes", len(out)+1, ci.CaptureLength, ci.Length)
		}
		out = append(out, decodeFrame(tb, ci.Timestamp.UnixMicro(), data))
	}
}

func decodeFrame(tb testing.TB, us int64, data []byte) frame {
	tb.Helper()
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		tb.Fatalf("packet at %d µs: %v", us, el.Error())
	}
	f := frame{us: us, data: data}
	f.eth, _ = p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	f.ip4, _ = p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	f.ip6, _ = p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	f.udp, _ = p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	f.tcp, _ = p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	f.sctp, _ = p.Layer(layers.LayerTypeSCTP).(*layers.SCTP)
	var sip, dip netip.Addr
	switch {
	case f.ip4 != nil:
		sip, dip = netip.AddrFrom4([4]byte(f.ip4.SrcIP.To4())), netip.AddrFrom4([4]byte(f.ip4.DstIP.To4()))
	case f.ip6 != nil:
		sip, dip = netip.AddrFrom16([16]byte(f.ip6.SrcIP)), netip.AddrFrom16([16]byte(f.ip6.DstIP))
	default:
		tb.Fatalf("packet at %d µs has no IP layer", us)
	}
	var sp, dp uint16
	switch {
	case f.udp != nil:
		sp, dp = uint16(f.udp.SrcPort), uint16(f.udp.DstPort)
	case f.tcp != nil:
		sp, dp = uint16(f.tcp.SrcPort), uint16(f.tcp.DstPort)
	case f.sctp != nil:
		sp, dp = uint16(f.sctp.SrcPort), uint16(f.sctp.DstPort)
	default:
		tb.Fatalf("packet at %d µs has no UDP, TCP or SCTP layer", us)
	}
	f.src, f.dst = netip.AddrPortFrom(sip, sp), netip.AddrPortFrom(dip, dp)
	return f
}

// sum16 is the Internet checksum sum of b added to s.
func sum16(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// checkFrame verifies the lengths, checksums and MACs of one frame and
// returns what is wrong with it.
func checkFrame(f frame) []string {
	var bad []string
	errorf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	var l3 []byte // IP payload, without Ethernet padding
	var pseudo uint32
	var proto uint8
	switch {
	case f.ip4 != nil:
		hdr := f.data[14:34]
		if fold(sum16(0, hdr)) != 0xffff {
			errorf("bad IPv4 header checksum")
		}
		n := int(f.ip4.Length)
		if n > len(f.data)-14 || (len(f.data) > 60 && n != len(f.data)-14) {
			errorf("IPv4 total length %d in a %d-byte frame", n, len(f.data))
		}
		l3 = f.data[34 : 14+n]
		proto = uint8(f.ip4.Protocol)
		pseudo = sum16(sum16(0, f.data[26:34]), []byte{0, proto, byte(len(l3) >> 8), byte(len(l3))})
	default:
		n := int(f.ip6.Length)
		if n != len(f.data)-54 {
			errorf("IPv6 payload length %d in a %d-byte frame", n, len(f.data))
		}
		l3 = f.data[54:]
		proto = uint8(f.ip6.NextHeader)
		pseudo = sum16(sum16(0, f.data[22:54]), []byte{0, 0, byte(len(l3) >> 8), byte(len(l3)), 0, 0, 0, proto})
	}
	switch proto {
	case protoUDP, protoTCP:
		if fold(sum16(pseudo, l3)) != 0xffff {
			errorf("bad %s checksum", record.ProtoName(proto))
		}
	case protoSCTP:
		b := slices.Clone(l3)
		want := binary.LittleEndian.Uint32(b[8:])
		clear(b[8:12])
		if got := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)); got != want {
			errorf("SCTP checksum %08x, want %08x", want, got)
		}
	}
	if s, d := mac(f.src.Addr()), mac(f.dst.Addr()); !bytes.Equal(f.eth.SrcMAC, s[:]) || !bytes.Equal(f.eth.DstMAC, d[:]) {
		errorf("MACs %v -> %v, not derived from %v -> %v", f.eth.SrcMAC, f.eth.DstMAC, f.src, f.dst)
	}
	return bad
}

// TestWritePcapPackets checks every frame of the fixture's export, and that the
// SIP messages come back from it byte for byte at their capture times: UDP
// and SCTP one per packet, TCP by reassembling each direction of each
// connection by sequence number.
func TestWritePcapPackets(t *testing.T) {
	msgs := fixture(t)
	frames := readPcap(t, writePcap(t, msgs, PcapOptions{}))
	macs := map[[6]byte]netip.Addr{}
	for i, f := range frames {
		for _, bad := range checkFrame(f) {
			t.Errorf("packet %d: %s", i+1, bad)
		}
		for _, a := range []netip.Addr{f.src.Addr(), f.dst.Addr()} {
			m := mac(a)
			if prev, ok := macs[m]; ok && prev != a {
				t.Errorf("%v and %v share the MAC %x", prev, a, m)
			}
			macs[m] = a
		}
		if i > 0 && f.us < frames[i-1].us {
			t.Errorf("packet %d goes back in time", i+1)
		}
	}

	type dir struct{ src, dst netip.AddrPort }
	wantStream := map[dir][]byte{} // what each TCP direction must carry
	var wantDgrams []string        // UDP and SCTP messages in order
	for _, m := range byTime(msgs) {
		switch {
		case m.Type != 1:
		case m.Proto == protoTCP || m.Proto == protoTLS:
			d := dir{m.Src, m.Dst}
			wantStream[d] = append(wantStream[d], m.Payload...)
		default:
			wantDgrams = append(wantDgrams, string(m.Payload))
		}
	}

	var gotDgrams []string
	got := map[dir][]byte{} // what each TCP direction carried so far
	isn := map[dir]uint32{}
	for _, f := range frames {
		switch {
		case f.udp != nil:
			gotDgrams = append(gotDgrams, string(f.udp.Payload))
			continue
		case f.sctp != nil:
			chunk := f.sctp.Payload
			gotDgrams = append(gotDgrams, string(chunk[16:binary.BigEndian.Uint16(chunk[2:])]))
			continue
		}
		d, peer := dir{f.src, f.dst}, dir{f.dst, f.src}
		if f.tcp.SYN {
			isn[d] = f.tcp.Seq
			continue
		}
		if len(f.tcp.Payload) == 0 {
			continue // the handshake's last ACK
		}
		if _, ok := isn[d]; !ok {
			t.Fatalf("%v -> %v: data before the handshake", f.src, f.dst)
		}
		if want := isn[d] + 1 + uint32(len(got[d])); f.tcp.Seq != want {
			t.Errorf("%v -> %v: seq %d, want %d", f.src, f.dst, f.tcp.Seq, want)
		}
		if want := isn[peer] + 1 + uint32(len(got[peer])); f.tcp.Ack != want || !f.tcp.ACK {
			t.Errorf("%v -> %v: ack %d, want %d", f.src, f.dst, f.tcp.Ack, want)
		}
		if len(f.tcp.Payload) > 1460 {
			t.Errorf("%v -> %v: a %d-byte segment is larger than the MSS", f.src, f.dst, len(f.tcp.Payload))
		}
		got[d] = append(got[d], f.tcp.Payload...)
	}
	if !slices.Equal(gotDgrams, wantDgrams) {
		t.Errorf("UDP and SCTP payloads differ from the messages: got %d, want %d", len(gotDgrams), len(wantDgrams))
	}
	if len(wantStream) != 4 || len(got) != 4 {
		t.Fatalf("%d TCP directions carry data, want the fixture's %d (4)", len(got), len(wantStream))
	}
	for d, want := range wantStream {
		if !bytes.Equal(got[d], want) {
			t.Errorf("%v -> %v: reassembled %d bytes differ from the %d bytes of its messages", d.src, d.dst, len(got[d]), len(want))
		}
	}
}

func TestWritePcapNonSIP(t *testing.T) {
	msgs := fixture(t)
	var nonSIP []*record.Message
	for _, m := range msgs {
		if m.Type != 1 {
			nonSIP = append(nonSIP, m)
		}
	}
	for _, tc := range []struct {
		name string
		opts PcapOptions
		want int
	}{
		{"left out by default", PcapOptions{}, 0},
		{"as HEP when asked", PcapOptions{HEP: true}, len(nonSIP)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got int
			for _, f := range readPcap(t, writePcap(t, msgs, tc.opts)) {
				if f.udp == nil || f.dst.Port() != HEPPort {
					continue
				}
				m := nonSIP[got]
				got++
				var p hep.Packet
				if err := hep.Decode(f.udp.Payload, &p); err != nil {
					t.Fatalf("HEP packet %d: %v", got, err)
				}
				if f.src.Port() != HEPPort || f.src.Addr() != m.Src.Addr() || f.dst.Addr() != m.Dst.Addr() {
					t.Errorf("HEP packet %d goes %v -> %v", got, f.src, f.dst)
				}
				if p.Version != 3 || p.ProtoType != m.Type || string(p.Payload) != string(m.Payload) ||
					p.Src != m.Src || p.Dst != m.Dst || int64(p.TsSec)*1e6+int64(p.TsUsec) != m.Time || f.us != m.Time ||
					string(p.CorrelationID) != string(m.CorrID) || string(p.NodeName) != string(m.Node) || p.CaptureID != m.CaptureID {
					t.Errorf("HEP packet %d does not carry its message: %+v", got, p)
				}
				if p.AuthKey != nil {
					t.Errorf("HEP packet %d carries the sender's auth key", got)
				}
			}
			if got != tc.want {
				t.Fatalf("%d HEP packets, want %d", got, tc.want)
			}
		})
	}
}

// TestCheckFrameCatchesDamage makes sure the frame checks above can fail: one
// flipped bit in each kind of packet is reported.
func TestCheckFrameCatchesDamage(t *testing.T) {
	frames := readPcap(t, writePcap(t, fixture(t), PcapOptions{}))
	first := func(match func(f frame) bool) frame {
		for _, f := range frames {
			if match(f) {
				return f
			}
		}
		t.Fatal("the fixture's export has no such packet")
		return frame{}
	}
	udp4 := first(func(f frame) bool { return f.udp != nil && f.ip4 != nil })
	udp6 := first(func(f frame) bool { return f.udp != nil && f.ip6 != nil })
	tcp := first(func(f frame) bool { return f.tcp != nil && len(f.tcp.Payload) > 0 })
	sctp := first(func(f frame) bool { return f.sctp != nil })
	tests := []struct {
		name string
		f    frame
		at   int // offset of the flipped byte; negative from the end
	}{
		{"IPv4 header", udp4, 14 + 8},
		{"UDP over IPv4", udp4, -1},
		{"UDP over IPv6", udp6, -1},
		{"TCP", tcp, -1},
		{"SCTP", sctp, -1},
		{"MAC", tcp, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if bad := checkFrame(tc.f); len(bad) != 0 {
				t.Fatalf("intact packet reported: %v", bad)
			}
			data := slices.Clone(tc.f.data)
			at := tc.at
			if at < 0 {
				at += len(data)
			}
			data[at] ^= 0x04
			if bad := checkFrame(decodeFrame(t, tc.f.us, data)); len(bad) == 0 {
				t.Fatalf("a flipped bit at byte %d went unnoticed", at)
			}
		})
	}
}

// TestWritePcapOversize checks that a payload too large for one IP packet is
// cut to the largest datagram rather than written with a wrapped length.
func TestWritePcapOversize(t *testing.T) {
	huge := bytes.Repeat([]byte("x"), 66_000)
	tests := []struct {
		name     string
		proto    uint8
		src, dst string
		want     int // payload bytes written
	}{
		{"UDP over IPv4", protoUDP, "10.0.0.1:5060", "10.0.0.2:5060", maxUDP4},
		{"UDP over IPv6", protoUDP, "[2001:db8::1]:5060", "[2001:db8::2]:5060", maxUDP6},
		{"SCTP over IPv4", protoSCTP, "10.0.0.1:5060", "10.0.0.2:5060", maxSCTP4},
		{"SCTP over IPv6", protoSCTP, "[2001:db8::1]:5060", "[2001:db8::2]:5060", maxSCTP6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &record.Message{Time: base, Type: 1, Proto: tc.proto, Payload: huge,
				Src: netip.MustParseAddrPort(tc.src), Dst: netip.MustParseAddrPort(tc.dst)}
			frames := readPcap(t, writePcap(t, []*record.Message{m}, PcapOptions{}))
			if len(frames) != 1 {
				t.Fatalf("%d packets, want 1", len(frames))
			}
			f := frames[0]
			for _, bad := range checkFrame(f) {
				t.Error(bad)
			}
			got := 0
			switch {
			case f.udp != nil:
				got = len(f.udp.Payload)
			case f.sctp != nil:
				got = int(binary.BigEndian.Uint16(f.sctp.Payload[2:])) - 16
			}
			if got != tc.want {
				t.Errorf("%d payload bytes written, want %d", got, tc.want)
			}
		})
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(b)
	return len(b), nil
}

func TestWritePcapReportsWriteErrors(t *testing.T) {
	msgs := fixture(t)
	size := len(writePcap(t, msgs, PcapOptions{}))
	for _, n := range []int{0, 24, size / 2, size - 1} {
		if err := WritePcap(&failWriter{n: n}, msgs, PcapOptions{}); err == nil {
			t.Errorf("writer failing after %d bytes: no error", n)
		}
	}
}
