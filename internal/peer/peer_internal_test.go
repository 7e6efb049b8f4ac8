package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolveRejectsBadConfig(t *testing.T) {
	base := KamailioConfig{Listen: "127.0.0.10:5060", HEPDest: "127.0.0.1:9060"}
	f := func(name string, mut func(*KamailioConfig), want string) {
		t.Helper()
		c := base
		mut(&c)
		_, _, err := c.resolve(t)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	f("hepv2 over tcp", func(c *KamailioConfig) { c.HEPVersion, c.HEPTransport = 2, "tcp" }, "no framing over tcp")
	f("version 4", func(c *KamailioConfig) { c.HEPVersion = 4 }, "want 1, 2 or 3")
	f("sctp", func(c *KamailioConfig) { c.HEPTransport = "sctp" }, "want udp or tcp")
	f("plain sip over tcp", func(c *KamailioConfig) { c.Duplicate, c.HEPTransport = DuplicateSIP, "tcp" }, "udp only")
	f("no destination", func(c *KamailioConfig) { c.HEPDest = "" }, "hep destination")
	f("not loopback", func(c *KamailioConfig) { c.Listen = "192.0.2.1:5060" }, "loopback")
	f("regex prefix", func(c *KamailioConfig) { c.UAS = []UASRoute{{"a.*", "127.0.0.11:5060"}} }, "letters and digits")
	f("quoted key", func(c *KamailioConfig) { c.AuthKey = `a"b` }, "auth key")
}

func TestResolveDefaults(t *testing.T) {
	c, h, err := KamailioConfig{Listen: "127.0.0.10:5060", HEPDest: "127.0.0.1:9060"}.resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.HEPTransport != "udp" || c.HEPVersion != 3 || c.CaptureID != 2001 {
		t.Errorf("defaults: transport %q version %d capture id %d", c.HEPTransport, c.HEPVersion, c.CaptureID)
	}
	want := Hosts{"127.0.0.10:5060", "127.0.0.11:5060", "127.0.0.12:5060", "127.0.0.13:5060", "127.0.0.20:5060"}
	if h != want {
		t.Errorf("hosts %+v, want %+v", h, want)
	}
	routes := []UASRoute{{"busy", h.UASBusy}, {"cancel", h.UASRing}, {"", h.UAS}}
	if len(c.UAS) != len(routes) {
		t.Fatalf("routes %+v, want %+v", c.UAS, routes)
	}
	for i := range routes {
		if c.UAS[i] != routes[i] {
			t.Errorf("route %d: %+v, want %+v", i, c.UAS[i], routes[i])
		}
	}
}

func TestReserveHostsGivesDistinctBlocks(t *testing.T) {
	a, b := ReserveHosts(t), ReserveHosts(t)
	if a.Proxy == b.Proxy {
		t.Fatalf("two reservations share %s", a.Proxy)
	}
	ip := netip.MustParseAddrPort(a.Proxy).Addr()
	sentinel := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, ip.As4()[1], ip.As4()[2], hostSentinel}), SIPPort)
	if ok, err := socketBound("udp", sentinel.String()); err != nil || !ok {
		t.Errorf("reservation socket %s not bound (%v)", sentinel, err)
	}
}

// configs are rendered in every mode the tests use.
func configs() map[string]KamailioConfig {
	base := KamailioConfig{Listen: "127.0.0.10:5060", HEPDest: "127.0.0.1:9060"}
	tcp, v1, key, plain := base, base, base, base
	tcp.HEPTransport = "tcp"
	v1.HEPVersion = 1
	key.AuthKey = "k3y"
	plain.Duplicate = DuplicateSIP
	return map[string]KamailioConfig{"hep3": base, "tcp": tcp, "hep1": v1, "authkey": key, "plain": plain}
}

func TestRenderConfig(t *testing.T) {
	f := func(name string, want, not []string) {
		t.Helper()
		c, _, err := configs()[name].resolve(t)
		if err != nil {
			t.Fatal(err)
		}
		text, err := renderConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: config lacks %q", name, w)
			}
		}
		for _, n := range not {
			if strings.Contains(text, n) {
				t.Errorf("%s: config has %q", name, n)
			}
		}
	}
	f("hep3", []string{`"duplicate_uri", "sip:127.0.0.1:9060"`, `"hep_mode_on", 1`, `"trace_mode", 1`,
		`"hep_version", 3`, `if ($rU =~ "^busy")`, `$du = "sip:127.0.0.12:5060"`, `$du = "sip:127.0.0.11:5060";`,
		"event_route[siptrace:msg]"}, []string{"auth_key", "sip_trace_mode"})
	f("tcp", []string{`"sip:127.0.0.1:9060;transport=tcp"`}, nil)
	f("hep1", []string{`"hep_version", 1`}, nil)
	f("authkey", []string{`modparam("siptrace", "auth_key", "k3y")`}, nil)
	f("plain", []string{`"hep_mode_on", 0`, `"xheaders_write", 1`, `"trace_mode", 0`, `sip_trace_mode("t");`},
		[]string{"event_route"})
}

