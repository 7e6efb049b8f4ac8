package export

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"traced/ingest/record"
)

func TestWriteTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "call.txt", b.Bytes())
}

func TestWriteTextMessage(t *testing.T) {
	tests := []struct {
		name     string
		us       int64
		src, dst netip.AddrPort
		payload  string
		want     string
	}{
		{"IPv4", base, netip.MustParseAddrPort("10.0.0.1:5060"), netip.MustParseAddrPort("10.0.0.2:5080"),
			"OPTIONS sip:a SIP/2.0\r\n\r\n",
			"2026/11/23 03:05:07.123456 10.0.0.1:5060 -> 10.0.0.2:5080\nOPTIONS sip:a SIP/2.0\r\n\r\n\n\n"},
		{"IPv6 bracketed", base, netip.MustParseAddrPort("[2001:db8::1]:5060"), netip.MustParseAddrPort("[2001:db8::2]:5061"),
			"x", "2026/11/23 03:05:07.123456 [2001:db8::1]:5060 -> [2001:db8::2]:5061\nx\n\n"},
		{"IPv4-mapped as IPv4", base, netip.MustParseAddrPort("[::ffff:10.0.0.1]:5060"), netip.MustParseAddrPort("[::ffff:10.0.0.2]:5060"),
			"x", "2026/11/23 03:05:07.123456 10.0.0.1:5060 -> 10.0.0.2:5060\nx\n\n"},
		{"missing addresses", base, netip.AddrPort{}, netip.AddrPort{},
			"x", "2026/11/23 03:05:07.123456 0.0.0.0:0 -> 0.0.0.0:0\nx\n\n"},
		{"microseconds zero-padded, UTC", 1_700_000_000_000_042, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"),
			"", "2023/11/14 22:13:20.000042 10.0.0.1:1 -> 10.0.0.2:2\n\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &record.Message{Time: tc.us, Src: tc.src, Dst: tc.dst, Type: 1, Payload: []byte(tc.payload)}
			var b bytes.Buffer
			if err := WriteText(&b, []*record.Message{m}); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got  %q\nwant %q", b.String(), tc.want)
			}
		})
	}
}

func TestWriteTextOrderAndErrors(t *testing.T) {
	msgs := fixture(t)
	var b bytes.Buffer
	if err := WriteText(&b, append([]*record.Message{nil}, msgs...)); err != nil {
		t.Fatal(err)
	}
	prev := ""
	n := 0
	for line := range strings.SplitSeq(b.String(), "\n") {
		if len(line) > 26 && line[4] == '/' && strings.Contains(line, " -> ") {
			if stamp := line[:26]; stamp < prev {
				t.Errorf("%s comes after %s", stamp, prev)
			} else {
				prev = stamp
			}
			n++
		}
	}
	if n != len(msgs) {
		t.Errorf("%d header lines, want one for each of the %d messages", n, len(msgs))
	}
	for _, at := range []int{0, b.Len() / 2, b.Len() - 1} {
		if err := WriteText(&failWriter{n: at}, msgs); err == nil {
			t.Errorf("writer failing after %d bytes: no error", at)
		}
	}
}
