package httpui

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/search"
	"traced/segment"
)

type fakeSearcher struct {
	got search.Query
	res search.Result
}

func (f *fakeSearcher) Search(_ context.Context, q search.Query) (search.Result, error) {
	f.got = q
	return f.res, nil
}

func hit(t *testing.T) search.Hit {
	p := hep.Packet{Version: 3, Family: 4, Proto: 6, Src: netip.MustParseAddrPort("10.0.0.1:5060"),
		Dst: netip.MustParseAddrPort("10.0.0.2:5061"), TsSec: 1_700_000_000, TsUsec: 42, ProtoType: 1, CaptureID: 7,
		NodeName: []byte("sbc"), Payload: []byte("BYE sip:b@x SIP/2.0\r\nCall-ID: cid-1\r\nCSeq: 2 BYE\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n\r\n")}
	data := record.Append(nil, &record.Header{Kind: record.KindHEP, Listener: record.ListenerTCP, Recv: 1_700_000_000_000_100,
		Agent: netip.MustParseAddrPort("127.0.0.1:40000")}, hep.AppendV3(nil, &p))
	var h search.Hit
	if err := record.Decode(segment.Record{Time: 1_700_000_000_000_042, Data: data}, &h.Msg); err != nil {
		t.Fatal(err)
	}
	h.Ref = segment.BlockRef{Hour: 472222, Off: 33}
	return h
}

func TestSearchRoute(t *testing.T) {
	fs := &fakeSearcher{res: search.Result{Total: 5}}
	fs.res.Hits = []search.Hit{hit(t)}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	api := &API{Status: func() Status { return Status{} }, Searcher: fs, Now: func() time.Time { return now }}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	sock := filepath.Join(t.TempDir(), SocketName)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: api.Handler()}
	go hs.Serve(l)
	defer hs.Close()

	c := NewClient(sock)
	q := url.Values{"call_id": {"cid-1"}, "from_user": {"a"}, "since": {"2h"}, "limit": {"1"}}
	res, err := c.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if fs.got.CallID != "cid-1" || fs.got.FromUser != "a" || fs.got.Limit != 1 ||
		fs.got.Since != now.Add(-2*time.Hour).UnixMicro() {
		t.Errorf("query %+v", fs.got)
	}
	if res.Total != 5 || res.More != 4 || len(res.Messages) != 1 {
		t.Fatalf("result %+v", res)
	}
	m := res.Messages[0]
	want := Message{Time: "2023-11-14T22:13:20.000042Z", Src: "10.0.0.1:5060", Dst: "10.0.0.2:5061", Transport: "tcp",
		HEPVersion: 3, Type: "sip", CaptureID: 7, Node: "sbc", CallID: "cid-1", Method: "BYE"}
	if m.Time != want.Time || m.Src != want.Src || m.Dst != want.Dst || m.Transport != want.Transport ||
		m.HEPVersion != 3 || m.Type != "sip" || m.CaptureID != 7 || m.Node != "sbc" || m.CallID != "cid-1" ||
		m.Method != "BYE" || !strings.HasPrefix(m.Raw, "BYE sip:b@x") {
		t.Errorf("message %+v", m)
	}

	r, err := http.Get(srv.URL + "/api/v1/search?since=yesterday")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad time: status %d", r.StatusCode)
	}
}

func TestClientNotRunning(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.Status(context.Background()); err == nil || !strings.Contains(err.Error(), ErrNotRunning.Error()) {
		t.Errorf("err %v", err)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"", 0, false},
		{"2026-11-23T10:00:00Z", now.Add(-2 * time.Hour).UnixMicro(), false},
		{"2026-11-23T10:00:00.5+00:00", now.Add(-2*time.Hour + 500*time.Millisecond).UnixMicro(), false},
		{"90m", now.Add(-90 * time.Minute).UnixMicro(), false},
		{"1700000000", 1_700_000_000_000_000, false},
		{"soon", 0, true},
	} {
		got, err := ParseTime(c.in, now)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}
