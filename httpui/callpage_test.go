package httpui

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"traced/correlate"
)

// twoLegCall is a B2BUA call: leg A (INVITE, 180, 200 with SDP) and leg B joined by
// X-CID, as the correlation engine returns it.
func twoLegCall(t *testing.T) *correlate.Call {
	inv := "INVITE sip:bob@b SIP/2.0\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n%sContent-Type: application/sdp\r\nContent-Length: 52\r\n\r\nv=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=x\r\n"
	ok := "SIP/2.0 200 OK\r\nFrom: <sip:alice@a>;tag=1\r\nTo: <sip:bob@b>;tag=2\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n\r\n"
	hits := []struct {
		leg int
		ts  int64
		msg string
	}{
		{0, pageBase, fmt.Sprintf(inv, "leg-a", "")},
		{1, pageBase + 20_000, fmt.Sprintf(inv, "leg-b", "X-CID: leg-a\r\n")},
		{1, pageBase + 900_000, fmt.Sprintf(ok, "leg-b")},
		{0, pageBase + 910_000, fmt.Sprintf(ok, "leg-a")},
	}
	c := &correlate.Call{CallID: "leg-a", Legs: []correlate.Leg{
		{CallID: "leg-a", Rule: correlate.RuleSeed, Via: -1, Messages: 2},
		{CallID: "leg-b", Rule: correlate.RuleXCID, Via: 0, Value: "leg-a", Messages: 2},
	}}
	for i, h := range hits {
		hit := sipHit(t, h.ts, h.msg)
		hit.N = i
		c.Messages = append(c.Messages, correlate.Message{Hit: hit, Leg: h.leg, Copies: []correlate.Copy{{Ref: hit.Ref, N: i, Node: "sbc1"}}})
	}
	return c
}

func TestCallPageAndAPI(t *testing.T) {
	c := twoLegCall(t)
	calls := func(_ context.Context, id string, _ bool) (*correlate.Call, error) {
		if id != "leg-a" {
			return nil, correlate.ErrNotFound
		}
		return c, nil
	}
	aliases, err := OpenAliases(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := aliases.Set("10.0.0.2", "gateway"); err != nil {
		t.Fatal(err)
	}
	wb := &Web{Calls: calls, Aliases: aliases, Now: func() time.Time { return time.UnixMicro(pageBase) }}
	h := wb.Handler()
	code, body := getPage(t, h, "/call/leg-a")
	if code != http.StatusOK {
		t.Fatalf("call page: %d %s", code, body)
	}
	d := parseHTML(t, body)
	if n := len(d.all("ladder-arrow")); n != 4 {
		t.Errorf("%d arrows, want 4", n)
	}
	hosts := d.all("ladder-host")
	if len(hosts) != 2 || !strings.Contains(text(hosts[1]), "gateway") || !strings.Contains(text(hosts[1]), "10.0.0.2:5060") {
		t.Errorf("hosts: %d; the aliased one should show its name with its address as title", len(hosts))
	}
	rules := d.all("leg-rule")
	if len(d.all("leg-row")) != 2 || len(rules) != 2 || !strings.HasPrefix(text(rules[1]), "x-cid from leg 1") {
		t.Errorf("legs: %d rows", len(d.all("leg-row")))
	}
	if s := text(d.all("call-summary")[0]); !strings.Contains(s, "200 OK") || !strings.Contains(s, "PCMU/8000") {
		t.Errorf("summary %q", s)
	}
	golden(t, "call", body)

	// Open a message: it is shown whole with its HEP metadata and SDP.
	href := attr(d.all("ladder-arrow")[3], "href")
	_, body = getPage(t, h, href[:strings.Index(href, "#")])
	d = parseHTML(t, body)
	raw := d.all("message-raw")
	if len(raw) != 1 || !strings.Contains(text(raw[0]), "SIP/2.0 200 OK") {
		t.Fatal("the selected message is not shown")
	}
	if m := text(d.all("message-meta")[0]); !strings.Contains(m, "Capture nodesbc1") || !strings.Contains(m, "HEPv3") {
		t.Errorf("metadata %q", m)
	}
	// Compare it with the previous message of its leg.
	dl := d.all("diff-link")
	if len(dl) != 1 {
		t.Fatal("no diff link")
	}
	dh := attr(dl[0], "href")
	_, body = getPage(t, h, dh[:strings.Index(dh, "#")])
	if diff := parseHTML(t, body).all("diff"); len(diff) != 1 || !strings.Contains(text(diff[0]), "- INVITE sip:bob@b") {
		t.Error("the diff is not shown")
	}

	// Any two messages: the compare form lists every other message of the call.
	_, body = getPage(t, h, href[:strings.Index(href, "#")])
	opts := parseHTML(t, body).all("diff-select")
	if len(opts) != 1 {
		t.Fatal("no compare form")
	}
	n := 0
	for o := opts[0].FirstChild; o != nil; o = o.NextSibling {
		if o.Data == "option" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("compare form lists %d messages, want the 3 others", n)
	}

	if code, _ := getPage(t, h, "/call/unknown"); code != http.StatusNotFound {
		t.Errorf("unknown call: %d", code)
	}
	code, pcap := getPage(t, h, "/call/leg-a/pcap?leg=leg-b")
	if code != 200 || len(pcap) < 24 || binary.LittleEndian.Uint32(pcap) != 0xa1b2c3d4 {
		t.Fatalf("pcap download: %d, %d bytes", code, len(pcap))
	}
	_, all := getPage(t, h, "/call/leg-a/pcap")
	if len(all) <= len(pcap) {
		t.Error("the pcap of one leg is not smaller than the whole call's")
	}

	api := (&API{Calls: calls}).Handler()
	code, body = getPage(t, api, "/api/v1/calls/leg-a")
	var res CallResult
	if code != 200 || json.Unmarshal(body, &res) != nil {
		t.Fatalf("api: %d %s", code, body)
	}
	if len(res.Legs) != 2 || res.Legs[1].Rule != "x-cid" || res.Legs[1].Via != "leg-a" || len(res.Messages) != 4 || res.Messages[1].Leg != "leg-b" {
		t.Errorf("api call %+v", res)
	}
	if code, _ := getPage(t, api, "/api/v1/calls/unknown"); code != http.StatusNotFound {
		t.Errorf("api unknown call: %d", code)
	}
}
