package main

// systemd's notify protocol (packaging/systemd/traced.service has Type=notify and
// WatchdogSec=):
//
//   - READY=1 once the segments are recovered and every listener is bound, so
//     that `systemctl start traced` returns when senders can really connect;
//   - WATCHDOG=1 only while a liveness check passes: the listeners hand packets
//     to the segment store, the UDP listeners read what the kernel queued for
//     them, and the segment writer completes a flush. When one of them stops
//     making progress the pings stop, systemd kills traced after WatchdogSec=
//     and Restart=on-failure starts it again;
//   - STATUS= with the packet rate and the stored and rejected counts (shown by
//     `systemctl status traced`), and why traced is not alive when it is not;
//   - STOPPING=1 when a stop begins.
//
// Outside systemd (no NOTIFY_SOCKET) nothing of this runs.

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"traced/ingest"
	"traced/segment"
)

// noWatchdogTick is how often STATUS= is refreshed when the unit has no
// WatchdogSec=; with a watchdog the check runs four times per period.
const noWatchdogTick = 5 * time.Second

// notifier talks to systemd through $NOTIFY_SOCKET.
type notifier struct {
	log      *slog.Logger
	enabled  bool          // NOTIFY_SOCKET is set: traced runs under systemd (or a test acting as it)
	watchdog time.Duration // WatchdogSec= as passed in WATCHDOG_USEC; 0: no watchdog
	probe    *storeProbe

	warnOnce sync.Once
	stop     context.CancelFunc
	loopDone chan struct{}
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.enabled {
		return n
	}
	wd, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog: ignoring WATCHDOG_USEC", "err", err)
	}
	n.watchdog = wd
	return n
}

// wrapStore returns the store the listeners append to: under systemd, seg seen
// through a probe that counts appends begun and ended (the liveness check's
// heartbeat of the ingest path); otherwise seg itself.
func (n *notifier) wrapStore(seg ingest.Store) ingest.Store {
	if !n.enabled {
		return seg
	}
	n.probe = &storeProbe{next: seg}
	return n.probe
}

// ready sends READY=1 and starts the watchdog and status loop. It is called
// once everything is bound and serving.
func (n *notifier) ready(srv ingestView, seg storageView) {
	if !n.enabled {
		return
	}
	tick, stall := n.timing()
	l := newLiveness(srv, n.probe, seg, stall)
	h := l.check(time.Now())
	msg := "READY=1\nSTATUS=ready; " + h.status
	if n.watchdog > 0 {
		msg += "\nWATCHDOG=1"
	}
	n.send(msg)
	n.log.Debug("systemd notified", "ready", true, "watchdog", n.watchdog.String(), "check_every", tick.String())
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.loopDone = make(chan struct{})
	go func() {
		defer close(n.loopDone)
		n.loop(ctx, l, tick)
	}()
}

// stopping ends the loop and sends STOPPING=1.
func (n *notifier) stopping() {
	if !n.enabled {
		return
	}
	if n.stop != nil {
		n.stop()
		<-n.loopDone
	}
	n.send("STOPPING=1\nSTATUS=stopping: writing and sealing the segments")
}

// timing derives the check period and the stall limit from WatchdogSec=. A
// path that has made no progress for the stall limit (half the watchdog
// period) fails the check; systemd acts a watchdog period after the last ping.
func (n *notifier) timing() (tick, stall time.Duration) {
	if n.watchdog <= 0 {
		return noWatchdogTick, 3 * noWatchdogTick
	}
	return max(n.watchdog/4, 10*time.Millisecond), max(n.watchdog/2, 20*time.Millisecond)
}

func (n *notifier) loop(ctx context.Context, l *liveness, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	alive := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := l.check(time.Now())
		switch {
		case h.ok && n.watchdog > 0:
			n.send("WATCHDOG=1\nSTATUS=" + h.status)
		default:
			n.send("STATUS=" + h.status)
		}
		if h.ok != alive {
			alive = h.ok
			if alive {
				n.log.Info("ingest and storage make progress again: watchdog pings resumed")
			} else {
				n.log.Error("ingest or storage stopped making progress: watchdog pings withheld, systemd restarts traced after WatchdogSec",
					"problems", strings.Join(h.problems, "; "))
			}
		}
	}
}

func (n *notifier) send(state string) {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		n.warnOnce.Do(func() { n.log.Warn("systemd notify socket", "err", err) })
	}
}

// storeProbe sits between the listeners and the segment store and counts the
// appends begun and ended: an append begun and not ended while no other ends is
// a listener stuck on the store.
type storeProbe struct {
	next    ingest.Store
	started atomic.Uint64
	ended   atomic.Uint64
}

