package ingest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// socketInode returns the inode of a socket, which names it in /proc/net/udp.
func socketInode(c *net.UDPConn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var ino uint64
	var serr error
	err = rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if serr = unix.Fstat(int(fd), &st); serr == nil {
			ino = st.Ino
		}
	})
	if err != nil {
		return 0, err
	}
	return ino, serr
}

// procUDPDrops reads the per-socket receive drops (the last column of
// /proc/net/udp and /proc/net/udp6) of the sockets whose inodes are asked for.
func procUDPDrops(inodes map[uint64]string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, name := range inodes {
		out[name] += 0
	}
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		if err := scanProcUDP(f, inodes, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func scanProcUDP(path string, inodes map[uint64]string, out map[string]uint64) error {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
		if len(fs) < 13 {
			continue
		}
		ino, err := strconv.ParseUint(fs[9], 10, 64)
		if err != nil {
			continue
		}
		name, ok := inodes[ino]
		if !ok {
			continue
		}
		if d, err := strconv.ParseUint(fs[len(fs)-1], 10, 64); err == nil {
			out[name] += d
		}
	}
	return sc.Err()
}

// KernelDrops returns, per listener kind ("udp", "sip"), the datagrams the kernel
// dropped because traced's receive buffer was full: the load shed when traced
// cannot keep up, or when the buffer is too small for a burst.
func (s *Server) KernelDrops() map[string]uint64 {
	inodes := map[uint64]string{}
	for _, l := range []struct {
		name  string
		conns []*net.UDPConn
	}{{"udp", s.udp}, {"sip", s.sip}} {
		for _, c := range l.conns {
			if ino, err := socketInode(c); err == nil {
				inodes[ino] = l.name
			}
		}
	}
	d, _ := procUDPDrops(inodes)
	return d
}
