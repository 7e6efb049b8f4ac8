package correlate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"traced/index"
	"traced/ingest/record"
	"traced/ingest/sip"
	"traced/search"
	"traced/segment"
)

// legWant is a leg a call must have: its Call-ID, the rule that joined it, the
// Call-ID of the leg it was found from ("" for the asked leg) and the value.
type legWant struct {
	callID string
	rule   Rule
	via    string
	value  string
	header string
}

// noise is calls that share nothing with the calls under test but time,
// addresses and users: none of them may ever appear.
func noise() []pkt {
	var out []pkt
	for i := range 6 {
		out = append(out, dialog{callID: fmt.Sprintf("foreign-%d@elsewhere", i), at: time.Duration(i) * 700 * time.Millisecond,
			hdrs:  []string{fmt.Sprintf("X-Session-Id: foreign-sess-%d", i)},
			first: []string{fmt.Sprintf("X-CID: foreign-a-%d", i)}}.packets()...)
	}
	// A correlated packet of a foreign call, and a foreign call carrying the
	// null Session-ID.
	out = append(out, pkt{at: 3 * time.Second, src: "10.0.0.1:7001", dst: "10.0.0.2:7001", typ: 5,
		corr: "foreign-0@elsewhere", payload: `{"type":200}`})
	out = append(out, dialog{callID: "foreign-null@elsewhere", at: time.Second,
		hdrs: []string{"Session-ID: 00000000000000000000000000000000;remote=00000000000000000000000000000000"}}.packets()...)
	return out
}

// checkCall checks that c has exactly the legs of want, with their rules, and
// that every message belongs to its leg: every SIP packet stored with a leg's
// Call-ID (and every packet correlated to it) is there once, nothing else is.
func checkCall(t *testing.T, c *Call, stored []pkt, want []legWant) {
	t.Helper()
	if len(c.Legs) != len(want) {
		t.Errorf("%d legs %v, want %d", len(c.Legs), legIDs(c), len(want))
	}
	if c.CallID != c.Legs[0].CallID || c.Legs[0].Rule != RuleSeed || c.Legs[0].Via != -1 {
		t.Errorf("first leg %+v is not the asked %q", c.Legs[0], c.CallID)
	}
	for _, w := range want {
		i := slices.IndexFunc(c.Legs, func(l Leg) bool { return l.CallID == w.callID })
		if i < 0 {
			t.Errorf("leg %s missing; legs %v", w.callID, legIDs(c))
			continue
		}
		l := c.Legs[i]
		via := ""
		if l.Via >= 0 {
			via = c.Legs[l.Via].CallID
		}
		if l.Rule != w.rule || via != w.via || l.Value != w.value || l.Header != w.header {
			t.Errorf("leg %s: rule %v via %q value %q header %q; want %v via %q value %q header %q",
				w.callID, l.Rule, via, l.Value, l.Header, w.rule, w.via, w.value, w.header)
		}
		if n := expectedMessages(stored, w.callID); l.Messages != n {
			t.Errorf("leg %s: %d messages, want %d", w.callID, l.Messages, n)
		}
	}
	for i, m := range c.Messages {
		if i > 0 && m.Msg.Time < c.Messages[i-1].Msg.Time {
			t.Errorf("message %d out of time order", i)
		}
		leg := c.Legs[m.Leg].CallID
		if m.Msg.IsSIP && string(m.Msg.SIP.CallID) != leg {
			t.Errorf("message %d of Call-ID %s in leg %s", i, m.Msg.SIP.CallID, leg)
		}
		if !m.Msg.IsSIP && string(m.Msg.CorrID) != leg {
			t.Errorf("packet %d correlated to %s in leg %s", i, m.Msg.CorrID, leg)
		}
		if len(m.Copies) != 1 {
			t.Errorf("message %d has %d copies", i, len(m.Copies))
		}
	}
	if !c.Complete() {
		t.Errorf("call truncated %v, %d unreadable", c.Truncated, c.Unreadable)
	}
}

// expectedMessages counts the stored packets of callID: SIP packets with that
// Call-ID, other packets with it as correlation id.
func expectedMessages(stored []pkt, callID string) int {
	n := 0
	for _, p := range stored {
		if p.typ != 0 {
			if p.corr == callID {
				n++
			}
			continue
		}
		var h sip.Headers
		sip.Scan([]byte(p.payload), &h)
		if string(h.CallID) == callID {
			n++
		}
	}
	return n
}

