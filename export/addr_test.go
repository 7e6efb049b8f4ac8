package export

import (
	"net/netip"
	"testing"
)

func TestEndpoints(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name             string
		src, dst         netip.AddrPort
		wantSrc, wantDst netip.AddrPort
	}{
		{"IPv4", ap("10.0.0.1:5060"), ap("10.0.0.2:5061"), ap("10.0.0.1:5060"), ap("10.0.0.2:5061")},
		{"IPv6", ap("[2001:db8::1]:5060"), ap("[2001:db8::2]:5060"), ap("[2001:db8::1]:5060"), ap("[2001:db8::2]:5060")},
		{"IPv4-mapped unmapped", ap("[::ffff:10.0.0.1]:1"), ap("[::ffff:10.0.0.2]:2"), ap("10.0.0.1:1"), ap("10.0.0.2:2")},
		{"mixed families as IPv6", ap("10.0.0.1:1"), ap("[2001:db8::2]:2"), ap("[::ffff:10.0.0.1]:1"), ap("[2001:db8::2]:2")},
		{"missing source", netip.AddrPortFrom(netip.Addr{}, 7), ap("[2001:db8::2]:2"), ap("[::]:7"), ap("[2001:db8::2]:2")},
		{"missing destination", ap("10.0.0.1:1"), netip.AddrPort{}, ap("10.0.0.1:1"), ap("0.0.0.0:0")},
		{"both missing", netip.AddrPort{}, netip.AddrPort{}, ap("0.0.0.0:0"), ap("0.0.0.0:0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, d := endpoints(tc.src, tc.dst)
			if s != tc.wantSrc || d != tc.wantDst {
				t.Errorf("endpoints(%v, %v) = %v, %v; want %v, %v", tc.src, tc.dst, s, d, tc.wantSrc, tc.wantDst)
			}
		})
	}
}

func TestMAC(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		want [6]byte
	}{
		{"IPv4 spelled out", "10.0.0.1", [6]byte{0x02, 0x00, 10, 0, 0, 1}},
		{"another IPv4", "192.168.1.20", [6]byte{0x02, 0x00, 192, 168, 1, 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mac(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Errorf("mac(%s) = % x, want % x", tc.ip, got, tc.want)
			}
		})
	}
	// IPv6: locally administered unicast, stable, and distinct for addresses
	// that differ in the prefix only or the interface id only.
	seen := map[[6]byte]string{}
	for _, s := range []string{"2001:db8::1", "2001:db8::2", "2001:db9::1", "fe80::1", "::"} {
		m := mac(netip.MustParseAddr(s))
		if m[0] != 0x06 {
			t.Errorf("mac(%s) = % x: not 06:...", s, m)
		}
		if m != mac(netip.MustParseAddr(s)) {
			t.Errorf("mac(%s) changes between calls", s)
		}
		if prev, ok := seen[m]; ok {
			t.Errorf("%s and %s share the MAC % x", prev, s, m)
		}
		seen[m] = s
	}
}
