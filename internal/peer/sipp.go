package peer

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed testdata/*.xml
var scenarioFS embed.FS

// Built-in scenarios (testdata/<name>.xml). UAC scenarios honour the
// Record-Route set, so in-dialog requests go through the proxy.
const (
	ScenarioUAC       = "uac"        // INVITE with SDP, 200, ACK, BYE, 200
	ScenarioUACBusy   = "uac_busy"   // INVITE, 486, ACK
	ScenarioUAC404    = "uac_404"    // INVITE, 404, ACK
	ScenarioUACAuth   = "uac_auth"   // INVITE, 407, ACK, INVITE with credentials, 200, ACK, BYE, 200
	ScenarioUACCancel = "uac_cancel" // INVITE, 180, CANCEL, 200, 487, ACK
	ScenarioRegister  = "register"   // REGISTER, 401, REGISTER with credentials, 200
	ScenarioOptions   = "options"    // OPTIONS to the proxy, 200
	ScenarioUAS       = "uas"        // answers 180 then 200 with SDP; ACK; BYE, 200
	ScenarioUASBusy   = "uas_busy"   // answers 486; ACK
	ScenarioUASRing   = "uas_ring"   // answers 180 and waits for CANCEL; 200, 487; ACK

	// ScenarioUACHeaders is ScenarioUAC with extra INVITE header lines, given
	// by InviteHeaders (required). Its From tag is "from-" and the Call-ID's
	// local part (before any '@'), so that another call can name the dialog.
	ScenarioUACHeaders = "uac_headers"
	// ScenarioUACRefer is ScenarioUAC with an in-dialog REFER, 202 between
	// the ACK and the BYE; its Refer-To is given by ReferTo (required). The
	// From tag is made as in ScenarioUACHeaders.
	ScenarioUACRefer = "uac_refer"
	// ScenarioUASRefer is ScenarioUAS that also accepts an optional REFER
	// after the ACK (202, no NOTIFY). Its To tag is "to-" and the Call-ID's
	// local part.
	ScenarioUASRefer = "uas_refer"
)

// InviteHeaders returns the SippRun.Extra arguments that give
// ScenarioUACHeaders the extra header lines of its INVITE ("Name: value"; at
// least one).
func InviteHeaders(lines ...string) []string {
	return []string{"-key", "headers", strings.Join(lines, "\r\n")}
}

// ReferTo returns the SippRun.Extra arguments that give ScenarioUACRefer the
// value of its Refer-To header.
func ReferTo(value string) []string { return []string{"-key", "refer_to", value} }

// FixedCallID returns the SippRun.Extra arguments that make sipp use id as
// the Call-ID (-cid_str, '%' escaped). Meant for runs of one call.
func FixedCallID(id string) []string {
	return []string{"-cid_str", strings.ReplaceAll(id, "%", "%%")}
}

// SippRun is one sipp invocation.
type SippRun struct {
	// Scenario is a built-in name (Scenario* constants) or the path of a
	// scenario XML file.
	Scenario string
	// Local is the address sipp binds ("127.0.0.20:5060"); required.
	Local string
	// Remote is the address calls go to; empty for a UAS.
	Remote string
	// Service is the Request-URI user (-s); default "service".
	Service string
	// Calls is the number of calls a UAC places (-m); default 1.
	Calls int
	// Rate is calls per second (-r); default 10.
	Rate int
	// Timeout bounds the run: 20s for RunSipp, 2m for StartSippUAS.
	Timeout time.Duration
	// Extra are further sipp arguments.
	Extra []string
}

// scenarioPath returns a file for r.Scenario, writing a built-in scenario into
// dir.
func scenarioPath(name, dir string) (string, error) {
	if strings.HasSuffix(name, ".xml") || strings.ContainsRune(name, filepath.Separator) {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("scenario: %w", err)
		}
		return name, nil
	}
	b, err := scenarioFS.ReadFile("testdata/" + name + ".xml")
	if err != nil {
		return "", fmt.Errorf("no built-in scenario %q", name)
	}
	p := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return "", fmt.Errorf("write scenario: %w", err)
	}
	return p, nil
}

// args builds sipp's command line; scenario is the XML path.
func (r SippRun) args(scenario string, timeout time.Duration) ([]string, error) {
	host, port, err := net.SplitHostPort(r.Local)
	if err != nil {
		return nil, fmt.Errorf("local address %q: %w", r.Local, err)
	}
	a := []string{"-sf", scenario}
	if r.Remote != "" {
		a = append(a, r.Remote)
	}
	service := r.Service
	if service == "" {
		service = "service"
	}
	// -abortunexp off: Kamailio's workers may relay a provisional reply after
	// the final one over UDP (each reply is forwarded by whichever process read
	// it), and a late 180 must not abort an answered call.
	a = append(a, "-i", host, "-p", port, "-mi", host, "-s", service, "-nostdin",
		"-default_behaviors", "all,-abortunexp", "-trace_err", "-timeout", strconv.Itoa(max(1, int(timeout.Seconds())))+"s", "-timeout_error")
	if r.Remote != "" {
		calls, rate := r.Calls, r.Rate
		if calls <= 0 {
			calls = 1
		}
		if rate <= 0 {
			rate = 10
		}
		a = append(a, "-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate))
	}
	return append(a, r.Extra...), nil
}

// RunSipp runs sipp in the foreground until its calls are done, bounded by
// r.Timeout, and fails the test unless every call succeeded (exit status 0).
func RunSipp(t testing.TB, r SippRun) {
	t.Helper()
	StartSippUAC(t, r).Wait()
}

// SippUAC is a calling sipp running in the background, started by
// StartSippUAC.
type SippUAC struct {
	Run SippRun

	t      testing.TB
	dir    string
	out    bytes.Buffer // read only after done
	err    error
	done   chan struct{}
	cancel context.CancelFunc
}

// StartSippUAC starts sipp placing r's calls and returns at once; Wait waits
// for the end of the run. The run is bounded by r.Timeout (default 20s) and
// killed when the test ends.
func StartSippUAC(t testing.TB, r SippRun) *SippUAC {
	t.Helper()
	if r.Timeout <= 0 {
		r.Timeout = 20 * time.Second
	}
	bin := mustLookPath(t, "sipp")
	dir := t.TempDir()
	sf, err := scenarioPath(r.Scenario, dir)
	if err != nil {
		t.Fatalf("peer: sipp: %v", err)
	}
	args, err := r.args(sf, r.Timeout)
	if err != nil {
		t.Fatalf("peer: sipp: %v", err)
	}
	// sipp's own -timeout ends it first; the context is the backstop.
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout+5*time.Second)
	u := &SippUAC{Run: r, t: t, dir: dir, done: make(chan struct{}), cancel: cancel}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &u.out, &u.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("peer: start sipp %s: %v", r.Scenario, err)
	}
	go func() {
		u.err = cmd.Wait()
		close(u.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-u.done
	})
	return u
}

// Wait waits until the run is over and fails the test unless every call
// succeeded (exit status 0). Call it from the test's goroutine.
func (u *SippUAC) Wait() {
	u.t.Helper()
	<-u.done
	u.cancel()
	if u.err != nil {
		r := u.Run
		u.t.Fatalf("peer: sipp %s (%s → %s, service %s): %v\n%s%s",
			r.Scenario, r.Local, r.Remote, r.Service, u.err, tail(u.out.Bytes(), 25), errorLogs(u.dir))
	}
}

// SippUAS is a sipp instance answering calls in the background.
type SippUAS struct {
	Run SippRun

	t        testing.TB
	cmd      *exec.Cmd
	dir      string
	out      *lockedBuffer
	exited   chan struct{}
	stopOnce sync.Once
}

// StartSippUAS starts sipp as a UAS on r.Local and returns once it has bound
// its UDP socket. It runs until Stop, the end of the test, or r.Timeout
// (default two minutes).
func StartSippUAS(t testing.TB, r SippRun) *SippUAS {
	t.Helper()
	if r.Timeout <= 0 {
		r.Timeout = 2 * time.Minute
	}
	r.Remote = ""
	bin := mustLookPath(t, "sipp")
	// waitBound below could not tell sipp's socket from an older one.
	if busy, err := socketBound("udp", r.Local); err != nil {
		t.Fatalf("peer: sipp uas: %v", err)
	} else if busy {
		t.Fatalf("peer: sipp uas on %s: address already in use", r.Local)
	}
	dir := t.TempDir()
	sf, err := scenarioPath(r.Scenario, dir)
	if err != nil {
		t.Fatalf("peer: sipp uas: %v", err)
	}
	args, err := r.args(sf, r.Timeout)
	if err != nil {
		t.Fatalf("peer: sipp uas: %v", err)
	}
	u := &SippUAS{Run: r, t: t, dir: dir, out: &lockedBuffer{}, exited: make(chan struct{})}
	u.cmd = exec.Command(bin, args...)
	u.cmd.Dir = dir
	u.cmd.Stdout, u.cmd.Stderr = u.out, u.out
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := u.cmd.Start(); err != nil {
		t.Fatalf("peer: start sipp uas: %v", err)
	}
	go func() {
		_ = u.cmd.Wait()
		close(u.exited)
	}()
	t.Cleanup(u.Stop)
	if err := waitBound("udp", r.Local, u.exited, 10*time.Second); err != nil {
		u.Stop()
		t.Fatalf("peer: sipp uas %s on %s: %v\n%s%s", r.Scenario, r.Local, err, tail(u.out.Bytes(), 25), errorLogs(dir))
	}
	return u
}

// Stop ends the UAS; it is safe to call more than once. When the test has
// failed, the unexpected messages the UAS saw are logged.
func (u *SippUAS) Stop() {
	u.stopOnce.Do(func() {
		select {
		case <-u.exited:
			u.t.Logf("peer: sipp uas %s on %s had already exited:\n%s", u.Run.Scenario, u.Run.Local, tail(u.out.Bytes(), 25))
		default:
			stopGroup(u.t, "sipp", u.cmd, u.exited)
		}
		if logs := errorLogs(u.dir); logs != "" && u.t.Failed() {
			u.t.Logf("peer: sipp uas %s on %s:%s", u.Run.Scenario, u.Run.Local, logs)
		}
	})
}

// errorLogs returns the contents of the sipp *_errors.log files in dir.
func errorLogs(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s\n%s", filepath.Base(f), tail(data, 40))
	}
	return b.String()
}

// lockedBuffer is a bytes.Buffer safe for a writing process and a reading
// test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil // keep the first MiB; never block the writer
	}
	return l.b.Write(p)
}

// Bytes returns a copy of what was written.
func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
