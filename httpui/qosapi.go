package httpui

import (
	"fmt"
	"net/http"

	"traced/correlate"
	"traced/qos"
	"traced/quality"
)

// QoSPoint is one report on a stream in the API. Figures the report does not
// give are left out.
type QoSPoint struct {
	Time         string   `json:"time"`
	Source       string   `json:"source"`
	Packets      *int64   `json:"packets,omitempty"`
	Octets       *int64   `json:"octets,omitempty"`
	Lost         *int64   `json:"lost,omitempty"`
	FractionLost *float64 `json:"fraction_lost,omitempty"`
	JitterMS     *float64 `json:"jitter_ms,omitempty"`
	RTTMS        *float64 `json:"rtt_ms,omitempty"`
	MOS          *float64 `json:"mos,omitempty"`
	RFactor      *float64 `json:"r_factor,omitempty"`
	MOSSource    string   `json:"mos_source,omitempty"`
}

// QoSStream is one media stream of a call in the API.
type QoSStream struct {
	Leg       string      `json:"leg"` // its leg's Call-ID
	Src       string      `json:"src"`
	Dst       string      `json:"dst"`
	Direction string      `json:"direction"` // "src → dst"
	SSRC      string      `json:"ssrc"`      // 0x%08x; 0x00000000 for statistics headers
	Codec     string      `json:"codec,omitempty"`
	ClockRate int         `json:"clock_rate,omitempty"`
	Sources   []string    `json:"sources"` // rtcp-json, rtcp, rtcp-xr, hep-mos, x-rtp-stat, p-rtp-stat, rtp-stat
	Points    []QoSPoint  `json:"points"`
	Summary   qos.Summary `json:"summary"`
}

// QoSSilent is an SDP media address of a leg that no report speaks of.
type QoSSilent struct {
	Leg       string `json:"leg"`
	Src       string `json:"src,omitempty"` // the peer's SDP media address, when known
	Dst       string `json:"dst"`
	Codec     string `json:"codec,omitempty"`
	ClockRate int    `json:"clock_rate,omitempty"`
}

// QoSResult is the answer of /api/v1/calls/{call-id}/qos.
type QoSResult struct {
	CallID    string      `json:"call_id"`
	Streams   []QoSStream `json:"streams"`
	NoReports []QoSSilent `json:"no_reports"` // SDP media whose received stream has no report
	Undecoded int         `json:"undecoded"`  // quality packets that could not be decoded
}

// LogLine is one log line of a call in the API.
type LogLine struct {
	Time   string `json:"time"`
	Node   string `json:"node,omitempty"`
	CorrID string `json:"correlation_id,omitempty"`
	Leg    string `json:"leg"`
	Src    string `json:"src,omitempty"`
	Dst    string `json:"dst,omitempty"`
	Text   string `json:"text"`
}

// LogsResult is the answer of /api/v1/calls/{call-id}/logs.
type LogsResult struct {
	CallID string    `json:"call_id"`
	Logs   []LogLine `json:"logs"`
}

// QoSOf converts a call's quality.
func QoSOf(c *correlate.Call, q *quality.Quality) QoSResult {
	out := QoSResult{CallID: c.CallID, Streams: []QoSStream{}, NoReports: []QoSSilent{}, Undecoded: q.Undecoded}
	for _, s := range q.Streams {
		qs := QoSStream{Leg: s.Leg, Src: s.Src.String(), Dst: s.Dst.String(), Direction: s.Src.String() + " → " + s.Dst.String(),
			SSRC: fmt.Sprintf("0x%08x", s.SSRC), Codec: s.Codec, ClockRate: s.ClockRate, Summary: s.Summary, Points: []QoSPoint{}}
		for _, k := range s.Kinds {
			qs.Sources = append(qs.Sources, string(k))
		}
		for _, p := range s.Points {
			qs.Points = append(qs.Points, QoSPoint{Time: p.Time.UTC().Format(TimeFormat), Source: string(p.Kind), Packets: p.Packets,
				Octets: p.Octets, Lost: p.Lost, FractionLost: p.FractionLost, JitterMS: p.JitterMS, RTTMS: p.RTTMS, MOS: p.MOS,
				RFactor: p.RFactor, MOSSource: p.MOSSource})
		}
		out.Streams = append(out.Streams, qs)
	}
	for _, m := range q.Missing {
		s := QoSSilent{Leg: m.Leg, Dst: m.To.String(), Codec: m.Codec, ClockRate: m.ClockRate}
		if m.From.IsValid() {
			s.Src = m.From.String()
		}
		out.NoReports = append(out.NoReports, s)
	}
	return out
}

// LogsOf converts a call's log lines.
func LogsOf(c *correlate.Call) LogsResult {
	out := LogsResult{CallID: c.CallID, Logs: []LogLine{}}
	for _, l := range quality.Logs(c) {
		ll := LogLine{Time: l.Time.UTC().Format(TimeFormat), Node: l.Node, CorrID: l.CorrID, Leg: l.Leg, Text: l.Text}
		if l.Src.IsValid() {
			ll.Src = l.Src.String()
		}
		if l.Dst.IsValid() {
			ll.Dst = l.Dst.String()
		}
		out.Logs = append(out.Logs, ll)
	}
	return out
}

func (a *API) callQoS(w http.ResponseWriter, r *http.Request) {
	c, ok := a.call(w, r)
	if !ok {
		return
	}
	q, err := quality.Of(r.Context(), a.Searcher, c)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, QoSOf(c, q))
}

func (a *API) callLogs(w http.ResponseWriter, r *http.Request) {
	if c, ok := a.call(w, r); ok {
		writeJSON(w, http.StatusOK, LogsOf(c))
	}
}
