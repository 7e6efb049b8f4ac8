package peer

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// ModuleDir is where Debian's kamailio package installs its modules.
const ModuleDir = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

// Credentials the proxy accepts for REGISTER (401) and for INVITEs to users
// starting with "auth" (407).
const (
	AuthUser     = "alice"
	AuthPassword = "secret"
)

// probeCallIDPrefix marks the readiness probe; the proxy answers it without
// mirroring it, and CallIDs leaves it out.
const probeCallIDPrefix = "peer-probe-"

// Duplicate selects how Kamailio mirrors traffic to KamailioConfig.HEPDest.
type Duplicate int

const (
	// DuplicateHEP mirrors every SIP message received and sent as HEP
	// (siptrace hep_mode_on=1, trace_mode=1).
	DuplicateHEP Duplicate = iota
	// DuplicateSIP mirrors the raw SIP over UDP with X-Siptrace-* headers
	// (hep_mode_on=0, xheaders_write=1, sip_trace_mode("t") per request).
	// hlog() lines still arrive as HEPv3 type 100.
	DuplicateSIP
)

// UASRoute sends INVITEs whose Request-URI user starts with Prefix to the
// sipp instance at Addr ("ip:port"). An empty Prefix matches every user.
type UASRoute struct {
	Prefix string
	Addr   string
}

// KamailioConfig describes one Kamailio proxy. Zero values take the defaults
// given per field.
type KamailioConfig struct {
	// Listen is the SIP address, bound for UDP and TCP. Default: the Proxy
	// address of a fresh ReserveHosts block.
	Listen string
	// HEPDest is where traffic is mirrored ("127.0.0.1:PORT"). Required.
	HEPDest string
	// HEPTransport is "udp" (default) or "tcp" (HEPv3 only).
	HEPTransport string
	// HEPVersion is 1, 2 or 3 (default 3).
	HEPVersion int
	// CaptureID is the capture agent id (hep_capture_id; default 2001). HEPv2
	// carries only its low 16 bits.
	CaptureID uint32
	// AuthKey is sent as HEPv3 chunk 0x000e when set.
	AuthKey string
	// Duplicate is DuplicateHEP (default) or DuplicateSIP.
	Duplicate Duplicate
	// UAS routes INVITEs by user prefix, first match wins. Default, in the
	// /24 of Listen: "busy" → UASBusy, "cancel" → UASRing, anything else → UAS.
	UAS []UASRoute
	// CorrelationHeader names a header that sets a HEP correlation id. An
	// initial request carrying it is mirrored once more, as received (with
	// the header; Max-Forwards already decremented), by sip_trace() in
	// message mode with the header's value as its correlation id (HEPv3
	// chunk 0x0011), besides the copies trace_mode=1 sends; the header is
	// then removed, so the request is relayed without it. Empty: none. HEPv3
	// over UDP only.
	CorrelationHeader string
}

// Kamailio is a running proxy started by StartKamailio.
type Kamailio struct {
	// Config is the configuration with every default filled in.
	Config KamailioConfig
	// Hosts is the topology around the proxy; Hosts.Proxy == Config.Listen.
	Hosts Hosts
	// Dir holds kamailio.cfg, kamailio.log and the pid file.
	Dir string

	t        testing.TB
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
	uasOnce  sync.Once // RunCallMix starts the answering sipp instances once
}

// cfgData feeds kamailioTemplate.
type cfgData struct {
	KamailioConfig
	ModuleDir   string
	DuplicateTo string
	PlainSIP    bool
	Password    string
	User        string
	ProbePrefix string
	Routes      []UASRoute
	Default     string
}

//go:embed kamailio.cfg.tmpl
var kamailioCfg string

var (
	kamailioTemplate = template.Must(template.New("kamailio.cfg").Parse(kamailioCfg))
	prefixRE         = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	headerNameRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
)

