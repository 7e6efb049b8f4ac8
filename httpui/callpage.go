package httpui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"traced/correlate"
	"traced/export"
	"traced/httpui/views"
	"traced/ingest/record"
	"traced/quality"
)

// CallFunc correlates a call: every leg of callID and their messages.
// allCopies asks for every capture of each message instead of one.
type CallFunc func(ctx context.Context, callID string, allCopies bool) (*correlate.Call, error)

// refOf names one captured message in URLs: hour@offset/ordinal.
func refOf(m *correlate.Message) string {
	return fmt.Sprintf("%s/%d", m.Ref, m.N)
}

// legsChosen filters a call's messages to the legs named in ?leg= (all when none).
func legsChosen(c *correlate.Call, v url.Values) []*record.Message {
	want := map[string]bool{}
	for _, l := range v["leg"] {
		want[l] = true
	}
	var out []*record.Message
	for i := range c.Messages {
		m := &c.Messages[i]
		if len(want) == 0 || want[c.Legs[m.Leg].CallID] {
			out = append(out, &m.Msg)
		}
	}
	return out
}

func (wb *Web) call(w http.ResponseWriter, r *http.Request, allCopies bool) (*correlate.Call, bool) {
	if wb.Calls == nil {
		http.Error(w, "calls are not available", http.StatusServiceUnavailable)
		return nil, false
	}
	c, err := wb.Calls(r.Context(), r.PathValue("callid"), allCopies)
	if errors.Is(err, correlate.ErrNotFound) {
		http.Error(w, "no message of this call is stored (it may have aged out)", http.StatusNotFound)
		return nil, false
	}
	if err != nil {
		wb.log().Error("correlate call", "call_id", r.PathValue("callid"), "err", err)
		http.Error(w, "the call could not be read: "+err.Error(), http.StatusInternalServerError)
		return nil, false
	}
	return c, true
}

// callPcap downloads the chosen legs of a call as a pcap for Wireshark.
func (wb *Web) callPcap(w http.ResponseWriter, r *http.Request) {
	c, ok := wb.call(w, r, false)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="`+fileName(c.CallID)+`.pcap"`)
	if err := export.WritePcap(w, legsChosen(c, r.URL.Query()), export.PcapOptions{HEP: r.URL.Query().Get("hep") == "1"}); err != nil {
		wb.log().Error("pcap export", "call_id", c.CallID, "err", err)
	}
}

// callText downloads the chosen legs of a call as text in sngrep's style.
func (wb *Web) callText(w http.ResponseWriter, r *http.Request) {
	c, ok := wb.call(w, r, false)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+fileName(c.CallID)+`.txt"`)
	if err := export.WriteText(w, legsChosen(c, r.URL.Query())); err != nil {
		wb.log().Error("text export", "call_id", c.CallID, "err", err)
	}
}

// fileName makes a Call-ID safe as a download name.
func fileName(callID string) string {
	b := []byte(callID)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return "call-" + string(b)
}

func msgLabel(m *record.Message) string {
	switch {
	case m.Type == 100:
		line := string(m.Payload)
		if len(line) > 48 {
			line = line[:48] + "…"
		}
		return "log: " + strings.TrimSpace(line)
	case !m.IsSIP:
		return record.TypeName(m.Type)
	case m.SIP.Request:
		return string(m.SIP.Method)
	}
	return strconv.Itoa(m.SIP.StatusCode) + " " + string(m.SIP.Reason)
}

func hasSDP(m *record.Message) bool {
	return m.IsSIP && len(m.SIP.Body) > 0 && strings.Contains(strings.ToLower(string(m.SIP.ContentType)), "sdp")
}