// TestKamailioAcceptsConfig runs `kamailio -c` on the configuration of every
// mode.
func TestKamailioAcceptsConfig(t *testing.T) {
	Require(t, "kamailio")
	for name, cfg := range configs() {
		c, _, err := cfg.resolve(t)
		if err != nil {
			t.Fatal(err)
		}
		text, err := renderConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "kamailio.cfg")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, mustLookPath(t, "kamailio"), "-c", "-f", p, "-L", ModuleDir).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: kamailio -c: %v\n%s", name, err, tail(out, 10))
		}
	}
}

func TestSplitHEP3(t *testing.T) {
	frame := func(body string) []byte {
		b := append([]byte("HEP3\x00\x00"), body...)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
		return b
	}
	a, b := frame("first"), frame("second frame")
	stream := append(append(bytes.Clone(a), b...), "HEP3\x00"...)
	frames, rest := SplitHEP3(stream)
	if len(frames) != 2 || !bytes.Equal(frames[0], a) || !bytes.Equal(frames[1], b) {
		t.Errorf("frames %q, want %q and %q", frames, a, b)
	}
	if string(rest) != "HEP3\x00" {
		t.Errorf("rest %q, want the truncated header", rest)
	}
	if frames, rest := SplitHEP3(a[:len(a)-1]); len(frames) != 0 || len(rest) != len(a)-1 {
		t.Errorf("cut frame: %d frames, %d bytes left", len(frames), len(rest))
	}
}

func TestLooksLikeHEP(t *testing.T) {
	f := func(b string, want bool) {
		t.Helper()
		if got := LooksLikeHEP([]byte(b)); got != want {
			t.Errorf("LooksLikeHEP(%q) = %v, want %v", b, got, want)
		}
	}
	f("HEP3\x00\x06", true)
	f("EEP3\x00\x06", true)
	f("\x02\x10\x02\x11"+strings.Repeat("\x00", 24), true)
	f("\x01\x28\x0a\x11"+strings.Repeat("\x00", 36), true)
	f("INVITE sip:bob@example.com SIP/2.0\r\n", false)
	f("HEP", false)
}

// TestProbeScanner reads probes back from a libpcap file written by hand,
// including a record cut in half as a running capture leaves it.
func TestProbeScanner(t *testing.T) {
	const port = 40000
	udpFrame := func(dport uint16, payload []byte) []byte {
		f := make([]byte, 14+20+8, 14+20+8+len(payload))
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:]
		ip[0], ip[9] = 0x45, 17
		binary.BigEndian.PutUint16(ip[22:], dport)
		return append(f, payload...)
	}
	record := func(frame []byte) []byte {
		r := make([]byte, 16, 16+len(frame))
		binary.LittleEndian.PutUint32(r[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(r[12:], uint32(len(frame)))
		return append(r, frame...)
	}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	p3 := record(udpFrame(port, probePayload(3)))
	file := bytes.Join([][]byte{hdr,
		record(udpFrame(port, probePayload(1))),
		record(udpFrame(5060, probePayload(9))), // not the probe port
		record(udpFrame(port, []byte("other"))),
		p3[:20],
	}, nil)
	path := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	s := probeScanner{port: port, maxSeen: -1}
	if err := s.update(path); err != nil {
		t.Fatal(err)
	}
	if s.maxSeen != 1 {
		t.Errorf("after a cut record: max probe %d, want 1", s.maxSeen)
	}
	if err := os.WriteFile(path, append(file, p3[20:]...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.update(path); err != nil {
		t.Fatal(err)
	}
	if s.maxSeen != 3 {
		t.Errorf("after completing the record: max probe %d, want 3", s.maxSeen)
	}
}

func TestSocketBound(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	if ok, err := socketBound("udp", addr); err != nil || !ok {
		t.Errorf("bound socket %s not found (%v)", addr, err)
	}
	c.Close()
	if ok, err := socketBound("udp", addr); err != nil || ok {
		t.Errorf("closed socket %s still found (%v)", addr, err)
	}
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ok, err := socketBound("tcp", l.Addr().String()); err != nil || !ok {
		t.Errorf("listening socket %s not found (%v)", l.Addr(), err)
	}
}
