package httpui

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"traced/stats"
)

// fileStats serves statistics from stats files written by traced
// (testdata/stats: one hour of the Kamailio and sipp traffic of
// cmd/traced's TestStatisticsFromSippTraffic: 6 call attempts, 3 answered,
// 1 busy, 1 404, 1 cancelled; 1 registration after a challenge and 24
// unauthenticated REGISTERs of a scanner, challenged).
type fileStats struct{ sets []*stats.Set }

func loadFileStats(t *testing.T) fileStats {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "stats", "*.stats"))
	if err != nil || len(names) == 0 {
		t.Fatalf("stats fixtures: %v", err)
	}
	var fs fileStats
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		set, err := stats.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		fs.sets = append(fs.sets, set)
	}
	return fs
}

func (f fileStats) Report(since, until time.Time) (*stats.Report, error) {
	var in []*stats.Set
	for _, s := range f.sets {
		start := s.Hour.Time()
		if start.Before(until) && start.Add(time.Hour).After(since) {
			in = append(in, s)
		}
	}
	return stats.Build(in), nil
}

func (f fileStats) Cumulative() stats.Counts {
	var c stats.Counts
	for _, s := range f.sets {
		c.Merge(&s.Counts)
	}
	return c
}

// LastHour sums the fixture's per-minute series, as stats.Stats does for the
// last 60 minutes.
func (f fileStats) LastHour() (attempts, answered, effective int64) {
	for _, s := range f.sets {
		for _, m := range s.Minutes {
			attempts, answered, effective = attempts+m.Attempts, answered+m.Answered, effective+m.Answered+m.Effective
		}
	}
	return attempts, answered, effective
}
func (f fileStats) RTCP() stats.RTCPTotals { return stats.RTCPTotals{} }

// statsHour is the hour of the fixture.
var statsHour = time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)

func TestStatsPage(t *testing.T) {
	fs := loadFileStats(t)
	wb := &Web{Stats: fs, Now: func() time.Time { return statsHour.Add(50 * time.Minute) }}
	h := wb.Handler()
	code, body := getPage(t, h, "/stats?since=2026-12-07T17:00:00&until=2026-12-07T18:00:00&tz=UTC")
	if code != http.StatusOK {
		t.Fatalf("stats page: %d %s", code, body)
	}
	d := parseHTML(t, body)
	for id, want := range map[string]string{"kpi-attempts": "6", "kpi-answered": "3", "kpi-failed": "3", "kpi-busy": "1",
		"kpi-asr": "50.0 %", "kpi-ner": "83.3 %", "reg-ok": "1", "reg-challenges": "25"} {
		if got := d.text(id); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	if n := len(d.all("alarm-row")); n != 2 {
		t.Errorf("%d alarm rows, want the scanner's User-Agent and its 401 burst", n)
	}
	for _, id := range []string{"chart-messages", "chart-attempts", "chart-answered", "chart-failed", "chart-methods", "chart-codes", "top-ips", "top-uas"} {
		if len(d.all(id)) != 1 {
			t.Errorf("no %s on the page", id)
		}
	}
	golden(t, "stats", body)

	// A range with nothing counted says so; a range that ends before it
	// starts is an error shown on the page.
	_, body = getPage(t, h, "/stats?since=2026-12-01T00:00:00&until=2026-12-01T06:00:00&tz=UTC")
	if d := parseHTML(t, body); len(d.all("stats-empty")) != 1 {
		t.Error("an empty range does not say so")
	}
	_, body = getPage(t, h, "/stats?since=2026-12-07T18:00:00&until=2026-12-07T17:00:00&tz=UTC")
	if d := parseHTML(t, body); !strings.Contains(d.text("stats-error"), "not before its end") {
		t.Errorf("a reversed range: %q", d.text("stats-error"))
	}
}

func TestStatsAPI(t *testing.T) {
	a := &API{Stats: loadFileStats(t), Now: func() time.Time { return statsHour.Add(50 * time.Minute) }}
	h := a.Handler()
	code, body := getPage(t, h, "/api/v1/stats?since=2026-12-07T17:00:00Z&until=2026-12-07T18:00:00Z")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var r stats.Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Calls.Attempts != 6 || r.Calls.Answered != 3 || r.Calls.ASR != 0.5 || r.Registrations.Challenges != 25 ||
		r.Alarms.UA != 1 || r.Alarms.AuthBurst != 1 || len(r.Series) != 60 {
		t.Errorf("report: %+v, %d minutes", r.Calls, len(r.Series))
	}
	if code, body := getPage(t, h, "/api/v1/stats?since=soon"); code != http.StatusBadRequest || !strings.Contains(string(body), "error") {
		t.Errorf("a bad since: %d %s", code, body)
	}
	if code, _ := getPage(t, (&API{}).Handler(), "/api/v1/stats"); code != http.StatusNotFound {
		t.Errorf("without statistics: %d, want 404", code)
	}
}

func TestStatsMetrics(t *testing.T) {
	c := newStatsCollector(loadFileStats(t))
	want := `
# HELP traced_calls_total Call attempts (initial INVITEs) and their outcomes: attempted, answered, failed, and among the failed busy, no_answer, rejected, unresolved.
# TYPE traced_calls_total counter
traced_calls_total{outcome="answered"} 3
traced_calls_total{outcome="attempted"} 6
traced_calls_total{outcome="busy"} 1
traced_calls_total{outcome="failed"} 3
traced_calls_total{outcome="no_answer"} 1
traced_calls_total{outcome="rejected"} 0
traced_calls_total{outcome="unresolved"} 0
# HELP traced_scanner_alarms_total Scanner alarms: ua (a scanner's User-Agent), auth_burst (a burst of 401/403/404 to one address).
# TYPE traced_scanner_alarms_total counter
traced_scanner_alarms_total{kind="auth_burst"} 1
traced_scanner_alarms_total{kind="ua"} 1
# HELP traced_asr_ratio Answer seizure ratio over the last 60 minutes (answered / attempts).
# TYPE traced_asr_ratio gauge
traced_asr_ratio 0.5
# HELP traced_ner_ratio Network effectiveness ratio over the last 60 minutes (ITU-T E.425).
# TYPE traced_ner_ratio gauge
traced_ner_ratio 0.8333333333333334
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "traced_calls_total", "traced_scanner_alarms_total", "traced_asr_ratio", "traced_ner_ratio"); err != nil {
		t.Error(err)
	}
	// Bounded labels: methods from the fixed set, codes 100-699.
	n := testutil.CollectAndCount(c, "traced_sip_requests_total")
	if n == 0 || n > len(stats.Methods()) {
		t.Errorf("%d method series, want 1..%d", n, len(stats.Methods()))
	}
}

// text returns the text of the only element whose data-testid is id ("" when
// there is not exactly one).
func (d doc) text(id string) string {
	ns := d.all(id)
	if len(ns) != 1 {
		return ""
	}
	return text(ns[0])
}
