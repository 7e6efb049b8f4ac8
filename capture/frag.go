package capture

import (
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// fragTimeout is how long (in capture time) a datagram may wait for its
// missing fragments.
const fragTimeout = 30 * time.Second

// maxFrag4 bounds the IPv4 datagrams being reassembled at once.
const maxFrag4 = 1024

type frag4Key struct {
	src, dst netip.Addr
	id       uint16
	proto    uint8
}

// defrag4 hands one IPv4 fragment to gopacket's ip4defrag and returns the whole
// datagram once its last fragment is in.
func (d *decoder) defrag4(ip *layers.IPv4, ts time.Time) (*layers.IPv4, bool) {
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	key := frag4Key{src: src.Unmap(), dst: dst.Unmap(), id: ip.Id, proto: uint8(ip.Protocol)}
	if _, ok := d.frag4Keys[key]; !ok && len(d.frag4Keys) >= maxFrag4 {
		// Full: give up on every datagram in progress rather than grow.
		d.sum.Skipped[SkipFragTable] += len(d.frag4Keys)
		d.frag4.DiscardOlderThan(ts.Add(time.Hour))
		clear(d.frag4Keys)
	}
	// ip4defrag keeps the layer it is given: hand it a copy of the reused one.
	cp := *ip
	cp.SrcIP = append([]byte(nil), ip.SrcIP...)
	cp.DstIP = append([]byte(nil), ip.DstIP...)
	cp.Payload = append([]byte(nil), ip.Payload...)
	whole, err := d.frag4.DefragIPv4WithTimestamp(&cp, ts)
	if err != nil {
		d.skip(SkipFragInvalid)
		delete(d.frag4Keys, key)
		return nil, false
	}
	if whole == nil {
		if _, ok := d.frag4Keys[key]; !ok {
			d.frag4Keys[key] = ts
		}
		return nil, false
	}
	delete(d.frag4Keys, key)
	return whole, true
}

// expire4 drops the IPv4 datagrams started before cut and returns how many.
func (d *decoder) expire4(cut time.Time) int {
	n := 0
	for k, t := range d.frag4Keys {
		if t.Before(cut) {
			delete(d.frag4Keys, k)
			n++
		}
	}
	if n > 0 {
		d.frag4.DiscardOlderThan(cut)
	}
	return n
}

// IPv6 reassembly (RFC 8200 4.5): gopacket has no bounded helper that keeps the
// next header of the first fragment, so this is a small one. Overlapping
// fragments discard the datagram (RFC 5722); exact duplicates are ignored.

type frag6Key struct {
	src, dst netip.Addr
	id       uint32
}

type frag6Piece struct {
	off  int
	data []byte
}

type frag6Entry struct {
	started time.Time
	pieces  []frag6Piece
	have    int   // bytes held
	total   int   // datagram length, known from the last fragment; -1 until then
	proto   uint8 // next header of the first fragment
	first   bool
}

type defrag6Limits struct {
	Datagrams int // datagrams in progress; 0: 1024
	Pieces    int // fragments per datagram; 0: 128
}

type defrag6 struct {
	lim     defrag6Limits
	entries map[frag6Key]*frag6Entry
}

type fragResult uint8

const (
	fragPending fragResult = iota
	fragDone
	fragInvalid
	fragTableFull
)

// maxDatagram is the largest payload an IP fragment header can describe.
const maxDatagram = 65535

func newDefrag6(lim defrag6Limits) *defrag6 {
	if lim.Datagrams <= 0 {
		lim.Datagrams = 1024
	}
	if lim.Pieces <= 0 {
		lim.Pieces = 128
	}
	return &defrag6{lim: lim, entries: map[frag6Key]*frag6Entry{}}
}

// add adds one fragment: its offset in bytes, whether more follow, the next
// header of its fragment header and its data (copied). When it completes the
// datagram, add returns the reassembled payload and its protocol.
func (f *defrag6) add(k frag6Key, off int, more bool, nh uint8, data []byte, ts time.Time) ([]byte, uint8, fragResult) {
	end := off + len(data)
	if end > maxDatagram || (more && len(data)%8 != 0) || (more && len(data) == 0) {
		f.drop(k)
		return nil, 0, fragInvalid
	}
	if !more && off == 0 {
		// An atomic fragment (RFC 6946): the datagram is this fragment.
		return append([]byte(nil), data...), nh, fragDone
	}
	e := f.entries[k]
	if e == nil {
		if len(f.entries) >= f.lim.Datagrams {
			return nil, 0, fragTableFull
		}
		e = &frag6Entry{started: ts, total: -1}
		f.entries[k] = e
	}
	if !more {
		if e.total >= 0 && e.total != end || end < e.have {
			f.drop(k)
			return nil, 0, fragInvalid
		}
		e.total = end
	}
	for _, p := range e.pieces {
		pend := p.off + len(p.data)
		if p.off == off && pend == end {
			return nil, 0, fragPending // a duplicate
		}
		if off < pend && p.off < end {
			f.drop(k)
			return nil, 0, fragInvalid
		}
	}
	if e.total >= 0 && end > e.total || len(e.pieces) >= f.lim.Pieces {
		f.drop(k)
		return nil, 0, fragInvalid
	}
	if off == 0 {
		e.proto, e.first = nh, true
	}
	e.pieces = append(e.pieces, frag6Piece{off: off, data: append([]byte(nil), data...)})
	e.have += len(data)
	if e.total < 0 || e.have != e.total || !e.first {
		return nil, 0, fragPending
	}
	// No overlaps and every byte held: the pieces tile the datagram.
	sort.Slice(e.pieces, func(i, j int) bool { return e.pieces[i].off < e.pieces[j].off })
	out := make([]byte, 0, e.total)
	for _, p := range e.pieces {
		out = append(out, p.data...)
	}
	delete(f.entries, k)
	return out, e.proto, fragDone
}

func (f *defrag6) drop(k frag6Key) { delete(f.entries, k) }

// expire drops the datagrams started before cut and returns how many.
func (f *defrag6) expire(cut time.Time) int {
	n := 0
	for k, e := range f.entries {
		if e.started.Before(cut) {
			delete(f.entries, k)
			n++
		}
	}
	return n
}

func (f *defrag6) pending() int { return len(f.entries) }
