package peer_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"traced/internal/peer"
)

// sink is the stand-in HEP receiver: it records every UDP datagram or every
// HEP3 frame of every TCP connection sent to it.
type sink struct {
	network string
	addr    string
	port    int

	mu    sync.Mutex
	pkts  [][]byte
	conns sync.WaitGroup
	errs  []error
	close func()
}

func newSink(t *testing.T, network string) *sink {
	t.Helper()
	s := &sink{network: network}
	switch network {
	case "udp":
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		if err := c.SetReadBuffer(4 << 20); err != nil {
			t.Fatalf("udp read buffer: %v", err)
		}
		s.addr, s.port = c.LocalAddr().String(), c.LocalAddr().(*net.UDPAddr).Port
		s.close = func() { c.Close() }
		go s.readUDP(c)
	case "tcp":
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("listen tcp: %v", err)
		}
		s.addr, s.port = l.Addr().String(), l.Addr().(*net.TCPAddr).Port
		s.close = func() { l.Close() }
		go s.acceptTCP(l)
	default:
		t.Fatalf("sink network %q", network)
	}
	t.Cleanup(s.close)
	return s
}

func (s *sink) add(p []byte) {
	s.mu.Lock()
	s.pkts = append(s.pkts, p)
	s.mu.Unlock()
}

func (s *sink) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *sink) readUDP(c *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.add(bytes.Clone(buf[:n]))
	}
}

func (s *sink) acceptTCP(l *net.TCPListener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer c.Close()
			hdr := make([]byte, 6)
			for {
				if _, err := io.ReadFull(c, hdr); err != nil {
					if !errors.Is(err, io.EOF) {
						s.fail(fmt.Errorf("tcp frame header: %w", err))
					}
					return
				}
				if string(hdr[:4]) != "HEP3" {
					s.fail(fmt.Errorf("tcp frame magic %q", hdr[:4]))
					return
				}
				n := int(binary.BigEndian.Uint16(hdr[4:]))
				if n < 6 {
					s.fail(fmt.Errorf("tcp frame length %d", n))
					return
				}
				frame := make([]byte, n)
				copy(frame, hdr)
				if _, err := io.ReadFull(c, frame[6:]); err != nil {
					s.fail(fmt.Errorf("tcp frame body: %w", err))
					return
				}
				s.add(frame)
			}
		}()
	}
}

// drain waits until the sender is done: for TCP until every connection has
// closed (call it after Kamailio stopped), for UDP until nothing arrived for
// 300ms. It returns what was received.
func (s *sink) drain(t *testing.T) [][]byte {
	t.Helper()
	if s.network == "tcp" {
		done := make(chan struct{})
		go func() { s.conns.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("hep tcp connections still open 10s after kamailio stopped")
		}
	} else {
		last, idle := -1, time.Now()
		for time.Since(idle) < 300*time.Millisecond {
			time.Sleep(50 * time.Millisecond)
			s.mu.Lock()
			n := len(s.pkts)
			s.mu.Unlock()
			if n != last {
				last, idle = n, time.Now()
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		t.Errorf("hep sink: %v", err)
	}
	return s.pkts
}

// hepPacket is the little of a HEP packet these tests look at.
type hepPacket struct {
	raw         []byte
	version     int
	proto       int // HEPv3 chunk 0x000b; 1 (SIP) for v1/v2
	captureID   uint32
	hasCapture  bool
	authKey     string
	correlation string
	tsSec       uint32
	payload     []byte
}

// parseHEP decodes v1/v2 (fixed header, time header little-endian) and v3
// (chunks) packets.
func parseHEP(b []byte) (hepPacket, error) {
	p := hepPacket{raw: b}
	if !peer.LooksLikeHEP(b) {
		return p, errors.New("not a hep packet")
	}
	if string(b[:4]) == "HEP3" || string(b[:4]) == "EEP3" {
		p.version = 3
		if n := int(binary.BigEndian.Uint16(b[4:6])); n != len(b) {
			return p, fmt.Errorf("hep3 length %d, packet %d bytes", n, len(b))
		}
		for off := 6; off < len(b); {
			if off+6 > len(b) {
				return p, fmt.Errorf("chunk header at %d truncated", off)
			}
			vendor := binary.BigEndian.Uint16(b[off:])
			typ := binary.BigEndian.Uint16(b[off+2:])
			n := int(binary.BigEndian.Uint16(b[off+4:]))
			if n < 6 || off+n > len(b) {
				return p, fmt.Errorf("chunk %#x at %d: bad length %d", typ, off, n)
			}
			v := b[off+6 : off+n]
			if vendor == 0 {
				switch typ {
				case 0x09:
					p.tsSec = binary.BigEndian.Uint32(v)
				case 0x0b:
					p.proto = int(v[0])
				case 0x0c:
					p.captureID, p.hasCapture = binary.BigEndian.Uint32(v), true
				case 0x0e:
					p.authKey = string(v)
				case 0x0f:
					p.payload = v
				case 0x11:
					p.correlation = string(v)
				}
			}
			off += n
		}
		return p, nil
	}
	p.version, p.proto = int(b[0]), 1
	hl := 16 // IPv4
	if b[2] == 10 {
		hl = 40
	}
	if p.version == 2 {
		if len(b) < hl+12 {
			return p, errors.New("hep2 time header truncated")
		}
		p.tsSec = binary.LittleEndian.Uint32(b[hl:])
		p.captureID, p.hasCapture = uint32(binary.LittleEndian.Uint16(b[hl+8:])), true
		hl += 12
	}
	p.payload = b[hl:]
	return p, nil
}
