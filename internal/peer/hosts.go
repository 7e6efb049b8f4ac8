package peer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIPPort is the port every SIP role binds on its own loopback address.
const SIPPort = 5060

// Host numbers inside a reserved 127.A.B.0/24 block.
const (
	hostSentinel = 1
	hostProxy    = 10
	hostUAS      = 11
	hostUASBusy  = 12
	hostUASRing  = 13
	hostUAC      = 20
)

// Hosts are the loopback SIP addresses ("ip:5060") of one test topology. They
// share one 127.A.B.0/24 block so that sipp instances and Kamailio can all bind
// port 5060, and so that tests running in parallel (several packages under
// `go test ./...`) never collide.
type Hosts struct {
	Proxy   string // Kamailio (127.A.B.10)
	UAS     string // sipp answering 180 then 200 (127.A.B.11)
	UASBusy string // sipp answering 486 (127.A.B.12)
	UASRing string // sipp ringing until CANCEL, then 487 (127.A.B.13)
	UAC     string // sipp placing calls (127.A.B.20)
}

// HostsIn returns the topology of the /24 block that holds ip (an IPv4
// loopback address). It reserves nothing.
func HostsIn(ip netip.Addr) Hosts {
	b := ip.As4()
	at := func(h byte) string {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{b[0], b[1], b[2], h}), SIPPort).String()
	}
	return Hosts{
		Proxy:   at(hostProxy),
		UAS:     at(hostUAS),
		UASBusy: at(hostUASBusy),
		UASRing: at(hostUASRing),
		UAC:     at(hostUAC),
	}
}

// ReserveHosts picks a free 127.A.B.0/24 block (A in 100..199) and holds it
// until the test ends. The reservation is a UDP socket bound to 127.A.B.1:5060:
// it is visible to every process, and the kernel releases it if the test
// process dies.
func ReserveHosts(t testing.TB) Hosts {
	t.Helper()
	for range 64 {
		ip := netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(100)), byte(1 + rand.IntN(254)), hostSentinel})
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, SIPPort)))
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			t.Fatalf("peer: reserve loopback block %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		return HostsIn(ip)
	}
	t.Fatalf("peer: no free 127.A.B.0/24 loopback block after 64 tries")
	return Hosts{}
}

// socketBound reports whether some socket is bound to addr ("ip:port"),
// listening if tcp, according to /proc/net/udp or /proc/net/tcp.
func socketBound(network, addr string) (bool, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false, fmt.Errorf("parse %q: %w", addr, err)
	}
	if !ap.Addr().Is4() {
		return false, fmt.Errorf("%s is not IPv4", addr)
	}
	b := ap.Addr().As4()
	// /proc/net shows the address as the host-order (little-endian) u32 in hex.
	want := fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(b[:]), ap.Port())
	f, err := os.Open("/proc/net/" + network)
	if err != nil {
		return false, fmt.Errorf("open /proc/net/%s: %w", network, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[1] != want {
			continue
		}
		// State 07 is UDP "close" (bound), 0A is TCP LISTEN.
		if network == "udp" || fields[3] == "0A" {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read /proc/net/%s: %w", network, err)
	}
	return false, nil
}

// waitBound polls until a socket is bound to addr, the process signals exit on
// exited, or the timeout passes.
func waitBound(network, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := socketBound(network, addr)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before binding %s/%s", network, addr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing bound to %s/%s after %v", network, addr, timeout)
		}
	}
}
