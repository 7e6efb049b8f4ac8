package ingest

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
)

func (s *Server) acceptTCP(l *net.TCPListener, useTLS bool) {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if isClosed(err) {
				return
			}
			s.log.Warn("tcp accept", "addr", l.Addr().String(), "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if s.cnt.tcpOpen.Load() >= int64(s.cfg.MaxTCPConns) {
			s.reject(listenerName(useTLS), ReasonTCPLimit, addrPortOf(c.RemoteAddr()), "")
			c.Close()
			continue
		}
		s.cnt.tcpOpen.Add(1)
		s.cnt.tcpTotal.Add(1)
		var conn net.Conn = c
		listener := record.ListenerTCP
		if useTLS {
			conn, listener = tls.Server(c, s.cfg.TLS), record.ListenerTLS
		}
		s.conns.Store(conn, struct{}{})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.cnt.tcpOpen.Add(-1)
			defer s.conns.Delete(conn)
			defer conn.Close()
			if tc, ok := conn.(*tls.Conn); ok {
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if err := tc.Handshake(); err != nil {
					s.reject("tls", ReasonTLSHandshake, addrPortOf(c.RemoteAddr()), err.Error())
					return
				}
				_ = c.SetDeadline(time.Time{})
			}
			s.serveStream(conn, listener)
		}()
	}
}

// serveStream reads back-to-back HEPv3 frames from one connection until it
// closes or stays idle for the configured time.
func (s *Server) serveStream(c net.Conn, l record.Listener) {
	from := addrPortOf(c.RemoteAddr())
	err := s.readFrames(func(b []byte) (int, error) {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdle))
		return c.Read(b)
	}, from, l, nil)
	if isTimeout(err) {
		s.log.Info("closing idle hep connection", "from", from.String(), "idle", s.cfg.TCPIdle)
	}
}

// streamTally counts what became of the frames of one stream.
type streamTally struct {
	frames, stored, ignored int
	rejected                map[string]int
}

func (t *streamTally) count(outcome string) {
	if t == nil {
		return
	}
	switch outcome {
	case "":
		t.stored++
	case outcomeIgnored:
		t.ignored++
	default:
		t.rejected[outcome]++
	}
}

// readFrames reads back-to-back HEPv3 frames with read until read fails, and
// returns that error (io.EOF at a clean end). Its buffer starts small and grows
// only to hold the frame being read (at most two maximal frames), so one stream
// cannot make traced buffer without limit and a thousand idle senders cost
// little. Bytes that are not a frame are skipped up to the next magic and
// counted. t, when not nil, counts the outcome of every frame and rejection.
func (s *Server) readFrames(read func([]byte) (int, error), from netip.AddrPort, l record.Listener, t *streamTally) error {
	name := l.String()
	recv, nbytes := s.cnt.received[name], s.cnt.bytes[name]
	reject := func(reason, detail string) {
		s.reject(name, reason, from, detail)
		t.count(reason)
	}
	buf := make([]byte, tcpBufStart)
	r, w := 0, 0
	var wk worker
	garbage := 0
	flushGarbage := func() {
		if garbage > 0 {
			reject(ReasonTCPGarbage, "skipped bytes to resync")
			garbage = 0
		}
	}
	for {
		need := 6 // bytes wanted at r before the next step can be taken
		for w-r >= 6 {
			n, err := hep.FrameLen(buf[r:w])
			if err != nil {
				// Not at a frame: skip to the next magic (or keep the last 3 bytes,
				// which may be the start of one).
				i := hep.IndexMagic(buf[r+1 : w])
				if i < 0 {
					skip := w - r - 3
					garbage += skip
					r += skip
					break
				}
				garbage += i + 1
				r += i + 1
				continue
			}
			if w-r < n {
				need = n
				break
			}
			flushGarbage()
			recv.Add(1)
			nbytes.Add(uint64(n))
			if t != nil {
				t.frames++
			}
			t.count(s.handleHEP(&wk, buf[r:r+n], from, l))
			r += n
		}
		switch {
		case r == w:
			r, w = 0, 0
		case r > 0 && len(buf)-w < max(need-(w-r), tcpReadMin):
			w = copy(buf, buf[r:w])
			r = 0
		}
		if need > len(buf) {
			grown := make([]byte, min(max(need, 2*len(buf)), tcpBufMax))
			w = copy(grown, buf[r:w])
			r, buf = 0, grown
		}
		n, err := read(buf[w:])
		w += n
		if err != nil {
			partial := w-r > 0 && !isTimeout(err)
			if partial && !frameStart(buf[r:w]) {
				// The bytes kept in case they began a magic do not: garbage,
				// not a frame cut short.
				garbage += w - r
				partial = false
			}
			flushGarbage()
			if partial {
				reject(ReasonTCPTrunc, "stream closed inside a frame")
			}
			return err
		}
	}
}

// Stream buffer sizes: a connection starts with tcpBufStart bytes and grows to
// hold the frame it is reading, up to tcpBufMax.
const (
	tcpBufStart = 16 << 10
	tcpReadMin  = 4 << 10
	tcpBufMax   = 2*maxPacket + 2
)

// frameStart says whether b can be the beginning of a HEPv3 frame.
func frameStart(b []byte) bool {
	_, err := hep.FrameLen(b)
	return err == nil || hep.ReasonOf(err) == hep.ReasonTruncated
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func listenerName(useTLS bool) string {
	if useTLS {
		return "tls"
	}
	return "tcp"
}
