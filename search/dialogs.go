package search

import (
	"sort"
	"strconv"

	"traced/ingest/record"
	"traced/ingest/sip"
)

// Kind sorts dialogs into the search page's tabs.
type Kind string

const (
	KindCall         Kind = "calls"         // INVITE dialogs
	KindRegistration Kind = "registrations" // REGISTER
	KindOther        Kind = "other"         // OPTIONS, SUBSCRIBE, NOTIFY, MESSAGE, PUBLISH, ...
)

// Dialog is the messages of one Call-ID in a result, summarised for a result row.
type Dialog struct {
	CallID   string
	Kind     Kind
	Method   string // the method that opened it (INVITE, REGISTER, OPTIONS, ...)
	Start    int64  // capture time of its first message, Unix µs
	End      int64  // capture time of its last message
	FromUser string
	ToUser   string
	RURIUser string
	Status   int   // final response to the opening request (0: none seen)
	Answered int64 // capture time of the 2xx to INVITE (0: not answered)
	Ended    int64 // capture time of the BYE (0: none)
	Messages int
	Legs     int      // Call-IDs of the result joined to this one (itself included)
	Group    int      // dialogs with the same Group are legs of one call
	Nodes    []string // capture nodes or ids that saw it
	Hits     []int    // indexes of its messages in the result
}

// Duration is the talk time of an answered call in µs (answer to BYE), or 0.
func (d *Dialog) Duration() int64 {
	if d.Answered == 0 || d.Ended == 0 || d.Ended < d.Answered {
		return 0
	}
	return d.Ended - d.Answered
}

// KindOf sorts a dialog by the method that opened it, as HOMER and PortSIP do.
func KindOf(method string) Kind {
	switch method {
	case "INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "PRACK", "REFER", "INFO":
		return KindCall
	case "REGISTER":
		return KindRegistration
	}
	return KindOther
}

// Dialogs groups the SIP messages of hits by Call-ID, ordered by start time
// (newest first), and joins dialogs that name each other (X-CID, a shared
// X-Session-Id, or a HEP correlation id equal to another's Call-ID) into calls,
// so each row can say how many legs its call has.
func Dialogs(hits []Hit) []Dialog {
	byID := map[string]int{}
	var out []Dialog
	nodes := map[int]map[string]bool{}
	for i := range hits {
		m := &hits[i].Msg
		if !m.IsSIP || len(m.SIP.CallID) == 0 {
			continue
		}
		id := string(m.SIP.CallID)
		k, ok := byID[id]
		if !ok {
			k = len(out)
			byID[id] = k
			out = append(out, Dialog{CallID: id, Start: m.Time})
			nodes[k] = map[string]bool{}
		}
		d := &out[k]
		d.Hits = append(d.Hits, i)
		d.Messages++
		d.Start = min(d.Start, m.Time)
		d.End = max(d.End, m.Time)
		if n := nodeName(m); n != "" {
			nodes[k][n] = true
		}
		h := &m.SIP
		if h.Request {
			method := string(h.Method)
			if d.Method == "" || method == "INVITE" && d.Method != "INVITE" {
				d.Method = method
				d.FromUser, d.ToUser, d.RURIUser = string(h.FromUser), string(h.ToUser), string(h.RURIUser)
			}
			if method == "BYE" && (d.Ended == 0 || m.Time < d.Ended) {
				d.Ended = m.Time
			}
			continue
		}
		opening := string(h.CSeqMethod)
		if d.Method == "" {
			d.Method = opening
			d.FromUser, d.ToUser = string(h.FromUser), string(h.ToUser)
		}
		if opening == d.Method && h.StatusCode >= 200 && (d.Status == 0 || d.Status < 200 || h.StatusCode < 300) {
			d.Status = h.StatusCode
		}
		if opening == "INVITE" && h.StatusCode >= 200 && h.StatusCode < 300 && (d.Answered == 0 || m.Time < d.Answered) {
			d.Answered = m.Time
		}
		if d.Status == 0 && h.StatusCode >= 100 && opening == d.Method {
			d.Status = h.StatusCode
		}
	}
	for k := range out {
		d := &out[k]
		d.Kind = KindOf(d.Method)
		for n := range nodes[k] {
			d.Nodes = append(d.Nodes, n)
		}
		sort.Strings(d.Nodes)
	}
	joinLegs(hits, out, byID)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start > out[j].Start })
	return out
}

func nodeName(m *record.Message) string {
	if len(m.Node) > 0 {
		return string(m.Node)
	}
	if m.CaptureID != 0 {
		return strconv.FormatUint(uint64(m.CaptureID), 10)
	}
	return ""
}

// joinLegs unites dialogs that name each other and sets Group and Legs.
func joinLegs(hits []Hit, ds []Dialog, byID map[string]int) {
	parent := make([]int, len(ds))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		if ra, rb := find(a), find(b); ra != rb {
			parent[rb] = ra
		}
	}
	session := map[string]int{}
	for k := range ds {
		for _, i := range ds[k].Hits {
			m := &hits[i].Msg
			if j, ok := byID[string(m.SIP.XCID)]; ok && len(m.SIP.XCID) > 0 {
				union(k, j)
			}
			if j, ok := byID[string(m.CorrID)]; ok && len(m.CorrID) > 0 {
				union(k, j)
			}
			if s := string(m.SIP.SessionID); !sip.NullSessionID(m.SIP.SessionID) {
				if j, ok := session[s]; ok {
					union(k, j)
				} else {
					session[s] = k
				}
			}
		}
	}
	size := map[int]int{}
	for k := range ds {
		size[find(k)]++
	}
	for k := range ds {
		ds[k].Group = find(k)
		ds[k].Legs = size[ds[k].Group]
	}
}
