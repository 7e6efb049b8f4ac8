package httpui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"traced/correlate"
	"traced/httpui/views"
	"traced/ingest/record"
	"traced/qos"
	"traced/quality"
)

// callTabs are the call view's tabs, as links keeping the other parameters.
func callTabs(u *url.URL, active string) []views.Tab {
	tab := func(name, label string) views.Tab {
		v := name
		if name == "flow" {
			v = ""
		}
		return views.Tab{Name: name, Label: label, Href: withParams(u, "tab", v, "msg", "", "diff", ""), On: active == name}
	}
	return []views.Tab{tab("flow", "Call flow"), tab("qos", "QoS"), tab("logs", "Logs")}
}

// qosView lays out the QoS tab: per stream, a chart of each figure over the
// call's time, a summary and a table.
func qosView(c *correlate.Call, q *quality.Quality, loc *time.Location, host func(string) string) *views.QoSView {
	v := &views.QoSView{}
	legIdx := map[string]int{}
	for i, l := range c.Legs {
		legIdx[l.CallID] = i
	}
	t0, t1 := c.Since, c.Until
	if len(c.Messages) > 0 {
		t0 = record.TimeOf(c.Messages[0].Msg.Time)
		t1 = record.TimeOf(c.Messages[len(c.Messages)-1].Msg.Time)
	}
	if q.Undecoded > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%d quality packets could not be decoded.", q.Undecoded))
	}
	for _, s := range q.Streams {
		vs := views.QoSStream{Title: host(s.Src.String()) + " → " + host(s.Dst.String()), Leg: s.Leg, LegMark: legIdx[s.Leg],
			SSRC: fmt.Sprintf("0x%08x", s.SSRC), Codec: orDash(codecText(s.Codec, s.ClockRate))}
		var kinds []string
		for _, k := range s.Kinds {
			kinds = append(kinds, string(k))
		}
		vs.Sources = strings.Join(kinds, ", ")
		if s.SSRC == 0 {
			vs.SSRC = "– (SIP statistics header)"
		}
		vs.Summary = summaryOf(&s.Summary)
		series := func(get func(p *qos.Point) (float64, bool)) []views.ChartPoint {
			var out []views.ChartPoint
			for i := range s.Points {
				if x, ok := get(&s.Points[i]); ok {
					out = append(out, views.ChartPoint{T: s.Points[i].Time, V: x})
				}
			}
			return out
		}
		i64 := func(f func(p *qos.Point) *int64) func(p *qos.Point) (float64, bool) {
			return func(p *qos.Point) (float64, bool) {
				if v := f(p); v != nil {
					return float64(*v), true
				}
				return 0, false
			}
		}
		f64 := func(f func(p *qos.Point) *float64) func(p *qos.Point) (float64, bool) {
			return func(p *qos.Point) (float64, bool) {
				if v := f(p); v != nil {
					return *v, true
				}
				return 0, false
			}
		}
		charts := []struct {
			title string
			get   func(p *qos.Point) (float64, bool)
			floor float64
		}{
			{"Packets", i64(func(p *qos.Point) *int64 { return p.Packets }), 0},
			{"Octets", i64(func(p *qos.Point) *int64 { return p.Octets }), 0},
			{"Jitter (ms)", f64(func(p *qos.Point) *float64 { return p.JitterMS }), 1},
			{"Packets lost (cumulative)", i64(func(p *qos.Point) *int64 { return p.Lost }), 1},
			{"Fraction lost (%)", f64(func(p *qos.Point) *float64 { return p.FractionLost }), 1},
			{"Round trip time (ms)", f64(func(p *qos.Point) *float64 { return p.RTTMS }), 1},
			{"MOS", f64(func(p *qos.Point) *float64 { return p.MOS }), 5},
		}
		for _, ch := range charts {
			pts := series(ch.get)
			if len(pts) == 0 {
				continue
			}
			vs.Charts = append(vs.Charts, views.LayoutChart(ch.title, t0, t1, pts, ch.floor, loc))
		}
		for _, p := range s.Points {
			vs.Rows = append(vs.Rows, views.QoSRow{Time: p.Time.In(loc).Format("15:04:05.000"), Source: string(p.Kind),
				Packets: intText(p.Packets), Octets: intText(p.Octets), Lost: intText(p.Lost), FractionLost: floatText(p.FractionLost),
				Jitter: floatText(p.JitterMS), RTT: floatText(p.RTTMS), MOS: floatText(p.MOS)})
		}
		v.Streams = append(v.Streams, vs)
	}
	for _, m := range q.Missing {
		title := "? → " + host(m.To.String())
		if m.From.IsValid() {
			title = host(m.From.String()) + " → " + host(m.To.String())
		}
		v.Silent = append(v.Silent, views.QoSSilent{Title: title + " (SDP media)", Leg: m.Leg, LegMark: legIdx[m.Leg],
			Codec: orDash(codecText(m.Codec, m.ClockRate))})
	}
	return v
}

func codecText(name string, rate int) string {
	if name == "" || rate == 0 {
		return name
	}
	return name + "/" + strconv.Itoa(rate)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func intText(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

func floatText(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

func round2Text(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(float64(int64(*v*100+0.5))/100, 'f', -1, 64)
}

func summaryOf(s *qos.Summary) []views.KV {
	var out []views.KV
	add := func(k, v string) {
		if v != "" {
			out = append(out, views.KV{Key: k, Value: v})
		}
	}
	add("Reports", strconv.Itoa(s.Reports))
	add("Packets", intText(s.Packets))
	add("Octets", intText(s.Octets))
	add("Lost", intText(s.Lost))
	add("Max lost %", round2Text(s.MaxFractionLost))
	if s.AvgJitterMS != nil {
		add("Jitter ms avg / max", round2Text(s.AvgJitterMS)+" / "+round2Text(s.MaxJitterMS))
	}
	if s.AvgRTTMS != nil {
		add("RTT ms avg / max", round2Text(s.AvgRTTMS)+" / "+round2Text(s.MaxRTTMS))
	}
	if s.AvgMOS != nil {
		add("MOS avg / min", round2Text(s.AvgMOS)+" / "+round2Text(s.MinMOS))
	}
	return out
}

// logRows interleaves the call's log lines with its SIP messages.
func logRows(r *http.Request, c *correlate.Call, loc *time.Location, host func(string) string) ([]views.LogRow, int) {
	var rows []views.LogRow
	n := 0
	for i := range c.Messages {
		m := &c.Messages[i]
		node := string(m.Msg.Node)
		if node == "" && m.Msg.CaptureID != 0 {
			node = strconv.FormatUint(uint64(m.Msg.CaptureID), 10)
		}
		at := record.TimeOf(m.Msg.Time).In(loc).Format("15:04:05.000000")
		switch {
		case m.Msg.Type == 100:
			n++
			src := "log"
			if m.Msg.Src.IsValid() {
				src = "log from " + host(m.Msg.Src.String())
			}
			rows = append(rows, views.LogRow{Time: at, Node: node, Source: src, Log: true, Leg: m.Leg,
				Text: strings.TrimRight(string(m.Msg.Payload), "\r\n")})
		case m.Msg.IsSIP:
			ref := refOf(m)
			rows = append(rows, views.LogRow{Time: at, Node: node, Leg: m.Leg,
				Source: "SIP " + host(m.Msg.Src.String()) + " → " + host(m.Msg.Dst.String()), Text: msgLabel(&m.Msg),
				Href: withParams(r.URL, "tab", "", "msg", ref, "diff", "") + "#msg"})
		}
	}
	return rows, n
}
