package loadbench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"traced/internal/sipgen"
)

// Pool is a ring of pre-generated sipgen packets (HEPv3) that a sender replays.
// Generating SIP costs several microseconds a packet, too much to do at 100 000
// packets a second on the sending core, so the packets are made once and then
// patched in place on every pass of the ring: the Call-ID and X-Session-Id of
// every dialog get new values (the same for all the packets of a dialog), so
// every dialog sent is unique, and each packet's HEP capture time is set to the
// time it is sent. A pool holds whole dialogs only.
//
// A Pool is not safe for concurrent use.
type Pool struct {
	pkts  [][]byte
	marks []marks
	pass  uint64
	Bytes int // sum of the packet lengths
}

// marks are where a packet's patchable fields are.
type marks struct {
	stamp Stamp
	cid   int    // offset of the 16 hex digits that start the Call-ID; -1: none
	sid   int    // offset of the first 16 hex digits of the X-Session-Id; -1: none
	cid0  uint64 // their values as generated
	sid0  uint64
}

// NewPool generates at least n packets (whole dialogs) from seed.
func NewPool(seed uint64, n int) (*Pool, error) {
	if n < 1 {
		return nil, errors.New("pool: no packets")
	}
	g := sipgen.New(seed, time.Now())
	p := &Pool{}
	for {
		d := g.Dialogs
		pkt := g.Next()
		if g.Dialogs != d && len(p.pkts) >= n {
			break // pkt starts a dialog past n: leave it out
		}
		m, err := markPacket(pkt)
		if err != nil {
			return nil, err
		}
		p.pkts = append(p.pkts, pkt)
		p.marks = append(p.marks, m)
		p.Bytes += len(pkt)
	}
	return p, nil
}

// Len is the number of packets in the pool.
func (p *Pool) Len() int { return len(p.pkts) }

// Packet returns packet i, stamped with capture time us (Unix µs). The slice is
// the pool's: it changes at the next Stamp of i or Renew.
func (p *Pool) Packet(i int, us int64) []byte {
	b := p.pkts[i]
	p.marks[i].stamp.Set(b, us)
	return b
}

// Renew starts the next pass: every dialog gets a new Call-ID and X-Session-Id.
func (p *Pool) Renew() {
	p.pass++
	k := mix64(p.pass)
	for i, m := range p.marks {
		b := p.pkts[i]
		if m.cid >= 0 {
			putHex16(b[m.cid:], m.cid0^k)
		}
		if m.sid >= 0 {
			putHex16(b[m.sid:], m.sid0^k)
		}
	}
}

func markPacket(pkt []byte) (marks, error) {
	var m marks
	var err error
	if m.stamp, err = FindStamp(pkt); err != nil {
		return m, err
	}
	m.cid, m.cid0 = hexAfter(pkt, []byte("\r\nCall-ID: "))
	m.sid, m.sid0 = hexAfter(pkt, []byte("\r\nX-Session-Id: "))
	return m, nil
}

// hexAfter finds the 16 hex digits that follow key in b.
func hexAfter(b, key []byte) (int, uint64) {
	i := bytes.Index(b, key)
	if i < 0 {
		return -1, 0
	}
	i += len(key)
	if i+16 > len(b) {
		return -1, 0
	}
	var v uint64
	for _, c := range b[i : i+16] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return -1, 0
		}
	}
	return i, v
}

const hexDigits = "0123456789abcdef"

func putHex16(b []byte, v uint64) {
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&15]
		v >>= 4
	}
}

// mix64 is splitmix64's finaliser: distinct passes give unrelated masks.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Stamp locates the capture time chunks (0x0009 seconds, 0x000a microseconds)
// of a HEPv3 packet.
type Stamp struct{ sec, usec int }

// FindStamp finds the time chunks of the HEPv3 packet b.
func FindStamp(b []byte) (Stamp, error) {
	if len(b) < 6 || string(b[:4]) != "HEP3" {
		return Stamp{}, errors.New("stamp: not a HEPv3 packet")
	}
	s := Stamp{-1, -1}
	for off := 6; off+6 <= len(b); {
		vendor := binary.BigEndian.Uint16(b[off:])
		typ := binary.BigEndian.Uint16(b[off+2:])
		n := int(binary.BigEndian.Uint16(b[off+4:]))
		if n < 6 || off+n > len(b) {
			return Stamp{}, errors.New("stamp: bad chunk length")
		}
		if vendor == 0 && n == 10 {
			switch typ {
			case 0x0009:
				s.sec = off + 6
			case 0x000a:
				s.usec = off + 6
			}
		}
		off += n
	}
	if s.sec < 0 || s.usec < 0 {
		return Stamp{}, errors.New("stamp: no time chunks")
	}
	return s, nil
}

// Set writes the capture time us (Unix µs) into b.
func (s Stamp) Set(b []byte, us int64) {
	binary.BigEndian.PutUint32(b[s.sec:], uint32(us/1e6))
	binary.BigEndian.PutUint32(b[s.usec:], uint32(us%1e6))
}
