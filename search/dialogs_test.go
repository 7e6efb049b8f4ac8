package search

import (
	"fmt"
	"testing"

	"traced/ingest/record"
)

func hitOf(t *testing.T, ts int64, msg string) Hit {
	t.Helper()
	var h Hit
	if err := record.Decode(sipRecord(t, ts, "10.0.0.1:5060", "10.0.0.2:5060", msg, "", 1), &h.Msg); err != nil {
		t.Fatal(err)
	}
	return h
}

func req(method, callID, cseq, extra string) string {
	return fmt.Sprintf("%s sip:bob@x SIP/2.0\r\nFrom: <sip:alice@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: %s\r\nCSeq: %s %s\r\n%s\r\n",
		method, callID, cseq, method, extra)
}

func resp(code int, callID, cseq, method string) string {
	return fmt.Sprintf("SIP/2.0 %d X\r\nFrom: <sip:alice@x>;tag=1\r\nTo: <sip:bob@x>;tag=2\r\nCall-ID: %s\r\nCSeq: %s %s\r\n\r\n",
		code, callID, cseq, method)
}

func TestDialogs(t *testing.T) {
	s := int64(1_700_000_000_000_000)
	hits := []Hit{
		hitOf(t, s, req("INVITE", "a", "1", "X-Session-Id: sess1\r\n")),
		hitOf(t, s+100_000, resp(180, "a", "1", "INVITE")),
		hitOf(t, s+2_000_000, resp(200, "a", "1", "INVITE")),
		hitOf(t, s+2_010_000, req("ACK", "a", "1", "")),
		hitOf(t, s+62_000_000, req("BYE", "a", "2", "")),
		hitOf(t, s+62_010_000, resp(200, "a", "2", "BYE")),
		hitOf(t, s+50_000, req("INVITE", "b", "1", "X-CID: a\r\n")),            // B-leg of a by X-CID
		hitOf(t, s+60_000, req("INVITE", "c", "1", "X-Session-Id: sess1\r\n")), // C-leg by session
		hitOf(t, s+70_000, resp(486, "c", "1", "INVITE")),
		hitOf(t, s+5_000_000, req("REGISTER", "r", "1", "")),
		hitOf(t, s+5_001_000, resp(401, "r", "1", "REGISTER")),
		hitOf(t, s+5_100_000, resp(200, "r", "2", "REGISTER")),
		hitOf(t, s+9_000_000, req("OPTIONS", "o", "1", "X-Session-Id: 00000000000000000000000000000000\r\n")),
		hitOf(t, s+9_000_100, req("OPTIONS", "o2", "1", "X-Session-Id: 00000000000000000000000000000000\r\n")),
	}
	ds := Dialogs(hits)
	byID := map[string]Dialog{}
	for _, d := range ds {
		byID[d.CallID] = d
	}
	if len(ds) != 6 {
		t.Fatalf("%d dialogs", len(ds))
	}
	a := byID["a"]
	if a.Kind != KindCall || a.Method != "INVITE" || a.Status != 200 || a.Messages != 6 || a.Legs != 3 ||
		a.Duration() != 60_000_000 || a.FromUser != "alice" || a.RURIUser != "bob" {
		t.Errorf("dialog a %+v duration %d", a, a.Duration())
	}
	if c := byID["c"]; c.Status != 486 || c.Group != a.Group || c.Duration() != 0 {
		t.Errorf("dialog c %+v", c)
	}
	if b := byID["b"]; b.Group != a.Group || b.Status != 0 {
		t.Errorf("dialog b %+v", b)
	}
	r := byID["r"]
	if r.Kind != KindRegistration || r.Status != 200 || r.Legs != 1 {
		t.Errorf("dialog r %+v", r)
	}
	if o := byID["o"]; o.Kind != KindOther || o.Legs != 1 || o.Group == byID["o2"].Group {
		t.Errorf("the null Session-ID joined dialogs: %+v", o)
	}
	for i := 1; i < len(ds); i++ {
		if ds[i].Start > ds[i-1].Start {
			t.Errorf("dialogs not newest first at %d", i)
		}
	}
}
