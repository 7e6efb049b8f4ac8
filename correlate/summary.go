package correlate

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"traced/ingest/record"
)

// Party is a side of a dialog.
type Party uint8

const (
	PartyNone   Party = iota
	PartyCaller       // the side that sent the initial request
	PartyCallee       // the side it was sent to
)

func (p Party) String() string {
	switch p {
	case PartyCaller:
		return "caller"
	case PartyCallee:
		return "callee"
	}
	return ""
}

// Codec is one payload type of an SDP media line.
type Codec struct {
	Media    string // "audio", "video", ...
	PT       int    // RTP payload type
	Name     string // encoding name from a=rtpmap or the static table: "PCMU", "opus"; "" when unknown
	Rate     int    // clock rate; 0 when unknown
	Channels int    // 0 when not given
}

// String gives "PCMU/8000", "opus/48000/2", or the bare payload type when the
// encoding is unknown.
func (c Codec) String() string {
	switch {
	case c.Name == "":
		return strconv.Itoa(c.PT)
	case c.Rate == 0:
		return c.Name
	case c.Channels > 0:
		return fmt.Sprintf("%s/%d/%d", c.Name, c.Rate, c.Channels)
	}
	return fmt.Sprintf("%s/%d", c.Name, c.Rate)
}

// LegSummary is what one leg's messages say about its dialog. Durations are
// between capture times, so they include the capture points' clock skew when
// the messages come from different nodes.
type LegSummary struct {
	CallID string
	Rule   Rule
	// Method and Start are the method and capture time of the leg's initial
	// request: its first request without a To tag. Method is "" when the leg
	// has none (only responses or in-dialog requests were captured).
	Method string
	Start  time.Time
	// Status and Reason are the final response to the initial request: the
	// first 2xx to any initial request of that method (an authenticated retry
	// is one), else the last final response to one of them; 0 when none was
	// captured.
	Status int
	Reason string
	// Ringing: a 180 or 183 answered an initial INVITE; PostDialDelay runs from
	// the initial request to the first of them.
	Ringing       bool
	PostDialDelay time.Duration
	// Answered: a 2xx answered an initial request; SetupTime runs from the
	// initial request to the first 2xx.
	Answered  bool
	SetupTime time.Duration
	// Ended: a BYE followed the answer; Duration runs from the first 2xx to the
	// first BYE. HungUp says who sent it (by its From tag against the initial
	// request's), HungUpFrom where it came from.
	Ended      bool
	Duration   time.Duration
	HungUp     Party
	HungUpFrom netip.AddrPort
	// Offer is the SDP of the initial INVITE, Answer that of the first 2xx (else
	// 18x) that answered it; with a late offer (an INVITE without SDP), the 2xx
	// offers and the ACK answers. Codecs is Answer when there is one, else
	// Offer. Media lines with port 0 (rejected) are left out.
	Offer, Answer, Codecs []Codec
}

// Summary is the call view's digest of a Call.
type Summary struct {
	CallIDs []string // every leg's Call-ID, in Call.Legs order
	Legs    []LegSummary
	// Caller is the index of the leg whose initial INVITE (else initial
	// request) came first: the caller's leg. Its figures are the call's and are
	// embedded below. -1 when no leg has an initial request.
	Caller int
	LegSummary
}

// Summarize digests c. Only the first copy of each message counts.
func Summarize(c *Call) Summary {
	s := Summary{Caller: -1}
	per := make([][]*Message, len(c.Legs))
	for i := range c.Messages {
		m := &c.Messages[i]
		if m.Copy == 0 && m.Leg >= 0 && m.Leg < len(per) {
			per[m.Leg] = append(per[m.Leg], m)
		}
	}
	for i, l := range c.Legs {
		s.CallIDs = append(s.CallIDs, l.CallID)
		ls := summarizeLeg(per[i])
		ls.CallID, ls.Rule = l.CallID, l.Rule
		s.Legs = append(s.Legs, ls)
		if ls.Method == "" {
			continue
		}
		if s.Caller < 0 || better(ls, s.Legs[s.Caller]) {
			s.Caller = i
		}
	}
	if s.Caller >= 0 {
		s.LegSummary = s.Legs[s.Caller]
	}
	return s
}

