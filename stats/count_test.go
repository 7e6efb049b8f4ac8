package stats

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"traced/segment"
)

// answeredCall is an INVITE through a proxy that captures every hop, 100
// from the proxy, 180 and 200 from the UAS, ACK, BYE, 200.
func answeredCall(at time.Duration, id string) []sipMsg {
	return join(
		reqHops(at, "INVITE sip:bob@example.com SIP/2.0", id, "1 INVITE", ""),
		[]sipMsg{{at: at + ms(2), src: proxy, dst: uac, first: "SIP/2.0 100 Trying", callID: id, cseq: "1 INVITE"}},
		respHops(at+ms(300), "180 Ringing", id, "1 INVITE", "t1"),
		respHops(at+ms(2300), "200 OK", id, "1 INVITE", "t1"),
		reqHops(at+ms(2310), "ACK sip:bob@192.0.2.20 SIP/2.0", id, "1 ACK", "t1"),
		reqHops(at+ms(9000), "BYE sip:bob@192.0.2.20 SIP/2.0", id, "2 BYE", "t1"),
		respHops(at+ms(9010), "200 OK", id, "2 BYE", "t1"),
	)
}

// failedCall is an INVITE answered with a final failure code by the UAS
// (relayed by the proxy), then ACK.
func failedCall(at time.Duration, id, status string) []sipMsg {
	return join(
		reqHops(at, "INVITE sip:bob@example.com SIP/2.0", id, "1 INVITE", ""),
		respHops(at+ms(200), status, id, "1 INVITE", "t2"),
		reqHops(at+ms(210), "ACK sip:bob@example.com SIP/2.0", id, "1 ACK", "t2"),
	)
}