func (p *storeProbe) Append(r segment.Record) error {
	p.started.Add(1)
	err := p.next.Append(r)
	p.ended.Add(1)
	return err
}

// ingestView and storageView are what the liveness check reads of the
// listeners (*ingest.Server) and the segment store (*segment.Dir).
type ingestView interface {
	Stats() ingest.Stats
	UDPAddrs() []net.Addr
	SIPAddrs() []net.Addr
}

type storageView interface {
	Flush() error
	// Counters must not block on the file system: the check runs while the
	// disk may hang.
	Counters() segment.Stats
}

// liveness is the check behind WATCHDOG=1. It is called from one goroutine.
type liveness struct {
	srv   ingestView
	probe *storeProbe // nil: the appends are not watched
	seg   storageView
	stall time.Duration
	udp   udpQueues

	// Progress: the last time each path was seen idle or moving.
	appendOK, readOK time.Time
	lastEnded        uint64
	lastRead         uint64

	// The storage probe: one flush at a time, run aside.
	flushing   bool
	flushStart time.Time
	flushDone  chan error
	flushErr   error

	// The packet rate.
	rateAt   time.Time
	rateRecv uint64
}

func newLiveness(srv ingestView, probe *storeProbe, seg storageView, stall time.Duration) *liveness {
	now := time.Now()
	l := &liveness{srv: srv, probe: probe, seg: seg, stall: stall, appendOK: now, readOK: now,
		flushDone: make(chan error, 1), rateAt: now}
	for _, a := range append(srv.UDPAddrs(), srv.SIPAddrs()...) {
		if ua, ok := a.(*net.UDPAddr); ok {
			l.udp.ports = append(l.udp.ports, ua.Port)
		}
	}
	st := srv.Stats()
	l.lastRead, l.rateRecv = udpRead(st), total(st.Received)
	return l
}

// health is one check's outcome.
type health struct {
	ok       bool
	problems []string
	status   string // STATUS= text
}

func (l *liveness) check(now time.Time) health {
	var h health
	st := l.srv.Stats()

	// 1. The listeners hand packets to the store. ended is read before
	// started, so started-ended never underflows.
	if l.probe != nil {
		ended := l.probe.ended.Load()
		started := l.probe.started.Load()
		if ended != l.lastEnded || started == ended {
			l.appendOK, l.lastEnded = now, ended
		}
		if d := now.Sub(l.appendOK); d > l.stall {
			h.problems = append(h.problems, fmt.Sprintf("ingest: %d packets wait on the segment store, none stored for %s",
				started-ended, d.Round(time.Millisecond)))
		}
	}

	// 2. The UDP listeners read what the kernel queued for them.
	read := udpRead(st)
	queued, err := l.udp.queued()
	if read != l.lastRead || queued == 0 || err != nil {
		l.readOK, l.lastRead = now, read
	}
	if d := now.Sub(l.readOK); d > l.stall {
		h.problems = append(h.problems, fmt.Sprintf("ingest: %d bytes wait in the UDP receive queues, none read for %s",
			queued, d.Round(time.Millisecond)))
	}

	// 3. The segment writer completes a flush (written and fsynced). A failed
	// write (a full disk) is reported but does not stop the watchdog: traced
	// keeps receiving and retention frees space, where a restart would not.
	if l.flushing {
		select {
		case l.flushErr = <-l.flushDone:
			l.flushing = false
		default:
		}
	}
	if l.flushing {
		if d := now.Sub(l.flushStart); d > l.stall {
			h.problems = append(h.problems, fmt.Sprintf("storage: a segment flush has not returned for %s", d.Round(time.Millisecond)))
		}
	} else {
		l.flushing, l.flushStart = true, now
		go func() { l.flushDone <- l.seg.Flush() }()
	}

	h.ok = len(h.problems) == 0
	h.status = l.statusText(now, st, h.problems)
	return h
}