// better reports whether leg a is more the caller's than b: an INVITE beats
// another method, then the earlier start.
func better(a, b LegSummary) bool {
	if ai, bi := a.Method == "INVITE", b.Method == "INVITE"; ai != bi {
		return ai
	}
	return a.Start.Before(b.Start)
}

// summarizeLeg digests the messages of one leg, in capture time order.
func summarizeLeg(msgs []*Message) LegSummary {
	var ls LegSummary
	var init *Message
	for _, m := range msgs {
		if h := &m.Msg.SIP; m.Msg.IsSIP && h.Request && len(h.ToTag) == 0 {
			init = m
			break
		}
	}
	if init == nil {
		return ls
	}
	ih := &init.Msg.SIP
	method := string(ih.Method)
	ls.Method, ls.Start = method, record.TimeOf(init.Msg.Time)
	callerTag := string(ih.FromTag)
	initial := map[uint32]bool{} // CSeq numbers of the initial requests
	for _, m := range msgs {
		if h := &m.Msg.SIP; m.Msg.IsSIP && h.Request && len(h.ToTag) == 0 && string(h.Method) == method {
			initial[h.CSeq] = true
		}
	}
	var answer, inviteSDP *Message
	var answerAt int64
	var lastFinal *Message
	var early []byte // SDP of the first 18x, for an answer without SDP in the 2xx
	for _, m := range msgs {
		if !m.Msg.IsSIP {
			continue
		}
		h := &m.Msg.SIP
		if h.Request {
			if m == init || string(h.Method) == method && initial[h.CSeq] && len(h.ToTag) == 0 {
				if method == "INVITE" && inviteSDP == nil && hasSDP(h.Body) {
					inviteSDP = m
				}
			}
			continue
		}
		if string(h.CSeqMethod) != method || !initial[h.CSeq] {
			continue
		}
		code := h.StatusCode
		switch {
		case (code == 180 || code == 183) && method == "INVITE":
			if !ls.Ringing {
				ls.Ringing, ls.PostDialDelay = true, since(init, m)
			}
			if early == nil && hasSDP(h.Body) {
				early = h.Body
			}
		case code >= 200 && code < 300:
			if answer == nil {
				answer, answerAt = m, m.Msg.Time
				ls.Answered, ls.SetupTime = true, since(init, m)
			}
		case code >= 300:
			lastFinal = m
		}
	}
	switch {
	case answer != nil:
		ls.Status, ls.Reason = answer.Msg.SIP.StatusCode, string(answer.Msg.SIP.Reason)
	case lastFinal != nil:
		ls.Status, ls.Reason = lastFinal.Msg.SIP.StatusCode, string(lastFinal.Msg.SIP.Reason)
	}
	if answer != nil && method == "INVITE" {
		for _, m := range msgs {
			if h := &m.Msg.SIP; m.Msg.IsSIP && h.Request && string(h.Method) == "BYE" && m.Msg.Time >= answerAt {
				ls.Ended, ls.Duration = true, since(answer, m)
				ls.HungUp, ls.HungUpFrom = PartyCallee, m.Msg.Src
				if string(h.FromTag) == callerTag {
					ls.HungUp = PartyCaller
				}
				break
			}
		}
	}
	if method == "INVITE" {
		ls.Offer, ls.Answer = codecsOf(msgs, init, inviteSDP, answer, early)
	}
	ls.Codecs = ls.Answer
	if len(ls.Codecs) == 0 {
		ls.Codecs = ls.Offer
	}
	return ls
}

