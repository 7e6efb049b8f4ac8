package ingest

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/segment"
)

// Store is where accepted packets go. *segment.Dir satisfies it.
type Store interface {
	Append(segment.Record) error
}

// Config configures a Server. Zero values mean the documented default.
type Config struct {
	HEPAddrs []string // each address is listened on with UDP and TCP
	SIPAddrs []string // plain SIP over UDP; none by default
	TLSAddrs []string // HEP over TLS; needs TLS
	TLS      *tls.Config
	AuthKeys []string // when set, HEP packets must carry one of them (chunk 0x0e)
	Store    Store
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now

	UDPReadBuffer int           // SO_RCVBUF asked for; 0: 16 MiB
	UDPBatch      int           // datagrams per recvmmsg; 0: 64
	MaxTCPConns   int           // 0: 4096
	TCPIdle       time.Duration // a connection silent this long is closed; 0: 15 min
	LogEvery      time.Duration // rate limit of rejection logs per reason; 0: 10 s
}

// maxPacket is the largest HEP packet or SIP datagram accepted (the largest UDP
// payload, and the largest length a HEPv3 header can state).
const maxPacket = 65535

// Server runs the listeners.
type Server struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	keys  [][]byte
	cnt   *counters
	rlog  *rateLog
	udp   []*net.UDPConn
	tcp   []*net.TCPListener
	tls   []*net.TCPListener
	sip   []*net.UDPConn
	wg    sync.WaitGroup
	conns sync.Map // net.Conn → struct{}
}

// New checks cfg and returns a Server that has not bound anything yet.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("ingest: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UDPReadBuffer == 0 {
		cfg.UDPReadBuffer = 16 << 20
	}
	if cfg.UDPBatch == 0 {
		cfg.UDPBatch = 64
	}
	if cfg.MaxTCPConns == 0 {
		cfg.MaxTCPConns = 4096
	}
	if cfg.TCPIdle == 0 {
		cfg.TCPIdle = 15 * time.Minute
	}
	if cfg.LogEvery == 0 {
		cfg.LogEvery = 10 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, cnt: newCounters()}
	for _, k := range cfg.AuthKeys {
		if k != "" {
			s.keys = append(s.keys, []byte(k))
		}
	}
	s.rlog = newRateLog(cfg.Logger, cfg.LogEvery)
	return s, nil
}

// Listen binds every configured address. On error nothing stays bound.
func (s *Server) Listen() error {
	err := s.listen()
	if err != nil {
		s.closeListeners()
	}
	return err
}

func (s *Server) listen() error {
	for _, a := range s.cfg.HEPAddrs {
		u, err := s.listenUDP(a)
		if err != nil {
			return err
		}
		s.udp = append(s.udp, u)
		ta, err := net.ResolveTCPAddr("tcp", a)
		if err != nil {
			return fmt.Errorf("hep address %q: %w", a, err)
		}
		t, err := net.ListenTCP("tcp", ta)
		if err != nil {
			return fmt.Errorf("listen hep tcp %s: %w", a, err)
		}
		s.tcp = append(s.tcp, t)
	}
	if len(s.cfg.TLSAddrs) > 0 && s.cfg.TLS == nil {
		return errors.New("hep tls addresses without a tls configuration")
	}
	for _, a := range s.cfg.TLSAddrs {
		ta, err := net.ResolveTCPAddr("tcp", a)
		if err != nil {
			return fmt.Errorf("hep tls address %q: %w", a, err)
		}
		t, err := net.ListenTCP("tcp", ta)
		if err != nil {
			return fmt.Errorf("listen hep tls %s: %w", a, err)
		}
		s.tls = append(s.tls, t)
	}
	for _, a := range s.cfg.SIPAddrs {
		u, err := s.listenUDP(a)
		if err != nil {
			return err
		}
		s.sip = append(s.sip, u)
	}
	return nil
}

func (s *Server) listenUDP(a string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", a)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", a, err)
	}
	u, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", a, err)
	}
	got, how := setReadBuffer(u, s.cfg.UDPReadBuffer)
	lvl := slog.LevelInfo
	if got < s.cfg.UDPReadBuffer {
		lvl = slog.LevelWarn
	}
	s.log.Log(context.Background(), lvl, "udp receive buffer", "addr", u.LocalAddr().String(),
		"asked", s.cfg.UDPReadBuffer, "granted", got, "how", how,
		"raise", fmt.Sprintf("sysctl -w net.core.rmem_max=%d", s.cfg.UDPReadBuffer))
	return u, nil
}

