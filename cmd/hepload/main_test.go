package main

import "testing"

func TestCheckLoopback(t *testing.T) {
	f := func(addr string, ok bool) {
		t.Helper()
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", addr, err, ok)
		}
	}
	f("127.0.0.1:9060", true)
	f("127.9.9.9:9060", true)
	f("[::1]:9060", true)
	f("10.0.0.1:9060", false)
	f("192.0.2.7:9060", false)
	f("127.0.0.1", false) // no port
}
