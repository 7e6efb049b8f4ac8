package sip

import "testing"

// headerMsg has a start line, compact and long names, folding, and a body that
// looks like headers.
var headerMsg = m(
	"INVITE sip:bob@example.com SIP/2.0",
	"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
	"v: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2",
	"i: compact@h",
	"Call-ID: long@h",
	"X-Siptrace-Fromip: udp:192.0.2.1:5060",
	"P-Charging-Vector: icid-value=1234bc9876e;icid-generated-at=192.0.5.7",
	"Subject: first line",
	" second line",
	"k: timer",
	"Content-Length: 8",
) + "Server: in the body\r\n"

var headerCases = []struct {
	name string
	msg  string
	hdr  string
	want string
	nil  bool // the header must be absent
}{
	{name: "long name finds the compact form first", msg: headerMsg, hdr: "Call-ID", want: "compact@h"},
	{name: "compact name", msg: headerMsg, hdr: "i", want: "compact@h"},
	{name: "upper-case compact name", msg: headerMsg, hdr: "I", want: "compact@h"},
	{name: "Via long form finds the first Via", msg: headerMsg, hdr: "via", want: "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"},
	{name: "Via compact form finds the long form", msg: headerMsg, hdr: "V", want: "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"},
	{name: "Supported from its compact form", msg: headerMsg, hdr: "Supported", want: "timer"},
	{name: "vendor header", msg: headerMsg, hdr: "x-siptrace-fromip", want: "udp:192.0.2.1:5060"},
	{name: "P-Charging-Vector", msg: headerMsg, hdr: "P-Charging-Vector", want: "icid-value=1234bc9876e;icid-generated-at=192.0.5.7"},
	{name: "folded value keeps its line break", msg: headerMsg, hdr: "Subject", want: "first line\r\n second line"},
	{name: "header in the body is not found", msg: headerMsg, hdr: "Server", nil: true},
	{name: "absent header", msg: headerMsg, hdr: "X-CID", nil: true},
	{name: "empty name", msg: headerMsg, hdr: "", nil: true},
	{name: "start line is not a header", msg: headerMsg, hdr: "INVITE sip", nil: true},
	{name: "single letter without a compact form", msg: m(reqLine, "z: zed", "q: queue"), hdr: "q", want: "queue"},
	{name: "empty value is found, not nil", msg: m(reqLine, "Subject:", "Call-ID: c"), hdr: "s", want: ""},
	{name: "blank before the colon", msg: m(reqLine, "Call-ID \t: c"), hdr: "Call-ID", want: "c"},
	{name: "message that starts with a header", msg: m("X-Siptrace-Fromip: udp:1.2.3.4:5060", "Call-ID: c"), hdr: "X-Siptrace-Fromip", want: "udp:1.2.3.4:5060"},
	{name: "response", msg: m("SIP/2.0 200 OK", "Server: srv/1"), hdr: "server", want: "srv/1"},
	{name: "LF-only message", msg: "SIP/2.0 200 OK\nServer: srv/1\n\n", hdr: "Server", want: "srv/1"},
	{name: "keep-alive only", msg: "\r\n\r\n", hdr: "Call-ID", nil: true},
	{name: "binary", msg: "\x00\x01Call-ID: x\r\n", hdr: "Call-ID", nil: true},
}

func TestHeader(t *testing.T) {
	for _, tc := range headerCases {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.msg)
			got := Header(msg, tc.hdr)
			if tc.nil {
				if got != nil {
					t.Fatalf("Header(%q) = %q, want nil", tc.hdr, got)
				}
				return
			}
			if got == nil {
				t.Fatalf("Header(%q) = nil, want %q", tc.hdr, tc.want)
			}
			if string(got) != tc.want {
				t.Errorf("Header(%q) = %q, want %q", tc.hdr, got, tc.want)
			}
			if !within(got, msg) {
				t.Errorf("Header(%q) does not alias the message", tc.hdr)
			}
		})
	}
}

func TestAlias(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "compact to long", in: "i", want: "call-id"},
		{name: "upper-case compact to long", in: "R", want: "refer-to"},
		{name: "long to compact", in: "Session-Expires", want: "x"},
		{name: "identity", in: "IDENTITY", want: "y"},
		{name: "event", in: "event", want: "o"},
		{name: "no compact form", in: "X-CID", want: ""},
		{name: "letter without long form", in: "q", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := alias(tc.in); got != tc.want {
				t.Errorf("alias(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// Every pair maps both ways.
	for _, f := range compactForms {
		if alias(f.c) != f.long || alias(f.long) != f.c {
			t.Errorf("compact form %q / %q does not map both ways", f.c, f.long)
		}
	}
}
