package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"traced/internal/peer"
	"traced/stats"
)

// scannerOptions and scannerRegister are what SIP scanners (sipvicious,
// friendly-scanner) send: an OPTIONS probe, and REGISTER attempts without
// credentials, each answered with a 401 challenge by the proxy.
const scannerOptions = `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="scanner options">
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:100@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-1
      From: "sipvicious" <sip:100@1.1.1.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:100@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      User-Agent: friendly-scanner
      Content-Length: 0

    ]]>
  </send>
  <recv response="405"/>
</scenario>
`

const scannerRegister = `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="scanner register">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-1
      From: <sip:1[call_number]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:1[call_number]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:1[call_number]@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: friendly-scanner
      Content-Length: 0

    ]]>
  </send>
  <recv response="401"/>
</scenario>
`

// statsWant is the known shape of the traffic TestStatisticsFromSippTraffic
// sends: peer.RunCallMix (two answered calls, one 486, one 404, one answered
// after a 407, one cancelled with 487, a REGISTER challenged then accepted, an
// OPTIONS), then a scanner's OPTIONS and 20 REGISTERs, each challenged.
type statsWant struct {
	attempts, answered, failed, busy, noAnswer, rejected, unresolved int64
	regOK, regChallenges, regFailed                                  int64
	invites, registers                                               int64
	uaAlarms, burstAlarms                                            int64
	codes                                                            map[int]int64
}

// scanRegisters is above the 401/403/404 burst threshold (20 a minute) with a
// margin: Kamailio may fail to mirror a stateless reply now and then.
const scanRegisters = 24

func knownShape(mix peer.Mix) statsWant {
	return statsWant{attempts: 6, answered: 3, failed: 3, busy: 1, noAnswer: 1,
		regOK: 1, regChallenges: 1 + scanRegisters,
		invites: int64(mix.Invites), registers: 2 + scanRegisters,
		uaAlarms: 1, burstAlarms: 1,
		codes: map[int]int64{486: 1, 404: 1, 487: 1, 407: 1, 401: 1 + scanRegisters}}
}

