package httpui

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"traced/ingest/record"
	"traced/search"
)

// Status is what `tracectl status` shows.
type Status struct {
	Version        string                       `json:"version"`
	Started        time.Time                    `json:"started"`
	DataDir        string                       `json:"data_dir"`
	Received       map[string]uint64            `json:"received"`
	ReceivedBytes  map[string]uint64            `json:"received_bytes"`
	KernelDrops    map[string]uint64            `json:"kernel_drops"`
	Accepted       uint64                       `json:"accepted"`
	Stored         uint64                       `json:"stored"`
	Ignored        uint64                       `json:"ignored"`
	Rejected       map[string]uint64            `json:"rejected"`
	RejectedBy     map[string]map[string]uint64 `json:"rejected_by_listener"`
	LostRecords    uint64                       `json:"lost_records"`
	WriteErrors    uint64                       `json:"write_errors"`
	Corruptions    uint64                       `json:"corruptions"`
	RecoveredCuts  int                          `json:"recovered_cuts"`
	RecoveredBytes int64                        `json:"recovered_bytes"`
	TCPOpen        int64                        `json:"tcp_connections"`
	IndexBacklog   Backlog                      `json:"index_backlog"`
	Segments       int                          `json:"segments"`
	Records        int64                        `json:"records"`
	BytesOnDisk    int64                        `json:"bytes_on_disk"`
	IndexBytes     int64                        `json:"index_bytes"`
	Oldest         *time.Time                   `json:"oldest,omitempty"`
	Newest         *time.Time                   `json:"newest,omitempty"`
	RetentionDays  int                          `json:"retention_days"`
	MinFree        string                       `json:"min_free"`
	DiskFree       uint64                       `json:"disk_free"`
	DiskTotal      uint64                       `json:"disk_total"`
	Deleted        uint64                       `json:"deleted_hours"`
	Freed          uint64                       `json:"freed_bytes"`
}

// Backlog is the index's lag behind the segments.
type Backlog struct {
	Blocks  int    `json:"blocks"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	Behind  string `json:"behind"`
}

// Message is one stored packet as the API shows it.
type Message struct {
	Time       string `json:"time"` // capture time, RFC 3339 with µs
	Received   string `json:"received"`
	Src        string `json:"src"`
	Dst        string `json:"dst"`
	Transport  string `json:"transport"`
	HEPVersion int    `json:"hep_version"`
	Type       string `json:"type"`
	CaptureID  uint32 `json:"capture_id"`
	Node       string `json:"node,omitempty"`
	Agent      string `json:"agent"`
	CallID     string `json:"call_id,omitempty"`
	CorrID     string `json:"correlation_id,omitempty"`
	Method     string `json:"method,omitempty"`
	Status     int    `json:"status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	CSeq       string `json:"cseq,omitempty"`
	FromUser   string `json:"from_user,omitempty"`
	ToUser     string `json:"to_user,omitempty"`
	Raw        string `json:"raw"`
	Ref        string `json:"ref"`
}

// SearchResult is the answer of /api/v1/search.
type SearchResult struct {
	Messages   []Message `json:"messages"`
	Total      int       `json:"total"`
	More       int       `json:"more"` // matches left out by the limit
	Since      string    `json:"since,omitempty"`
	Until      string    `json:"until,omitempty"`
	Blocks     int       `json:"blocks_read"`
	Unreadable int       `json:"unreadable_blocks"`
}

// TimeFormat is how the API writes times: RFC 3339 with microseconds, UTC.
const TimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// MessageOf converts a search hit.
func MessageOf(h *search.Hit) Message {
	m := &h.Msg
	out := Message{
		Time:       record.TimeOf(m.Time).Format(TimeFormat),
		Received:   record.TimeOf(m.Recv).Format(TimeFormat),
		Src:        m.Src.String(),
		Dst:        m.Dst.String(),
		Transport:  record.ProtoName(m.Proto),
		HEPVersion: int(m.Version),
		Type:       record.TypeName(m.Type),
		CaptureID:  m.CaptureID,
		Node:       string(m.Node),
		Agent:      m.Agent.String(),
		CorrID:     string(m.CorrID),
		Raw:        string(m.Payload),
		Ref:        fmt.Sprintf("%s/%d", h.Ref, h.N),
	}
	if m.IsSIP {
		s := &m.SIP
		out.CallID = string(s.CallID)
		if s.Request {
			out.Method = string(s.Method)
		} else {
			out.Status = s.StatusCode
			out.Reason = string(s.Reason)
		}
		if s.CSeq > 0 {
			out.CSeq = strconv.FormatUint(uint64(s.CSeq), 10) + " " + string(s.CSeqMethod)
		}
		out.FromUser, out.ToUser = string(s.FromUser), string(s.ToUser)
	}
	return out
}

