package correlate

import (
	"context"
	"errors"
	"testing"
	"time"

	"traced/ingest/record"
	"traced/search"
	"traced/segment"
)

func TestCallErrors(t *testing.T) {
	a := newArchive(t, smallBlocks, all(dialog{callID: "err-a"}.packets(), noise()))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name   string
		e      *Engine
		ctx    context.Context
		callID string
		want   error // nil: any error
	}{
		{"not_stored", a.engine(Options{}), context.Background(), "no-such-call", ErrNotFound},
		{"empty_call_id", a.engine(Options{}), context.Background(), "", nil},
		{"cancelled", a.engine(Options{}), cancelled, "err-a", context.Canceled},
		{"no_searcher", &Engine{}, context.Background(), "err-a", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			call, err := c.e.Call(c.ctx, c.callID)
			if err == nil || call != nil {
				t.Fatalf("call %v, err %v: want an error", call, err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestCallMessageCap(t *testing.T) {
	stored := all(
		dialog{callID: "mc-a", hdrs: []string{"X-Session-Id: mc"}}.packets(),
		dialog{callID: "mc-b", at: 10 * time.Millisecond, hdrs: []string{"X-Session-Id: mc"}}.packets(),
		noise())
	a := newArchive(t, smallBlocks, byTime(stored))
	for _, c := range []struct {
		name      string
		max       int
		messages  int
		truncated Limit
	}{
		{"under", 12, 12, 0},
		{"over", 9, 9, LimitMessages}, // the records held stop at the cap
	} {
		t.Run(c.name, func(t *testing.T) {
			call, err := a.engine(Options{MaxMessages: c.max}).Call(context.Background(), "mc-a")
			if err != nil {
				t.Fatal(err)
			}
			if len(call.Messages) != c.messages || call.Truncated != c.truncated {
				t.Errorf("%d messages, truncated %v; want %d, %v", len(call.Messages), call.Truncated, c.messages, c.truncated)
			}
		})
	}
}

// failing is a block source that reports some blocks damaged and others gone
// (their hour deleted).
type failing struct {
	search.Blocks
	damaged, gone segment.BlockRef
}

func (f failing) ReadBlock(ref segment.BlockRef) (*segment.Block, error) {
	switch ref {
	case f.damaged:
		return nil, errors.New("damaged block")
	case f.gone:
		return nil, segment.ErrNotFound
	}
	return f.Blocks.ReadBlock(ref)
}

// blockOf returns the block of the first stored record for which is holds.
func blockOf(t *testing.T, a *archive, is func(*record.Message) bool) segment.BlockRef {
	t.Helper()
	for _, hi := range a.seg.Hours() {
		var refs []segment.BlockRef
		if err := a.seg.Blocks(hi.Hour, 0, func(bi segment.BlockInfo) error { refs = append(refs, bi.Ref); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, ref := range refs {
			b, err := a.seg.ReadBlock(ref)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range b.Records {
				var m record.Message
				if record.Decode(r, &m) == nil && is(&m) {
					return ref
				}
			}
		}
	}
	t.Fatal("no such record")
	return segment.BlockRef{}
}

// TestCallUnreadableBlock loses the block holding the B leg's INVITE, the only
// message naming the A leg in X-CID, and the block of one of the A leg's
// messages to retention: the B leg still joins through its Session-ID, the
// damage is counted, the deleted block silently missing.
func TestCallUnreadableBlock(t *testing.T) {
	stored := all(
		dialog{callID: "ub-a", hdrs: []string{"X-Session-Id: ub"}}.packets(),
		dialog{callID: "ub-b", at: 10 * time.Millisecond, hdrs: []string{"X-Session-Id: ub"}, first: []string{"X-CID: ub-a"}}.packets(),
		noise())
	a := newArchive(t, oneRecordBlocks, stored)
	damaged := blockOf(t, a, func(m *record.Message) bool { return len(m.SIP.XCID) > 0 && string(m.SIP.XCID) == "ub-a" })
	gone := blockOf(t, a, func(m *record.Message) bool { return string(m.SIP.CallID) == "ub-a" && string(m.SIP.Method) == "BYE" })
	e := a.engine(Options{})
	e.Searcher.Blocks = failing{Blocks: a.seg, damaged: damaged, gone: gone}
	call, err := e.Call(context.Background(), "ub-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(call.Legs) != 2 || call.Legs[1].CallID != "ub-b" || call.Legs[1].Rule != RuleSessionID {
		t.Fatalf("legs %+v", call.Legs)
	}
	if call.Unreadable == 0 || call.Complete() {
		t.Errorf("unreadable %d, complete %v", call.Unreadable, call.Complete())
	}
	if call.Legs[0].Messages != 5 || call.Legs[1].Messages != 5 {
		t.Errorf("messages per leg %d %d, want 5 5", call.Legs[0].Messages, call.Legs[1].Messages)
	}
}