// resolve fills defaults and checks the configuration.
func (c KamailioConfig) resolve(t testing.TB) (KamailioConfig, Hosts, error) {
	var h Hosts
	if c.Listen == "" {
		h = ReserveHosts(t)
		c.Listen = h.Proxy
	}
	ap, err := netip.ParseAddrPort(c.Listen)
	if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
		return c, h, fmt.Errorf("listen %q: want an IPv4 loopback ip:port", c.Listen)
	}
	if h.Proxy == "" {
		h = HostsIn(ap.Addr())
		h.Proxy = c.Listen
	}
	if _, err := netip.ParseAddrPort(c.HEPDest); err != nil {
		return c, h, fmt.Errorf("hep destination %q: %w", c.HEPDest, err)
	}
	if c.HEPTransport == "" {
		c.HEPTransport = "udp"
	}
	if c.HEPVersion == 0 {
		c.HEPVersion = 3
	}
	if c.CaptureID == 0 {
		c.CaptureID = 2001
	}
	switch {
	case c.HEPTransport != "udp" && c.HEPTransport != "tcp":
		return c, h, fmt.Errorf("hep transport %q: want udp or tcp", c.HEPTransport)
	case c.HEPVersion < 1 || c.HEPVersion > 3:
		return c, h, fmt.Errorf("hep version %d: want 1, 2 or 3", c.HEPVersion)
	case c.HEPTransport == "tcp" && c.HEPVersion != 3:
		return c, h, fmt.Errorf("hep version %d has no framing over tcp", c.HEPVersion)
	case c.Duplicate == DuplicateSIP && c.HEPTransport != "udp":
		return c, h, errors.New("plain sip duplication is udp only")
	case strings.ContainsAny(c.AuthKey, "\"\\\r\n"):
		return c, h, fmt.Errorf("auth key %q: quotes, backslashes and line breaks are not allowed", c.AuthKey)
	case c.CorrelationHeader != "" && !headerNameRE.MatchString(c.CorrelationHeader):
		return c, h, fmt.Errorf("correlation header %q: want a header name", c.CorrelationHeader)
	case c.CorrelationHeader != "" && (c.Duplicate != DuplicateHEP || c.HEPVersion != 3 || c.HEPTransport != "udp"):
		return c, h, errors.New("a correlation header needs HEPv3 over udp")
	}
	if c.UAS == nil {
		c.UAS = []UASRoute{{"busy", h.UASBusy}, {"cancel", h.UASRing}, {"", h.UAS}}
	}
	for _, r := range c.UAS {
		if r.Prefix != "" && !prefixRE.MatchString(r.Prefix) {
			return c, h, fmt.Errorf("uas prefix %q: want letters and digits", r.Prefix)
		}
		if _, err := netip.ParseAddrPort(r.Addr); err != nil {
			return c, h, fmt.Errorf("uas address %q: %w", r.Addr, err)
		}
	}
	return c, h, nil
}

// renderConfig writes the kamailio.cfg text for c.
func renderConfig(c KamailioConfig) (string, error) {
	d := cfgData{
		KamailioConfig: c,
		ModuleDir:      ModuleDir,
		DuplicateTo:    "sip:" + c.HEPDest,
		PlainSIP:       c.Duplicate == DuplicateSIP,
		Password:       AuthPassword,
		User:           AuthUser,
		ProbePrefix:    probeCallIDPrefix,
	}
	if c.HEPTransport == "tcp" {
		d.DuplicateTo += ";transport=tcp"
	}
	for _, r := range c.UAS {
		if r.Prefix == "" {
			if d.Default == "" {
				d.Default = r.Addr
			}
			continue
		}
		d.Routes = append(d.Routes, r)
	}
	var b bytes.Buffer
	if err := kamailioTemplate.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render kamailio.cfg: %w", err)
	}
	return b.String(), nil
}

