package sip

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var startLineCases = []scanCase{
	{
		name: "invite request",
		msg:  m(reqLine, "Call-ID: c1"),
		want: map[string]string{"Request": "true", "Method": "INVITE", "RURI": "sip:bob@example.com",
			"RURIUser": "bob", "StatusCode": "0", "Reason": "", "CallID": "c1", "Complete": "true"},
	},
	{
		name: "status line with two-word reason",
		msg:  m("SIP/2.0 183 Session Progress", "Call-ID: c1"),
		want: map[string]string{"Request": "false", "Method": "", "StatusCode": "183",
			"Reason": "Session Progress", "Complete": "true"},
	},
	{
		name: "status line without reason",
		msg:  m("SIP/2.0 200", "Call-ID: c1"),
		want: map[string]string{"StatusCode": "200", "Reason": "", "Complete": "true"},
	},
	{
		name: "status line with trailing blanks and lower-case version",
		msg:  m("sip/2.0 486 Busy Here  \t", "i: c1"),
		want: map[string]string{"StatusCode": "486", "Reason": "Busy Here", "Complete": "true"},
	},
	{
		name: "reason phrase in UTF-8",
		msg:  m("SIP/2.0 486 Besetzt – bitte später", "Call-ID: c1"),
		want: map[string]string{"StatusCode": "486", "Reason": "Besetzt – bitte später"},
	},
	{
		name: "status 699 is the highest",
		msg:  m("SIP/2.0 699 Custom", "Call-ID: c1"),
		want: map[string]string{"StatusCode": "699", "Reason": "Custom"},
	},
	{
		name: "method of any name",
		msg:  m("X-ACME.Probe! sip:probe@10.0.0.1 SIP/2.0", "Call-ID: c1"),
		want: map[string]string{"Request": "true", "Method": "X-ACME.Probe!", "RURIUser": "probe", "Complete": "true"},
	},
	{
		name: "runs of blanks between the parts",
		msg:  m("OPTIONS  sip:100@192.0.2.1\tSIP/2.0 ", "Call-ID: c1"),
		want: map[string]string{"Method": "OPTIONS", "RURI": "sip:100@192.0.2.1", "RURIUser": "100"},
	},
	{
		name: "tel Request-URI",
		msg:  m("INVITE tel:+15551234567;phone-context=example.com SIP/2.0", "Call-ID: c1"),
		want: map[string]string{"RURI": "tel:+15551234567;phone-context=example.com", "RURIUser": "+15551234567"},
	},
	{
		name: "Request-URI with user parameters",
		msg:  m("INVITE sip:+15551234567;npdi;rn=+15559990000@gw.example.com;user=phone SIP/2.0", "Call-ID: c1"),
		want: map[string]string{"RURIUser": "+15551234567"},
	},
	{
		name: "Request-URI without user",
		msg:  m("REGISTER sip:pbx.example.com SIP/2.0", "Call-ID: c1"),
		want: map[string]string{"Method": "REGISTER", "RURIUser": ""},
	},
	{
		name: "leading CRLF keep-alives",
		msg:  "\r\n\r\n\r\n" + m("OPTIONS sip:a@b SIP/2.0", "Call-ID: c1"),
		want: map[string]string{"Method": "OPTIONS", "CallID": "c1", "Complete": "true"},
	},
	{
		name: "leading LF keep-alives",
		msg:  "\n\n" + m("OPTIONS sip:a@b SIP/2.0", "Call-ID: c1"),
		want: map[string]string{"Method": "OPTIONS", "Complete": "true"},
	},
	{
		name: "empty input",
		msg:  "",
		err:  ErrEmpty,
		want: map[string]string{"Complete": "false", "ContentLength": "-1"},
	},
	{
		name: "double CRLF keep-alive only",
		msg:  "\r\n\r\n",
		err:  ErrEmpty,
		want: map[string]string{"Complete": "false", "Body": ""},
	},
	{
		name: "status code out of range",
		msg:  m("SIP/2.0 700 Nope", "Call-ID: c1"),
		err:  ErrStatusLine,
		want: map[string]string{"StatusCode": "0", "CallID": "c1", "Complete": "false"},
	},
	{
		name: "status code of two digits",
		msg:  m("SIP/2.0 20 OK", "Call-ID: c1"),
		err:  ErrStatusLine,
		want: map[string]string{"StatusCode": "0"},
	},
	{
		name: "status code of four digits",
		msg:  m("SIP/2.0 2000 OK", "Call-ID: c1"),
		err:  ErrStatusLine,
		want: map[string]string{"StatusCode": "0"},
	},
	{
		name: "status line without version number",
		msg:  m("SIP/ 200 OK", "Call-ID: c1"),
		err:  ErrStatusLine,
		want: map[string]string{"StatusCode": "0"},
	},
	{
		name: "request line without version keeps the headers",
		msg:  m("INVITE sip:bob@example.com", "Call-ID: c1", "From: <sip:alice@a>;tag=1"),
		err:  ErrRequestLine,
		want: map[string]string{"Request": "false", "Method": "", "CallID": "c1", "FromUser": "alice", "Complete": "false"},
	},
	{
		name: "request line with a bad version",
		msg:  m("INVITE sip:bob@example.com SIP/two", "Call-ID: c1"),
		err:  ErrRequestLine,
		want: map[string]string{"Method": ""},
	},
	{
		name: "HTTP request",
		msg:  m("GET /index.html HTTP/1.1", "Host: example.com", "Content-Type: text/html"),
		err:  ErrHTTP,
		want: map[string]string{"Request": "false", "Method": "", "ContentType": "text/html", "Complete": "false"},
	},
	{
		name: "HTTP response",
		msg:  m("HTTP/1.1 200 OK", "Content-Length: 0"),
		err:  ErrHTTP,
		want: map[string]string{"StatusCode": "0", "ContentLength": "0"},
	},
	{
		name: "JSON document",
		msg:  `{"callid":"abc@h","method":"INVITE"}`,
		err:  ErrRequestLine,
		want: map[string]string{"CallID": "", "Complete": "false"},
	},
	{
		name: "binary data",
		msg:  "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03Call-ID: x\r\n",
		err:  ErrBinary,
		want: map[string]string{"CallID": "", "Complete": "false"},
	},
	{
		name: "HEP packet",
		msg:  "HEP3\x00\x50\x00\x00\x00\x01\x00\x07\x02\x00\x00\x00\x02\x00\x07\x11",
		err:  ErrBinary,
		want: map[string]string{"Complete": "false"},
	},
	{
		name: "message captured from the middle of its headers",
		msg:  m("Call-ID: mid@h", "CSeq: 2 BYE", "To: <sip:bob@b>;tag=9"),
		err:  ErrRequestLine,
		want: map[string]string{"CallID": "mid@h", "CSeq": "2", "CSeqMethod": "BYE", "ToTag": "9", "Complete": "false"},
	},
	{
		name: "start line alone",
		msg:  "OPTIONS sip:a@b SIP/2.0",
		want: map[string]string{"Method": "OPTIONS", "Body": "", "Complete": "false"},
	},
}