func legIDs(c *Call) []string {
	var ids []string
	for _, l := range c.Legs {
		ids = append(ids, l.CallID)
	}
	return ids
}

// refer is an in-dialog REFER of callID whose Refer-To carries an escaped
// Replaces naming target, and its 202.
func refer(callID string, at time.Duration, target string) []pkt {
	esc := strings.NewReplacer("@", "%40", ";", "%3B", "=", "%3D").Replace(target + ";to-tag=t2;from-tag=f2")
	r := sipMsg{method: "REFER", callID: callID, cseq: 3, fromTag: "ft", toTag: "tt", branch: "z9hG4bK-refer",
		hdrs: []string{"Refer-To: <sip:carol@example.com?Replaces=" + esc + ">", "Referred-By: <sip:alice@example.com>"}}
	ok := sipMsg{code: 202, reason: "Accepted", callID: callID, cseq: 3, cseqMethod: "REFER", fromTag: "ft", toTag: "tt", branch: "z9hG4bK-refer"}
	return []pkt{
		{at: at, src: "10.0.0.1:5060", dst: "10.0.0.2:5060", payload: r.String()},
		{at: at + 30*time.Millisecond, src: "10.0.0.2:5060", dst: "10.0.0.1:5060", payload: ok.String()},
	}
}

// rtcp is a correlated non-SIP packet.
func rtcp(corr string, at time.Duration, typ uint8) pkt {
	return pkt{at: at, src: "10.0.0.1:40001", dst: "10.0.0.2:50001", typ: typ, corr: corr, payload: `{"type":200,"ssrc":1}`}
}