// UDPAddrs, TCPAddrs and SIPAddrs return the bound addresses (useful with port 0).
func (s *Server) UDPAddrs() []net.Addr { return addrs(s.udp) }
func (s *Server) SIPAddrs() []net.Addr { return addrs(s.sip) }
func (s *Server) TCPAddrs() []net.Addr { return tcpAddrs(s.tcp) }
func (s *Server) TLSAddrs() []net.Addr { return tcpAddrs(s.tls) }

func tcpAddrs(ls []*net.TCPListener) []net.Addr {
	var r []net.Addr
	for _, l := range ls {
		r = append(r, l.Addr())
	}
	return r
}

func addrs(cs []*net.UDPConn) []net.Addr {
	var r []net.Addr
	for _, c := range cs {
		r = append(r, c.LocalAddr())
	}
	return r
}

// Serve runs every listener until ctx is done, then closes them and every TCP
// connection and returns once all readers have stopped.
func (s *Server) Serve(ctx context.Context) error {
	for _, u := range s.udp {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serveUDP(u, false) }()
	}
	for _, u := range s.sip {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serveUDP(u, true) }()
	}
	for _, l := range s.tcp {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.acceptTCP(l, false) }()
	}
	for _, l := range s.tls {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.acceptTCP(l, true) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.watchDrops(ctx, 5*time.Second) }()
	<-ctx.Done()
	s.closeListeners()
	s.conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	s.wg.Wait()
	return nil
}

func (s *Server) closeListeners() {
	for _, u := range s.udp {
		u.Close()
	}
	for _, u := range s.sip {
		u.Close()
	}
	for _, l := range s.tcp {
		l.Close()
	}
	for _, l := range s.tls {
		l.Close()
	}
}

// watchDrops logs when the kernel drops datagrams because traced does not read
// them fast enough: the load it sheds is visible in the log as well as in the
// counters.
func (s *Server) watchDrops(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := s.KernelDrops()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.KernelDrops()
		for name, n := range now {
			if d := n - last[name]; n > last[name] {
				s.log.Warn("kernel dropped datagrams: traced is overloaded or its receive buffer is too small",
					"listener", name, "dropped", d, "in", every, "total", n)
			}
		}
		last = now
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats { return s.cnt.snapshot() }

// worker holds the per-goroutine scratch of the packet path.
type worker struct {
	pkt hep.Packet
	buf []byte
}

func (s *Server) reject(listener, reason string, from netip.AddrPort, detail string) {
	s.cnt.rejected[listener][reason].Add(1)
	s.rlog.reject(s.now(), reason, from.String(), detail)
}

// outcomeIgnored is handleHEP's outcome for a packet that is neither stored nor
// rejected (heplify's goodbye, HEP type 0).
const outcomeIgnored = "ignored"

// handleHEP judges one HEP packet and stores it. b is only read during the call.
// It returns "" when the packet was stored, outcomeIgnored, or the reason it was
// rejected. Packets imported over the trusted control socket need no auth key.
func (s *Server) handleHEP(w *worker, b []byte, from netip.AddrPort, l record.Listener) string {
	arrival := s.now()
	if err := hep.Decode(b, &w.pkt); err != nil {
		reason := hep.ReasonOf(err).String()
		s.reject(l.String(), reason, from, err.Error())
		return reason
	}
	p := &w.pkt
	if l != record.ListenerImport && len(s.keys) > 0 && !s.keyOK(p.AuthKey) {
		if len(p.AuthKey) == 0 {
			s.reject(l.String(), ReasonAuthMissing, from, fmt.Sprintf("hep v%d", p.Version))
			return ReasonAuthMissing
		}
		s.reject(l.String(), ReasonAuthWrong, from, "")
		return ReasonAuthWrong
	}
	if p.ProtoType == 0 {
		// heplify's goodbye at the end of a TCP session: not a captured message.
		s.cnt.ignored.Add(1)
		return outcomeIgnored
	}
	if p.ProtoType == 1 && !p.Compressed && !looksLikeSIP(p.Payload) {
		s.reject(l.String(), ReasonBadSIP, from, firstLine(p.Payload))
		return ReasonBadSIP
	}
	ts := arrival.UnixMicro()
	if p.TimeOK {
		ts = int64(p.TsSec)*1e6 + int64(p.TsUsec)
	}
	h := record.Header{Kind: record.KindHEP, Listener: l, Recv: arrival.UnixMicro(), Agent: from}
	w.buf = record.Append(w.buf[:0], &h, b)
	if err := s.cfg.Store.Append(segment.Record{Time: ts, Data: w.buf}); err != nil {
		s.reject(l.String(), ReasonStore, from, err.Error())
		return ReasonStore
	}
	s.cnt.accepted.Add(1)
	return ""
}

func (s *Server) keyOK(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	ok := 0
	for _, want := range s.keys {
		ok |= subtle.ConstantTimeCompare(k, want)
	}
	return ok == 1
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}
