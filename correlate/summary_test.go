package correlate

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// flow is a sequence of SIP messages of one or more legs, each sent from one
// side to the other at a time.
type flowStep struct {
	at     time.Duration
	fromB  bool // sent by the callee side
	msg    sipMsg
	legAdr int // address pair: 0 A↔B, 1 B↔C
}

func (f flowStep) pkt() pkt {
	pairs := [][2]string{{"10.0.0.1:5060", "10.0.0.2:5060"}, {"10.0.0.2:5060", "10.0.0.3:5060"}}
	a, b := pairs[f.legAdr][0], pairs[f.legAdr][1]
	if f.fromB {
		a, b = b, a
	}
	return pkt{at: f.at, src: a, dst: b, payload: f.msg.String()}
}

func callOf(t *testing.T, steps []flowStep) *Call {
	t.Helper()
	var ps []pkt
	for _, s := range steps {
		ps = append(ps, s.pkt())
	}
	msgs, legs := messagesOf(t, ps)
	return &Call{Legs: legs, Messages: msgs}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	req := func(method, callID string, cseq int, toTag, branch string) sipMsg {
		return sipMsg{method: method, callID: callID, cseq: cseq, fromTag: "ft", toTag: toTag, branch: branch}
	}
	resp := func(code int, reason, callID string, cseq int, method, branch string) sipMsg {
		return sipMsg{code: code, reason: reason, callID: callID, cseq: cseq, cseqMethod: method, fromTag: "ft", toTag: "tt", branch: branch}
	}
	sdp := func(m sipMsg, body string) sipMsg { m.body = body; return m }
	byeFromCallee := sipMsg{method: "BYE", callID: "c1", cseq: 7, fromTag: "tt", toTag: "ft", branch: "b-bye"}
	pcmu := Codec{Media: "audio", PT: 0, Name: "PCMU", Rate: 8000}
	pcma := Codec{Media: "audio", PT: 8, Name: "PCMA", Rate: 8000}
	dtmf := Codec{Media: "audio", PT: 101, Name: "telephone-event", Rate: 8000}

	cases := []struct {
		name  string
		steps []flowStep
		want  LegSummary
		legs  int
	}{
		{"answered_callee_hangs_up", []flowStep{
			{0, false, sdp(req("INVITE", "c1", 1, "", "b1"), offerSDP), 0},
			{20 * ms, true, resp(100, "Trying", "c1", 1, "INVITE", "b1"), 0},
			{1500 * ms, true, resp(180, "Ringing", "c1", 1, "INVITE", "b1"), 0},
			{4 * time.Second, true, sdp(resp(200, "OK", "c1", 1, "INVITE", "b1"), answerSDP), 0},
			{4100 * ms, false, req("ACK", "c1", 1, "tt", "b2"), 0},
			{64 * time.Second, true, byeFromCallee, 0},
		}, LegSummary{CallID: "c1", Method: "INVITE", Status: 200, Reason: "OK", Ringing: true, PostDialDelay: 1500 * ms,
			Answered: true, SetupTime: 4 * time.Second, Ended: true, Duration: 60 * time.Second, HungUp: PartyCallee,
			HungUpFrom: netip.MustParseAddrPort("10.0.0.2:5060"),
			Offer:      []Codec{pcmu, pcma, dtmf}, Answer: []Codec{pcmu, dtmf}, Codecs: []Codec{pcmu, dtmf}}, 1},
		{"busy", []flowStep{
			{0, false, sdp(req("INVITE", "c1", 1, "", "b1"), offerSDP), 0},
			{300 * ms, true, resp(486, "Busy Here", "c1", 1, "INVITE", "b1"), 0},
		}, LegSummary{CallID: "c1", Method: "INVITE", Status: 486, Reason: "Busy Here", Offer: []Codec{pcmu, pcma, dtmf},
			Codecs: []Codec{pcmu, pcma, dtmf}}, 1},
		{"authenticated_retry_caller_hangs_up", []flowStep{
			{0, false, req("INVITE", "c1", 1, "", "b1"), 0},
			{100 * ms, true, resp(407, "Proxy Authentication Required", "c1", 1, "INVITE", "b1"), 0},
			{200 * ms, false, sdp(req("INVITE", "c1", 2, "", "b2"), offerSDP), 0},
			{900 * ms, true, sdp(resp(183, "Session Progress", "c1", 2, "INVITE", "b2"), answerSDP), 0},
			{3 * time.Second, true, resp(200, "OK", "c1", 2, "INVITE", "b2"), 0},
			{33 * time.Second, false, req("BYE", "c1", 3, "tt", "b3"), 0},
			{33*time.Second + 40*ms, true, resp(200, "OK", "c1", 3, "BYE", "b3"), 0},
		}, LegSummary{CallID: "c1", Method: "INVITE", Status: 200, Reason: "OK", Ringing: true, PostDialDelay: 900 * ms,
			Answered: true, SetupTime: 3 * time.Second, Ended: true, Duration: 30 * time.Second, HungUp: PartyCaller,
			HungUpFrom: netip.MustParseAddrPort("10.0.0.1:5060"),
			Offer:      []Codec{pcmu, pcma, dtmf}, Answer: []Codec{pcmu, dtmf}, Codecs: []Codec{pcmu, dtmf}}, 1},
		{"cancelled", []flowStep{
			{0, false, req("INVITE", "c1", 1, "", "b1"), 0},
			{2 * time.Second, true, resp(180, "Ringing", "c1", 1, "INVITE", "b1"), 0},
			{5 * time.Second, false, req("CANCEL", "c1", 1, "", "b1"), 0},
			{5010 * ms, true, resp(200, "OK", "c1", 1, "CANCEL", "b1"), 0},
			{5020 * ms, true, resp(487, "Request Terminated", "c1", 1, "INVITE", "b1"), 0},
		}, LegSummary{CallID: "c1", Method: "INVITE", Status: 487, Reason: "Request Terminated", Ringing: true,
			PostDialDelay: 2 * time.Second}, 1},
		{"late_offer", []flowStep{
			{0, false, req("INVITE", "c1", 1, "", "b1"), 0},
			{time.Second, true, sdp(resp(200, "OK", "c1", 1, "INVITE", "b1"), offerSDP), 0},
			{1100 * ms, false, sdp(req("ACK", "c1", 1, "tt", "b2"), answerSDP), 0},
		}, LegSummary{CallID: "c1", Method: "INVITE", Status: 200, Reason: "OK", Answered: true, SetupTime: time.Second,
			Offer: []Codec{pcmu, pcma, dtmf}, Answer: []Codec{pcmu, dtmf}, Codecs: []Codec{pcmu, dtmf}}, 1},
		{"no_final_response", []flowStep{
			{0, false, req("INVITE", "c1", 1, "", "b1"), 0},
			{20 * ms, true, resp(100, "Trying", "c1", 1, "INVITE", "b1"), 0},
		}, LegSummary{CallID: "c1", Method: "INVITE"}, 1},
		{"registration", []flowStep{
			{0, false, req("REGISTER", "r1", 1, "", "b1"), 0},
			{10 * ms, true, resp(401, "Unauthorized", "r1", 1, "REGISTER", "b1"), 0},
			{20 * ms, false, req("REGISTER", "r1", 2, "", "b2"), 0},
			{30 * ms, true, resp(200, "OK", "r1", 2, "REGISTER", "b2"), 0},
		}, LegSummary{CallID: "r1", Method: "REGISTER", Status: 200, Reason: "OK", Answered: true, SetupTime: 30 * ms}, 1},
		{"b2bua_caller_leg_is_the_earliest_invite", []flowStep{
			{0, false, sdp(req("INVITE", "a-leg", 1, "", "ba"), offerSDP), 0},
			{10 * ms, false, sdp(req("INVITE", "b-leg", 1, "", "bb"), offerSDP), 1},
			{500 * ms, true, resp(180, "Ringing", "b-leg", 1, "INVITE", "bb"), 1},
			{510 * ms, true, resp(180, "Ringing", "a-leg", 1, "INVITE", "ba"), 0},
			{2 * time.Second, true, resp(486, "Busy Here", "b-leg", 1, "INVITE", "bb"), 1},
			{2010 * ms, true, resp(480, "Temporarily Unavailable", "a-leg", 1, "INVITE", "ba"), 0},
		}, LegSummary{CallID: "a-leg", Method: "INVITE", Status: 480, Reason: "Temporarily Unavailable", Ringing: true,
			PostDialDelay: 510 * ms, Offer: []Codec{pcmu, pcma, dtmf}, Codecs: []Codec{pcmu, pcma, dtmf}}, 2},
		{"responses_only", []flowStep{
			{0, true, resp(200, "OK", "c1", 1, "INVITE", "b1"), 0},
		}, LegSummary{}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			call := callOf(t, c.steps)
			s := Summarize(call)
			if len(s.Legs) != c.legs || len(s.CallIDs) != c.legs {
				t.Fatalf("%d legs %v, want %d", len(s.Legs), s.CallIDs, c.legs)
			}
			got := s.LegSummary
			if c.want.Method == "" {
				if s.Caller != -1 {
					t.Errorf("caller leg %d, want none", s.Caller)
				}
			} else if s.CallIDs[s.Caller] != c.want.CallID {
				t.Errorf("caller leg %s, want %s", s.CallIDs[s.Caller], c.want.CallID)
			}
			c.want.Start = got.Start
			if c.want.Method != "" && !got.Start.Equal(base) {
				t.Errorf("start %v, want %v", got.Start, base)
			}
			if !equalSummary(got, c.want) {
				t.Errorf("summary\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func equalSummary(a, b LegSummary) bool {
	ac, bc := a, b
	ac.Offer, ac.Answer, ac.Codecs, bc.Offer, bc.Answer, bc.Codecs = nil, nil, nil, nil, nil, nil
	return ac.CallID == bc.CallID && ac.Rule == bc.Rule && ac.Method == bc.Method && ac.Start.Equal(bc.Start) &&
		ac.Status == bc.Status && ac.Reason == bc.Reason && ac.Ringing == bc.Ringing &&
		ac.PostDialDelay == bc.PostDialDelay && ac.Answered == bc.Answered && ac.SetupTime == bc.SetupTime &&
		ac.Ended == bc.Ended && ac.Duration == bc.Duration && ac.HungUp == bc.HungUp && ac.HungUpFrom == bc.HungUpFrom &&
		slices.Equal(a.Offer, b.Offer) && slices.Equal(a.Answer, b.Answer) && slices.Equal(a.Codecs, b.Codecs)
}

func TestParseSDP(t *testing.T) {
	for _, c := range []struct {
		name string
		body string
		want []string
	}{
		{"static_and_rtpmap", offerSDP, []string{"PCMU/8000", "PCMA/8000", "telephone-event/8000"}},
		{"dynamic_without_rtpmap", "v=0\r\nm=audio 4000 RTP/AVP 96\r\n", []string{"96"}},
		{"channels", "v=0\nm=audio 4000 RTP/SAVPF 111 9\na=rtpmap:111 opus/48000/2\n", []string{"opus/48000/2", "G722/8000"}},
		{"rtpmap_binds_to_its_own_media", "v=0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 AMR/8000\r\n" +
			"m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n", []string{"AMR/8000", "H264/90000"}},
		{"rejected_stream_left_out", "v=0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n",
			[]string{"PCMU/8000"}},
		{"garbage", "m=audio\r\nm=audio x RTP/AVP a 300 -1\r\na=rtpmap:zz\r\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, cd := range parseSDP([]byte(c.body)) {
				got = append(got, cd.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("codecs %v, want %v", got, c.want)
			}
		})
	}
}

// TestSummarizeEngineCall digests a call the engine assembled: the B2BUA pair
// of a caller and its B leg, with copies from two nodes.
func TestSummarizeEngineCall(t *testing.T) {
	var stored []pkt
	for _, p := range (dialog{callID: "sum-a", hdrs: []string{"X-Session-Id: sum-s"}}).packets() {
		stored = append(stored, p)
		p.node, p.capID, p.at = "sbc", 7, p.at+time.Millisecond
		stored = append(stored, p)
	}
	stored = append(stored, dialog{callID: "sum-b", at: 10 * time.Millisecond, a: "10.0.0.2:5060", b: "10.0.0.3:5060",
		hdrs: []string{"X-Session-Id: sum-s"}}.packets()...)
	for _, all := range []bool{false, true} {
		call, err := newArchive(t, smallBlocks, byTime(stored)).engine(Options{AllCopies: all}).Call(t.Context(), "sum-b")
		if err != nil {
			t.Fatal(err)
		}
		s := Summarize(call)
		if !slices.Equal(s.CallIDs, []string{"sum-b", "sum-a"}) || s.CallIDs[s.Caller] != "sum-a" {
			t.Fatalf("legs %v, caller %d", s.CallIDs, s.Caller)
		}
		if s.Status != 200 || s.SetupTime != 2*time.Second || s.Duration != 30*time.Second || s.HungUp != PartyCaller ||
			s.PostDialDelay != 200*time.Millisecond {
			t.Errorf("all copies %v: summary %+v", all, s.LegSummary)
		}
	}
}