func TestCallLegs(t *testing.T) {
	b2bua := all(
		dialog{callID: "a-leg@pbx", hdrs: []string{"X-Session-Id: sess-1"}}.packets(),
		dialog{callID: "b-leg@pbx", at: 50 * time.Millisecond, a: "10.0.0.2:5060", b: "10.0.0.3:5060",
			hdrs: []string{"X-Session-Id: sess-1"}, first: []string{"X-CID: a-leg@pbx"}}.packets(),
	)
	sessOnly := all(
		dialog{callID: "s-a", hdrs: []string{"X-Session-Id: sess-9"}}.packets(),
		dialog{callID: "s-b", at: 50 * time.Millisecond, hdrs: []string{"X-Session-Id: sess-9"}}.packets(),
	)
	transfer := all(
		dialog{callID: "call1@alice", hold: 60 * time.Second}.packets(),
		dialog{callID: "call2@alice", at: 10 * time.Second, hold: 15 * time.Second, b: "10.0.0.4:5060", a: "10.0.0.1:5060"}.packets(),
		refer("call1@alice", 20*time.Second, "call2@alice"),
		dialog{callID: "call3@bob", at: 21 * time.Second, a: "10.0.0.2:5060", b: "10.0.0.4:5060",
			first: []string{"Replaces: call2@alice;to-tag=t2;from-tag=f2"}}.packets(),
	)
	chain := all(
		dialog{callID: "A-1", hdrs: []string{"X-Session-Id: sa"}}.packets(),
		dialog{callID: "B-1", at: 100 * time.Millisecond, hdrs: []string{"X-Session-Id: s2"}, first: []string{"X-CID: A-1"}}.packets(),
		dialog{callID: "C-1", at: 200 * time.Millisecond, hdrs: []string{"X-Session-Id: s2"}}.packets(),
	)
	corrNames := all(
		dialog{callID: "os-a"}.packets(),
		dialog{callID: "os-b", at: 30 * time.Millisecond, corr: "os-a"}.packets(),
	)
	// The named leg was not captured: the asked Call-ID has no message of its
	// own, only the leg whose correlation id names it.
	orphan := dialog{callID: "os-orphan-b", corr: "os-orphan-a"}.packets()
	corrShared := all(
		dialog{callID: "k-a", corr: "tok-77"}.packets(),
		dialog{callID: "k-b", at: 30 * time.Millisecond, corr: "tok-77"}.packets(),
	)
	b2b := all(
		dialog{callID: "xyz"}.packets(),
		dialog{callID: "xyz_b2b-1", at: 20 * time.Millisecond}.packets(),
		dialog{callID: "other_b2b-1", at: 20 * time.Millisecond}.packets(),
	)
	pcv := all(
		dialog{callID: "pcv-a", hdrs: []string{"P-Charging-Vector: icid-value=icid-555;icid-generated-at=10.0.0.1"}}.packets(),
		dialog{callID: "pcv-b", at: 40 * time.Millisecond, hdrs: []string{`P-Charging-Vector: icid-value="icid-555";orig-ioi=home.net`}}.packets(),
		dialog{callID: "pcv-c", at: 40 * time.Millisecond, hdrs: []string{"P-Charging-Vector: icid-value=icid-556"}}.packets(),
	)
	media := all(
		dialog{callID: "media-a"}.packets(),
		[]pkt{rtcp("media-a", 5*time.Second, 5), rtcp("media-a", 10*time.Second, 5), rtcp("media-a", time.Second, 100)},
		dialog{callID: "media-z", at: time.Second}.packets(),
		[]pkt{rtcp("media-z", 5*time.Second, 5)},
	)
	sessions := all(
		dialog{callID: "sid-a", hdrs: []string{"Session-ID: ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000"}}.packets(),
		dialog{callID: "sid-c", at: 60 * time.Millisecond, hdrs: []string{"Session-ID: ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2"}}.packets(),
		dialog{callID: "nul-a", hdrs: []string{"Session-ID: 00000000000000000000000000000000;remote=47755a9de7794ba387653f2099600ef2"}}.packets(),
		dialog{callID: "nul-x", hdrs: []string{"X-Session-Id: 00000000-0000-0000-0000-000000000000"}}.packets(),
		dialog{callID: "nul-y", at: time.Second, hdrs: []string{"X-Session-Id: 00000000-0000-0000-0000-000000000000"}}.packets(),
	)
	window := all(
		dialog{callID: "win-a", hdrs: []string{"X-Session-Id: wsess"}}.packets(),
		dialog{callID: "win-b", at: 20 * time.Minute, hdrs: []string{"X-Session-Id: wsess"}}.packets(),
		dialog{callID: "win-a_b2b-1", at: 25 * time.Minute}.packets(),
	)
	// A leg found late widens the window, and a value of the first leg found
	// before must be looked for again over the wider window.
	grow := all(
		dialog{callID: "grow-a", hold: 4 * time.Minute, hdrs: []string{"X-Session-Id: gs"}}.packets(),
		dialog{callID: "grow-b", at: 8 * time.Minute, hold: 4 * time.Minute, first: []string{"X-CID: grow-a"}}.packets(),
		dialog{callID: "grow-c", at: 15 * time.Minute, hdrs: []string{"X-Session-Id: gs"}}.packets(),
	)
	icid, err := ParseHeader(`P-Charging-Vector,icid-value="?([^";]+)`)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		opts Options
		seed string
		want []legWant
	}{
		{"b2bua_xcid_and_session_from_a", Options{}, "a-leg@pbx", []legWant{
			{"a-leg@pbx", RuleSeed, "", "", ""}, {"b-leg@pbx", RuleXCID, "a-leg@pbx", "a-leg@pbx", ""}}},
		{"b2bua_xcid_and_session_from_b", Options{}, "b-leg@pbx", []legWant{
			{"b-leg@pbx", RuleSeed, "", "", ""}, {"a-leg@pbx", RuleXCID, "b-leg@pbx", "a-leg@pbx", ""}}},
		{"b2bua_session_id_only", Options{}, "s-b", []legWant{
			{"s-b", RuleSeed, "", "", ""}, {"s-a", RuleSessionID, "s-b", "sess-9", ""}}},
		{"transfer_from_transferor_call", Options{}, "call1@alice", []legWant{
			{"call1@alice", RuleSeed, "", "", ""},
			{"call2@alice", RuleReferTo, "call1@alice", "call2@alice", ""},
			{"call3@bob", RuleReplaces, "call2@alice", "call2@alice", ""}}},
		{"transfer_from_replacing_call", Options{}, "call3@bob", []legWant{
			{"call3@bob", RuleSeed, "", "", ""},
			{"call2@alice", RuleReplaces, "call3@bob", "call2@alice", ""},
			{"call1@alice", RuleReferTo, "call2@alice", "call2@alice", ""}}},
		{"transfer_from_replaced_call", Options{}, "call2@alice", []legWant{
			{"call2@alice", RuleSeed, "", "", ""},
			{"call1@alice", RuleReferTo, "call2@alice", "call2@alice", ""},
			{"call3@bob", RuleReplaces, "call2@alice", "call2@alice", ""}}},
		{"chain_from_a", Options{}, "A-1", []legWant{
			{"A-1", RuleSeed, "", "", ""}, {"B-1", RuleXCID, "A-1", "A-1", ""}, {"C-1", RuleSessionID, "B-1", "s2", ""}}},
		{"chain_from_b", Options{}, "B-1", []legWant{
			{"B-1", RuleSeed, "", "", ""}, {"A-1", RuleXCID, "B-1", "A-1", ""}, {"C-1", RuleSessionID, "B-1", "s2", ""}}},
		{"chain_from_c", Options{}, "C-1", []legWant{
			{"C-1", RuleSeed, "", "", ""}, {"B-1", RuleSessionID, "C-1", "s2", ""}, {"A-1", RuleXCID, "B-1", "A-1", ""}}},
		{"correlation_id_names_call_id_from_named", Options{}, "os-a", []legWant{
			{"os-a", RuleSeed, "", "", ""}, {"os-b", RuleCorrelation, "os-a", "os-a", ""}}},
		{"correlation_id_names_call_id_from_naming", Options{}, "os-b", []legWant{
			{"os-b", RuleSeed, "", "", ""}, {"os-a", RuleCorrelation, "os-b", "os-a", ""}}},
		{"asked_call_id_only_named_by_correlation_id", Options{}, "os-orphan-a", []legWant{
			{"os-orphan-a", RuleSeed, "", "", ""}, {"os-orphan-b", RuleCorrelation, "os-orphan-a", "os-orphan-a", ""}}},
		{"correlation_id_shared", Options{}, "k-b", []legWant{
			{"k-b", RuleSeed, "", "", ""}, {"k-a", RuleCorrelation, "k-b", "tok-77", ""}}},
		{"b2b_suffix_from_stem", Options{}, "xyz", []legWant{
			{"xyz", RuleSeed, "", "", ""}, {"xyz_b2b-1", RuleB2B, "xyz", "xyz_b2b-1", ""}}},
		{"b2b_suffix_to_stem", Options{}, "xyz_b2b-1", []legWant{
			{"xyz_b2b-1", RuleSeed, "", "", ""}, {"xyz", RuleB2B, "xyz_b2b-1", "xyz", ""}}},
		{"b2b_suffix_disabled_keeps_stem_rule", Options{B2BSuffixes: []string{}}, "xyz", []legWant{
			{"xyz", RuleSeed, "", "", ""}}},
		{"header_not_configured", Options{}, "pcv-a", []legWant{
			{"pcv-a", RuleSeed, "", "", ""}}},
		{"header_icid_configured", Options{Headers: []Header{icid}}, "pcv-a", []legWant{
			{"pcv-a", RuleSeed, "", "", ""}, {"pcv-b", RuleHeader, "pcv-a", "icid-555", "P-Charging-Vector"}}},
		{"rtcp_and_log_attached", Options{}, "media-a", []legWant{
			{"media-a", RuleSeed, "", "", ""}}},
		{"rfc7989_session_id_without_parameters", Options{}, "sid-a", []legWant{
			{"sid-a", RuleSeed, "", "", ""}, {"sid-c", RuleSessionID, "sid-a", "ab30317f1a784dc48ff824d0d3715d86", ""}}},
		{"null_session_id_joins_nothing", Options{}, "nul-a", []legWant{
			{"nul-a", RuleSeed, "", "", ""}}},
		{"null_uuid_x_session_id_joins_nothing", Options{}, "nul-x", []legWant{
			{"nul-x", RuleSeed, "", "", ""}}},
		{"window_leaves_out_a_late_leg", Options{}, "win-a", []legWant{
			{"win-a", RuleSeed, "", "", ""}}},
		{"window_after_widened", Options{After: 30 * time.Minute}, "win-a", []legWant{
			{"win-a", RuleSeed, "", "", ""}, {"win-b", RuleSessionID, "win-a", "wsess", ""},
			{"win-a_b2b-1", RuleB2B, "win-a", "win-a_b2b-1", ""}}},
		{"window_before_widened_from_late_leg", Options{Before: 30 * time.Minute}, "win-b", []legWant{
			{"win-b", RuleSeed, "", "", ""}, {"win-a", RuleSessionID, "win-b", "wsess", ""},
			{"win-a_b2b-1", RuleB2B, "win-a", "win-a_b2b-1", ""}}},
		{"window_grows_with_the_legs", Options{}, "grow-a", []legWant{
			{"grow-a", RuleSeed, "", "", ""}, {"grow-b", RuleXCID, "grow-a", "grow-a", ""},
			{"grow-c", RuleSessionID, "grow-a", "gs", ""}}},
	}
	// One archive holds every scenario: each case's calls are foreign to every
	// other case.
	// It is stored twice: in capture time order with a few records a block,
	// and scenario by scenario with one record a block.
	stored := all(b2bua, sessOnly, transfer, chain, corrNames, orphan, corrShared, b2b, pcv, media, sessions, window, grow, noise())
	for _, layout := range []struct {
		name      string
		blockSize int
		pkts      []pkt
	}{
		{"by_time", smallBlocks, byTime(stored)},
		{"one_record_blocks", oneRecordBlocks, stored},
	} {
		a := newArchive(t, layout.blockSize, layout.pkts)
		for _, c := range cases {
			t.Run(layout.name+"/"+c.name, func(t *testing.T) {
				call, err := a.engine(c.opts).Call(context.Background(), c.seed)
				if err != nil {
					t.Fatal(err)
				}
				checkCall(t, call, stored, c.want)
			})
		}
	}
}

