package correlate

import (
	"strings"
	"testing"
	"time"

	"traced/ingest/record"
	"traced/search"
)

// messagesOf decodes pkts into the Messages of a call with one leg per Call-ID
// (in order of appearance), as Call does before folding.
func messagesOf(t *testing.T, pkts []pkt) ([]Message, []Leg) {
	t.Helper()
	var msgs []Message
	var legs []Leg
	for i, p := range pkts {
		r := p.encode()
		var h search.Hit
		if err := record.Decode(r, &h.Msg); err != nil {
			t.Fatal(err)
		}
		h.N, h.Data = i, r.Data
		id := string(h.Msg.SIP.CallID)
		if !h.Msg.IsSIP {
			id = string(h.Msg.CorrID)
		}
		leg := -1
		for j, l := range legs {
			if l.CallID == id {
				leg = j
			}
		}
		if leg < 0 {
			leg = len(legs)
			legs = append(legs, Leg{CallID: id, Via: -1})
		}
		msgs = append(msgs, Message{Hit: h, Leg: leg})
	}
	return msgs, legs
}

func TestFold(t *testing.T) {
	inv := sipMsg{method: "INVITE", callID: "f-1", cseq: 1, fromTag: "ft", branch: "z9hG4bK-1", body: offerSDP}
	ok := sipMsg{code: 200, reason: "OK", callID: "f-1", cseq: 1, cseqMethod: "INVITE", fromTag: "ft", toTag: "tt",
		branch: "z9hG4bK-1", body: answerSDP}
	ringing := ok
	ringing.code, ringing.reason, ringing.body = 180, "Ringing", ""
	at := func(ms int, node string, payload string) pkt {
		return pkt{at: time.Duration(ms) * time.Millisecond, src: "10.0.0.1:5060", dst: "10.0.0.2:5060",
			node: node, capID: uint32(len(node)), payload: payload}
	}
	withRR := strings.Replace(inv.String(), "Call-ID:", "Record-Route: <sip:10.0.0.9;lr>\r\nRoute: <sip:10.0.0.8;lr>\r\nCall-ID:", 1)
	head, body, _ := strings.Cut(inv.String(), "\r\n\r\n")
	lfOnly := strings.ReplaceAll(head, "\r\n", "\n") + "\n\n" + body
	folded := strings.Replace(inv.String(), "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n",
		"Via: SIP/2.0/UDP 10.0.0.1:5060\r\n ;branch=z9hG4bK-1;received=192.0.2.1\r\n", 1)
	hop := inv
	hop.branch = "z9hG4bK-proxy"
	alg := strings.Replace(inv.String(), "c=IN IP4 10.0.0.1", "c=IN IP4 192.0.2.1", 1)

	cases := []struct {
		name   string
		pkts   []pkt
		window time.Duration
		all    bool
		want   []int // copies of each resulting message
	}{
		{"identical_from_two_nodes", []pkt{at(0, "sbc", inv.String()), at(3, "proxy", inv.String())}, DefaultDupWindow, false, []int{2}},
		{"routing_headers_differ", []pkt{at(0, "sbc", inv.String()), at(3, "proxy", withRR)}, DefaultDupWindow, false, []int{2}},
		{"header_line_ends_differ", []pkt{at(0, "sbc", inv.String()), at(3, "proxy", lfOnly)}, DefaultDupWindow, false, []int{2}},
		{"via_folded_and_rewritten", []pkt{at(0, "sbc", inv.String()), at(3, "proxy", folded)}, DefaultDupWindow, false, []int{2}},
		{"next_hop_has_another_branch", []pkt{at(0, "sbc", inv.String()), at(3, "proxy", hop.String())}, DefaultDupWindow, false, []int{1, 1}},
		{"body_rewritten", []pkt{at(0, "sbc", inv.String()), at(3, "proxy", alg)}, DefaultDupWindow, false, []int{1, 1}},
		{"retransmission_later", []pkt{at(0, "sbc", inv.String()), at(500, "sbc", inv.String())}, DefaultDupWindow, false, []int{1, 1}},
		{"at_the_window_edge", []pkt{at(0, "sbc", inv.String()), at(50, "proxy", inv.String())}, DefaultDupWindow, false, []int{2}},
		{"past_the_window_edge", []pkt{at(0, "sbc", inv.String()), at(51, "proxy", inv.String())}, DefaultDupWindow, false, []int{1, 1}},
		{"window_counts_from_first_copy", []pkt{at(0, "a", inv.String()), at(30, "b", inv.String()), at(60, "c", inv.String())},
			DefaultDupWindow, false, []int{2, 1}},
		{"other_status_same_transaction", []pkt{at(0, "sbc", ringing.String()), at(3, "proxy", ok.String())}, DefaultDupWindow, false, []int{1, 1}},
		{"not_sip_never_folded", []pkt{rtcp("f-1", 0, 5), rtcp("f-1", 0, 5)}, DefaultDupWindow, false, []int{1, 1}},
		{"negative_window_folds_nothing", []pkt{at(0, "sbc", inv.String()), at(0, "proxy", inv.String())}, -1, false, []int{1, 1}},
		{"all_copies_kept", []pkt{at(0, "sbc", inv.String()), at(3, "proxy", inv.String()), at(4, "sbc", ok.String())},
			DefaultDupWindow, true, []int{2, 2, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs, _ := messagesOf(t, c.pkts)
			got := fold(msgs, c.window, c.all)
			var n []int
			for _, m := range got {
				n = append(n, len(m.Copies))
			}
			if len(n) != len(c.want) {
				t.Fatalf("copies per message %v, want %v", n, c.want)
			}
			for i := range n {
				if n[i] != c.want[i] {
					t.Fatalf("copies per message %v, want %v", n, c.want)
				}
				m := got[i]
				if cp := m.Copies[m.Copy]; cp.N != m.N || cp.Time != m.Msg.Time || cp.Node != string(m.Msg.Node) {
					t.Errorf("message %d: copy %d is %+v, not the message", i, m.Copy, cp)
				}
				for j := 1; j < len(m.Copies); j++ {
					if m.Copies[j].Time < m.Copies[j-1].Time {
						t.Errorf("message %d: copies out of time order", i)
					}
				}
			}
			if c.all && (got[0].Copy != 0 || got[1].Copy != 1) {
				t.Errorf("copy indexes %d %d, want 0 1", got[0].Copy, got[1].Copy)
			}
		})
	}
}

func TestTopBranch(t *testing.T) {
	for _, c := range []struct{ name, msg, want string }{
		{"plain", "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n", "z9hG4bK1"},
		{"first_entry_of_a_list", "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP p;rport;BRANCH=z9hG4bKp, SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n", "z9hG4bKp"},
		{"compact_form", "INVITE sip:b@h SIP/2.0\r\nv: SIP/2.0/UDP h ; branch=z9hG4bK2 ;received=1.2.3.4\r\n\r\n", "z9hG4bK2"},
		{"none", "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", ""},
		{"no_via", "INVITE sip:b@h SIP/2.0\r\nCall-ID: x\r\n\r\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := topBranch([]byte(c.msg)); got != c.want {
				t.Errorf("topBranch = %q, want %q", got, c.want)
			}
		})
	}
}
