package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"traced/ingest"
	"traced/internal/sipgen"
	"traced/segment"
)

// The notify tests play systemd's part: a unixgram socket named by
// NOTIFY_SOCKET that receives what traced sends.

// sdMessage is one datagram received on the notify socket.
type sdMessage struct {
	at    time.Time
	lines []string
}

func (m sdMessage) has(line string) bool {
	for _, l := range m.lines {
		if l == line {
			return true
		}
	}
	return false
}

func (m sdMessage) status() (string, bool) {
	for _, l := range m.lines {
		if s, ok := strings.CutPrefix(l, "STATUS="); ok {
			return s, true
		}
	}
	return "", false
}

// notifySocket listens where NOTIFY_SOCKET will point and delivers each
// datagram on the returned channel until the test ends.
func notifySocket(t *testing.T) (path string, msgs <-chan sdMessage) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sdMessage, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ch <- sdMessage{at: time.Now(), lines: strings.Split(string(buf[:n]), "\n")}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return path, ch
}

// waitMessage returns the first message for which ok is true, failing the
// test after timeout; seen gets every message read on the way.
func waitMessage(t *testing.T, msgs <-chan sdMessage, timeout time.Duration, what string, ok func(sdMessage) bool, seen func(sdMessage)) sdMessage {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-msgs:
			if seen != nil {
				seen(m)
			}
			if ok(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s from traced within %s", what, timeout)
		}
	}
}

// collect returns the messages received during d.
func collect(msgs <-chan sdMessage, d time.Duration) []sdMessage {
	var out []sdMessage
	deadline := time.After(d)
	for {
		select {
		case m := <-msgs:
			out = append(out, m)
		case <-deadline:
			return out
		}
	}
}

func countLine(ms []sdMessage, line string) int {
	n := 0
	for _, m := range ms {
		if m.has(line) {
			n++
		}
	}
	return n
}

// TestNotifyDaemonReadyWatchdogStatusStopping runs the traced binary as
// systemd would with Type=notify and WatchdogSec=: READY=1 comes when HEP over
// UDP and TCP, the web port and the control socket all answer; WATCHDOG=1
// keeps coming while traced is healthy; STATUS= carries the packet rate and
// the stored and rejected counts; SIGTERM brings STOPPING=1 and a clean exit.
func TestNotifyDaemonReadyWatchdogStatusStopping(t *testing.T) {
	bin, _ := binaries(t)
	sock, msgs := notifySocket(t)
	data := filepath.Join(t.TempDir(), "data")
	hepPort, webPort := freePort(t), freePort(t)
	logf, err := os.Create(data + ".log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--data", data, "--hep-addr", fmt.Sprintf("127.0.0.1:%d", hepPort),
		"--web-addr", fmt.Sprintf("127.0.0.1:%d", webPort), "--log-level", "debug")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=2000000")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	logText := func() string {
		b, _ := os.ReadFile(logf.Name())
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		return string(b)
	}

	ready := waitMessage(t, msgs, 30*time.Second, "READY=1", func(m sdMessage) bool { return m.has("READY=1") }, func(m sdMessage) {
		if m.has("WATCHDOG=1") && !m.has("READY=1") {
			t.Errorf("WATCHDOG=1 before READY=1: %q", m.lines)
		}
	})
	// Everything must already be bound: connect at once, without retrying.
	for _, a := range []string{fmt.Sprintf("127.0.0.1:%d", hepPort), fmt.Sprintf("127.0.0.1:%d", webPort)} {
		c, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err != nil {
			t.Fatalf("READY=1 sent but %s does not accept: %v\n%s", a, err, logText())
		}
		c.Close()
	}
	d := &daemon{t: t, data: data}
	if _, err := d.status(); err != nil {
		t.Fatalf("READY=1 sent but the control socket does not answer: %v", err)
	}
	if s, ok := ready.status(); !ok || !strings.Contains(s, "pkt/s") {
		t.Errorf("READY=1 without a STATUS= line: %q", ready.lines)
	}

	// Traffic: valid HEP and datagrams that are not HEP.
	const good, bad = 40, 3
	u, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", hepPort))
	if err != nil {
		t.Fatal(err)
	}
	gen := sipgen.New(7, time.Now())
	for i := 0; i < good; i++ {
		if _, err := u.Write(gen.Next()); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < bad; i++ {
		if _, err := u.Write([]byte("not a HEP packet at all")); err != nil {
			t.Fatal(err)
		}
	}
	u.Close()
	var last string
	wantStatus := fmt.Sprintf("stored %d, rejected %d", good, bad)
	waitMessage(t, msgs, 20*time.Second, "STATUS= with "+wantStatus, func(m sdMessage) bool {
		s, _ := m.status()
		return strings.Contains(s, wantStatus)
	}, func(m sdMessage) {
		if s, ok := m.status(); ok {
			last = s
		}
	})
	if !strings.Contains(last, "pkt/s") || !strings.Contains(last, fmt.Sprintf("received %d", good+bad)) {
		t.Errorf("STATUS=%q: want the packet rate and %d received", last, good+bad)
	}

	// Healthy: pings keep coming (the check runs every 500 ms here).
	window := collect(msgs, 3*time.Second)
	if n := countLine(window, "WATCHDOG=1"); n < 3 {
		t.Errorf("%d WATCHDOG=1 in 3 s while healthy, want at least 3 (WatchdogSec=2s)\n%s", n, logText())
	}

	// Stop.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("traced exited with %v\n%s", err, logText())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("traced did not stop within 20 s of SIGTERM\n%s", logText())
	}
	rest := collect(msgs, 300*time.Millisecond)
	i := -1
	for j, m := range rest {
		if m.has("STOPPING=1") {
			i = j
			break
		}
	}
	if i < 0 {
		t.Fatalf("no STOPPING=1 at shutdown; received %d messages after SIGTERM", len(rest))
	}
	if n := countLine(rest[i:], "WATCHDOG=1"); n > 0 {
		t.Errorf("%d WATCHDOG=1 after STOPPING=1", n)
	}
}

