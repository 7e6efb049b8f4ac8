package httpui

import (
	"errors"
	"net/http"
	"strconv"

	"traced/correlate"
	"traced/export"
)

// CallLeg is one leg of a call in the API.
type CallLeg struct {
	CallID   string `json:"call_id"`
	Rule     string `json:"rule"`          // why it belongs to the call
	Via      string `json:"via,omitempty"` // the Call-ID of the leg it was found from
	Value    string `json:"value,omitempty"`
	First    string `json:"first,omitempty"`
	Last     string `json:"last,omitempty"`
	Messages int    `json:"messages"`
}

// CallMessage is one message of a call in the API.
type CallMessage struct {
	Message
	Leg    string   `json:"leg"`              // its leg's Call-ID
	Copies []string `json:"copies,omitempty"` // capture nodes (or ids) that saw it, when more than one
}

// CallResult is the answer of /api/v1/calls/{call-id}.
type CallResult struct {
	CallID     string        `json:"call_id"`
	Legs       []CallLeg     `json:"legs"`
	Messages   []CallMessage `json:"messages"`
	Complete   bool          `json:"complete"` // no cap cut it and every block was read
	Unfollowed []string      `json:"unfollowed,omitempty"`
}

// CallOf converts a correlated call.
func CallOf(c *correlate.Call) CallResult {
	out := CallResult{CallID: c.CallID, Complete: c.Complete(), Unfollowed: c.Unfollowed, Messages: []CallMessage{}}
	for _, l := range c.Legs {
		cl := CallLeg{CallID: l.CallID, Rule: l.Rule.String(), Value: l.Value, Messages: l.Messages}
		if l.Via >= 0 {
			cl.Via = c.Legs[l.Via].CallID
		}
		if !l.First.IsZero() {
			cl.First, cl.Last = l.First.UTC().Format(TimeFormat), l.Last.UTC().Format(TimeFormat)
		}
		out.Legs = append(out.Legs, cl)
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		cm := CallMessage{Message: MessageOf(&m.Hit), Leg: c.Legs[m.Leg].CallID}
		if len(m.Copies) > 1 {
			for _, cp := range m.Copies {
				name := cp.Node
				if name == "" {
					name = strconv.FormatUint(uint64(cp.CaptureID), 10)
				}
				cm.Copies = append(cm.Copies, name)
			}
		}
		out.Messages = append(out.Messages, cm)
	}
	return out
}

func (a *API) call(w http.ResponseWriter, r *http.Request) (*correlate.Call, bool) {
	if a.Calls == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "calls are not available"})
		return nil, false
	}
	c, err := a.Calls(r.Context(), r.PathValue("callid"), r.URL.Query().Get("copies") == "all")
	if errors.Is(err, correlate.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return nil, false
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return nil, false
	}
	return c, true
}

func (a *API) callJSON(w http.ResponseWriter, r *http.Request) {
	if c, ok := a.call(w, r); ok {
		writeJSON(w, http.StatusOK, CallOf(c))
	}
}

func (a *API) callPcap(w http.ResponseWriter, r *http.Request) {
	c, ok := a.call(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="`+fileName(c.CallID)+`.pcap"`)
	_ = export.WritePcap(w, legsChosen(c, r.URL.Query()), export.PcapOptions{HEP: r.URL.Query().Get("hep") == "1"})
}

func (a *API) callText(w http.ResponseWriter, r *http.Request) {
	c, ok := a.call(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_ = export.WriteText(w, legsChosen(c, r.URL.Query()))
}