// statusText is the one line `systemctl status` shows.
func (l *liveness) statusText(now time.Time, st ingest.Stats, problems []string) string {
	recv := total(st.Received)
	rate := 0.0
	if dt := now.Sub(l.rateAt).Seconds(); dt > 0 && recv >= l.rateRecv {
		rate = float64(recv-l.rateRecv) / dt
	}
	l.rateAt, l.rateRecv = now, recv
	ss := l.seg.Counters()
	var b strings.Builder
	if len(problems) > 0 {
		b.WriteString("NOT ALIVE: " + strings.Join(problems, "; ") + "; ")
	}
	fmt.Fprintf(&b, "%.0f pkt/s; received %d, stored %d, rejected %d", rate, recv, ss.Stored, total(st.Rejected))
	if ss.LostRecords > 0 || ss.WriteErrors > 0 {
		fmt.Fprintf(&b, ", lost %d (%d write errors)", ss.LostRecords, ss.WriteErrors)
	}
	if l.flushErr != nil {
		fmt.Fprintf(&b, "; storage failing: %v", l.flushErr)
	}
	return strings.ReplaceAll(b.String(), "\n", " ")
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func udpRead(st ingest.Stats) uint64 { return st.Received["udp"] + st.Received["sip"] }

// udpQueues measures the bytes waiting in the receive queues of traced's own
// UDP listeners (the rx_queue column of /proc/self/net/udp and udp6).
type udpQueues struct {
	ports  []int
	once   bool
	inodes map[uint64]bool // the listeners' sockets, found once
}

func (q *udpQueues) queued() (uint64, error) {
	if len(q.ports) == 0 {
		return 0, nil
	}
	if !q.once {
		q.once = true
		ino, err := ownListenerInodes(q.ports)
		if err != nil {
			return 0, err
		}
		q.inodes = ino
	}
	if len(q.inodes) == 0 {
		return 0, nil
	}
	var n uint64
	err := scanProcUDP(func(ino uint64, _ int, rx uint64) {
		if q.inodes[ino] {
			n += rx
		}
	})
	return n, err
}

// ownListenerInodes returns the inodes of the UDP sockets bound to ports that
// this process holds (another process may hold the same port on another
// address).
func ownListenerInodes(ports []int) (map[uint64]bool, error) {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	cand := map[uint64]bool{}
	if err := scanProcUDP(func(ino uint64, port int, _ uint64) {
		if want[port] {
			cand[ino] = true
		}
	}); err != nil {
		return nil, err
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	own := map[uint64]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
		if err == nil && cand[ino] {
			own[ino] = true
		}
	}
	return own, nil
}

// scanProcUDP calls fn with the inode, local port and receive-queue bytes of
// every UDP socket of this process's network namespace.
func scanProcUDP(fn func(ino uint64, port int, rx uint64)) error {
	for _, path := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			_, portHex, ok1 := strings.Cut(fs[1], ":")
			_, rxHex, ok2 := strings.Cut(fs[4], ":")
			port, err1 := strconv.ParseUint(portHex, 16, 32)
			rx, err2 := strconv.ParseUint(rxHex, 16, 64)
			ino, err3 := strconv.ParseUint(fs[9], 10, 64)
			if ok1 && ok2 && err1 == nil && err2 == nil && err3 == nil {
				fn(ino, int(port), rx)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// logHandler is traced's log handler: text lines on standard error. When
// standard error is the journal (systemd names its device and inode in
// JOURNAL_STREAM), each line starts with its syslog priority: <3> for errors,
// <4> warnings, <6> information, <7> debugging. journald stores it as the
// entry's priority, so `journalctl -u traced -p warning` shows the warnings
// and errors; the journal's own timestamp replaces time=.
func logHandler(w *os.File, opts *slog.HandlerOptions) slog.Handler {
	if !isJournal(w) {
		return slog.NewTextHandler(w, opts)
	}
	o := *opts
	replace := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if replace != nil {
			return replace(groups, a)
		}
		return a
	}
	mu := &sync.Mutex{}
	var h journalHandler
	for i, prefix := range []string{"<7>", "<6>", "<4>", "<3>"} {
		h[i] = slog.NewTextHandler(&prefixWriter{mu: mu, w: w, prefix: prefix}, &o)
	}
	return h
}

// isJournal reports whether f is the stream systemd connected to the journal.
func isJournal(f *os.File) bool {
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return dev == strconv.FormatUint(uint64(st.Dev), 10) && ino == strconv.FormatUint(st.Ino, 10)
}

// journalHandler sends each record to the text handler of its priority:
// debug, info, warn, error.
type journalHandler [4]slog.Handler

func (h journalHandler) of(l slog.Level) slog.Handler {
	switch {
	case l < slog.LevelInfo:
		return h[0]
	case l < slog.LevelWarn:
		return h[1]
	case l < slog.LevelError:
		return h[2]
	}
	return h[3]
}

func (h journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.of(l).Enabled(ctx, l)
}
func (h journalHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.of(r.Level).Handle(ctx, r)
}

func (h journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var n journalHandler
	for i := range h {
		n[i] = h[i].WithAttrs(as)
	}
	return n
}

func (h journalHandler) WithGroup(name string) slog.Handler {
	var n journalHandler
	for i := range h {
		n[i] = h[i].WithGroup(name)
	}
	return n
}

// prefixWriter writes each line (one Write of a text handler) after its
// priority prefix, in one write(2).
type prefixWriter struct {
	mu     *sync.Mutex
	w      *os.File
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}
