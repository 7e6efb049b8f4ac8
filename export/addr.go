package export

import (
	"cmp"
	"net/netip"
	"slices"

	"traced/ingest/record"
)

// endpoints returns the addresses a message is written with: both of one
// family, IPv4 when both are IPv4 (or IPv4-mapped), IPv6 otherwise, with a
// missing address replaced by the family's unspecified address.
func endpoints(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort) {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	switch {
	case !s.IsValid() && !d.IsValid():
		s, d = netip.IPv4Unspecified(), netip.IPv4Unspecified()
	case !s.IsValid():
		s = unspecified(d)
	case !d.IsValid():
		d = unspecified(s)
	case s.Is4() != d.Is4():
		s, d = as6(s), as6(d)
	}
	return netip.AddrPortFrom(s, src.Port()), netip.AddrPortFrom(d, dst.Port())
}

func unspecified(like netip.Addr) netip.Addr {
	if like.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

func as6(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

// mac derives an Ethernet address from an IP address: 02:00 and the IPv4
// address, or 06 and five bytes of an FNV-1a hash of the IPv6 address. Both
// are locally administered unicast addresses, and no IPv4 one equals an IPv6
// one.
func mac(a netip.Addr) [6]byte {
	if a.Is4() {
		b := a.As4()
		return [6]byte{0x02, 0x00, b[0], b[1], b[2], b[3]}
	}
	b := a.As16()
	h := fnv64(fnvOffset64, b[:])
	return [6]byte{0x06, byte(h >> 32), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
}

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnv64(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// seed32 is a deterministic 32-bit number for a pair of endpoints and a
// salt: initial sequence numbers, TSNs and verification tags.
func seed32(a, b netip.AddrPort, salt byte) uint32 {
	h := uint64(fnvOffset64)
	for _, ap := range [2]netip.AddrPort{a, b} {
		ip := ap.Addr().As16()
		h = fnv64(h, ip[:])
		h = fnv64(h, []byte{byte(ap.Port() >> 8), byte(ap.Port())})
	}
	h = fnv64(h, []byte{salt})
	// FNV's last step barely mixes the salt into the high bits: finish with
	// MurmurHash3's 64-bit mixer.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return uint32(h ^ h>>32)
}

// pairKey identifies a connection or an association whichever way a message
// goes: its two endpoints in a canonical order.
type pairKey struct{ lo, hi netip.AddrPort }

func keyOf(a, b netip.AddrPort) pairKey {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return pairKey{a, b}
}

// byTime returns the non-nil messages of msgs in capture-time order, keeping
// the input order of messages with the same time.
func byTime(msgs []*record.Message) []*record.Message {
	out := make([]*record.Message, 0, len(msgs))
	for _, m := range msgs {
		if m != nil {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b *record.Message) int { return cmp.Compare(a.Time, b.Time) })
	return out
}