// TestCallAttachesCorrelatedPackets checks that RTCP and log packets go to the
// leg they are correlated to, and never make legs of their own.
func TestCallAttachesCorrelatedPackets(t *testing.T) {
	stored := all(dialog{callID: "media-a"}.packets(),
		[]pkt{rtcp("media-a", 5*time.Second, 5), rtcp("media-a", 10*time.Second, 5), rtcp("media-a", time.Second, 100)},
		dialog{callID: "media-z", at: time.Second}.packets(),
		[]pkt{rtcp("media-z", 5*time.Second, 5)},
		// Two legs sharing a correlation id that is no Call-ID; their RTCP
		// carries it too, and goes to the first leg that does.
		dialog{callID: "tok-a", corr: "tok-9"}.packets(),
		dialog{callID: "tok-b", at: 20 * time.Millisecond, corr: "tok-9"}.packets(),
		[]pkt{rtcp("tok-9", 6*time.Second, 5), rtcp("tok-9", 20*time.Minute, 5)}, // the second is outside the window
		noise())
	a := newArchive(t, smallBlocks, byTime(stored))
	for _, c := range []struct {
		name string
		seed string
		legs []string
		want map[string]map[uint8]int // leg → packets by HEP type
	}{
		{"by_call_id", "media-a", []string{"media-a"}, map[string]map[uint8]int{"media-a": {1: 6, 5: 2, 100: 1}}},
		{"by_shared_correlation_id", "tok-b", []string{"tok-b", "tok-a"},
			map[string]map[uint8]int{"tok-b": {1: 6, 5: 1}, "tok-a": {1: 6}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			call, err := a.engine(Options{}).Call(context.Background(), c.seed)
			if err != nil {
				t.Fatal(err)
			}
			if ids := legIDs(call); !slices.Equal(ids, c.legs) {
				t.Fatalf("legs %v, want %v", ids, c.legs)
			}
			got := map[string]map[uint8]int{}
			for _, m := range call.Messages {
				leg := call.Legs[m.Leg].CallID
				if got[leg] == nil {
					got[leg] = map[uint8]int{}
				}
				got[leg][m.Msg.Type]++
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("packets by leg and type %v, want %v", got, c.want)
			}
		})
	}
}

