package loadbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// SendConfig is one run of the load generator.
type SendConfig struct {
	Addr      string        // host:port of the HEP listener
	Transport string        // "udp" or "tcp"
	Rate      float64       // packets per second over all connections; 0: as fast as possible
	Duration  time.Duration // how long to send
	Conns     int           // UDP sockets or TCP connections, each sending Rate/Conns; 0: 1
	Seed      uint64        // sipgen seed of the first connection (the others use Seed+i)
	Batch     int           // packets per sendmmsg or per TCP write; 0: 64
	Pool      int           // packets generated ahead per connection; 0: 131072/Conns, at least 8192
	Burst     time.Duration // most catch-up after a stall, as time at Rate; 0: 200 ms
}

// SendResult is what a run sent. It is what hepload prints with --json.
type SendResult struct {
	Transport     string   `json:"transport"`
	Addr          string   `json:"addr"`
	Conns         int      `json:"conns"`
	Rate          float64  `json:"rate"`     // asked, packets/s (0: unlimited)
	Seconds       float64  `json:"seconds"`  // of the send phase
	Sent          uint64   `json:"sent"`     // packets handed to the kernel
	Bytes         uint64   `json:"bytes"`    // their bytes (HEP)
	Achieved      float64  `json:"achieved"` // Sent / Seconds
	Errors        uint64   `json:"errors"`   // packets not sent because a send failed
	ErrorSamples  []string `json:"error_samples,omitempty"`
	Behind        uint64   `json:"behind"`   // packets the pacer dropped because the sender fell behind
	Batches       uint64   `json:"batches"`  // sendmmsg calls or TCP writes
	CPUSeconds    float64  `json:"cpu_s"`    // user+system CPU of the send phase
	CPUPercent    float64  `json:"cpu_pct"`  // of one core, over the send phase
	PoolPackets   int      `json:"pool"`     // packets generated per connection
	PoolSeconds   float64  `json:"pool_s"`   // time to generate the pools
	StartUnixNano int64    `json:"start_ns"` // when sending started
	EndUnixNano   int64    `json:"end_ns"`   // when sending ended (before the TCP close)
	Drained       bool     `json:"drained"`  // TCP: the peer read everything and closed (false for UDP)
	DrainSeconds  float64  `json:"drain_s"`  // TCP: from the end of sending to the peer's close
}

func (c *SendConfig) defaults() error {
	if c.Transport != "udp" && c.Transport != "tcp" {
		return fmt.Errorf("transport %q: udp or tcp", c.Transport)
	}
	if c.Duration <= 0 {
		return errors.New("duration must be positive")
	}
	if c.Rate < 0 {
		return errors.New("rate must not be negative")
	}
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.Pool <= 0 {
		c.Pool = max(131072/c.Conns, 8192)
	}
	if c.Burst <= 0 {
		c.Burst = 200 * time.Millisecond
	}
	return nil
}

// sender is one connection's state.
type sender struct {
	cfg    *SendConfig
	pool   *Pool
	next   int
	pacer  *Pacer
	sent   uint64
	bytes  uint64
	errs   uint64
	calls  uint64
	sample []string
	end    time.Time // when the last batch was sent
}

func (s *sender) fail(n int, err error) {
	s.errs += uint64(n)
	if len(s.sample) < 5 {
		s.sample = append(s.sample, err.Error())
	}
}

// fill puts the next n packets of the pool, stamped from us, into out.
func (s *sender) fill(out [][]byte, us int64) {
	for i := range out {
		if s.next == s.pool.Len() {
			s.next = 0
			s.pool.Renew()
		}
		out[i] = s.pool.Packet(s.next, us+int64(i))
		s.next++
	}
}