func dur(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// callPage is the call view: summary, legs, ladder, and the message asked for.
func (wb *Web) callPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	allCopies := q.Get("copies") == "all"
	c, ok := wb.call(w, r, allCopies)
	if !ok {
		return
	}
	loc, tzName := wb.location(r)
	base := "/call/" + url.PathEscape(c.CallID)
	p := views.CallPage{Nav: wb.nav(r), CallID: c.CallID, TZ: tzName,
		PcapHref: base + "/pcap", TextHref: base + "/text"}
	if allCopies {
		p.CopiesHref, p.CopiesText = base, "Show each message once"
	} else {
		p.CopiesHref, p.CopiesText = base+"?copies=all", "Show every captured copy"
	}
	if c.Truncated&correlate.LimitLegs != 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("More legs matched than are shown (the cap is reached); left out: %s.", strings.Join(c.Unfollowed, ", ")))
	}
	if c.Truncated&correlate.LimitMessages != 0 {
		p.Notes = append(p.Notes, "The call has more messages than are shown.")
	}
	if c.Unreadable > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%d damaged storage blocks could not be read: messages may be missing.", c.Unreadable))
	}
	s := correlate.Summarize(c)
	p.Summary = summaryKV(&s, loc)
	for i, l := range c.Legs {
		rule := l.Rule.String()
		if l.Via >= 0 {
			rule += " from leg " + strconv.Itoa(l.Via+1)
			if l.Value != "" {
				rule += " (" + l.Value + ")"
			}
		}
		p.Legs = append(p.Legs, views.LegRow{Index: i, CallID: l.CallID, Rule: rule, Messages: l.Messages, Color: views.LegColor(i)})
	}
	sel, diff := q.Get("msg"), q.Get("diff")
	titles := map[string]string{}
	host := func(ap netip.AddrPort) string {
		name := wb.Aliases.Name(ap)
		if name == "" {
			return ap.String()
		}
		if t := titles[name]; !strings.Contains(t, ap.String()) {
			titles[name] = strings.TrimPrefix(t+", "+ap.String(), ", ")
		}
		return name
	}
	var lm []views.LadderMessage
	var prev int64
	var selMsg, diffMsg *correlate.Message
	prevOfLeg := map[int]*correlate.Message{}
	var selPrev *correlate.Message
	for i := range c.Messages {
		m := &c.Messages[i]
		ref := refOf(m)
		if ref == sel {
			selMsg, selPrev = m, prevOfLeg[m.Leg]
		}
		if ref == diff {
			diffMsg = m
		}
		if m.Msg.IsSIP {
			prevOfLeg[m.Leg] = m
		}
		if m.Msg.Type != 1 && m.Msg.Type != 100 {
			continue // RTCP and other reports belong to the quality view
		}
		delta := ""
		if prev != 0 {
			delta = "+" + dur(time.Duration(m.Msg.Time-prev)*time.Microsecond)
		}
		prev = m.Msg.Time
		lm = append(lm, views.LadderMessage{From: host(m.Msg.Src), To: host(m.Msg.Dst), Label: msgLabel(&m.Msg),
			SDP: hasSDP(&m.Msg), Time: record.TimeOf(m.Msg.Time).In(loc).Format("15:04:05.000000"), Delta: delta,
			Leg: m.Leg, Href: withParams(r.URL, "msg", ref, "diff", "") + "#msg", Selected: ref == sel,
			Copies: len(m.Copies), Log: m.Msg.Type == 100})
	}
	p.Ladder = views.LayoutLadder(lm, titles)
	tab := q.Get("tab")
	hostText := func(s string) string {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return s
		}
		return host(ap)
	}
	switch tab {
	case "qos":
		qual, err := quality.Of(r.Context(), wb.Searcher, c)
		if err != nil {
			wb.log().Error("call quality", "call_id", c.CallID, "err", err)
			http.Error(w, "the call's quality could not be read: "+err.Error(), http.StatusInternalServerError)
			return
		}
		p.QoS = qosView(c, qual, loc, hostText)
	case "logs":
		p.ShowLogs = true
		p.LogRows, p.LogCount = logRows(r, c, loc, hostText)
	default:
		tab = "flow"
	}
	p.Tabs = callTabs(r.URL, tab)
	if selMsg != nil {
		p.Selected = messageView(selMsg, loc)
		p.Selected.Ref = sel
		if allCopies {
			p.Selected.Hidden = append(p.Selected.Hidden, views.KV{Key: "copies", Value: "all"})
		}
		for i := range c.Messages {
			o := &c.Messages[i]
			if ref := refOf(o); ref != sel && o.Msg.IsSIP {
				label := record.TimeOf(o.Msg.Time).In(loc).Format("15:04:05.000000") + " " + msgLabel(&o.Msg) + " (" + c.Legs[o.Leg].CallID + ")"
				p.Selected.Others = append(p.Selected.Others, views.KV{Key: label, Value: ref})
			}
		}
		if selPrev != nil {
			p.Selected.DiffHref = withParams(r.URL, "msg", refOf(selPrev), "diff", sel) + "#diff"
		}
	}
	if selMsg != nil && diffMsg != nil {
		p.Diff = &views.DiffView{A: msgLabel(&selMsg.Msg) + " " + refOf(selMsg), B: msgLabel(&diffMsg.Msg) + " " + refOf(diffMsg),
			Lines: lineDiff(string(selMsg.Msg.Payload), string(diffMsg.Msg.Payload))}
	}
	wb.render(w, r, views.Call(p))
}

