package main

import (
	"context"
	"testing"
)

func TestParseMinFree(t *testing.T) {
	for _, c := range []struct {
		in    string
		frac  float64
		bytes uint64
		bad   bool
	}{
		{"10%", 0.10, 0, false},
		{"0%", 0, 0, false},
		{"20GiB", 0, 20 << 30, false},
		{"500MB", 0, 500e6, false},
		{"1073741824", 0, 1 << 30, false},
		{"100%", 0, 0, true},
		{"lots", 0, 0, true},
	} {
		f, b, err := parseMinFree(c.in)
		if (err != nil) != c.bad || f != c.frac || b != c.bytes {
			t.Errorf("parseMinFree(%q) = %v %v %v", c.in, f, b, err)
		}
	}
}

func TestWithPort(t *testing.T) {
	for in, want := range map[string]string{":9061": ":7000", "127.0.0.1:9061": "127.0.0.1:7000", "[::1]:9": "[::1]:7000", "": ":7000"} {
		if got := withPort(in, 7000); got != want {
			t.Errorf("withPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	t.Setenv("TRACED_MIN_FREE", "5%")
	t.Setenv("TRACED_HEP_AUTH_KEY", "k1,k2")
	var got config
	app := newApp(func(_ context.Context, c config) error { got = c; return nil })
	err := app.Run([]string{"traced", "-p", "/tmp/x", "-k", "9", "-z", "7000", "-l", "8088", "--sip-addr", "127.0.0.1:5099",
		"--correlate-header", `P-Charging-Vector,icid-value="?([^";]+)`, "--correlate-header", "X-BroadWorks-Correlation-Info"})
	if err != nil {
		t.Fatal(err)
	}
	if got.DataDir != "/tmp/x" || got.RetentionDays != 9 || got.MinFreeFrac != 0.05 {
		t.Errorf("config %+v", got)
	}
	if len(got.HEPAddrs) != 2 || got.HEPAddrs[0] != ":9060" || got.HEPAddrs[1] != ":7000" {
		t.Errorf("hep addrs %v", got.HEPAddrs)
	}
	if got.WebAddr != ":8088" || len(got.AuthKeys) != 2 || got.AuthKeys[1] != "k2" || got.SIPAddrs[0] != "127.0.0.1:5099" {
		t.Errorf("web %s keys %v sip %v", got.WebAddr, got.AuthKeys, got.SIPAddrs)
	}
	if len(got.CorrelateHeaders) != 2 || got.CorrelateHeaders[0].Name != "P-Charging-Vector" || got.CorrelateHeaders[0].Pattern == nil {
		t.Errorf("correlate headers %+v", got.CorrelateHeaders)
	}
	if err := newApp(func(context.Context, config) error { return nil }).Run([]string{"traced", "-k", "0"}); err == nil {
		t.Error("retention 0 accepted")
	}
}
