package peer

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hep3 builds a HEPv3 packet from vendor-0 chunks given as type, data pairs.
func hep3(chunks ...any) []byte {
	b := []byte("HEP3\x00\x00")
	for i := 0; i < len(chunks); i += 2 {
		data := chunks[i+1].([]byte)
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(chunks[i].(int)))
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(data)))
		b = append(b, data...)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

func TestParseHEP3(t *testing.T) {
	sip := []byte("INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\ni: leg-d\r\nX-Trace-Correlation: leg-a\r\n\r\nCall-ID: body\r\n")
	m, err := parseHEP3(hep3(0x0b, []byte{1}, 0x11, []byte("leg-a"), 0x0f, sip))
	if err != nil || m != (Mirrored{Type: 1, CallID: "leg-d", CorrID: "leg-a"}) || m.Call() != "leg-d" {
		t.Errorf("sip with a correlation id: %+v, %v", m, err)
	}
	m, err = parseHEP3(hep3(0x0b, []byte{100}, 0x11, []byte("leg-a"), 0x0f, []byte("Call-ID: not-sip")))
	if err != nil || m != (Mirrored{Type: 100, CorrID: "leg-a"}) || m.Call() != "leg-a" {
		t.Errorf("log line: %+v, %v", m, err)
	}
	bad := map[string][]byte{
		"hepv2":      {2, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"length":     append(hep3(0x0b, []byte{1}), 0),
		"chunk":      hep3(0x0b, []byte{1})[:10],
		"compressed": hep3(0x0b, []byte{1}, 0x10, []byte{0x78}),
	}
	for name, b := range bad {
		if _, err := parseHEP3(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCorrelationHeaderConfig(t *testing.T) {
	base := KamailioConfig{Listen: "127.0.0.10:5060", HEPDest: "127.0.0.1:9060", CorrelationHeader: "X-Trace-Correlation"}
	for name, mut := range map[string]func(*KamailioConfig){
		"hepv2":     func(c *KamailioConfig) { c.HEPVersion = 2 },
		"tcp":       func(c *KamailioConfig) { c.HEPTransport = "tcp" },
		"plain sip": func(c *KamailioConfig) { c.Duplicate = DuplicateSIP },
		"not a name": func(c *KamailioConfig) {
			c.CorrelationHeader = `X"); exit; #`
		},
	} {
		c := base
		mut(&c)
		if _, _, err := c.resolve(t); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, _, err := base.resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	text, err := renderConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`is_present_hf("X-Trace-Correlation")`,
		`sip_trace("sip:127.0.0.1:9060", "$hdr(X-Trace-Correlation)");`, `remove_hf("X-Trace-Correlation");`} {
		if !strings.Contains(text, w) {
			t.Errorf("config lacks %q", w)
		}
	}
	plain, _, _ := KamailioConfig{Listen: "127.0.0.10:5060", HEPDest: "127.0.0.1:9060"}.resolve(t)
	if text, _ := renderConfig(plain); strings.Contains(text, "sip_trace(") {
		t.Error("a config without a correlation header calls sip_trace()")
	}

	Require(t, "kamailio")
	p := filepath.Join(t.TempDir(), "kamailio.cfg")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, mustLookPath(t, "kamailio"), "-c", "-f", p, "-L", ModuleDir).CombinedOutput(); err != nil {
		t.Errorf("kamailio -c: %v\n%s", err, tail(out, 10))
	}
}