// codecsOf finds the offer and the answer of the initial INVITE.
func codecsOf(msgs []*Message, init, inviteSDP, answer *Message, early []byte) (offer, ans []Codec) {
	if inviteSDP != nil {
		offer = parseSDP(inviteSDP.Msg.SIP.Body)
		switch {
		case answer != nil && hasSDP(answer.Msg.SIP.Body):
			ans = parseSDP(answer.Msg.SIP.Body)
		case early != nil:
			ans = parseSDP(early)
		}
		return offer, ans
	}
	// Late offer: the 2xx offers, the ACK of that 2xx answers.
	if answer == nil || !hasSDP(answer.Msg.SIP.Body) {
		return nil, nil
	}
	offer = parseSDP(answer.Msg.SIP.Body)
	for _, m := range msgs {
		h := &m.Msg.SIP
		if m.Msg.IsSIP && h.Request && string(h.Method) == "ACK" && h.CSeq == answer.Msg.SIP.CSeq && hasSDP(h.Body) {
			ans = parseSDP(h.Body)
			break
		}
	}
	return offer, ans
}

func since(from, to *Message) time.Duration {
	return time.Duration(to.Msg.Time-from.Msg.Time) * time.Microsecond
}

// hasSDP reports a body with a media line.
func hasSDP(body []byte) bool {
	return bytes.HasPrefix(body, []byte("m=")) || bytes.Contains(body, []byte("\nm="))
}

// staticPT names the static RTP payload types of RFC 3551.
var staticPT = map[int]Codec{
	0: {Name: "PCMU", Rate: 8000}, 3: {Name: "GSM", Rate: 8000}, 4: {Name: "G723", Rate: 8000},
	5: {Name: "DVI4", Rate: 8000}, 6: {Name: "DVI4", Rate: 16000}, 7: {Name: "LPC", Rate: 8000},
	8: {Name: "PCMA", Rate: 8000}, 9: {Name: "G722", Rate: 8000}, 10: {Name: "L16", Rate: 44100, Channels: 2},
	11: {Name: "L16", Rate: 44100}, 12: {Name: "QCELP", Rate: 8000}, 13: {Name: "CN", Rate: 8000},
	14: {Name: "MPA", Rate: 90000}, 15: {Name: "G728", Rate: 8000}, 16: {Name: "DVI4", Rate: 11025},
	17: {Name: "DVI4", Rate: 22050}, 18: {Name: "G729", Rate: 8000}, 25: {Name: "CelB", Rate: 90000},
	26: {Name: "JPEG", Rate: 90000}, 28: {Name: "nv", Rate: 90000}, 31: {Name: "H261", Rate: 90000},
	32: {Name: "MPV", Rate: 90000}, 33: {Name: "MP2T", Rate: 90000}, 34: {Name: "H263", Rate: 90000},
}

// parseSDP lists the payload types of every accepted media line of an SDP
// body, named by its a=rtpmap lines or the static table.
func parseSDP(body []byte) []Codec {
	var out []Codec
	section := -1 // index in out of the current media line's first codec; -1: none or rejected
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		line = bytes.TrimSpace(line)
		switch {
		case bytes.HasPrefix(line, []byte("m=")):
			section = -1
			f := strings.Fields(string(line[2:]))
			if len(f) < 4 || f[1] == "0" || strings.HasPrefix(f[1], "0/") {
				continue
			}
			section = len(out)
			for _, p := range f[3:] {
				pt, err := strconv.Atoi(p)
				if err != nil || pt < 0 || pt > 127 {
					continue
				}
				c := staticPT[pt]
				if pt >= 96 {
					c = Codec{}
				}
				c.Media, c.PT = f[0], pt
				out = append(out, c)
			}
		case section >= 0 && bytes.HasPrefix(line, []byte("a=rtpmap:")):
			ptText, enc, ok := strings.Cut(string(line[len("a=rtpmap:"):]), " ")
			pt, err := strconv.Atoi(strings.TrimSpace(ptText))
			if !ok || err != nil {
				continue
			}
			parts := strings.Split(strings.TrimSpace(enc), "/")
			for i := section; i < len(out); i++ {
				if out[i].PT != pt {
					continue
				}
				out[i].Name, out[i].Rate, out[i].Channels = parts[0], 0, 0
				if len(parts) > 1 {
					out[i].Rate, _ = strconv.Atoi(parts[1])
				}
				if len(parts) > 2 {
					out[i].Channels, _ = strconv.Atoi(parts[2])
				}
			}
		}
	}
	return out
}
