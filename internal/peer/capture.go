package peer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Capture is a running dumpcap capture on the loopback interface.
type Capture struct {
	// Path is the pcap file being written.
	Path string

	t        testing.TB
	cmd      *exec.Cmd
	stderr   *lockedBuffer
	exited   chan struct{}
	probe    *net.UDPConn
	scan     probeScanner
	sent     int // probes sent so far
	stopOnce sync.Once
}

// StartCapture runs dumpcap on interface lo with the capture filter (empty:
// everything) into a pcap file in a temporary directory, and returns once it
// is really capturing. Readiness is proven with probes: the filter is widened
// by a UDP flow to a private 127.0.0.1 port, and numbered probes are sent until
// one shows up in the file. The probes stay in the pcap; they are on no SIP
// port and no HEP port, so CountHEP, CountUDP and CallIDs ignore them.
func StartCapture(t testing.TB, filter string) *Capture {
	t.Helper()
	bin := mustLookPath(t, "dumpcap")
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("peer: capture probe socket: %v", err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	full := fmt.Sprintf("(udp and dst host 127.0.0.1 and dst port %d)", port)
	if filter != "" {
		full = "(" + filter + ") or " + full
	}
	c := &Capture{
		Path:   filepath.Join(t.TempDir(), "capture.pcap"),
		t:      t,
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
		probe:  probe,
	}
	c.scan = probeScanner{port: uint16(port), maxSeen: -1}
	c.cmd = exec.Command(bin, "-q", "-i", "lo", "-f", full, "-w", c.Path, "-P")
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		probe.Close()
		t.Fatalf("peer: start dumpcap: %v", err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() { c.Stop() })
	if err := c.sync(20 * time.Second); err != nil {
		msg := tail(c.stderr.Bytes(), 20)
		c.stopOnce.Do(func() {
			c.probe.Close()
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		})
		if strings.Contains(strings.ToLower(msg), "permission") && os.Getenv("CI") == "" {
			t.Skipf("dumpcap has no permission to capture on lo; run the tests as root (skipped outside CI)")
		}
		t.Fatalf("peer: dumpcap not capturing: %v\n%s", err, msg)
	}
	return c
}

// sync sends numbered probes until one sent by this call is in the file: every
// packet that reached lo before the call is then in the capture too.
func (c *Capture) sync(timeout time.Duration) error {
	first := c.sent
	dst := c.probe.LocalAddr().(*net.UDPAddr)
	deadline := time.Now().Add(timeout)
	for next := time.Now(); ; {
		if time.Now().After(next) {
			if _, err := c.probe.WriteToUDP(probePayload(c.sent), dst); err != nil {
				return fmt.Errorf("send probe: %w", err)
			}
			c.sent++
			next = time.Now().Add(100 * time.Millisecond)
		}
		if err := c.scan.update(c.Path); err != nil {
			return err
		}
		if c.scan.maxSeen >= first {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no probe in %s within %v", c.Path, timeout)
		}
		select {
		case <-c.exited:
			return errors.New("dumpcap exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop makes sure every packet sent before the call is in the file, stops
// dumpcap and returns the pcap path. It is safe to call more than once.
func (c *Capture) Stop() string {
	c.stopOnce.Do(func() {
		defer c.probe.Close()
		select {
		case <-c.exited:
			c.t.Errorf("peer: dumpcap exited early:\n%s", tail(c.stderr.Bytes(), 20))
			return
		default:
		}
		if err := c.sync(10 * time.Second); err != nil {
			c.t.Errorf("peer: final capture sync: %v", err)
		}
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			c.t.Errorf("peer: dumpcap ignored SIGINT for 10s; killing it")
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
	})
	return c.Path
}

const probeMagic = "traced-peer-capture-probe "

func probePayload(n int) []byte { return fmt.Appendf(nil, "%s%d", probeMagic, n) }

// probeScanner reads a growing pcap file (libpcap format, as dumpcap -P
// writes it) and remembers the highest probe number seen.
type probeScanner struct {
	port    uint16
	off     int64 // start of the first record not read yet
	le      bool  // file byte order is little-endian
	link    uint32
	maxSeen int
}

// update reads the complete records added since the last call.
func (s *probeScanner) update(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // dumpcap has not created it yet
	}
	if err != nil {
		return fmt.Errorf("open capture: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, s.off, 1<<40))
	if err != nil {
		return fmt.Errorf("read capture: %w", err)
	}
	if s.off == 0 {
		if len(data) < 24 {
			return nil
		}
		switch binary.LittleEndian.Uint32(data) {
		case 0xa1b2c3d4, 0xa1b23c4d:
			s.le = true
		case 0xd4c3b2a1, 0x4d3cb2a1:
			s.le = false
		default:
			return fmt.Errorf("capture %s is not a libpcap file", path)
		}
		s.link = s.u32(data[20:])
		data = data[24:]
		s.off = 24
	}
	for len(data) >= 16 {
		n := int(s.u32(data[8:]))
		if len(data) < 16+n {
			break
		}
		if p, ok := s.probeNumber(data[16 : 16+n]); ok && p > s.maxSeen {
			s.maxSeen = p
		}
		data = data[16+n:]
		s.off += int64(16 + n)
	}
	return nil
}

func (s *probeScanner) u32(b []byte) uint32 {
	if s.le {
		return binary.LittleEndian.Uint32(b)
	}
	return binary.BigEndian.Uint32(b)
}

// probeNumber returns the number of a probe datagram, if frame is one.
func (s *probeScanner) probeNumber(frame []byte) (int, bool) {
	var ip []byte
	switch s.link {
	case 1: // Ethernet, as Linux reports lo
		if len(frame) < 14 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			return 0, false
		}
		ip = frame[14:]
	case 113: // Linux cooked
		if len(frame) < 16 {
			return 0, false
		}
		ip = frame[16:]
	case 101, 228: // raw IP, raw IPv4
		ip = frame
	default:
		return 0, false
	}
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return 0, false
	}
	hl := int(ip[0]&0x0f) * 4
	if len(ip) < hl+8 || binary.BigEndian.Uint16(ip[hl+2:]) != s.port {
		return 0, false
	}
	payload, ok := bytes.CutPrefix(ip[hl+8:], []byte(probeMagic))
	if !ok {
		return 0, false
	}
	n := 0
	for _, d := range payload {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	return n, len(payload) > 0
}