func TestCallLegCap(t *testing.T) {
	var stored []pkt
	for i := range 10 {
		stored = append(stored, dialog{callID: fmt.Sprintf("cap-%d", i), at: time.Duration(i) * 100 * time.Millisecond,
			hdrs: []string{"X-Session-Id: fixed-session"}}.packets()...)
	}
	stored = append(stored, noise()...)
	call, err := newArchive(t, smallBlocks, byTime(stored)).engine(Options{MaxLegs: 4}).Call(context.Background(), "cap-0")
	if err != nil {
		t.Fatal(err)
	}
	want := []legWant{{"cap-0", RuleSeed, "", "", ""}}
	for i := 1; i <= 3; i++ {
		want = append(want, legWant{fmt.Sprintf("cap-%d", i), RuleSessionID, "cap-0", "fixed-session", ""})
	}
	if call.Truncated != LimitLegs || call.Complete() {
		t.Errorf("Truncated = %v, want the leg limit", call.Truncated)
	}
	if want := []string{"cap-4", "cap-5", "cap-6", "cap-7", "cap-8", "cap-9"}; !slices.Equal(call.Unfollowed, want) {
		t.Errorf("Unfollowed = %v, want %v", call.Unfollowed, want)
	}
	call.Truncated = 0 // checked above; checkCall wants a complete call
	checkCall(t, call, stored, want)
}

