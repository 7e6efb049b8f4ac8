package capture

import (
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// tcpLimits bounds the TCP reassembly.
type tcpLimits struct {
	Streams      int           // directions followed at once; 0: 4096
	Pending      int           // out-of-order segments held per direction; 0: 256
	PendingBytes int           // their bytes; 0: 1 MiB
	Idle         time.Duration // a direction silent this long (capture time) is ended; 0: 10 min
}

type flowKey struct{ src, dst netip.AddrPort }

type tcpSeg struct {
	seq  uint32
	data []byte
}

// tcpStream is one direction of a TCP connection.
type tcpStream struct {
	key          flowKey
	next         uint32 // next sequence number expected
	last         time.Time
	pending      []tcpSeg // out of order, sorted by seq
	pendingBytes int
	data         bool // carried data (counted in Summary.TCPStreams)
	fr           framer
}

type tcpStreams struct {
	d   *decoder
	lim tcpLimits
	m   map[flowKey]*tcpStream
}

func newTCPStreams(d *decoder, lim tcpLimits) *tcpStreams {
	if lim.Streams <= 0 {
		lim.Streams = 4096
	}
	if lim.Pending <= 0 {
		lim.Pending = 256
	}
	if lim.PendingBytes <= 0 {
		lim.PendingBytes = 1 << 20
	}
	if lim.Idle <= 0 {
		lim.Idle = 10 * time.Minute
	}
	return &tcpStreams{d: d, lim: lim, m: map[flowKey]*tcpStream{}}
}

// seqDiff compares sequence numbers modulo 2^32.
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// segment handles one TCP segment.
func (ts *tcpStreams) segment(t *layers.TCP, src, dst netip.Addr, at time.Time) {
	key := flowKey{netip.AddrPortFrom(src, uint16(t.SrcPort)), netip.AddrPortFrom(dst, uint16(t.DstPort))}
	s := ts.m[key]
	payload := t.Payload
	if t.SYN {
		if s != nil && s.next == t.Seq+1 {
			if len(payload) == 0 {
				ts.d.skip(SkipTCPRetrans)
				return
			}
		} else {
			if s != nil {
				ts.end(s) // the ports are reused by a new connection
			}
			s = ts.open(key, t.Seq+1, at)
		}
	}
	if len(payload) == 0 {
		ts.d.skip(SkipTCPControl)
		return
	}
	if s == nil {
		// The capture began after the handshake: start where the data is.
		s = ts.open(key, t.Seq, at)
	}
	s.last = at
	if !s.data {
		s.data = true
		ts.d.sum.TCPStreams++
	}
	seq := t.Seq
	if t.SYN {
		seq++
	}
	if d := seqDiff(seq, s.next); d < 0 {
		if int(-d) >= len(payload) {
			ts.d.skip(SkipTCPRetrans)
			return
		}
		payload, seq = payload[-d:], s.next
	} else if d > 0 {
		ts.hold(s, seq, payload, at)
		return
	}
	ts.deliver(s, payload, at)
	ts.drain(s, at)
}

func (ts *tcpStreams) open(key flowKey, next uint32, at time.Time) *tcpStream {
	if len(ts.m) >= ts.lim.Streams {
		// Full: end the direction silent for the longest.
		var old *tcpStream
		for _, s := range ts.m {
			if old == nil || s.last.Before(old.last) {
				old = s
			}
		}
		ts.d.skip(SkipTCPStreams)
		ts.end(old)
	}
	s := &tcpStream{key: key, next: next, last: at}
	ts.m[key] = s
	return s
}

// deliver feeds in-order bytes to the framer; messages it completes take the
// time at.
func (ts *tcpStreams) deliver(s *tcpStream, data []byte, at time.Time) {
	s.next += uint32(len(data))
	s.fr.feed(data, func(msg []byte) {
		ts.d.yield(at, ProtoTCP, s.key.src, s.key.dst, KindSIP, msg)
	}, ts.d.skip)
}

// hold queues a segment that came before the bytes that precede it.
func (ts *tcpStreams) hold(s *tcpStream, seq uint32, data []byte, at time.Time) {
	i := sort.Search(len(s.pending), func(i int) bool { return seqDiff(s.pending[i].seq, seq) >= 0 })
	if i < len(s.pending) && s.pending[i].seq == seq && len(s.pending[i].data) >= len(data) {
		ts.d.skip(SkipTCPRetrans)
		return
	}
	s.pending = append(s.pending, tcpSeg{})
	copy(s.pending[i+1:], s.pending[i:])
	s.pending[i] = tcpSeg{seq: seq, data: append([]byte(nil), data...)}
	s.pendingBytes += len(data)
	if len(s.pending) > ts.lim.Pending || s.pendingBytes > ts.lim.PendingBytes {
		// The missing bytes are not coming: give them up.
		ts.skipGap(s, at)
	}
}

// drain delivers the held segments that the stream has reached.
func (ts *tcpStreams) drain(s *tcpStream, at time.Time) {
	for len(s.pending) > 0 {
		p := s.pending[0]
		d := seqDiff(p.seq, s.next)
		if d > 0 {
			return
		}
		s.pending = s.pending[1:]
		s.pendingBytes -= len(p.data)
		if int(-d) < len(p.data) {
			ts.deliver(s, p.data[-d:], at)
		}
	}
	s.pending = nil
}

// skipGap jumps over the hole before the first held segment.
func (ts *tcpStreams) skipGap(s *tcpStream, at time.Time) {
	if len(s.pending) == 0 {
		return
	}
	s.fr.gap(ts.d.skip)
	s.next = s.pending[0].seq
	ts.drain(s, at)
}

// end finishes a direction: held segments after a hole are read, then what is
// left incomplete is counted.
func (ts *tcpStreams) end(s *tcpStream) {
	for len(s.pending) > 0 {
		ts.skipGap(s, s.last)
	}
	s.fr.end(ts.d.skip)
	delete(ts.m, s.key)
}

// expire ends the directions idle since before now minus the idle limit.
func (ts *tcpStreams) expire(now time.Time) {
	for _, s := range ts.m {
		if now.Sub(s.last) > ts.lim.Idle {
			ts.end(s)
		}
	}
}

func (ts *tcpStreams) flushAll() {
	for _, s := range ts.m {
		ts.end(s)
	}
}
