package ingest

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel's per-socket drop counter is read for traced's own sockets: a
// datagram flood into a socket with a tiny buffer that nobody reads is counted.
func TestKernelDropsCounted(t *testing.T) {
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	rc, _ := u.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1024) })
	s := &Server{udp: []*net.UDPConn{u}}
	if d := s.KernelDrops()["udp"]; d != 0 {
		t.Fatalf("drops before the flood: %d", d)
	}
	c, err := net.Dial("udp", u.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := make([]byte, 1000)
	for i := 0; i < 200; i++ {
		c.Write(pkt)
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.KernelDrops()["udp"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no drops counted after flooding a 1 KiB receive buffer with 200 KB")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