func TestCallRules(t *testing.T) {
	type want struct {
		attempts, answered, failed, busy, noAnswer, rejected, unresolved int64
		asr, ner                                                         float64
	}
	cases := []struct {
		name string
		msgs []sipMsg
		want want
		// messages, copies: distinct messages and extra copies
		messages, copies int64
		check            func(t *testing.T, r *Report)
	}{
		{
			name: "answered, every hop captured twice",
			msgs: answeredCall(0, "c1"),
			want: want{attempts: 1, answered: 1, asr: 1, ner: 1},
			// INVITE, 100, 180, 200, ACK, BYE, 200: 7 distinct; 6 second hops.
			messages: 7, copies: 6,
			check: func(t *testing.T, r *Report) {
				if r.PDD.Samples != 1 || r.PDD.P50MS <= 200 || r.PDD.P50MS > 300 {
					t.Errorf("PDD %+v, want one sample of 300 ms", r.PDD)
				}
				if r.Setup.Samples != 1 || r.Setup.P50MS <= 2000 || r.Setup.P50MS > 3000 {
					t.Errorf("setup %+v, want one sample of 2300 ms", r.Setup)
				}
				if got := r.Requests; len(got) != 3 || got[0] != (NameCount{"INVITE", 1}) {
					t.Errorf("requests %+v", got)
				}
			},
		},
		{
			name: "the same capture from a second node is a copy",
			msgs: join(answeredCall(0, "c1"), answeredCall(ms(5), "c1")),
			want: want{attempts: 1, answered: 1, asr: 1, ner: 1}, messages: 7, copies: 19,
		},
		{
			name: "INVITE retransmitted within and after the dedup window",
			msgs: join(
				reqHops(0, "INVITE sip:bob@example.com SIP/2.0", "r1", "1 INVITE", ""),
				reqHops(ms(500), "INVITE sip:bob@example.com SIP/2.0", "r1", "1 INVITE", ""),
				reqHops(ms(4500), "INVITE sip:bob@example.com SIP/2.0", "r1", "1 INVITE", ""),
				respHops(ms(5000), "200 OK", "r1", "1 INVITE", "t"),
			),
			// The retransmission 4.5 s later is a message again, never an attempt.
			want: want{attempts: 1, answered: 1, asr: 1, ner: 1}, messages: 3, copies: 5,
		},
		{
			name:     "486 busy counts for NER, not ASR",
			msgs:     failedCall(0, "b1", "486 Busy Here"),
			want:     want{attempts: 1, failed: 1, busy: 1, ner: 1},
			messages: 3, copies: 3,
		},
		{
			name: "CANCEL while ringing, 487",
			msgs: join(
				reqHops(0, "INVITE sip:bob@example.com SIP/2.0", "x1", "1 INVITE", ""),
				respHops(ms(100), "180 Ringing", "x1", "1 INVITE", "t"),
				reqHops(ms(3000), "CANCEL sip:bob@example.com SIP/2.0", "x1", "1 CANCEL", ""),
				respHops(ms(3010), "200 OK", "x1", "1 CANCEL", "t"),
				respHops(ms(3020), "487 Request Terminated", "x1", "1 INVITE", "t"),
			),
			want: want{attempts: 1, failed: 1, noAnswer: 1, ner: 1}, messages: 5, copies: 5,
			check: func(t *testing.T, r *Report) {
				if r.PDD.Samples != 1 || r.Setup.Samples != 0 {
					t.Errorf("PDD %d samples, setup %d; want 1 and 0", r.PDD.Samples, r.Setup.Samples)
				}
			},
		},
		{
			name:     "404 counts against NER and names its destination",
			msgs:     failedCall(0, "n1", "404 Not Found"),
			want:     want{attempts: 1, failed: 1},
			messages: 3, copies: 3,
			check: func(t *testing.T, r *Report) {
				if len(r.TopFailedDest) != 1 || r.TopFailedDest[0].Key != "bob" || r.TopFailedDest[0].Count != 1 {
					t.Errorf("failed destinations %+v", r.TopFailedDest)
				}
				if r.Calls.FailedByClass["4xx"] != 1 {
					t.Errorf("failed by class %v", r.Calls.FailedByClass)
				}
			},
		},
		{
			name:     "603 decline is a terminal rejection",
			msgs:     failedCall(0, "d1", "603 Decline"),
			want:     want{attempts: 1, failed: 1, rejected: 1, ner: 1},
			messages: 3, copies: 3,
		},
		{
			name: "407 challenge then answered is one answered attempt",
			msgs: join(
				[]sipMsg{{at: 0, src: uac, dst: proxy, first: "INVITE sip:bob@example.com SIP/2.0", callID: "a1", cseq: "1 INVITE"}},
				[]sipMsg{{at: ms(5), src: proxy, dst: uac, first: "SIP/2.0 407 Proxy Authentication Required", callID: "a1", cseq: "1 INVITE", toTag: "p"}},
				[]sipMsg{{at: ms(6), src: uac, dst: proxy, first: "ACK sip:bob@example.com SIP/2.0", callID: "a1", cseq: "1 ACK", toTag: "p"}},
				reqHops(ms(10), "INVITE sip:bob@example.com SIP/2.0", "a1", "2 INVITE", ""),
				respHops(ms(1010), "200 OK", "a1", "2 INVITE", "t"),
			),
			want: want{attempts: 1, answered: 1, asr: 1, ner: 1}, messages: 5, copies: 2,
			check: func(t *testing.T, r *Report) {
				// Setup is measured from the retried INVITE: 1 s, not 1.01 s.
				if r.Setup.Samples != 1 || r.Setup.P50MS > 1000 || r.Setup.P50MS <= 750 {
					t.Errorf("setup %+v, want one sample in (750, 1000] ms", r.Setup)
				}
			},
		},
		{
			name: "a challenge never answered fails with 407 once the call times out",
			msgs: join(
				[]sipMsg{{at: 0, src: uac, dst: proxy, first: "INVITE sip:bob@example.com SIP/2.0", callID: "a2", cseq: "1 INVITE"}},
				[]sipMsg{{at: ms(5), src: proxy, dst: uac, first: "SIP/2.0 407 Proxy Authentication Required", callID: "a2", cseq: "1 INVITE", toTag: "p"}},
				// Later traffic moves the capture clock past the call timeout.
				[]sipMsg{{at: 6 * time.Minute, src: uac, dst: proxy, first: "OPTIONS sip:proxy SIP/2.0", callID: "o", cseq: "1 OPTIONS"}},
			),
			want: want{attempts: 1, failed: 1}, messages: 3,
			check: func(t *testing.T, r *Report) {
				if len(r.Calls.FinalCodes) != 1 || r.Calls.FinalCodes[0] != (CodeCount{407, 1}) {
					t.Errorf("final codes %+v", r.Calls.FinalCodes)
				}
			},
		},
		{
			name: "an INVITE without any final response is unresolved after the timeout",
			msgs: join(
				reqHops(0, "INVITE sip:bob@example.com SIP/2.0", "u1", "1 INVITE", ""),
				[]sipMsg{{at: 6 * time.Minute, src: uac, dst: proxy, first: "OPTIONS sip:proxy SIP/2.0", callID: "o", cseq: "1 OPTIONS"}},
			),
			want: want{attempts: 1, unresolved: 1}, messages: 2, copies: 1,
		},
		{
			name: "re-INVITE (To tag) is not an attempt",
			msgs: join(answeredCall(0, "c1"),
				reqHops(ms(5000), "INVITE sip:bob@192.0.2.20 SIP/2.0", "c1", "3 INVITE", "t1"),
				respHops(ms(5100), "200 OK", "c1", "3 INVITE", "t1")),
			want: want{attempts: 1, answered: 1, asr: 1, ner: 1}, messages: 9, copies: 8,
		},
		{
			name: "mixed: 2 answered, 1 busy, 1 404 → ASR 0.5, NER 0.75",
			msgs: join(answeredCall(0, "m1"), answeredCall(ms(100), "m2"), failedCall(ms(200), "m3", "486 Busy Here"),
				failedCall(ms(300), "m4", "404 Not Found")),
			want:     want{attempts: 4, answered: 2, failed: 2, busy: 1, asr: 0.5, ner: 0.75},
			messages: 20, copies: 18,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := countAll(t, c.msgs)
			cr := r.Calls
			got := want{cr.Attempts, cr.Answered, cr.Failed, cr.Busy, cr.NoAnswer, cr.Rejected, cr.Unresolved, cr.ASR, cr.NER}
			if got != c.want {
				t.Errorf("calls %+v\nwant  %+v", got, c.want)
			}
			if r.Messages != c.messages || r.Copies != c.copies {
				t.Errorf("messages %d, copies %d; want %d, %d", r.Messages, r.Copies, c.messages, c.copies)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

func register(at time.Duration, id, cseq, status string, from string) []sipMsg {
	return []sipMsg{
		{at: at, src: from, dst: proxy, first: "REGISTER sip:example.com SIP/2.0", callID: id, cseq: cseq + " REGISTER"},
		{at: at + ms(5), src: proxy, dst: from, first: "SIP/2.0 " + status, callID: id, cseq: cseq + " REGISTER", toTag: "r"},
	}
}

func TestRegistrationRules(t *testing.T) {
	cases := []struct {
		name string
		msgs []sipMsg
		want RegReport
	}{
		{"challenge then 200 is one success", join(register(0, "g1", "1", "401 Unauthorized", uac),
			register(ms(20), "g1", "2", "200 OK", uac)), RegReport{OK: 1, Challenges: 1}},
		{"credentials refused: challenged twice", join(register(0, "g2", "1", "401 Unauthorized", uac),
			register(ms(20), "g2", "2", "401 Unauthorized", uac)), RegReport{Challenges: 1, Failed: 1}},
		{"403 is a failure", register(0, "g3", "1", "403 Forbidden", uac), RegReport{Failed: 1}},
		{"retransmitted challenge counts once", join(register(0, "g4", "1", "401 Unauthorized", uac),
			register(ms(3000), "g4", "1", "401 Unauthorized", uac)), RegReport{Challenges: 1}},
		{"refresh without challenge", register(0, "g5", "7", "200 OK", uac), RegReport{OK: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := countAll(t, c.msgs)
			if r.Registrations != c.want {
				t.Errorf("registrations %+v, want %+v", r.Registrations, c.want)
			}
			if r.Calls.Attempts != 0 {
				t.Errorf("%d call attempts from registrations", r.Calls.Attempts)
			}
		})
	}
}

// TestHourBoundary: the INVITE is stored in one hour, its answer in the
// next: the attempt counts in the first hour, the outcome in the second, and a
// report over both has the whole call.
func TestHourBoundary(t *testing.T) {
	inv := time.Hour - ms(500)
	msgs := join(
		reqHops(inv, "INVITE sip:bob@example.com SIP/2.0", "h1", "1 INVITE", ""),
		respHops(time.Hour+ms(500), "200 OK", "h1", "1 INVITE", "t"),
	)
	r, sets := countAll(t, msgs)
	h := segment.HourOf(testBase)
	first, second := sets[h], sets[h+1]
	if first == nil || second == nil {
		t.Fatalf("sets %v", sets)
	}
	if first.Calls[callAttempts] != 1 || first.Calls[callAnswered] != 0 {
		t.Errorf("first hour: %d attempts, %d answered; want 1, 0", first.Calls[callAttempts], first.Calls[callAnswered])
	}
	if second.Calls[callAttempts] != 0 || second.Calls[callAnswered] != 1 || second.Setup.Count != 1 {
		t.Errorf("second hour: %d attempts, %d answered, %d setup samples; want 0, 1, 1",
			second.Calls[callAttempts], second.Calls[callAnswered], second.Setup.Count)
	}
	if r.Calls.Attempts != 1 || r.Calls.Answered != 1 || r.Calls.ASR != 1 {
		t.Errorf("report %+v", r.Calls)
	}
	if r.Setup.P50MS <= 750 || r.Setup.P50MS > 1000 {
		t.Errorf("setup p50 %v ms, want about 1000", r.Setup.P50MS)
	}
	if first.Minutes[59].Attempts != 1 || second.Minutes[0].Answered != 1 {
		t.Errorf("minute series: attempts %d at :59, answered %d at :00", first.Minutes[59].Attempts, second.Minutes[0].Answered)
	}
}

func TestScannerAlarms(t *testing.T) {
	scanner := "203.0.113.7:5070"
	var msgs []sipMsg
	// A scanner's OPTIONS, twice (one alarm per address and hour), and a
	// normal agent.
	for i := range 2 {
		msgs = append(msgs, sipMsg{at: ms(i * 10), src: scanner, dst: proxy, first: "OPTIONS sip:100@example.com SIP/2.0",
			callID: fmt.Sprint("s", i), cseq: "1 OPTIONS", ua: "friendly-scanner"})
	}
	msgs = append(msgs, sipMsg{at: ms(30), src: uac, dst: proxy, first: "OPTIONS sip:proxy SIP/2.0", callID: "ok", cseq: "1 OPTIONS", ua: "Linphone/5.2"})
	// 25 REGISTERs from another address, each challenged: an auth burst.
	burst := "198.51.100.9:5060"
	for i := range 25 {
		msgs = append(msgs, register(time.Second+ms(i*100), fmt.Sprint("b", i), "1", "401 Unauthorized", burst)...)
	}
	// 19 404s to a third address: under the threshold.
	for i := range 19 {
		msgs = append(msgs, failedCall(2*time.Second+ms(i*100), fmt.Sprint("q", i), "404 Not Found")...)
	}
	r, _ := countAll(t, msgs)
	if r.Alarms.UA != 1 || r.Alarms.AuthBurst != 1 {
		t.Fatalf("alarms ua %d, auth_burst %d; want 1, 1 (%+v)", r.Alarms.UA, r.Alarms.AuthBurst, r.Alarms.List)
	}
	kinds := map[string]Alarm{}
	for _, a := range r.Alarms.List {
		kinds[a.Kind] = a
	}
	if a := kinds["ua"]; a.IP != "203.0.113.7" || a.UA != "friendly-scanner" {
		t.Errorf("ua alarm %+v", a)
	}
	if a := kinds["auth_burst"]; a.IP != "198.51.100.9" || a.Count != 25 {
		t.Errorf("auth_burst alarm %+v, want 198.51.100.9 with 25 replies", a)
	}
	if r.Registrations.Challenges != 25 {
		t.Errorf("%d challenges, want 25", r.Registrations.Challenges)
	}
}

func TestScannerUA(t *testing.T) {
	for ua, want := range map[string]bool{
		"friendly-scanner": true, "SIPVicious/0.3": true, "sipcli/v1.8": true, "VaxSIPUserAgent/3.1": true,
		"sip-scan": true, "Linphone/5.2": false, "PortSIP VoIP SDK 11.2": false, "": false, "Asterisk PBX 18": false,
	} {
		if got := ScannerUA([]byte(ua)); got != want {
			t.Errorf("ScannerUA(%q) = %v, want %v", ua, got, want)
		}
	}
}

// TestFullCallTable: with the table of calls full of finished calls, new
// attempts still get their outcomes (finished calls are forgotten early), and
// the table is not scanned for every INVITE.
func TestFullCallTable(t *testing.T) {
	e := newEngine(Limits{MaxCalls: 100})
	set := NewSet(segment.HourOf(testBase))
	var msgs []sipMsg
	// A call every 100 ms, each answered after 2.3 s: about 23 in progress at
	// once, and 320 finished within the 32 s they are remembered.
	for i := range 400 {
		msgs = append(msgs, answeredCall(time.Duration(i)*100*time.Millisecond, fmt.Sprintf("full-%d", i))...)
	}
	slices.SortStableFunc(msgs, func(a, b sipMsg) int { return cmp.Compare(a.at, b.at) })
	for _, m := range msgs {
		e.count(m.rec(), set)
	}
	r := Build([]*Set{set})
	if r.Calls.Attempts != 400 || r.Calls.Answered != 400 || r.Calls.Unresolved != 0 {
		t.Errorf("with a table of 100 calls: %+v, want 400 attempts, all answered", r.Calls)
	}
	if len(e.calls) > 100 {
		t.Errorf("%d calls in a table of 100", len(e.calls))
	}
}