func TestScanStartLine(t *testing.T) { runScanCases(t, startLineCases) }

var compactCases = []scanCase{
	{
		name: "every compact form Scan reads",
		msg: m(reqLine, "i: cid@h", "f: <sip:alice@a>;tag=ft", "t: <sip:bob@b>;tag=tt",
			"m: <sip:alice@10.0.0.1>", "c: application/sdp", "l: 0",
			"r: <sip:carol@c?Replaces=x%40h%3Bto-tag%3D1>"),
		want: map[string]string{"CallID": "cid@h", "FromUser": "alice", "FromTag": "ft", "ToUser": "bob",
			"ToTag": "tt", "ContactUser": "alice", "ContentType": "application/sdp", "ContentLength": "0",
			"ReferToReplaces": "x@h", "Complete": "true"},
	},
	{
		name: "upper-case compact forms",
		msg:  m(reqLine, "I: cid@h", "F: <sip:alice@a>;tag=ft", "T: <sip:bob@b>", "L: 5") + "hello",
		want: map[string]string{"CallID": "cid@h", "FromTag": "ft", "ToUser": "bob", "ContentLength": "5", "Body": "hello"},
	},
	{
		name: "blank between name and colon",
		msg:  m(reqLine, "i : cid@h", "Call-ID\t: other", "f  :<sip:alice@a>;tag=ft"),
		want: map[string]string{"CallID": "cid@h", "FromUser": "alice", "FromTag": "ft"},
	},
	{
		name: "header names in any case",
		msg: m(reqLine, "CALL-ID: cid@h", "fRoM: <sip:alice@a>;tag=ft", "TO: <sip:bob@b>", "cseq: 7 invite",
			"USER-AGENT: ua", "sErVeR: srv", "CONTACT: <sip:c@h>", "x-Cid: xc", "content-TYPE: text/plain",
			"Content-length: 0", "p-asserted-IDENTITY: <sip:pai@h>"),
		want: map[string]string{"CallID": "cid@h", "FromUser": "alice", "ToUser": "bob", "CSeq": "7",
			"CSeqMethod": "invite", "UserAgent": "ua", "Server": "srv", "ContactUser": "c", "XCID": "xc",
			"ContentType": "text/plain", "ContentLength": "0", "PAIUser": "pai"},
	},
	{
		name: "compact forms that Scan does not index are ignored",
		msg:  m(reqLine, "v: SIP/2.0/UDP h", "k: timer", "s: subject", "e: gzip", "o: refer", "u: talk", "x: 90", "y: sig", "Call-ID: c"),
		want: map[string]string{"CallID": "c", "ContentType": "", "Complete": "true"},
	},
	{
		name: "no space after the colon",
		msg:  m(reqLine, "Call-ID:c@h", "CSeq:1 ACK"),
		want: map[string]string{"CallID": "c@h", "CSeq": "1", "CSeqMethod": "ACK"},
	},
}

