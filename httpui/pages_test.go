package httpui

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/search"
	"traced/segment"
)

const pageBase = int64(1_763_860_000_000_000) // 2025-11-23 01:06:40 UTC

func sipHit(t *testing.T, ts int64, msg string) search.Hit {
	t.Helper()
	p := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: netip.MustParseAddrPort("10.0.0.1:5060"),
		Dst: netip.MustParseAddrPort("10.0.0.2:5060"), TsSec: uint32(ts / 1e6), TsUsec: uint32(ts % 1e6),
		ProtoType: 1, CaptureID: 2001, NodeName: []byte("sbc1"), Payload: []byte(msg)}
	data := record.Append(nil, &record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: ts}, hep.AppendV3(nil, &p))
	var h search.Hit
	if err := record.Decode(segment.Record{Time: ts, Data: data}, &h.Msg); err != nil {
		t.Fatal(err)
	}
	h.Ref = segment.BlockRef{Hour: segment.Hour(ts / 3_600_000_000), Off: 64}
	return h
}

func callHits(t *testing.T, n int) []search.Hit {
	var hits []search.Hit
	for i := 0; i < n; i++ {
		ts := pageBase + int64(i)*1_000_000
		id := fmt.Sprintf("call-%03d@pbx", i)
		hits = append(hits,
			sipHit(t, ts, fmt.Sprintf("INVITE sip:+1444%03d@gw SIP/2.0\r\nFrom: <sip:alice@pbx>;tag=1\r\nTo: <sip:+1444%03d@gw>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n\r\n", i, i, id)),
			sipHit(t, ts+500_000, fmt.Sprintf("SIP/2.0 486 Busy Here\r\nFrom: <sip:alice@pbx>;tag=1\r\nTo: <sip:+1444%03d@gw>;tag=2\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n\r\n", i, id)))
	}
	hits = append(hits, sipHit(t, pageBase+3_000_000, "REGISTER sip:pbx SIP/2.0\r\nFrom: <sip:alice@pbx>;tag=9\r\nTo: <sip:alice@pbx>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\n\r\n"))
	return hits
}

func getPage(t *testing.T, h http.Handler, url string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, body
}

func TestSearchPage(t *testing.T) {
	fs := &fakeSearcher{}
	fs.res.Hits = callHits(t, 60)
	fs.res.Total = len(fs.res.Hits)
	wb := &Web{Searcher: fs, Now: func() time.Time { return time.UnixMicro(pageBase).Add(time.Hour) }}
	h := wb.Handler()

	code, body := getPage(t, h, "/")
	if code != 200 {
		t.Fatalf("empty form: %d", code)
	}
	d := parseHTML(t, body)
	if len(d.all("search-form")) != 1 || len(d.all("field-call_id")) != 1 || len(d.all("dialogs")) != 0 {
		t.Error("the empty home page should show the form and no results")
	}
	golden(t, "search_empty", body)

	code, body = getPage(t, h, "/?from_user=alice&since=2025-11-23T01:00:00&tz=UTC")
	if code != 200 {
		t.Fatalf("search: %d %s", code, body)
	}
	d = parseHTML(t, body)
	if fs.got.FromUser != "alice" || fs.got.Since != time.Date(2025, 11, 23, 1, 0, 0, 0, time.UTC).UnixMicro() {
		t.Errorf("query %+v", fs.got.Query)
	}
	rows := d.all("dialog-row")
	if len(rows) != pageSize {
		t.Errorf("%d rows on the first page, want %d", len(rows), pageSize)
	}
	if c := text(d.all("result-count")[0]); !strings.Contains(c, "1–50 of 60") {
		t.Errorf("count %q", c)
	}
	if first := text(rows[0]); !strings.Contains(first, "call-059@pbx") || !strings.Contains(first, "486") {
		t.Errorf("first row %q: want the newest call with its status", first)
	}
	next := d.all("page-next")
	if len(next) != 1 {
		t.Fatal("no next page link")
	}
	golden(t, "search_calls", body)

	_, body = getPage(t, h, attr(next[0], "href"))
	d = parseHTML(t, body)
	if n := len(d.all("dialog-row")); n != 10 {
		t.Errorf("%d rows on page 2, want 10", n)
	}
	_, body = getPage(t, h, "/?from_user=alice&tab=registrations")
	if n := len(parseHTML(t, body).all("dialog-row")); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}
	_, body = getPage(t, h, "/?from_user=alice&tab=all")
	if n := len(parseHTML(t, body).all("message-row")); n != pageSize {
		t.Errorf("%d message rows, want %d", n, pageSize)
	}

	fs.res.Total = 500000
	_, body = getPage(t, h, "/?from_user=alice")
	if cut := parseHTML(t, body).all("result-cut"); len(cut) != 1 || !strings.Contains(text(cut[0]), "500000") {
		t.Error("a cut search must say so with the real count")
	}

	code, body = getPage(t, h, "/?since=yesterday-ish")
	if code != http.StatusBadRequest || len(parseHTML(t, body).all("search-error")) != 1 {
		t.Errorf("bad time: %d", code)
	}
	code, _ = getPage(t, StaticHandler(), "/static/traced.css")
	if code != 200 {
		t.Errorf("stylesheet: %d", code)
	}
}
