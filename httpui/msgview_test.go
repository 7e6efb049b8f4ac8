package httpui

import (
	"strings"
	"testing"
)

func TestLineDiff(t *testing.T) {
	a := "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nCall-ID: c\r\nMax-Forwards: 70\r\n"
	b := "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nCall-ID: c\r\nMax-Forwards: 69\r\n"
	var got []string
	for _, d := range lineDiff(a, b) {
		got = append(got, d.Op+d.Text)
	}
	want := []string{" INVITE sip:b@x SIP/2.0", "+Via: SIP/2.0/UDP 10.0.0.2", " Via: SIP/2.0/UDP 10.0.0.1", " Call-ID: c",
		"-Max-Forwards: 70", "+Max-Forwards: 69"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("diff\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := lineDiff("same\r\n", "same\r\n"); len(d) != 1 || d[0].Op != " " {
		t.Errorf("identical messages: %+v", d)
	}
}

func TestSDPLines(t *testing.T) {
	body := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"
	got := sdpLines([]byte("application/sdp"), []byte(body))
	if len(got) != 5 || got[3].Key != "media" || got[3].Value != "audio 4000 RTP/AVP 0 8" {
		t.Errorf("%+v", got)
	}
	if sdpLines([]byte("text/plain"), []byte("hello")) != nil {
		t.Error("a non-SDP body was laid out")
	}
}
