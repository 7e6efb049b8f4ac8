package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"traced/ingest/hep"
)

// chromiumPath returns the Chromium binary the browser tests drive. Debian's
// /usr/bin/chromium is a shell script that adds flags of its own (from
// /etc/chromium.d), so the binary behind it is preferred: the browser then runs
// with exactly the flags the test gives. Without Chromium the test fails under
// CI (which installs it with scripts/install-test-deps.sh --browser) and is
// skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/usr/lib/chromium/chromium"); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return "/usr/lib/chromium/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not installed; CI must run the browser tests: run scripts/install-test-deps.sh --browser as root")
	}
	t.Skip("chromium not installed; run scripts/install-test-deps.sh --browser as root (skipped outside CI)")
	return ""
}

// pageLog is what the browser reported while the test ran: every request a
// page made, and every console error, failed load and uncaught exception.
type pageLog struct {
	mu       sync.Mutex
	requests []string
	problems []string
}

func (l *pageLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		l.requests = append(l.requests, ev.Request.URL)
	case *network.EventLoadingFailed:
		if !ev.Canceled {
			l.problems = append(l.problems, fmt.Sprintf("load failed (%s): %s", ev.Type, ev.ErrorText))
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			l.problems = append(l.problems, fmt.Sprintf("%s %s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			l.problems = append(l.problems, fmt.Sprintf("console.%s called", ev.Type))
		}
	case *runtime.EventExceptionThrown:
		l.problems = append(l.problems, "uncaught exception: "+ev.ExceptionDetails.Text)
	}
}

// snapshot returns copies of the requests and problems seen so far.
func (l *pageLog) snapshot() (requests, problems []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.requests...), append([]string(nil), l.problems...)
}

// startChromium starts a headless Chromium with a fresh profile and returns a
// tab's context, bounded by timeout; the browser is stopped at the end of the
// test. It runs with browserFlags and none of the allocator's defaults, so it
// reaches no network by itself.
func startChromium(t *testing.T, timeout time.Duration, pl *pageLog) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	profile := t.TempDir()
	var out bytes.Buffer
	var outMu sync.Mutex
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(lockedWriter{&outMu, &out})}
	for _, f := range browserFlags {
		opts = append(opts, chromedp.Flag(strings.TrimPrefix(f, "--"), true))
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(pl.listen),
		chromedp.WithLogf(t.Logf), chromedp.WithErrorf(t.Logf))
	// Cleanups run last-in first-out: the browser stops before its profile
	// directory is removed.
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
		if t.Failed() {
			outMu.Lock()
			defer outMu.Unlock()
			t.Logf("chromium output:\n%s", tail(out.String(), 4000))
		}
	})
	if err := chromedp.Do(tabCtx); err != nil {
		outMu.Lock()
		defer outMu.Unlock()
		t.Fatalf("start %s: %v\n%s", exe, err, tail(out.String(), 4000))
	}
	checkFlags(t, chromedp.FromContext(tabCtx).Browser.Process().Pid, profile)
	return tabCtx
}

// browserFlags are the only flags Chromium runs with, besides its profile and
// the pipe it is driven over.
var browserFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"}

// checkFlags reads the started browser's command line (Linux) and fails the
// test when its flags are not exactly browserFlags, the profile and the pipe.
func checkFlags(t *testing.T, pid int, profile string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Logf("the browser's command line is not readable: %v", err)
		return
	}
	var got []string
	for _, a := range strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")[1:] {
		if strings.HasPrefix(a, "-") {
			got = append(got, a)
		}
	}
	want := append(slices.Clone(browserFlags), "--user-data-dir="+profile, "--remote-debugging-pipe")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("chromium runs with flags %q, want exactly %q", got, want)
	}
}

