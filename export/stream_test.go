package export

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"traced/ingest/record"
)

func TestWritePcapMSS(t *testing.T) {
	invite := stored(t, dialog("mss@traced.test", protoTCP, "10.0.0.1:40000", "10.0.0.2:5060", 0, 1000, 3500, 0)[0])
	invite6 := stored(t, dialog("mss6@traced.test", protoTCP, "[2001:db8::1]:40000", "[2001:db8::2]:5060", 0, 1000, 3500, 0)[0])
	// Larger than a HEP packet holds, as a plain SIP message may be.
	huge := &record.Message{Time: base, Type: 1, Proto: protoTCP, Payload: bytes.Repeat([]byte("x"), 66_000),
		Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("10.0.0.2:5060")}
	tests := []struct {
		name string
		m    *record.Message
		mss  int // PcapOptions.MSS
		want int // the largest segment
	}{
		{"IPv4 default", invite, 0, 1460},
		{"IPv6 default", invite6, 0, 1440},
		{"IPv4 536", invite, 536, 536},
		{"capped at one IP packet", huge, 100_000, maxMSS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sizes []int
			var pshAt []int
			for _, f := range readPcap(t, writePcap(t, []*record.Message{tc.m}, PcapOptions{MSS: tc.mss})) {
				for _, bad := range checkFrame(f) {
					t.Error(bad)
				}
				if f.tcp.SYN {
					if mss := binary.BigEndian.Uint16(f.tcp.Options[1].OptionData); int(mss) != tc.want {
						t.Errorf("SYN announces MSS %d, want %d", mss, tc.want)
					}
				}
				if n := len(f.tcp.Payload); n > 0 {
					sizes = append(sizes, n)
					if f.tcp.PSH {
						pshAt = append(pshAt, len(sizes)-1)
					}
				}
			}
			n := len(tc.m.Payload)
			want := (n + tc.want - 1) / tc.want
			if len(sizes) != want || slices.Max(sizes) != tc.want || sizes[len(sizes)-1] != n-(want-1)*tc.want {
				t.Errorf("a %d-byte message went out as segments of %v, want %d of at most %d", n, sizes, want, tc.want)
			}
			if !slices.Equal(pshAt, []int{len(sizes) - 1}) {
				t.Errorf("PSH on segments %v, want only on the last", pshAt)
			}
		})
	}
}

func TestWritePcapSYNSide(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string // of the connection's first message
		opener   string // the SYN's source
	}{
		{"client speaks first", "192.168.1.10:40312", "192.168.1.20:5060", "192.168.1.10:40312"},
		{"server speaks first", "192.168.1.20:5060", "192.168.1.10:40312", "192.168.1.10:40312"},
		{"TLS server speaks first", "[2001:db8::1]:5061", "[2001:db8::2]:33000", "[2001:db8::2]:33000"},
		{"both on 5060", "10.0.0.2:5060", "10.0.0.1:5060", "10.0.0.2:5060"},
		{"neither on a SIP port", "10.0.0.2:7000", "10.0.0.1:8000", "10.0.0.2:7000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := stored(t, spec{proto: protoTCP, typ: 1, src: tc.src, dst: tc.dst, payload: "OPTIONS sip:x SIP/2.0\r\n\r\n"})
			reply := stored(t, spec{at: 1, proto: protoTCP, typ: 1, src: tc.dst, dst: tc.src, payload: "SIP/2.0 200 OK\r\n\r\n"})
			frames := readPcap(t, writePcap(t, []*record.Message{first, reply}, PcapOptions{}))
			var flags []string
			for _, f := range frames {
				flags = append(flags, f.src.String()+tcpFlagNames(f))
			}
			other := tc.src
			if tc.opener == tc.src {
				other = tc.dst
			}
			want := []string{
				tc.opener + " SYN",
				other + " SYN ACK",
				tc.opener + " ACK",
				tc.src + " ACK PSH",
				tc.dst + " ACK PSH",
			}
			if !slices.Equal(flags, want) {
				t.Errorf("packets %q, want %q", flags, want)
			}
		})
	}
}

func tcpFlagNames(f frame) string {
	s := ""
	if f.tcp.SYN {
		s += " SYN"
	}
	if f.tcp.ACK {
		s += " ACK"
	}
	if f.tcp.PSH {
		s += " PSH"
	}
	return s
}