// Send runs the load generator: every connection sends its share of Rate for
// Duration, in batches paced by a token bucket. It stops early when ctx ends.
func Send(ctx context.Context, cfg SendConfig) (SendResult, error) {
	if err := cfg.defaults(); err != nil {
		return SendResult{}, err
	}
	res := SendResult{Transport: cfg.Transport, Addr: cfg.Addr, Conns: cfg.Conns, Rate: cfg.Rate}
	t0 := time.Now()
	ss := make([]*sender, cfg.Conns)
	for i := range ss {
		p, err := NewPool(cfg.Seed+uint64(i), cfg.Pool)
		if err != nil {
			return res, err
		}
		ss[i] = &sender{cfg: &cfg, pool: p, pacer: NewPacer(cfg.Rate/float64(cfg.Conns), cfg.Batch, cfg.Burst)}
	}
	res.PoolPackets, res.PoolSeconds = ss[0].pool.Len(), time.Since(t0).Seconds()

	// Connect everything before the clock starts.
	udp := make([]*net.UDPConn, cfg.Conns)
	tcp := make([]net.Conn, cfg.Conns)
	for i := range ss {
		var err error
		if cfg.Transport == "udp" {
			udp[i], err = dialUDP(cfg.Addr)
		} else {
			tcp[i], err = net.DialTimeout("tcp", cfg.Addr, 5*time.Second)
		}
		if err != nil {
			for _, c := range udp {
				if c != nil {
					c.Close()
				}
			}
			for _, c := range tcp {
				if c != nil {
					c.Close()
				}
			}
			return res, err
		}
	}

	cpu0 := cpuSelf()
	start := time.Now()
	var wg sync.WaitGroup
	drained := make([]time.Duration, cfg.Conns)
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Transport == "udp" {
				s.runUDP(ctx, udp[i], start)
				udp[i].Close()
			} else {
				drained[i] = s.runTCP(ctx, tcp[i], start)
			}
		}()
	}
	wg.Wait()
	cpu := cpuSelf() - cpu0
	var end time.Time
	for _, s := range ss {
		if s.end.After(end) {
			end = s.end
		}
	}

	res.Seconds = min(end.Sub(start), cfg.Duration).Seconds()
	res.StartUnixNano, res.EndUnixNano = start.UnixNano(), end.UnixNano()
	if cfg.Transport == "tcp" {
		res.Drained = true
		last := time.Duration(0)
		for _, d := range drained {
			if d < 0 {
				res.Drained = false
			}
			last = max(last, d)
		}
		res.DrainSeconds = last.Seconds()
	}
	for _, s := range ss {
		res.Sent += s.sent
		res.Bytes += s.bytes
		res.Errors += s.errs
		res.Batches += s.calls
		res.Behind += uint64(s.pacer.Dropped)
		res.ErrorSamples = append(res.ErrorSamples, s.sample...)
	}
	if res.Seconds > 0 {
		res.Achieved = float64(res.Sent) / res.Seconds
	}
	res.CPUSeconds = cpu.Seconds()
	if wall := end.Sub(start).Seconds(); wall > 0 {
		res.CPUPercent = 100 * res.CPUSeconds / wall
	}
	return res, nil
}

// dialUDP connects a UDP socket to addr with a send buffer large enough for a
// few batches.
func dialUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteBuffer(4 << 20)
	return c, nil
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pace returns the size of the next batch, sleeping as the pacer says; 0 means
// the run is over.
func (s *sender) pace(ctx context.Context, start time.Time) int {
	for {
		now := time.Since(start)
		if now >= s.cfg.Duration || ctx.Err() != nil {
			return 0
		}
		n, w := s.pacer.Take(now, s.cfg.Batch)
		if n > 0 {
			return n
		}
		if !wait(ctx, min(w, s.cfg.Duration-now)) {
			return 0
		}
	}
}

func (s *sender) runUDP(ctx context.Context, c *net.UDPConn, start time.Time) {
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, s.cfg.Batch)
	bufs := make([][]byte, s.cfg.Batch)
	for i := range msgs {
		msgs[i].Buffers = bufs[i : i+1 : i+1]
	}
	for {
		n := s.pace(ctx, start)
		if n == 0 {
			s.end = time.Now()
			return
		}
		s.fill(bufs[:n], time.Now().UnixMicro())
		for off := 0; off < n; {
			m, err := pc.WriteBatch(msgs[off:n], 0)
			s.calls++
			for _, b := range bufs[off : off+max(m, 0)] {
				s.bytes += uint64(len(b))
			}
			if m > 0 {
				s.sent += uint64(m)
				off += m
			}
			if err != nil {
				// The message at off failed (a refused port reported by ICMP,
				// no buffer space): count it and go on with the rest.
				s.fail(1, err)
				off++
				if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN) {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
	}
}

// runTCP sends back-to-back HEPv3 frames on c, one buffered write per batch. A
// failed write loses its batch (counted) and the connection is dialled again.
// At the end it half-closes and waits for the peer to close after reading
// everything; it returns how long that took, or -1 if it did not happen within
// 30 s.
func (s *sender) runTCP(ctx context.Context, c net.Conn, start time.Time) time.Duration {
	bw := bufio.NewWriterSize(c, 256<<10)
	bufs := make([][]byte, s.cfg.Batch)
	for {
		n := s.pace(ctx, start)
		if n == 0 {
			s.end = time.Now()
			break
		}
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", s.cfg.Addr, time.Second); err != nil {
				s.fail(n, err)
				wait(ctx, 100*time.Millisecond)
				continue
			}
			bw.Reset(c)
		}
		s.fill(bufs[:n], time.Now().UnixMicro())
		var nb uint64
		for _, b := range bufs[:n] {
			_, _ = bw.Write(b)
			nb += uint64(len(b))
		}
		s.calls++
		if err := bw.Flush(); err != nil {
			s.fail(n, err)
			c.Close()
			c = nil
			continue
		}
		s.sent += uint64(n)
		s.bytes += nb
	}
	if c == nil || ctx.Err() != nil {
		if c != nil {
			c.Close()
		}
		return -1
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		return -1
	}
	return time.Since(s.end)
}

// cpuSelf is the user+system CPU time of this process.
func cpuSelf() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