// lockedWriter collects the browser's output, written from another goroutine.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// artifactDir returns artifacts/sub at the repository root (ignored by git),
// with the PNGs of an earlier run removed.
func artifactDir(t *testing.T, sub string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	dir := filepath.Join(root, "artifacts", sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for _, f := range old {
		os.Remove(f)
	}
	return dir
}

// foreignURLs returns the URLs that are neither on origin nor data: URLs
// (which Chromium uses for its own form controls' icons and reach no host).
func foreignURLs(urls []string, origin string) []string {
	var out []string
	for _, u := range urls {
		p, err := url.Parse(u)
		if err == nil && (p.Scheme+"://"+p.Host == origin || p.Scheme == "data" && p.Host == "") {
			continue
		}
		out = append(out, u)
	}
	return out
}

// b2buaCall is one call through a B2BUA: leg A from the caller's phone to the
// SBC, leg B from the SBC to the carrier's gateway. Leg B's INVITE names leg
// A's Call-ID in X-CID and both legs carry the same X-Session-Id.
type b2buaCall struct {
	CallA, CallB string
	Session      string
	Caller       string // From user of both legs
	Callee       string
	Node         string
	CaptureID    uint32
	Phone, SBCIn netip.AddrPort // leg A
	SBCOut, GW   netip.AddrPort // leg B
	Packets      [][]byte
	Payloads     []string // SIP text of each packet, in capture order
	Legs         []int    // 0 for leg A, 1 for leg B, per packet
	Times        []time.Time
}

// newB2BUACall builds the fourteen HEPv3 packets (seven per leg) of an
// answered call that the caller hangs up, with capture times from start.
func newB2BUACall(seed uint64, start time.Time) *b2buaCall {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	c := &b2buaCall{
		CallA:     fmt.Sprintf("%08x-%04x@pbx.example.net", rng.Uint32(), rng.Uint32()&0xffff),
		CallB:     fmt.Sprintf("sbc-%016x", rng.Uint64()),
		Session:   fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()),
		Caller:    fmt.Sprintf("+4930%07d", rng.IntN(10_000_000)),
		Callee:    fmt.Sprintf("+3314%07d", rng.IntN(10_000_000)),
		Node:      "sbc-edge1",
		CaptureID: 2101,
		Phone:     netip.MustParseAddrPort("192.0.2.10:5060"),
		SBCIn:     netip.MustParseAddrPort("192.0.2.1:5060"),
		SBCOut:    netip.MustParseAddrPort("198.51.100.1:5060"),
		GW:        netip.MustParseAddrPort("198.51.100.20:5060"),
	}
	type leg struct {
		callID, fromTag, toTag string
		src, dst               netip.AddrPort // caller side, callee side
		ruriHost               string
		extra                  string // headers of the INVITE only
	}
	a := leg{c.CallA, fmt.Sprintf("%08x", rng.Uint32()), fmt.Sprintf("%08x", rng.Uint32()), c.Phone, c.SBCIn,
		"sbc.example.net", ""}
	b := leg{c.CallB, fmt.Sprintf("%08x", rng.Uint32()), fmt.Sprintf("%08x", rng.Uint32()), c.SBCOut, c.GW,
		"gw.carrier.example", "X-CID: " + c.CallA + "\r\n"}
	sdp := func(ip netip.Addr, port int) string {
		return fmt.Sprintf("v=0\r\no=- 4711 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"+
			"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", ip, ip, port)
	}
	request := func(l leg, method string, cseq int, body string) string {
		var s strings.Builder
		fmt.Fprintf(&s, "%s sip:%s@%s SIP/2.0\r\n", method, c.Callee, l.ruriHost)
		fmt.Fprintf(&s, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%08x;rport\r\n", l.src, rng.Uint32())
		s.WriteString("Max-Forwards: 70\r\n")
		fmt.Fprintf(&s, "From: \"%s\" <sip:%s@pbx.example.net>;tag=%s\r\n", c.Caller, c.Caller, l.fromTag)
		to := fmt.Sprintf("<sip:%s@%s>", c.Callee, l.ruriHost)
		if method != "INVITE" {
			to += ";tag=" + l.toTag
		}
		fmt.Fprintf(&s, "To: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", to, l.callID, cseq, method)
		fmt.Fprintf(&s, "Contact: <sip:%s@%s>\r\n", c.Caller, l.src)
		fmt.Fprintf(&s, "X-Session-Id: %s\r\n", c.Session)
		if method == "INVITE" {
			s.WriteString(l.extra)
			s.WriteString("User-Agent: PBX-Example/16.4\r\nAllow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n")
		}
		return sipBody(&s, body)
	}
	response := func(l leg, code int, reason string, cseq int, method, body string) string {
		var s strings.Builder
		fmt.Fprintf(&s, "SIP/2.0 %d %s\r\n", code, reason)
		fmt.Fprintf(&s, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%08x;rport=5060\r\n", l.src, rng.Uint32())
		fmt.Fprintf(&s, "From: \"%s\" <sip:%s@pbx.example.net>;tag=%s\r\n", c.Caller, c.Caller, l.fromTag)
		to := fmt.Sprintf("<sip:%s@%s>", c.Callee, l.ruriHost)
		if code > 100 {
			to += ";tag=" + l.toTag
		}
		fmt.Fprintf(&s, "To: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", to, l.callID, cseq, method)
		if code >= 180 && method == "INVITE" {
			fmt.Fprintf(&s, "Contact: <sip:%s@%s>\r\n", c.Callee, l.dst)
		}
		s.WriteString("Server: SBC-Example/7.1\r\n")
		return sipBody(&s, body)
	}
	type step struct {
		at       time.Duration
		leg      int
		text     string
		upstream bool // sent by the callee side
	}
	steps := []step{
		{0, 0, request(a, "INVITE", 1, sdp(c.Phone.Addr(), 40000)), false},
		{5 * time.Millisecond, 0, response(a, 100, "Trying", 1, "INVITE", ""), true},
		{12 * time.Millisecond, 1, request(b, "INVITE", 1, sdp(c.SBCOut.Addr(), 30000)), false},
		{31 * time.Millisecond, 1, response(b, 100, "Trying", 1, "INVITE", ""), true},
		{412 * time.Millisecond, 1, response(b, 180, "Ringing", 1, "INVITE", ""), true},
		{416 * time.Millisecond, 0, response(a, 180, "Ringing", 1, "INVITE", ""), true},
		{3215 * time.Millisecond, 1, response(b, 200, "OK", 1, "INVITE", sdp(c.GW.Addr(), 18000)), true},
		{3221 * time.Millisecond, 0, response(a, 200, "OK", 1, "INVITE", sdp(c.SBCIn.Addr(), 30002)), true},
		{3260 * time.Millisecond, 0, request(a, "ACK", 1, ""), false},
		{3266 * time.Millisecond, 1, request(b, "ACK", 1, ""), false},
		{47_130 * time.Millisecond, 0, request(a, "BYE", 2, ""), false},
		{47_137 * time.Millisecond, 1, request(b, "BYE", 2, ""), false},
		{47_190 * time.Millisecond, 1, response(b, 200, "OK", 2, "BYE", ""), true},
		{47_196 * time.Millisecond, 0, response(a, 200, "OK", 2, "BYE", ""), true},
	}
	for _, s := range steps {
		l := a
		if s.leg == 1 {
			l = b
		}
		src, dst := l.src, l.dst
		if s.upstream {
			src, dst = dst, src
		}
		at := start.Add(s.at)
		p := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: src, Dst: dst,
			TsSec: uint32(at.Unix()), TsUsec: uint32(at.Nanosecond() / 1000), ProtoType: hep.TypeSIP,
			CaptureID: c.CaptureID, NodeName: []byte(c.Node), Payload: []byte(s.text)}
		c.Packets = append(c.Packets, hep.AppendV3(nil, &p))
		c.Payloads = append(c.Payloads, s.text)
		c.Legs = append(c.Legs, s.leg)
		c.Times = append(c.Times, at)
	}
	return c
}

func sipBody(s *strings.Builder, body string) string {
	if body != "" {
		s.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(s, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return s.String()
}