// StartKamailio writes a configuration for cfg into a temporary directory,
// checks it with `kamailio -c`, runs Kamailio in the foreground and waits
// until it answers an OPTIONS probe. Kamailio is stopped when the test ends.
func StartKamailio(t testing.TB, cfg KamailioConfig) *Kamailio {
	t.Helper()
	bin := mustLookPath(t, "kamailio")
	c, h, err := cfg.resolve(t)
	if err != nil {
		t.Fatalf("peer: kamailio config: %v", err)
	}
	text, err := renderConfig(c)
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatalf("peer: write kamailio.cfg: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	out, err := exec.CommandContext(ctx, bin, "-c", "-f", cfgPath, "-L", ModuleDir).CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("peer: kamailio -c %s: %v\n%s", cfgPath, err, tail(out, 30))
	}

	logf, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		t.Fatalf("peer: create kamailio.log: %v", err)
	}
	cmd := exec.Command(bin, "-DD", "-E", "-f", cfgPath,
		"-P", filepath.Join(dir, "kamailio.pid"), "-Y", dir,
		"-m", "64", "-M", "8", "-L", ModuleDir)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("peer: start kamailio: %v", err)
	}
	k := &Kamailio{Config: c, Hosts: h, Dir: dir, t: t, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(k.exited)
	}()
	t.Cleanup(func() {
		k.Stop()
		if t.Failed() {
			t.Logf("peer: kamailio log (%s):\n%s", k.LogPath(), tail(k.Log(), 40))
		}
	})
	if err := k.waitReady(15 * time.Second); err != nil {
		t.Fatalf("peer: kamailio on %s: %v\n%s", c.Listen, err, tail(k.Log(), 40))
	}
	return k
}

// Addr is the proxy's SIP address ("ip:5060").
func (k *Kamailio) Addr() string { return k.Config.Listen }

// IP is the proxy's IP address.
func (k *Kamailio) IP() string {
	host, _, _ := net.SplitHostPort(k.Config.Listen)
	return host
}

// HEPPort is the port traffic is mirrored to.
func (k *Kamailio) HEPPort() int {
	_, port, _ := net.SplitHostPort(k.Config.HEPDest)
	n, _ := strconv.Atoi(port)
	return n
}

// CaptureFilter is a capture filter for StartCapture that sees everything this
// proxy sends and receives, including the mirrored traffic.
func (k *Kamailio) CaptureFilter() string {
	return fmt.Sprintf("host %s or port %d", k.IP(), k.HEPPort())
}

// LogPath is Kamailio's combined stdout and stderr.
func (k *Kamailio) LogPath() string { return filepath.Join(k.Dir, "kamailio.log") }

// Log returns what Kamailio has logged so far.
func (k *Kamailio) Log() []byte {
	b, _ := os.ReadFile(k.LogPath())
	return b
}

// Stop terminates Kamailio and its children (the whole process group) and
// waits for them; it is safe to call more than once. Stop before counting what
// was mirrored: after it returns nothing more is sent.
func (k *Kamailio) Stop() {
	k.stopOnce.Do(func() { stopGroup(k.t, "kamailio", k.cmd, k.exited) })
}

// stopGroup sends SIGTERM to the process group of cmd, waits up to five
// seconds for the leader to exit, then kills whatever is left of the group.
func stopGroup(t testing.TB, name string, cmd *exec.Cmd, exited <-chan struct{}) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Logf("peer: %s (pid %d) ignored SIGTERM for 5s; killing it", name, pgid)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Children that outlived the leader.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// waitReady sends OPTIONS probes until one is answered 200.
func (k *Kamailio) waitReady(timeout time.Duration) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("probe socket: %w", err)
	}
	defer conn.Close()
	dst, err := net.ResolveUDPAddr("udp4", k.Config.Listen)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", k.Config.Listen, err)
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for i := 1; time.Now().Before(deadline); i++ {
		select {
		case <-k.exited:
			return errors.New("kamailio exited during start-up")
		default:
		}
		msg := optionsProbe(local, k.Config.Listen, i)
		if _, err := conn.WriteToUDP(msg, dst); err != nil {
			return fmt.Errorf("send probe: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		if bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200 ")) {
			return nil
		}
	}
	return fmt.Errorf("no 200 to OPTIONS within %v", timeout)
}

// optionsProbe builds the readiness OPTIONS request.
func optionsProbe(local *net.UDPAddr, proxy string, seq int) []byte {
	return fmt.Appendf(nil, "OPTIONS sip:%[2]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[1]s;branch=z9hG4bK-peer-probe-%[3]d-%[4]d\r\n"+
		"From: <sip:probe@%[1]s>;tag=probe%[3]d\r\n"+
		"To: <sip:%[2]s>\r\n"+
		"Call-ID: %[5]s%[3]d-%[4]d\r\n"+
		"CSeq: %[4]d OPTIONS\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n",
		local.String(), proxy, local.Port, seq, probeCallIDPrefix)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
