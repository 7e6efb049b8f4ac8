package loadbench

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is 100
// on every Linux architecture Go supports.
const clockTick = 100

// ProcCPU is the user+system CPU time of a process, from /proc/PID/stat.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, f[11]; stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// Mem is a process's resident memory, from /proc/PID/status.
type Mem struct {
	RSS  int64 // VmRSS, bytes
	HWM  int64 // VmHWM, the peak RSS, bytes
	Anon int64 // RssAnon: heap, stacks and other private memory, bytes
	File int64 // RssFile: mapped files (bleve's segments), which the kernel can reclaim, bytes
}

// ProcMem reads a process's memory figures.
func ProcMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	return parseStatusMem(b)
}

func parseStatusMem(b []byte) (Mem, error) {
	var m Mem
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		}
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("status: %s %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("status: %s %q", k, v)
		}
		*dst = n << 10
		if k == "VmRSS" || k == "VmHWM" {
			found++
		}
	}
	if found != 2 {
		return m, fmt.Errorf("status: no VmRSS or VmHWM")
	}
	return m, nil
}

// UDPCounters are the kernel's UDP counters (the Udp: lines of /proc/net/snmp)
// for the whole network namespace.
type UDPCounters map[string]int64

// ReadUDPCounters reads /proc/net/snmp.
func ReadUDPCounters() (UDPCounters, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	return parseSNMP(b, "Udp")
}

// parseSNMP returns the counters of one protocol of /proc/net/snmp, which
// gives each protocol a line of names followed by a line of values.
func parseSNMP(b []byte, proto string) (map[string]int64, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != proto {
			continue
		}
		f := strings.Fields(v)
		if names == nil {
			names = f
			continue
		}
		if len(f) != len(names) {
			return nil, fmt.Errorf("snmp: %s has %d names and %d values", proto, len(names), len(f))
		}
		out := make(map[string]int64, len(f))
		for i, s := range f {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("snmp: %s %s %q", proto, names[i], s)
			}
			out[names[i]] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("snmp: no %s counters", proto)
}

// Sub returns c - before, counter by counter.
func (c UDPCounters) Sub(before UDPCounters) UDPCounters {
	out := make(UDPCounters, len(c))
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}

// UDPSocket is what /proc/net/udp says about the IPv4 UDP sockets bound to a
// port. Unlike /proc/net/snmp it counts only those sockets; it is gone once they
// are closed.
type UDPSocket struct {
	Found   bool
	RxQueue int64 // bytes waiting in the receive buffers
	Drops   int64 // datagrams dropped because a receive buffer was full
}

// ReadUDPSocket reads /proc/net/udp for port.
func ReadUDPSocket(port int) (UDPSocket, error) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return UDPSocket{}, err
	}
	return parseUDPSocket(b, port)
}

// parseUDPSocket reads the lines of /proc/net/udp whose local address has port:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
func parseUDPSocket(b []byte, port int) (UDPSocket, error) {
	want := fmt.Sprintf(":%04X", port)
	var s UDPSocket
	sc := bufio.NewScanner(bytes.NewReader(b))
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 13 || !strings.HasSuffix(f[1], want) {
			continue
		}
		_, rxq, ok := strings.Cut(f[4], ":")
		q, err1 := strconv.ParseInt(rxq, 16, 64)
		n, err2 := strconv.ParseInt(f[len(f)-1], 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return s, fmt.Errorf("/proc/net/udp: queues %q drops %q", f[4], f[len(f)-1])
		}
		s.Found = true
		s.RxQueue += q
		s.Drops += n
	}
	return s, nil
}

// DirBytes is the apparent size of the regular files under dir.
func DirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// EvictCache drops the page cache of the regular files under dir (and only
// theirs): each is fsynced, then advised POSIX_FADV_DONTNEED, so the next reads
// come from the disk, as after a reboot, without touching what other programs
// have cached. It returns the bytes advised.
func EvictCache(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_ = f.Sync()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("fadvise %s: %w", path, err)
		}
		n += fi.Size()
		return nil
	})
	return n, err
}