func TestScanCompactForms(t *testing.T) { runScanCases(t, compactCases) }

var foldingCases = []scanCase{
	{
		name: "folded Call-ID",
		msg:  m(reqLine, "Call-ID:", " folded@h", "CSeq: 1 INVITE"),
		want: map[string]string{"CallID": "folded@h", "CSeq": "1", "Complete": "true"},
	},
	{
		name: "folded From with the tag on its own line",
		msg:  m(reqLine, `From: "Alice"`, " <sip:alice@a>", "\t;tag=f1", "Call-ID: c"),
		want: map[string]string{"FromUser": "alice", "FromTag": "f1", "FromDisplay": "Alice"},
	},
	{
		name: "folded To with a tab",
		msg:  m(reqLine, "To:", "\t<sip:bob@b>;", "\ttag=t9", "Call-ID: c"),
		want: map[string]string{"ToUser": "bob", "ToTag": "t9"},
	},
	{
		name: "folded CSeq",
		msg:  m(reqLine, "CSeq: 42", "  BYE", "Call-ID: c"),
		want: map[string]string{"CSeq": "42", "CSeqMethod": "BYE"},
	},
	{
		name: "header text inside a continuation line is not a header",
		msg:  m(reqLine, "Subject: hello", " Call-ID: fake", "Call-ID: real"),
		want: map[string]string{"CallID": "real"},
	},
	{
		name: "continuation line at the start of the header section",
		msg:  m(reqLine, " Call-ID: orphan", "Call-ID: real"),
		want: map[string]string{"CallID": "real"},
	},
	{
		name: "several continuation lines",
		msg:  m(reqLine, "Via: SIP/2.0/UDP a", " ;branch=1,", " SIP/2.0/UDP b", "   ;branch=2", "i: c"),
		want: map[string]string{"CallID": "c", "Complete": "true"},
	},
	{
		name: "folding with LF-only line ends",
		msg:  reqLine + "\nCall-ID:\n c@h\nFrom: <sip:a@h>\n ;tag=x\n\n",
		want: map[string]string{"CallID": "c@h", "FromTag": "x", "Complete": "true"},
	},
	{
		name: "line without a colon is skipped",
		msg:  m(reqLine, "garbage line", "Call-ID: c"),
		want: map[string]string{"CallID": "c", "Complete": "true"},
	},
}

