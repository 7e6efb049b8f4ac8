package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// feedAll runs a framer over data cut at the given points and returns the
// messages and the skips.
func feedAll(data []byte, cuts ...int) (msgs [][]byte, skips map[string]int) {
	var f framer
	skips = map[string]int{}
	out := func(m []byte) { msgs = append(msgs, append([]byte(nil), m...)) }
	skip := func(r string) { skips[r]++ }
	prev := 0
	for _, c := range cuts {
		if c > prev && c < len(data) {
			f.feed(data[prev:c], out, skip)
			prev = c
		}
	}
	f.feed(data[prev:], out, skip)
	f.end(skip)
	return msgs, skips
}

// FuzzFramer: SIP over TCP (and WebSocket) framing never panics, yields only SIP
// messages within the size limit, and yields the same messages however the
// stream is cut into segments.
func FuzzFramer(f *testing.F) {
	a := sipMsg("INVITE", "fz", "v=0\r\n")
	f.Add(append(append([]byte("\r\n"), a...), sipResp("180", "fz")...), uint16(7), uint16(40))
	f.Add(append([]byte("garbage\r\nmore"), a...), uint16(3), uint16(90))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\nbody"), uint16(10), uint16(0))
	ws := append([]byte("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), wsFrame(true, 1, 0x01020304, a)...)
	f.Add(ws, uint16(20), uint16(45))
	f.Add(append([]byte("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n"), wsFrame(false, 1, 0, a[:9])...), uint16(1), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, c1, c2 uint16) {
		whole, _ := feedAll(data)
		split, _ := feedAll(data, int(min(c1, c2)), int(max(c1, c2)))
		if len(whole) != len(split) {
			t.Fatalf("%d messages whole, %d when cut at %d and %d", len(whole), len(split), c1, c2)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], split[i]) {
				t.Fatalf("message %d differs when cut: %q vs %q", i, whole[i], split[i])
			}
			if !IsSIP(whole[i]) || len(whole[i]) > maxMessage {
				t.Fatalf("yielded %q", whole[i])
			}
		}
	})
}

// FuzzParseWSHeader: the header parser never panics and never claims more
// header than it was given.
func FuzzParseWSHeader(f *testing.F) {
	f.Add(wsFrame(true, 1, 0x01020304, []byte("hi")))
	f.Add(wsFrame(true, 2, 0, bytes.Repeat([]byte{1}, 300)))
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, st := ParseWSHeader(b)
		if st != wsOK {
			return
		}
		if h.HeaderLen > len(b) || h.HeaderLen < 2 || h.HeaderLen > 14 {
			t.Fatalf("header of %d bytes from %d", h.HeaderLen, len(b))
		}
		if h.Opcode >= 8 && (h.Len > 125 || !h.Fin) {
			t.Fatalf("control frame %+v", h)
		}
		if h.Len>>63 != 0 {
			t.Fatalf("length %d", h.Len)
		}
	})
}

// FuzzDefrag6: any sequence of fragments keeps the table within its bounds and
// every datagram put together within 65535 bytes, made of the bytes given.
func FuzzDefrag6(f *testing.F) {
	f.Add([]byte{0, 0, 1, 16, 0, 2, 0, 0, 16})
	f.Add([]byte{0, 1, 1, 8, 0, 0, 0, 0, 8, 1, 2, 0, 4})
	f.Fuzz(func(t *testing.T, ops []byte) {
		d := newDefrag6(defrag6Limits{Datagrams: 4, Pieces: 8})
		a := netip.MustParseAddr("2001:db8::1")
		at := time.Unix(1_700_000_000, 0)
		for len(ops) >= 4 {
			// id, offset (in 8-byte units, up to 8191), more, length
			id := uint32(ops[0] % 6)
			off := int(binary.BigEndian.Uint16(ops[1:])&0x1fff) * 8
			more := ops[1]&0x80 != 0
			n := int(ops[3])
			ops = ops[4:]
			data := bytes.Repeat([]byte{byte(id)}, n)
			got, _, r := d.add(frag6Key{a, a, id}, off, more, 17, data, at)
			if r == fragDone {
				if len(got) > maxDatagram {
					t.Fatalf("datagram of %d bytes", len(got))
				}
				for _, c := range got {
					if c != byte(id) {
						t.Fatalf("datagram %d holds bytes of another", id)
					}
				}
			}
			if d.pending() > 4 {
				t.Fatalf("%d datagrams in progress, limit 4", d.pending())
			}
			for _, e := range d.entries {
				if len(e.pieces) > 8 || e.have > maxDatagram {
					t.Fatalf("entry of %d pieces, %d bytes", len(e.pieces), e.have)
				}
			}
			at = at.Add(time.Second)
			d.expire(at.Add(-5 * time.Second))
		}
	})
}

// FuzzIsRTCP: a payload taken for RTCP is a well-formed compound.
func FuzzIsRTCP(f *testing.F) {
	f.Add(rtcpRR(7))
	f.Add(append(rtcpRR(7), 0x81, 0xca, 0, 1, 0, 0, 0, 7))
	f.Add([]byte{0x80, 0x08, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !IsRTCP(b) {
			return
		}
		pts, _ := rtcpFields(b)
		if len(pts) == 0 || b[0]>>6 != 2 || b[1] < 200 || b[1] > 207 {
			t.Fatalf("%x taken for RTCP", b)
		}
	})
}

// FuzzReader: any bytes after a valid file header decode without a panic, and
// the summary accounts for every message yielded.
func FuzzReader(f *testing.F) {
	f.Add(writePcap(f, layers.LinkTypeEthernet, frame{t0, ether(0x0800, udpIP(f, "192.0.2.1", "192.0.2.2", 5060, 5060, sipMsg("BYE", "f", "")))}))
	f.Add(writePcap(f, layers.LinkTypeRaw, frame{t0, tcpIP(f, "192.0.2.1", "192.0.2.2", 1, 5060, 9, tcpFlags{}, sipMsg("BYE", "f", ""))}))
	f.Add(writePcap(f, layers.LinkTypeLinuxSLL2, frame{t0, make([]byte, 60)}))
	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := NewReader(bytes.NewReader(file))
		if err != nil {
			return
		}
		ms, _ := ReadAll(r)
		s := r.Summary()
		if s.SIP+s.RTCP != len(ms) {
			t.Fatalf("summary %d SIP %d RTCP, %d yielded", s.SIP, s.RTCP, len(ms))
		}
	})
}