// TestCallDuplicatesFromTwoNodes stores every packet of a call twice, from an
// SBC and from a proxy a few milliseconds apart (the proxy's 200 with a
// Record-Route more), and one INVITE retransmission.
func TestCallDuplicatesFromTwoNodes(t *testing.T) {
	var stored []pkt
	for _, p := range (dialog{callID: "dup-a"}).packets() {
		p.node, p.capID = "sbc", 1
		stored = append(stored, p)
		p.node, p.capID, p.at = "proxy", 2, p.at+3*time.Millisecond
		if strings.HasPrefix(p.payload, "SIP/2.0 200") {
			p.payload = strings.Replace(p.payload, "Call-ID:", "Record-Route: <sip:10.0.0.9;lr>\r\nCall-ID:", 1)
		}
		stored = append(stored, p)
	}
	retrans := stored[0]
	retrans.at += 500 * time.Millisecond
	stored = append(stored, retrans)
	stored = append(stored, noise()...)
	a := newArchive(t, smallBlocks, byTime(stored))

	cases := []struct {
		name      string
		opts      Options
		messages  int
		twoCopies int // messages listing both nodes
	}{
		{"folded", Options{}, 7, 6},
		{"all_copies", Options{AllCopies: true}, 13, 12},
		{"no_folding", Options{DupWindow: -1}, 13, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			call, err := a.engine(c.opts).Call(context.Background(), "dup-a")
			if err != nil {
				t.Fatal(err)
			}
			if len(call.Legs) != 1 || len(call.Messages) != c.messages || call.Legs[0].Messages != c.messages {
				t.Fatalf("legs %v, %d messages, want 1 leg and %d", legIDs(call), len(call.Messages), c.messages)
			}
			two := 0
			for i, m := range call.Messages {
				if len(m.Copies) == 2 {
					two++
					if m.Copies[0].Node != "sbc" || m.Copies[1].Node != "proxy" || m.Copies[1].CaptureID != 2 ||
						m.Copies[1].Time-m.Copies[0].Time != 3000 {
						t.Errorf("message %d copies %+v", i, m.Copies)
					}
				}
				if got := m.Copies[m.Copy]; got.Ref != m.Ref || got.N != m.N {
					t.Errorf("message %d is not its own copy %d", i, m.Copy)
				}
				if !c.opts.AllCopies && m.Copy != 0 {
					t.Errorf("message %d is copy %d", i, m.Copy)
				}
			}
			if two != c.twoCopies {
				t.Errorf("%d messages seen by both nodes, want %d", two, c.twoCopies)
			}
		})
	}
}

// TestRefersIndexMatchesExactFilter checks, over a real index, that every
// value a record names in X-CID, Replaces or Refer-To finds the record's block
// through Query.Refers: the index never rejects what the exact filter accepts.
func TestRefersIndexMatchesExactFilter(t *testing.T) {
	stored := all(
		dialog{callID: "call1@alice", hold: 60 * time.Second}.packets(),
		refer("call1@alice", 20*time.Second, "call2@alice"),
		dialog{callID: "call3@bob", at: 21 * time.Second, first: []string{"Replaces: call2@alice;to-tag=t2;from-tag=f2"}}.packets(),
		noise(),
	)
	a := newArchive(t, oneRecordBlocks, stored)
	e := a.engine(Options{})
	checked := 0
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
				if err := record.Decode(r, &m); err != nil || !m.IsSIP {
					continue
				}
				for _, v := range [][]byte{m.SIP.XCID, m.SIP.Replaces, m.SIP.ReferToReplaces} {
					if len(v) == 0 {
						continue
					}
					checked++
					q := index.Query{Refers: string(v)}
					got, err := e.Searcher.Index.Search(context.Background(), q)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Contains(got, ref) {
						t.Errorf("Refers %q: block %v not a candidate", v, ref)
					}
					if !search.Match(&q, &m) {
						t.Errorf("Refers %q: Match rejects the record", v)
					}
				}
			}
		}
	}
	if checked < 8 {
		t.Fatalf("only %d values checked", checked)
	}
}