func TestScanFolding(t *testing.T) { runScanCases(t, foldingCases) }

var bodyCases = []scanCase{
	{
		name: "body after CRLF CRLF with a right Content-Length",
		msg:  m(reqLine, "Call-ID: c", "Content-Length: 4") + "v=0\n",
		want: map[string]string{"ContentLength": "4", "Body": "v=0\n", "Complete": "true"},
	},
	{
		name: "body after LF LF",
		msg:  reqLine + "\nCall-ID: c\nContent-Length: 3\n\nabc",
		want: map[string]string{"CallID": "c", "ContentLength": "3", "Body": "abc", "Complete": "true"},
	},
	{
		name: "mixed line ends",
		msg:  reqLine + "\r\nCall-ID: c\nCSeq: 1 INVITE\r\n\nbody",
		want: map[string]string{"CallID": "c", "CSeq": "1", "Body": "body", "Complete": "true"},
	},
	{
		name: "Content-Length absent",
		msg:  m(reqLine, "Call-ID: c") + "xyz",
		want: map[string]string{"ContentLength": "-1", "Body": "xyz"},
	},
	{
		name: "Content-Length larger than the body",
		msg:  m(reqLine, "Call-ID: c", "Content-Length: 999") + "short",
		want: map[string]string{"ContentLength": "999", "Body": "short", "Complete": "true"},
	},
	{
		name: "Content-Length smaller than the body",
		msg:  m(reqLine, "Call-ID: c", "Content-Length: 0") + "extra",
		want: map[string]string{"ContentLength": "0", "Body": "extra"},
	},
	{
		name: "Content-Length not a number",
		msg:  m(reqLine, "Call-ID: c", "Content-Length: ten"),
		want: map[string]string{"ContentLength": "-1"},
	},
	{
		name: "Content-Length negative",
		msg:  m(reqLine, "Call-ID: c", "Content-Length: -5"),
		want: map[string]string{"ContentLength": "-1"},
	},
	{
		name: "Content-Length out of range",
		msg:  m(reqLine, "Call-ID: c", "Content-Length: 99999999999999999999999"),
		want: map[string]string{"ContentLength": "-1"},
	},
	{
		name: "Content-Length with trailing garbage",
		msg:  m(reqLine, "Call-ID: c", "Content-Length: 12abc"),
		want: map[string]string{"ContentLength": "-1"},
	},
	{
		name: "blank line inside the body is part of the body",
		msg:  m(reqLine, "Call-ID: c") + "a\r\n\r\nb",
		want: map[string]string{"Body": "a\r\n\r\nb"},
	},
	{
		name: "header section not terminated",
		msg:  reqLine + "\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n",
		want: map[string]string{"CallID": "c", "CSeq": "1", "Body": "", "Complete": "false"},
	},
	{
		name: "truncated in the middle of a header",
		msg:  reqLine + "\r\nCall-ID: c\r\nFrom: <sip:alice@a",
		want: map[string]string{"CallID": "c", "FromUser": "alice", "Complete": "false"},
	},
	{
		name: "no Call-ID is not complete",
		msg:  m(reqLine, "CSeq: 1 INVITE"),
		want: map[string]string{"CallID": "", "Complete": "false"},
	},
	{
		name: "empty Call-ID is not complete",
		msg:  m(reqLine, "Call-ID:   "),
		want: map[string]string{"CallID": "", "Complete": "false"},
	},
}

func TestScanBody(t *testing.T) { runScanCases(t, bodyCases) }