// gateStore passes appends to the segment store until it is closed: then every
// append waits, as a listener stuck on a wedged store would.
type gateStore struct {
	next ingest.Store
	mu   sync.RWMutex
}

func (g *gateStore) Append(r segment.Record) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.next.Append(r)
}

// TestWatchdogWithheldWhileIngestWedged runs the real listeners and segment
// store in process under a watchdog: WATCHDOG=1 comes while packets flow, stops
// (with a STATUS= that says why) once the listener is stuck on the store, and
// comes back when the store takes packets again.
func TestWatchdogWithheldWhileIngestWedged(t *testing.T) {
	sock, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "1200000") // checks every 300 ms, a stall is 600 ms
	t.Setenv("WATCHDOG_PID", "")

	seg, err := segment.Open(t.TempDir(), segment.Options{FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	gate := &gateStore{next: seg}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := newNotifier(log)
	if !n.enabled || n.watchdog != 1200*time.Millisecond {
		t.Fatalf("notifier: enabled %v, watchdog %s; want enabled with 1.2s", n.enabled, n.watchdog)
	}
	srv, err := ingest.New(ingest.Config{HEPAddrs: []string{"127.0.0.1:0"}, Store: n.wrapStore(gate)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ctx) }()
	wedged := false
	defer func() {
		if wedged {
			gate.mu.Unlock()
		}
		cancel()
		<-served
	}()
	n.ready(srv, seg)
	defer n.stopping()

	u, err := net.Dial("udp", srv.UDPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	gen := sipgen.New(11, time.Now())
	send := func(k int) {
		for i := 0; i < k; i++ {
			if _, err := u.Write(gen.Next()); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Healthy, with traffic.
	send(20)
	healthy := collect(msgs, 2*time.Second)
	if c := countLine(healthy, "WATCHDOG=1"); c < 3 {
		t.Fatalf("%d WATCHDOG=1 in 2 s while healthy, want at least 3", c)
	}

	// Wedged: the listener blocks in the store's Append.
	gate.mu.Lock()
	wedged = true
	send(5)
	var why string
	waitMessage(t, msgs, 5*time.Second, "STATUS= NOT ALIVE", func(m sdMessage) bool {
		s, _ := m.status()
		why = s
		return strings.HasPrefix(s, "NOT ALIVE")
	}, func(m sdMessage) {})
	if !strings.Contains(why, "wait on the segment store") {
		t.Errorf("STATUS=%q does not say that packets wait on the store", why)
	}
	during := collect(msgs, 3600*time.Millisecond) // three watchdog periods
	if c := countLine(during, "WATCHDOG=1"); c != 0 {
		t.Fatalf("%d WATCHDOG=1 while ingest is wedged, want none", c)
	}
	if len(during) < 5 {
		t.Errorf("only %d messages in 3.6 s while wedged: STATUS= should keep coming", len(during))
	}

	// Unwedged: pings resume and the waiting packets are stored.
	gate.mu.Unlock()
	wedged = false
	waitMessage(t, msgs, 5*time.Second, "WATCHDOG=1 after the store is back", func(m sdMessage) bool { return m.has("WATCHDOG=1") }, nil)
	deadline := time.Now().Add(5 * time.Second)
	for seg.Stats().Stored < 25 {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of 25 packets after the store came back", seg.Stats().Stored)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeIngest is an ingestView with counters the test sets.
type fakeIngest struct {
	mu       sync.Mutex
	received map[string]uint64
	rejected map[string]uint64
	udp      []net.Addr
}

func (f *fakeIngest) Stats() ingest.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := ingest.Stats{Received: map[string]uint64{}, Rejected: map[string]uint64{}}
	for k, v := range f.received {
		s.Received[k] = v
	}
	for k, v := range f.rejected {
		s.Rejected[k] = v
	}
	return s
}
func (f *fakeIngest) UDPAddrs() []net.Addr { return f.udp }
func (f *fakeIngest) SIPAddrs() []net.Addr { return nil }

// fakeStorage is a storageView whose Flush waits while hang is held.
type fakeStorage struct {
	hang    sync.Mutex
	flushes int
	mu      sync.Mutex
	stats   segment.Stats
	err     error
}

func (f *fakeStorage) Flush() error {
	f.hang.Lock()
	f.hang.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
	return f.err
}
func (f *fakeStorage) Counters() segment.Stats { f.mu.Lock(); defer f.mu.Unlock(); return f.stats }

// checkUntil repeats the check at now until cond holds (the flush runs in a
// goroutine of its own) or a second passes.
func checkUntil(t *testing.T, l *liveness, now time.Time, cond func(health) bool) health {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		h := l.check(now)
		if cond(h) || time.Now().After(deadline) {
			return h
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLivenessRules drives each rule of the check with chosen times: an idle
// traced is alive however long it stays idle; an append begun and never ended,
// datagrams queued and never read, and a flush that never returns each make
// it not alive after the stall limit, and it is alive again once they move.
func TestLivenessRules(t *testing.T) {
	const stall = time.Second
	ing := &fakeIngest{received: map[string]uint64{}, rejected: map[string]uint64{"auth_wrong": 2}}
	st := &fakeStorage{stats: segment.Stats{Stored: 1234}}
	probe := &storeProbe{}
	l := newLiveness(ing, probe, st, stall)
	t0 := time.Now()
	alive := func(h health) bool { return h.ok }

	// Idle for hours: alive.
	if h := checkUntil(t, l, t0.Add(3*time.Hour), alive); !h.ok {
		t.Fatalf("idle traced not alive: %v", h.problems)
	}
	if h := checkUntil(t, l, t0.Add(3*time.Hour+time.Minute), alive); !h.ok {
		t.Fatalf("idle traced not alive: %v", h.problems)
	}

	// An append that never ends.
	base := t0.Add(4 * time.Hour)
	checkUntil(t, l, base, alive)
	probe.started.Add(1)
	if h := l.check(base.Add(stall / 2)); !h.ok {
		t.Fatalf("not alive within the stall limit: %v", h.problems)
	}
	h := l.check(base.Add(stall + time.Millisecond))
	if h.ok || !strings.Contains(strings.Join(h.problems, ";"), "1 packets wait on the segment store") {
		t.Fatalf("append stuck past the stall limit: ok %v, problems %v", h.ok, h.problems)
	}
	if !strings.HasPrefix(h.status, "NOT ALIVE: ingest:") {
		t.Errorf("STATUS=%q does not lead with why", h.status)
	}
	probe.ended.Add(1)
	if h := checkUntil(t, l, base.Add(stall+2*time.Millisecond), alive); !h.ok {
		t.Fatalf("append ended but still not alive: %v", h.problems)
	}

	// Appends that keep ending while others begin: alive.
	base = base.Add(time.Hour)
	for i := 0; i < 5; i++ {
		probe.started.Add(2)
		probe.ended.Add(1)
		if h := checkUntil(t, l, base.Add(time.Duration(i)*stall), alive); !h.ok {
			t.Fatalf("appends progressing, check %d not alive: %v", i, h.problems)
		}
	}
	probe.ended.Add(5)

	// The storage flush hangs.
	base = base.Add(time.Hour)
	checkUntil(t, l, base, alive) // settles any flush in flight
	st.hang.Lock()
	l.check(base.Add(time.Millisecond)) // starts a flush that hangs
	if h := l.check(base.Add(stall)); !h.ok {
		t.Fatalf("not alive within the stall limit of a flush: %v", h.problems)
	}
	h = l.check(base.Add(stall + 2*time.Millisecond))
	if h.ok || !strings.Contains(strings.Join(h.problems, ";"), "storage: a segment flush has not returned") {
		t.Fatalf("hung flush past the stall limit: ok %v, problems %v", h.ok, h.problems)
	}
	st.hang.Unlock()
	if h := checkUntil(t, l, base.Add(stall+3*time.Millisecond), alive); !h.ok {
		t.Fatalf("flush returned but still not alive: %v", h.problems)
	}

	// A failing flush (a full disk) is reported, and traced stays alive.
	st.mu.Lock()
	st.err = fmt.Errorf("write: no space left on device")
	st.stats.LostRecords, st.stats.WriteErrors = 7, 2
	st.mu.Unlock()
	h = checkUntil(t, l, base.Add(2*stall), func(h health) bool { return strings.Contains(h.status, "storage failing") })
	if !h.ok || !strings.Contains(h.status, "storage failing: write: no space left on device") || !strings.Contains(h.status, "lost 7 (2 write errors)") {
		t.Fatalf("failing flush: ok %v, STATUS=%q", h.ok, h.status)
	}

	// The rate: 1000 packets received in 2 s.
	base = base.Add(time.Hour)
	checkUntil(t, l, base, alive)
	ing.mu.Lock()
	ing.received["tcp"] += 1000
	ing.mu.Unlock()
	h = l.check(base.Add(2 * time.Second))
	if !strings.Contains(h.status, "500 pkt/s; received 1000, stored 1234, rejected 2") {
		t.Errorf("STATUS=%q, want 500 pkt/s, received 1000, stored 1234, rejected 2", h.status)
	}
}

// TestLivenessUDPQueueNotRead points the check at a real UDP socket that
// nobody reads: queued datagrams with no read counted make traced not alive
// after the stall limit; once they are read it is alive again.
func TestLivenessUDPQueueNotRead(t *testing.T) {
	const stall = time.Second
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ing := &fakeIngest{received: map[string]uint64{"udp": 10}, udp: []net.Addr{pc.LocalAddr()}}
	l := newLiveness(ing, nil, &fakeStorage{}, stall)
	t0 := time.Now()
	if h := checkUntil(t, l, t0.Add(time.Hour), func(h health) bool { return h.ok }); !h.ok {
		t.Fatalf("empty queue, not alive: %v", h.problems)
	}
	if len(l.udp.inodes) != 1 {
		t.Fatalf("found %d sockets of this process on port %d, want 1", len(l.udp.inodes), pc.LocalAddr().(*net.UDPAddr).Port)
	}

	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		if _, err := c.Write([]byte("queued, never read")); err != nil {
			t.Fatal(err)
		}
	}
	base := t0.Add(2 * time.Hour)
	// The kernel queues loopback datagrams at once; wait until it shows.
	deadline := time.Now().Add(2 * time.Second)
	for {
		q, err := l.udp.queued()
		if err != nil {
			t.Fatal(err)
		}
		if q > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receive queue never showed the datagrams")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h := l.check(base.Add(stall + time.Millisecond)); h.ok || !strings.Contains(strings.Join(h.problems, ";"), "wait in the UDP receive queues") {
		t.Fatalf("queued and unread past the stall limit: ok %v, problems %v", h.ok, h.problems)
	}

	// The listener reads them: counted, and the queue drains.
	buf := make([]byte, 100)
	for i := 0; i < 3; i++ {
		if err := pc.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	ing.mu.Lock()
	ing.received["udp"] += 3
	ing.mu.Unlock()
	if h := checkUntil(t, l, base.Add(stall+2*time.Millisecond), func(h health) bool { return h.ok }); !h.ok {
		t.Fatalf("datagrams read, still not alive: %v", h.problems)
	}
}

// TestNotifierOffOutsideSystemd: without NOTIFY_SOCKET the listeners append to
// the store directly and nothing is sent or started.
func TestNotifierOffOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := newNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	st := &gateStore{}
	if got := n.wrapStore(st); got != ingest.Store(st) || n.enabled {
		t.Fatalf("outside systemd: enabled %v, store wrapped %v", n.enabled, got != ingest.Store(st))
	}
	n.ready(&fakeIngest{}, &fakeStorage{})
	if n.loopDone != nil {
		t.Fatal("outside systemd the watchdog loop started")
	}
	n.stopping()
}

// TestLogLevelsInJournal: when standard error is the journal (JOURNAL_STREAM
// names it), each log line carries its syslog priority and no time of its
// own; otherwise lines are plain text with their time.
func TestLogLevelsInJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	logAll := func() []string {
		t.Helper()
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		log := slog.New(logHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})).With("part", "test")
		log.Debug("d", "k", 1)
		log.Info("i")
		log.Warn("w", "err", "multi\nline")
		log.Error("e")
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}

	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	lines := logAll()
	want := []string{"<7>level=DEBUG msg=d part=test k=1", "<6>level=INFO msg=i part=test",
		`<4>level=WARN msg=w part=test err="multi\nline"`, "<3>level=ERROR msg=e part=test"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("journal lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1)) // another stream
	lines = logAll()
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "time=") || !strings.Contains(lines[3], "level=ERROR msg=e") {
		t.Errorf("plain lines: %q", lines)
	}
}
