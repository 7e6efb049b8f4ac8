package main

import (
	"strings"
	"testing"
)

func TestTrailingRole(t *testing.T) {
	for _, c := range []struct {
		args     []string
		def      string
		wantArgs string
		wantRole string
		bad      bool
	}{
		{[]string{"grafana"}, "viewer", "grafana", "viewer", false},
		{[]string{"grafana", "--role", "admin"}, "viewer", "grafana", "admin", false},
		{[]string{"--role=admin", "grafana"}, "viewer", "grafana", "admin", false},
		{[]string{"grafana", "--role"}, "viewer", "", "", true},
		{[]string{"grafana", "--role", "root"}, "viewer", "", "", true},
	} {
		args, role, err := trailingRole(c.args, c.def)
		if (err != nil) != c.bad || !c.bad && (strings.Join(args, " ") != c.wantArgs || role != c.wantRole) {
			t.Errorf("trailingRole(%q) = %q, %q, %v", c.args, args, role, err)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
