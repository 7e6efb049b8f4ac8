package loadbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// SenderResult is the load generator measured on its own.
type SenderResult struct {
	*SendResult
	Pinned bool `json:"pinned"` // hepload ran on CPU 0 only, with GOMAXPROCS=1
}

// MeasureSender runs hepload at rate (0: flat out) for dur against a sink that
// discards: for UDP a socket nobody reads (the kernel drops what overflows it,
// after doing the receive work, which on the loopback is charged to the
// sender), for TCP a reader pinned to CPU 1. hepload runs pinned to CPU 0 with
// GOMAXPROCS=1 when taskset is there, so its CPU share is of one core.
func MeasureSender(ctx context.Context, hepload, transport string, rate float64, dur time.Duration) (*SenderResult, error) {
	var addr string
	switch transport {
	case "udp":
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		defer u.Close()
		_ = u.SetReadBuffer(64 << 10)
		addr = u.LocalAddr().String()
	case "tcp":
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addr = l.Addr().String()
		go func() {
			runtime.LockOSThread()
			var set unix.CPUSet
			set.Set(1)
			_ = unix.SchedSetaffinity(0, &set)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
				}()
			}
		}()
	default:
		return nil, fmt.Errorf("transport %q", transport)
	}
	args := []string{"--json", "--addr", addr, "--transport", transport,
		"--rate", strconv.FormatFloat(rate, 'f', -1, 64), "--duration", dur.String()}
	name, pinned := hepload, false
	if ts, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		name, args, pinned = ts, append([]string{"-c", "0", hepload}, args...), true
	}
	ctx, cancel := context.WithTimeout(ctx, dur+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("hepload: %v\n%s", err, stderr.Bytes())
	}
	r, err := ParseSendResult(out.Bytes())
	if err != nil {
		return nil, err
	}
	return &SenderResult{SendResult: r, Pinned: pinned}, nil
}
