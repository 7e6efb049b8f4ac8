package httpui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"traced/httpui/views"
	"traced/stats"
)

// StatsSource is what the statistics page, GET /api/v1/stats and /metrics
// read: the per-hour statistics kept during ingest (*stats.Stats).
type StatsSource interface {
	Report(since, until time.Time) (*stats.Report, error)
	Cumulative() stats.Counts
	LastHour() (attempts, answered, effective int64)
	RTCP() stats.RTCPTotals
}

// defaultStatsRange is the range the statistics page shows without a form.
const defaultStatsRange = 24 * time.Hour

// statsRange reads since and until (the form's local times, durations or RFC
// 3339) with the default of the last 24 hours.
func statsRange(q url.Values, loc *time.Location, now time.Time) (since, until time.Time, err error) {
	s, err := parseLocal(q.Get("since"), loc, now)
	if err != nil {
		return since, until, fmt.Errorf("from: %w", err)
	}
	u, err := parseLocal(q.Get("until"), loc, now)
	if err != nil {
		return since, until, fmt.Errorf("to: %w", err)
	}
	until = now
	if u != 0 {
		until = time.UnixMicro(u)
	}
	since = until.Add(-defaultStatsRange)
	if s != 0 {
		since = time.UnixMicro(s)
	}
	if !since.Before(until) {
		return since, until, fmt.Errorf("the range starts at %s, not before its end %s", since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
	}
	return since, until, nil
}

// statsJSON serves GET /api/v1/stats?since=...&until=...: the report the
// statistics page shows.
func (a *API) statsJSON(w http.ResponseWriter, r *http.Request) {
	if a.Stats == nil {
		http.Error(w, "statistics are not kept", http.StatusNotFound)
		return
	}
	since, until, err := statsRange(r.URL.Query(), time.UTC, a.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	rep, err := a.Stats.Report(since, until)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// statsPage serves GET /stats.
func (wb *Web) statsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	loc, tzName := wb.location(r)
	now := wb.now()
	p := views.StatsPage{Nav: wb.nav(r), TZ: tzName}
	p.Nav.Page = "stats"
	since, until, err := statsRange(q, loc, now)
	if err != nil {
		p.Error = err.Error()
		until = now
		since = now.Add(-defaultStatsRange)
	}
	p.Since = since.In(loc).Format("2006-01-02T15:04:05")
	p.Until = until.In(loc).Format("2006-01-02T15:04:05")
	// Quick ranges back from now; 24 hours is the default.
	for _, pr := range []struct{ since, label string }{{"1h", "Last hour"}, {"6h", "6 hours"}, {"24h", "24 hours"}, {"168h", "7 days"}} {
		v := url.Values{"since": {pr.since}, "tz": {tzName}}
		on := q.Get("until") == "" && (q.Get("since") == pr.since || q.Get("since") == "" && pr.since == "24h")
		p.Presets = append(p.Presets, views.Tab{Name: pr.since, Label: pr.label, Href: "/stats?" + v.Encode(), On: on})
	}
	api := url.Values{"since": {since.UTC().Format(time.RFC3339)}, "until": {until.UTC().Format(time.RFC3339)}}
	p.APIHref = "/api/v1/stats?" + api.Encode()
	if wb.Stats == nil {
		p.Error = "statistics are not kept by this traced"
		wb.render(w, r, views.Stats(p))
		return
	}
	rep, err := wb.Stats.Report(since, until)
	if err != nil {
		wb.log().Error("statistics report", "err", err)
		http.Error(w, "the statistics could not be read: "+err.Error(), http.StatusInternalServerError)
		return
	}
	statsView(&p, rep, loc)
	wb.render(w, r, views.Stats(p))
}

// statsView fills the page from a report.
func statsView(p *views.StatsPage, rep *stats.Report, loc *time.Location) {
	const day = "Mon Jan 2 15:04"
	p.Range = fmt.Sprintf("Hours from %s to %s", rep.Since.In(loc).Format(day), rep.Until.In(loc).Format(day))
	p.Counting = rep.Counting
	p.Empty = rep.Messages == 0 && rep.Records == 0
	c := rep.Calls
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	pct := func(v float64, ok bool) string {
		if !ok {
			return "–"
		}
		return strconv.FormatFloat(v*100, 'f', 1, 64) + " %"
	}
	p.KPIs = []views.KPI{
		{Label: "SIP messages", Value: n(rep.Messages), TestID: "kpi-messages"},
		{Label: "Call attempts", Value: n(c.Attempts), TestID: "kpi-attempts"},
		{Label: "Answered", Value: n(c.Answered), TestID: "kpi-answered"},
		{Label: "Failed", Value: n(c.Failed), TestID: "kpi-failed", Warn: c.Failed > 0},
		{Label: "Busy", Value: n(c.Busy), TestID: "kpi-busy"},
		{Label: "No answer / cancelled", Value: n(c.NoAnswer), TestID: "kpi-noanswer"},
		{Label: "Rejected", Value: n(c.Rejected), TestID: "kpi-rejected"},
		{Label: "No final response", Value: n(c.Unresolved), TestID: "kpi-unresolved"},
		{Label: "ASR", Value: pct(c.ASR, c.Attempts > 0), TestID: "kpi-asr"},
		{Label: "NER", Value: pct(c.NER, c.Attempts > 0), TestID: "kpi-ner"},
	}
	r := rep.Registrations
	p.Regs = []views.KPI{
		{Label: "Registered", Value: n(r.OK), TestID: "reg-ok"},
		{Label: "Challenged", Value: n(r.Challenges), TestID: "reg-challenges"},
		{Label: "Failed", Value: n(r.Failed), TestID: "reg-failed", Warn: r.Failed > 0},
	}
	ms := func(v float64, samples int64) string {
		if samples == 0 {
			return "–"
		}
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	}
	for _, d := range []struct {
		name string
		r    stats.DelayReport
	}{{"Post-dial delay (INVITE → first 18x)", rep.PDD}, {"Setup time (INVITE → 200)", rep.Setup}} {
		p.Delays = append(p.Delays, views.DelayRow{Name: d.name, Samples: n(d.r.Samples), Mean: ms(d.r.MeanMS, d.r.Samples),
			P50: ms(d.r.P50MS, d.r.Samples), P90: ms(d.r.P90MS, d.r.Samples), P99: ms(d.r.P99MS, d.r.Samples)})
	}
	var labels []string
	var values []int64
	for _, m := range rep.Requests {
		labels, values = append(labels, m.Name), append(values, m.Count)
	}
	p.Methods = views.LayoutBars("Requests by method", "chart-methods", labels, values)
	labels, values = nil, nil
	for _, cc := range rep.Responses {
		labels, values = append(labels, strconv.Itoa(cc.Code)), append(values, cc.Count)
	}
	p.Codes = views.LayoutBars("Responses by code", "chart-codes", labels, values)
	p.Charts = seriesCharts(rep, loc)
	top := func(es []stats.TopEntry) []views.TopRow {
		out := make([]views.TopRow, 0, len(es))
		for _, e := range es {
			out = append(out, views.TopRow{Key: e.Key, Count: n(e.Count), Approx: e.Err > 0})
		}
		return out
	}
	p.TopIPs, p.TopUAs, p.TopDests = top(rep.TopSourceIPs), top(rep.TopUserAgents), top(rep.TopFailedDest)
	p.AlarmCount = rep.Alarms.UA + rep.Alarms.AuthBurst
	for _, a := range rep.Alarms.List {
		row := views.AlarmRow{Time: time.UnixMicro(a.Time).In(loc).Format("2006-01-02 15:04:05"), Source: a.IP}
		switch a.Kind {
		case "ua":
			row.Kind, row.Detail = "scanner User-Agent", a.UA
		case "auth_burst":
			row.Kind, row.Detail = "burst of 401/403/404", n(a.Count)+" replies in one minute"
		default:
			row.Kind = a.Kind
		}
		p.Alarms = append(p.Alarms, row)
	}
	p.AlarmsListed = len(p.Alarms)
}

// maxChartPoints bounds the points of a statistics chart: minutes are summed
// into buckets of whole minutes so that a long range stays readable.
const maxChartPoints = 120

// seriesCharts draws messages, call attempts, answered and failed calls over
// the report's range.
func seriesCharts(rep *stats.Report, loc *time.Location) []views.Chart {
	span := rep.Until.Sub(rep.Since)
	step := time.Minute
	for span/step > maxChartPoints {
		switch {
		case step < 5*time.Minute:
			step = 5 * time.Minute
		case step < 15*time.Minute:
			step = 15 * time.Minute
		case step < time.Hour:
			step = time.Hour
		default:
			step *= 2
		}
	}
	type sums struct{ msgs, att, ans, fail float64 }
	buckets := map[time.Time]*sums{}
	var order []time.Time
	for _, m := range rep.Series {
		b := rep.Since.Add(m.Time.Sub(rep.Since) / step * step)
		s := buckets[b]
		if s == nil {
			s = &sums{}
			buckets[b] = s
			order = append(order, b)
		}
		s.msgs += float64(m.Messages)
		s.att += float64(m.Attempts)
		s.ans += float64(m.Answered)
		s.fail += float64(m.Failed)
	}
	per := " per " + stepText(step)
	var msgs, att, ans, fail []views.ChartPoint
	for _, t := range order {
		s := buckets[t]
		msgs = append(msgs, views.ChartPoint{T: t, V: s.msgs})
		att = append(att, views.ChartPoint{T: t, V: s.att})
		ans = append(ans, views.ChartPoint{T: t, V: s.ans})
		fail = append(fail, views.ChartPoint{T: t, V: s.fail})
	}
	return []views.Chart{
		views.LayoutSeries("SIP messages"+per, "chart-messages", rep.Since, rep.Until, msgs, loc),
		views.LayoutSeries("Call attempts"+per, "chart-attempts", rep.Since, rep.Until, att, loc),
		views.LayoutSeries("Answered calls"+per, "chart-answered", rep.Since, rep.Until, ans, loc),
		views.LayoutSeries("Failed calls"+per, "chart-failed", rep.Since, rep.Until, fail, loc),
	}
}

func stepText(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "minute"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d == time.Hour:
		return "hour"
	}
	return strconv.Itoa(int(d.Hours())) + " h"
}