// TestStatisticsFromSippTraffic sends SIP traffic of a known shape through a
// real Kamailio (siptrace to traced) and checks that the statistics page, GET
// /api/v1/stats and /metrics show exactly those counts, and still do after a
// restart.
func TestStatisticsFromSippTraffic(t *testing.T) {
	peer.Require(t, "kamailio", "sipp")
	binaries(t)
	d := startTraced(t, filepath.Join(t.TempDir(), "data"))
	k := peer.StartKamailio(t, peer.KamailioConfig{HEPVersion: 3, CaptureID: 3101,
		HEPDest: fmt.Sprintf("127.0.0.1:%d", d.hepPort)})
	start := time.Now()
	mix := peer.RunCallMix(t, k)
	dir := t.TempDir()
	opts, reg := filepath.Join(dir, "scan_options.xml"), filepath.Join(dir, "scan_register.xml")
	for p, body := range map[string]string{opts: scannerOptions, reg: scannerRegister} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	peer.RunSipp(t, peer.SippRun{Scenario: opts, Local: k.Hosts.UAC, Remote: k.Addr(), Calls: 1, Timeout: 10 * time.Second})
	peer.RunSipp(t, peer.SippRun{Scenario: reg, Local: k.Hosts.UAC, Remote: k.Addr(), Calls: scanRegisters, Rate: 50, Timeout: 15 * time.Second})
	k.Stop()
	want := knownShape(mix)
	get := webGet(t, d)
	q := fmt.Sprintf("/api/v1/stats?since=%s&until=%s", start.Add(-time.Minute).UTC().Format(time.RFC3339),
		time.Now().Add(time.Minute).UTC().Format(time.RFC3339))

	// The follower counts within a second of the flush; wait for the last
	// figure to arrive, then hold every figure to its exact value.
	var rep stats.Report
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep = stats.Report{}
		if err := json.Unmarshal(get(q), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Calls.Attempts >= want.attempts && rep.Registrations.Challenges >= want.regChallenges &&
			rep.Alarms.AuthBurst >= want.burstAlarms || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // anything counted twice would show now
	// The challenges are stateless replies of Kamailio's, which it fails to
	// mirror now and then under a burst: the statistics must count those it
	// mirrored, each once (distinct Call-IDs of the stored 401s).
	stored401 := map[string]bool{}
	res := d.searchAPI(url.Values{"status": {"401"}, "since": {start.Add(-time.Minute).UTC().Format(time.RFC3339)}, "limit": {"1000"}})
	for _, m := range res.Messages {
		stored401[m.CallID] = true
	}
	if n := int64(len(stored401)); n != want.regChallenges {
		t.Logf("Kamailio mirrored %d of its %d 401 challenges; the statistics must count those %d", n, want.regChallenges, n)
		want.regChallenges, want.codes[401] = n, n
	}
	check := func(when string) {
		t.Helper()
		rep = stats.Report{}
		if err := json.Unmarshal(get(q), &rep); err != nil {
			t.Fatal(err)
		}
		checkReport(t, when, &rep, want)
		checkStatsPage(t, when, string(get("/stats?since="+start.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05")+"&tz=UTC")), want)
		checkMetrics(t, when, string(get("/metrics")), want)
	}
	check("before the restart")
	d.restart()
	get = webGet(t, d)
	check("after a restart")
}

func checkReport(t *testing.T, when string, r *stats.Report, w statsWant) {
	t.Helper()
	c := r.Calls
	got := []int64{c.Attempts, c.Answered, c.Failed, c.Busy, c.NoAnswer, c.Rejected, c.Unresolved,
		r.Registrations.OK, r.Registrations.Challenges, r.Registrations.Failed, r.Alarms.UA, r.Alarms.AuthBurst}
	exp := []int64{w.attempts, w.answered, w.failed, w.busy, w.noAnswer, w.rejected, w.unresolved,
		w.regOK, w.regChallenges, w.regFailed, w.uaAlarms, w.burstAlarms}
	names := []string{"attempts", "answered", "failed", "busy", "no answer", "rejected", "unresolved",
		"registered", "challenged", "failed registrations", "ua alarms", "auth burst alarms"}
	for i := range got {
		if got[i] != exp[i] {
			t.Errorf("%s: /api/v1/stats %s = %d, want %d", when, names[i], got[i], exp[i])
		}
	}
	if want := float64(w.answered) / float64(w.attempts); c.ASR != want {
		t.Errorf("%s: ASR %v, want %v", when, c.ASR, want)
	}
	if want := float64(w.answered+w.busy+w.noAnswer+w.rejected) / float64(w.attempts); c.NER != want {
		t.Errorf("%s: NER %v, want %v", when, c.NER, want)
	}
	methods := map[string]int64{}
	for _, m := range r.Requests {
		methods[m.Name] = m.Count
	}
	if methods["INVITE"] != w.invites || methods["REGISTER"] != w.registers {
		t.Errorf("%s: %d INVITE and %d REGISTER requests, want %d and %d", when, methods["INVITE"], methods["REGISTER"], w.invites, w.registers)
	}
	codes := map[int]int64{}
	for _, cc := range r.Responses {
		codes[cc.Code] = cc.Count
	}
	for code, n := range w.codes {
		if codes[code] != n {
			t.Errorf("%s: %d responses %d, want %d", when, codes[code], code, n)
		}
	}
	// PDD: every answered call, and the cancelled one that rang (the 486 and
	// the 404 came without a 18x).
	if r.PDD.Samples != w.answered+w.noAnswer {
		t.Errorf("%s: %d post-dial delay samples, want %d", when, r.PDD.Samples, w.answered+w.noAnswer)
	}
	if r.Setup.Samples != w.answered {
		t.Errorf("%s: %d setup time samples, want one per answered call: %d", when, r.Setup.Samples, w.answered)
	}
	foundScanner := false
	for _, ua := range r.TopUserAgents {
		foundScanner = foundScanner || ua.Key == "friendly-scanner"
	}
	if !foundScanner {
		t.Errorf("%s: friendly-scanner is not among the top User-Agents %+v", when, r.TopUserAgents)
	}
}

func checkStatsPage(t *testing.T, when, page string, w statsWant) {
	t.Helper()
	for id, v := range map[string]int64{"kpi-attempts": w.attempts, "kpi-answered": w.answered, "kpi-failed": w.failed,
		"kpi-busy": w.busy, "reg-ok": w.regOK, "reg-challenges": w.regChallenges} {
		re := regexp.MustCompile(`data-testid="` + id + `"[^>]*>([^<]*)<`)
		m := re.FindStringSubmatch(page)
		if m == nil || m[1] != fmt.Sprint(v) {
			t.Errorf("%s: the statistics page shows %s = %v, want %d", when, id, m, v)
		}
	}
	asr := fmt.Sprintf("%.1f %%", 100*float64(w.answered)/float64(w.attempts))
	if m := regexp.MustCompile(`data-testid="kpi-asr"[^>]*>([^<]*)<`).FindStringSubmatch(page); m == nil || m[1] != asr {
		t.Errorf("%s: the statistics page shows ASR %v, want %s", when, m, asr)
	}
	if n := strings.Count(page, `data-testid="alarm-row"`); int64(n) != w.uaAlarms+w.burstAlarms {
		t.Errorf("%s: the statistics page lists %d alarms, want %d", when, n, w.uaAlarms+w.burstAlarms)
	}
	for _, id := range []string{"chart-messages", "chart-attempts", "chart-methods", "chart-codes"} {
		if !strings.Contains(page, `data-testid="`+id+`"`) {
			t.Errorf("%s: the statistics page has no %s chart", when, id)
		}
	}
}

func checkMetrics(t *testing.T, when, body string, w statsWant) {
	t.Helper()
	for name, v := range map[string]int64{
		`traced_calls_total{outcome="attempted"}`:        w.attempts,
		`traced_calls_total{outcome="answered"}`:         w.answered,
		`traced_calls_total{outcome="failed"}`:           w.failed,
		`traced_calls_total{outcome="busy"}`:             w.busy,
		`traced_registrations_total{result="ok"}`:        w.regOK,
		`traced_registrations_total{result="challenge"}`: w.regChallenges,
		`traced_sip_requests_total{method="INVITE"}`:     w.invites,
		`traced_sip_requests_total{method="REGISTER"}`:   w.registers,
		`traced_sip_responses_total{code="486"}`:         1,
		`traced_scanner_alarms_total{kind="ua"}`:         w.uaAlarms,
		`traced_scanner_alarms_total{kind="auth_burst"}`: w.burstAlarms,
		`traced_call_setup_seconds_count`:                w.answered,
	} {
		line := name + " " + fmt.Sprint(v) + "\n"
		if !strings.Contains(body, line) {
			t.Errorf("%s: /metrics lacks %q", when, strings.TrimSpace(line))
		}
	}
}
