package sip

import "testing"

func TestNullSessionID(t *testing.T) {
	for in, want := range map[string]bool{
		"": true, "00000000000000000000000000000000": true, "00000000-0000-0000-0000-000000000000": true,
		"ab30317f1a784dc48ff824d0d3715d86": false, "0000000000000000000000000000000a": false,
	} {
		if got := NullSessionID([]byte(in)); got != want {
			t.Errorf("NullSessionID(%q) = %v, want %v", in, got, want)
		}
	}
}
