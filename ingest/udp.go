package ingest

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"traced/ingest/record"
	"traced/segment"
)

// batchReader is the recvmmsg call of x/net's ipv4 and ipv6 packet conns.
type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchReader(u *net.UDPConn) batchReader {
	if a, ok := u.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return v6batch{ipv6.NewPacketConn(u)}
	}
	return ipv4.NewPacketConn(u)
}

type v6batch struct{ c *ipv6.PacketConn }

func (b v6batch) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return b.c.ReadBatch(ms, flags)
}

// setReadBuffer asks for n bytes of socket receive buffer: first past
// net.core.rmem_max (SO_RCVBUFFORCE, needs CAP_NET_ADMIN), else within it, and
// returns what the kernel granted (the kernel reports twice the usable size).
func setReadBuffer(u *net.UDPConn, n int) (granted int, how string) {
	rc, err := u.SyscallConn()
	if err != nil {
		return 0, err.Error()
	}
	how = "SO_RCVBUFFORCE"
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			how = "SO_RCVBUF"
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		if err == nil {
			granted = v / 2
		}
	})
	return granted, how
}

func (s *Server) serveUDP(u *net.UDPConn, plainSIP bool) {
	br := newBatchReader(u)
	n := s.cfg.UDPBatch
	ms := make([]ipv4.Message, n)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxPacket+1)}
	}
	listener := "udp"
	if plainSIP {
		listener = "sip"
	}
	recv, nbytes := s.cnt.received[listener], s.cnt.bytes[listener]
	var w worker
	local := addrPortOf(u.LocalAddr())
	for {
		got, err := br.ReadBatch(ms, 0)
		if err != nil {
			if isClosed(err) {
				return
			}
			if errorsIsTemporary(err) {
				continue
			}
			s.log.Error("udp read", "addr", u.LocalAddr().String(), "err", err)
			return
		}
		recv.Add(uint64(got))
		total := 0
		for i := 0; i < got; i++ {
			total += ms[i].N
		}
		nbytes.Add(uint64(total))
		for i := 0; i < got; i++ {
			m := &ms[i]
			from := addrPortOf(m.Addr)
			b := m.Buffers[0][:m.N]
			if m.N > maxPacket {
				s.reject(listener, ReasonOversize, from, "")
				continue
			}
			if plainSIP && !isHEP(b) {
				s.handleSIP(&w, b, from, local)
			} else {
				s.handleHEP(&w, b, from, record.ListenerUDP)
			}
		}
	}
}

func errorsIsTemporary(err error) bool {
	var se syscall.Errno
	if errors.As(err, &se) {
		return se == syscall.EINTR || se == syscall.EAGAIN || se == syscall.ENOBUFS || se == syscall.ECONNREFUSED
	}
	return false
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// handleSIP stores one plain SIP datagram. Kamailio's siptrace (duplicate_uri with
// hep_mode_on=0) adds X-Siptrace-Fromip and X-Siptrace-Toip when xheaders_write is
// on; those give the message's own addresses. Without them the socket's addresses
// are the best there is.
func (s *Server) handleSIP(w *worker, b []byte, from, local netip.AddrPort) {
	arrival := s.now()
	if !looksLikeSIP(b) {
		s.reject("sip", ReasonBadSIP, from, firstLine(b))
		return
	}
	h := record.Header{Kind: record.KindSIP, Listener: record.ListenerUDP, Recv: arrival.UnixMicro(),
		Agent: from, Proto: 17, Src: from, Dst: local}
	if src, proto, ok := siptraceAddr(b, "X-Siptrace-Fromip"); ok {
		h.Src, h.Proto = src, proto
	}
	if dst, _, ok := siptraceAddr(b, "X-Siptrace-Toip"); ok {
		h.Dst = dst
	}
	w.buf = record.Append(w.buf[:0], &h, b)
	if err := s.cfg.Store.Append(segment.Record{Time: arrival.UnixMicro(), Data: w.buf}); err != nil {
		s.reject("sip", ReasonStore, from, err.Error())
		return
	}
	s.cnt.accepted.Add(1)
}

// siptraceAddr parses an X-Siptrace-Fromip/Toip value such as "udp:10.0.0.1:5060",
// "tcp:[2001:db8::1]:5060" or "10.0.0.1:5060".
func siptraceAddr(msg []byte, name string) (netip.AddrPort, uint8, bool) {
	v := headerValue(msg, name)
	if v == "" {
		return netip.AddrPort{}, 0, false
	}
	proto := uint8(17)
	if i := strings.IndexByte(v, ':'); i > 0 {
		switch strings.ToLower(v[:i]) {
		case "udp":
			v = v[i+1:]
		case "tcp", "ws":
			proto, v = 6, v[i+1:]
		case "tls", "wss":
			proto, v = 22, v[i+1:]
		case "sctp":
			proto, v = 132, v[i+1:]
		}
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), proto, true
	}
	// An IPv6 address written without brackets: the port follows the last colon.
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		if ip, err := netip.ParseAddr(v[:i]); err == nil {
			if ap, err := netip.ParseAddrPort("[" + ip.String() + "]" + v[i:]); err == nil {
				return ap, proto, true
			}
		}
	}
	return netip.AddrPort{}, 0, false
}

// headerValue returns the trimmed value of the first header called name (any case)
// in the header section of msg.
func headerValue(msg []byte, name string) string {
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		line := msg
		if i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return ""
		}
		if len(line) > len(name) && bytes.EqualFold(line[:len(name)], []byte(name)) {
			rest := bytes.TrimLeft(line[len(name):], " \t")
			if len(rest) > 0 && rest[0] == ':' {
				return string(bytes.TrimSpace(rest[1:]))
			}
		}
	}
	return ""
}

// isHEP says whether a datagram on the plain SIP listener is HEP after all:
// Kamailio sends its hlog() lines as HEPv3 to the same address as the SIP copies.
func isHEP(b []byte) bool {
	if len(b) > 0 && (b[0] == 1 || b[0] == 2) {
		return true
	}
	return len(b) >= 4 && (b[0] == 'H' || b[0] == 'E') && b[1] == 'E' && b[2] == 'P'
}

// looksLikeSIP says whether b starts with a SIP status line or request line. It is
// the cheap gate of the packet path; the full scan happens when the block is indexed.
func looksLikeSIP(b []byte) bool {
	if bytes.HasPrefix(b, []byte("SIP/2.0 ")) {
		return true
	}
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		end = len(b)
	}
	line := bytes.TrimRight(b[:end], "\r")
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	for _, c := range line[:sp] {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-' || c == '_' || c == '.' || c == '!' || c == '%' || c == '*' || c == '+' || c == '`' || c == '\'' || c == '~' || '0' <= c && c <= '9') {
			return false
		}
	}
	return bytes.HasSuffix(line, []byte(" SIP/2.0"))
}

func firstLine(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "?")
}