// Searcher runs searches. *search.Searcher satisfies it.
type Searcher interface {
	Search(ctx context.Context, q search.Query) (search.Result, error)
}

// StatusFunc returns the daemon's current status.
type StatusFunc func() Status

// ParseQuery reads a search from URL parameters. Times are RFC 3339, or Unix
// seconds, or a duration back from now ("15m").
func ParseQuery(v url.Values, now time.Time) (search.Query, error) {
	var q search.Query
	q.CallID = v.Get("call_id")
	q.SessionID = v.Get("session_id")
	q.XCID = v.Get("xcid")
	q.FromUser = v.Get("from_user")
	q.ToUser = v.Get("to_user")
	q.RURIUser = v.Get("ruri_user")
	q.AnyUser = v.Get("user")
	q.IP = v.Get("ip")
	q.SrcIP = v.Get("src_ip")
	q.DstIP = v.Get("dst_ip")
	q.Method = v.Get("method")
	q.Status = v.Get("status")
	q.UserAgent = v.Get("user_agent")
	q.Node = v.Get("node")
	q.Type = v.Get("type")
	for _, pp := range []struct {
		name string
		dst  *uint16
	}{{"port", &q.Port}, {"src_port", &q.SrcPort}, {"dst_port", &q.DstPort}} {
		if s := strings.TrimSpace(v.Get(pp.name)); s != "" {
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				return q, fmt.Errorf("%s %q: a port from 1 to 65535", pp.name, s)
			}
			*pp.dst = uint16(n)
		}
	}
	var err error
	if q.Since, err = ParseTime(v.Get("since"), now); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.Until, err = ParseTime(v.Get("until"), now); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 0 {
			return q, fmt.Errorf("limit %q: not a count", l)
		}
	}
	return q, nil
}

// ParseTime parses a time given to a search into Unix µs (0 for "").
func ParseTime(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMicro(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d.Abs()).UnixMicro(), nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(n * 1e6), nil
	}
	return 0, fmt.Errorf("%q is not RFC 3339, a duration such as 15m, or Unix seconds", s)
}

// API serves /api/v1/.
type API struct {
	Status   StatusFunc
	Searcher Searcher
	Logger   *slog.Logger
	Now      func() time.Time
	Calls    CallFunc
	// Stats are the traffic statistics (nil: not kept; /api/v1/stats is 404).
	Stats StatsSource
}

// Handler returns the API's routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", a.status)
	mux.HandleFunc("GET /api/v1/search", a.search)
	mux.HandleFunc("GET /api/v1/calls/{callid}", a.callJSON)
	mux.HandleFunc("GET /api/v1/calls/{callid}/pcap", a.callPcap)
	mux.HandleFunc("GET /api/v1/calls/{callid}/text", a.callText)
	mux.HandleFunc("GET /api/v1/calls/{callid}/qos", a.callQoS)
	mux.HandleFunc("GET /api/v1/calls/{callid}/logs", a.callLogs)
	mux.HandleFunc("GET /api/v1/stats", a.statsJSON)
	return mux
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.Status())
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query(), a.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	res, err := a.Searcher.Search(r.Context(), q)
	if err != nil {
		if a.Logger != nil {
			a.Logger.Error("search", "err", err)
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "search failed: " + err.Error()})
		return
	}
	out := SearchResult{Messages: make([]Message, 0, len(res.Hits)), Total: res.Total, More: res.More(),
		Blocks: res.Blocks, Unreadable: res.Unreadable}
	if res.Since != 0 {
		out.Since = record.TimeOf(res.Since).Format(TimeFormat)
	}
	if res.Until != 0 {
		out.Until = record.TimeOf(res.Until).Format(TimeFormat)
	}
	for i := range res.Hits {
		out.Messages = append(out.Messages, MessageOf(&res.Hits[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}