var cseqCases = []scanCase{
	{
		name: "number and method",
		msg:  m(reqLine, "CSeq: 102 INVITE"),
		want: map[string]string{"CSeq": "102", "CSeqMethod": "INVITE"},
	},
	{
		name: "largest number",
		msg:  m(reqLine, "CSeq: 4294967295 BYE"),
		want: map[string]string{"CSeq": "4294967295", "CSeqMethod": "BYE"},
	},
	{
		name: "number out of range keeps the method",
		msg:  m(reqLine, "CSeq: 4294967296 BYE"),
		want: map[string]string{"CSeq": "0", "CSeqMethod": "BYE"},
	},
	{
		name: "very long number",
		msg:  m(reqLine, "CSeq: 123456789012345678901234567890 ACK"),
		want: map[string]string{"CSeq": "0", "CSeqMethod": "ACK"},
	},
	{
		name: "leading zeros",
		msg:  m(reqLine, "cseq: 0009 INVITE"),
		want: map[string]string{"CSeq": "9", "CSeqMethod": "INVITE"},
	},
	{
		name: "method without number",
		msg:  m(reqLine, "CSeq: OPTIONS"),
		want: map[string]string{"CSeq": "0", "CSeqMethod": "OPTIONS"},
	},
	{
		name: "number without method",
		msg:  m(reqLine, "CSeq: 5"),
		want: map[string]string{"CSeq": "5", "CSeqMethod": ""},
	},
}

func TestScanCSeq(t *testing.T) { runScanCases(t, cseqCases) }

var firstWinsCases = []scanCase{
	{
		name: "first Call-ID wins",
		msg:  m(reqLine, "Call-ID: first", "i: second", "Call-ID: third"),
		want: map[string]string{"CallID": "first"},
	},
	{
		name: "first From wins in either form",
		msg:  m(reqLine, "f: <sip:one@h>;tag=1", "From: <sip:two@h>;tag=2"),
		want: map[string]string{"FromUser": "one", "FromTag": "1"},
	},
	{
		name: "first To wins",
		msg:  m(reqLine, "To: <sip:one@h>", "To: <sip:two@h>;tag=2"),
		want: map[string]string{"ToUser": "one", "ToTag": ""},
	},
	{
		name: "first CSeq and Content-Length win",
		msg:  m(reqLine, "CSeq: 1 INVITE", "CSeq: 2 BYE", "l: 3", "Content-Length: 4") + "abc",
		want: map[string]string{"CSeq": "1", "CSeqMethod": "INVITE", "ContentLength": "3"},
	},
	{
		name: "first User-Agent and Server win",
		msg:  m(reqLine, "User-Agent: a", "User-Agent: b", "Server: s1", "Server: s2"),
		want: map[string]string{"UserAgent": "a", "Server": "s1"},
	},
}

func TestScanFirstWins(t *testing.T) { runScanCases(t, firstWinsCases) }

func TestScanResetsHeaders(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "refer_replaces.sip"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  string
	}{
		{name: "bare request", msg: m(reqLine)},
		{name: "response", msg: m("SIP/2.0 200 OK", "Call-ID: other")},
		{name: "garbage", msg: "\x00\x01\x02"},
		{name: "empty", msg: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h, fresh Headers
			if err := Scan(full, &h); err != nil {
				t.Fatal(err)
			}
			errReused := Scan([]byte(tc.msg), &h)
			errFresh := Scan([]byte(tc.msg), &fresh)
			if errReused != errFresh {
				t.Fatalf("error on reused Headers %v, on fresh %v", errReused, errFresh)
			}
			got, want := fieldMap(&h), fieldMap(&fresh)
			for k := range want {
				if got[k] != want[k] {
					t.Errorf("%s = %q after reuse, want %q", k, got[k], want[k])
				}
			}
		})
	}
}

func TestErrorsMatchNotSIP(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{name: "empty", err: ErrEmpty},
		{name: "binary", err: ErrBinary},
		{name: "http", err: ErrHTTP},
		{name: "status line", err: ErrStatusLine},
		{name: "request line", err: ErrRequestLine},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, ErrNotSIP) {
				t.Errorf("%v does not match ErrNotSIP", tc.err)
			}
			if seen[tc.err.Error()] {
				t.Errorf("message %q is not distinct", tc.err.Error())
			}
			seen[tc.err.Error()] = true
		})
	}
	if errors.Is(ErrNotSIP, ErrBinary) {
		t.Error("ErrNotSIP matches ErrBinary")
	}
}

func TestScanDoesNotAllocate(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.sip"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, p := range paths {
		msg, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(p), func(t *testing.T) {
			var h Headers
			if n := testing.AllocsPerRun(100, func() { _ = Scan(msg, &h) }); n != 0 {
				t.Errorf("Scan allocates %v times per message", n)
			}
		})
	}
}
