package loadbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"traced/httpui"
)

// Daemon is a traced child process on a data directory, with HEP on a free
// loopback port (UDP and TCP) and its web port on another.
type Daemon struct {
	Data    string
	HEPPort int
	Ready   time.Duration // from exec to the first answer of the control socket
	readyAt time.Time
	LogPath string

	cmd    *exec.Cmd
	done   chan error
	log    *os.File
	client *httpui.Client
}

// StartDaemon runs bin on data and waits (at most a minute) until its control
// socket answers status.
func StartDaemon(bin, data string, extra ...string) (*Daemon, error) {
	hep, err := freePort()
	if err != nil {
		return nil, err
	}
	web, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &Daemon{Data: data, HEPPort: hep, LogPath: strings.TrimRight(data, "/") + ".log",
		client: httpui.NewClient(httpui.SocketPath(data))}
	if d.log, err = os.OpenFile(d.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return nil, err
	}
	args := append([]string{"--data", data,
		"--hep-addr", fmt.Sprintf("127.0.0.1:%d", hep),
		"--web-addr", fmt.Sprintf("127.0.0.1:%d", web),
		"--log-level", "info"}, extra...)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		d.log.Close()
		return nil, err
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	deadline := start.Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.client.Status(ctx)
		cancel()
		if err == nil {
			d.readyAt = time.Now()
			d.Ready = d.readyAt.Sub(start)
			return d, nil
		}
		select {
		case err := <-d.done:
			d.log.Close()
			return nil, fmt.Errorf("traced exited at start: %v\n%s", err, d.Tail(4000))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Kill()
			return nil, fmt.Errorf("traced did not answer on its control socket within a minute\n%s", d.Tail(4000))
		}
	}
}

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// HEPAddr is where the daemon listens for HEP.
func (d *Daemon) HEPAddr() string { return fmt.Sprintf("127.0.0.1:%d", d.HEPPort) }

// Status asks the daemon for its status.
func (d *Daemon) Status() (httpui.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.client.Status(ctx)
}

// Search runs one search on the control socket.
func (d *Daemon) Search(q url.Values) (httpui.SearchResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.client.Search(ctx, q)
}

// Call fetches a correlated call on the control socket.
func (d *Daemon) Call(callID string) (httpui.CallResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.client.Call(ctx, callID)
}

// Pcap exports a call as pcap on the control socket and returns its size.
func (d *Daemon) Pcap(callID string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n countWriter
	err := d.client.ExportCall(ctx, callID, nil, false, &n)
	return int64(n), err
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// Stop sends SIGTERM and waits (at most a minute) for the daemon to exit.
func (d *Daemon) Stop() error {
	if d.cmd.ProcessState != nil {
		return nil
	}
	defer d.log.Close()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			return fmt.Errorf("traced exited with %v", err)
		}
		return nil
	case <-time.After(time.Minute):
		// SIGQUIT makes the Go runtime write every goroutine's stack to the log.
		_ = d.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		return fmt.Errorf("traced did not stop within a minute of SIGTERM; its goroutines are in %s", d.LogPath)
	}
}

// SaveLog copies the daemon's log into dir as name.
func (d *Daemon) SaveLog(dir, name string) (string, error) {
	b, err := os.ReadFile(d.LogPath)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, b, 0o644)
}

// Kill stops the daemon at once.
func (d *Daemon) Kill() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	d.log.Close()
}

// Tail returns the end of the daemon's log.
func (d *Daemon) Tail(n int) string {
	b, _ := os.ReadFile(d.LogPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// UDPBuffer returns the UDP receive buffer traced says it was granted (its
// "udp receive buffer" log line), in bytes, or 0.
func (d *Daemon) UDPBuffer() int64 {
	b, _ := os.ReadFile(d.LogPath)
	m := grantedRE.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

var grantedRE = regexp.MustCompile(`msg="udp receive buffer".* granted=(\d+)`)

// Warnings counts the daemon's WARN and ERROR log lines by message.
func (d *Daemon) Warnings() map[string]int {
	b, _ := os.ReadFile(d.LogPath)
	return warnings(b)
}

var warnRE = regexp.MustCompile(`(?m)^time=\S+ level=(?:WARN|ERROR) msg="((?:[^"\\]|\\.)*)"`)

func warnings(log []byte) map[string]int {
	out := map[string]int{}
	for _, m := range warnRE.FindAllSubmatch(log, -1) {
		out[string(m[1])]++
	}
	return out
}

// freePort returns a loopback port free for both UDP and TCP.
func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// segmentsDir and indexDir are the parts of a traced data directory.
func segmentsDir(data string) string { return filepath.Join(data, "segments") }
func indexDir(data string) string    { return filepath.Join(data, "index") }