func summaryKV(s *correlate.Summary, loc *time.Location) []views.KV {
	var out []views.KV
	add := func(k, v string) { out = append(out, views.KV{Key: k, Value: v}) }
	if s.Method != "" {
		add("Started", s.Start.In(loc).Format("2006-01-02 15:04:05.000 MST")+" ("+s.Method+")")
	}
	status := "–"
	if s.Status != 0 {
		status = strconv.Itoa(s.Status) + " " + s.Reason
	}
	add("Final status", status)
	if s.Ringing {
		add("Post-dial delay", dur(s.PostDialDelay))
	}
	if s.Answered {
		add("Setup time", dur(s.SetupTime))
	}
	if s.Ended {
		add("Duration", dur(s.Duration))
		who := s.HungUp.String()
		if who == "" {
			who = "unknown"
		}
		add("Hung up by", who+" ("+s.HungUpFrom.String()+")")
	}
	var codecs []string
	for _, c := range s.Codecs {
		codecs = append(codecs, c.String())
	}
	if len(codecs) > 0 {
		add("Codecs", strings.Join(codecs, ", "))
	}
	add("Legs", strconv.Itoa(len(s.CallIDs)))
	return out
}

func messageView(m *correlate.Message, loc *time.Location) *views.MessageView {
	msg := &m.Msg
	v := &views.MessageView{Title: msgLabel(msg), Raw: string(msg.Payload)}
	add := func(k, val string) {
		if val != "" {
			v.Meta = append(v.Meta, views.KV{Key: k, Value: val})
		}
	}
	add("Captured", record.TimeOf(msg.Time).In(loc).Format("2006-01-02 15:04:05.000000 MST"))
	add("Received", record.TimeOf(msg.Recv).In(loc).Format("2006-01-02 15:04:05.000000 MST"))
	add("From", msg.Src.String())
	add("To", msg.Dst.String())
	add("Transport", record.ProtoName(msg.Proto))
	if msg.Version > 0 {
		add("HEP", "v"+strconv.Itoa(int(msg.Version))+", type "+record.TypeName(msg.Type))
	} else {
		add("HEP", "none (plain SIP copy)")
	}
	if msg.CaptureID != 0 {
		add("Capture id", strconv.FormatUint(uint64(msg.CaptureID), 10))
	}
	add("Capture node", string(msg.Node))
	add("Correlation id", string(msg.CorrID))
	if msg.Agent.IsValid() {
		add("Sent by", msg.Agent.String())
	}
	if msg.IsSIP {
		add("Call-ID", string(msg.SIP.CallID))
		v.SDP = sdpLines(msg.SIP.ContentType, msg.SIP.Body)
	}
	if len(m.Copies) > 1 {
		for _, c := range m.Copies {
			name := c.Node
			if name == "" {
				name = "id " + strconv.FormatUint(uint64(c.CaptureID), 10)
			}
			v.Copies = append(v.Copies, name+" at "+record.TimeOf(c.Time).In(loc).Format("15:04:05.000000"))
		}
	}
	return v
}
