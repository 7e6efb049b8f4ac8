package httpui

import (
	"net/netip"
	"testing"
)

func TestAliases(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenAliases(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ addr, name string }{{"10.0.0.1", "sbc"}, {"10.0.0.1:5080", "sbc-external"}, {"[2001:db8::1]:5060", "core"}} {
		if err := a.Set(c.addr, c.name); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Set("pbx.example.com", "x"); err == nil {
		t.Error("a host name was accepted as an address")
	}
	b, err := OpenAliases(dir)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"10.0.0.1:5060": "sbc", "10.0.0.1:5080": "sbc-external", "[2001:db8::1]:5060": "core",
		"[::ffff:10.0.0.1]:5060": "sbc", "10.0.0.2:5060": ""} {
		if got := b.Name(netip.MustParseAddrPort(in)); got != want {
			t.Errorf("Name(%s) = %q, want %q", in, got, want)
		}
	}
	if err := b.Set("10.0.0.1", ""); err != nil || b.Name(netip.MustParseAddrPort("10.0.0.1:5060")) != "" {
		t.Errorf("removing an alias: %v", err)
	}
	if len(b.List()) != 2 {
		t.Errorf("list %v", b.List())
	}
}
