package httpui

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"traced/httpui/views"
	"traced/ingest/record"
	"traced/search"
)

// pageSize is the number of rows on a result page.
const pageSize = 50

// pageSearchLimit is the most messages one page search groups into rows; a
// search that matches more says so on the page.
const pageSearchLimit = 100000

// searchFields returns the search form's text fields, in order: URL parameter,
// label, placeholder.
func searchFields() [][3]string {
	return [][3]string{
		{"call_id", "Call-ID", ""},
		{"session_id", "X-Session-Id", ""},
		{"xcid", "X-CID", ""},
		{"from_user", "From user", "alice or +1555…"},
		{"to_user", "To user", ""},
		{"ruri_user", "RURI user", ""},
		{"user", "Any user", "from, to, ruri or pai"},
		{"ip", "IP (either side)", ""},
		{"src_ip", "Source IP", ""},
		{"dst_ip", "Destination IP", ""},
		{"src_port", "Source port", ""},
		{"dst_port", "Destination port", "5060"},
		{"method", "Method", "INVITE"},
		{"status", "Status code", "486"},
		{"user_agent", "User-Agent", ""},
		{"node", "Capture node", "name or id"},
	}
}

// zones returns the time zones offered in the menu; the user's own zone is added
// when missing.
func zones() []string {
	return []string{"UTC", "Europe/London", "Europe/Berlin", "Europe/Moscow", "America/New_York",
		"America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Dubai",
		"Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney"}
}

// Web serves the pages.
type Web struct {
	Status   StatusFunc
	Searcher Searcher
	Logger   *slog.Logger
	Now      func() time.Time
	// Nav returns what the header shows for the request's user (nil: nobody).
	Nav func(r *http.Request) views.Nav
	// TimeZone returns the request user's remembered time zone ("" for UTC).
	TimeZone func(r *http.Request) string
	// Calls correlates a call for the call view and the exports.
	Calls CallFunc
	// Aliases name hosts on the ladder; nil: none.
	Aliases *Aliases
	// RememberTimeZone stores the time zone a user chose in the search form, so
	// the next pages use it.
	RememberTimeZone func(r *http.Request, tz string)
	// Stats are the traffic statistics of the statistics page (nil: not kept).
	Stats StatsSource
}

func (wb *Web) log() *slog.Logger {
	if wb.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return wb.Logger
}

func (wb *Web) now() time.Time {
	if wb.Now != nil {
		return wb.Now()
	}
	return time.Now()
}

func (wb *Web) nav(r *http.Request) views.Nav {
	if wb.Nav == nil {
		return views.Nav{}
	}
	return wb.Nav(r)
}

// Handler returns the page routes.
func (wb *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", wb.searchPage)
	mux.HandleFunc("GET /call/{callid}", wb.callPage)
	mux.HandleFunc("GET /stats", wb.statsPage)
	mux.HandleFunc("GET /call/{callid}/pcap", wb.callPcap)
	mux.HandleFunc("GET /call/{callid}/text", wb.callText)
	return mux
}

// location resolves the page's time zone: the form's, else the user's, else UTC.
func (wb *Web) location(r *http.Request) (*time.Location, string) {
	name := r.URL.Query().Get("tz")
	if name == "" && wb.TimeZone != nil {
		name = wb.TimeZone(r)
	}
	if name == "" {
		name = "UTC"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, "UTC"
	}
	return loc, name
}

// parseLocal reads a time from the form: a datetime-local value in loc, or
// anything ParseTime takes.
func parseLocal(s string, loc *time.Location, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UnixMicro(), nil
		}
	}
	return ParseTime(s, now)
}

func (wb *Web) searchPage(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	loc, tzName := wb.location(r)
	if tz := v.Get("tz"); tz != "" && tz == tzName && wb.RememberTimeZone != nil && wb.TimeZone != nil && wb.TimeZone(r) != tz {
		wb.RememberTimeZone(r, tz)
	}
	now := wb.now()
	p := views.SearchPage{Nav: wb.nav(r), TZ: tzName, Since: v.Get("since"), Until: v.Get("until")}
	p.Zones = zones()
	if !containsString(p.Zones, tzName) {
		p.Zones = append([]string{tzName}, p.Zones...)
	}
	searched := false
	for _, f := range searchFields() {
		val := strings.TrimSpace(v.Get(f[0]))
		searched = searched || val != ""
		p.Fields = append(p.Fields, views.Field{Name: f[0], Label: f[1], Value: val, Placeholder: f[2]})
	}
	searched = searched || p.Since != "" || p.Until != "" || v.Get("tab") != ""
	if !searched {
		p.Since = ""
		wb.render(w, r, views.Search(p))
		return
	}
	p.Searched = true
	q, err := ParseQuery(v, now)
	if err == nil {
		q.Since, err = parseLocal(v.Get("since"), loc, now)
	}
	if err == nil {
		q.Until, err = parseLocal(v.Get("until"), loc, now)
	}
	if err != nil {
		p.Error = err.Error()
		w.WriteHeader(http.StatusBadRequest)
		wb.render(w, r, views.Search(p))
		return
	}
	q.Limit = pageSearchLimit
	res, err := wb.Searcher.Search(r.Context(), q)
	if err != nil {
		wb.log().Error("search page", "err", err)
		p.Error = "The search failed: " + err.Error()
		w.WriteHeader(http.StatusInternalServerError)
		wb.render(w, r, views.Search(p))
		return
	}
	p.Window = window(res.Since, res.Until, loc)
	p.Unreadable = res.Unreadable
	if res.More() > 0 {
		p.Cut, p.CutTotal, p.CutShown = true, res.Total, len(res.Hits)
	}
	tab := v.Get("tab")
	if tab == "" {
		tab = string(search.KindCall)
	}
	for _, t := range [...][2]string{{"calls", "Calls"}, {"registrations", "Registrations"}, {"other", "Other"}, {"all", "All messages"}} {
		p.Tabs = append(p.Tabs, views.Tab{Name: t[0], Label: t[1], On: t[0] == tab, Href: withParams(r.URL, "tab", t[0], "page", "")})
	}
	page, _ := strconv.Atoi(v.Get("page"))
	page = max(page, 1)
	if tab == "all" {
		wb.messageRows(&p, res.Hits, page, r.URL, loc)
	} else {
		wb.dialogRows(&p, res.Hits, search.Kind(tab), v.Get("sort"), page, r.URL, loc)
	}
	wb.render(w, r, views.Search(p))
}

func (wb *Web) dialogRows(p *views.SearchPage, hits []search.Hit, kind search.Kind, sortBy string, page int, u *url.URL, loc *time.Location) {
	var ds []search.Dialog
	for _, d := range search.Dialogs(hits) {
		if d.Kind == kind {
			ds = append(ds, d)
		}
	}
	sortDialogs(ds, sortBy)
	for _, c := range [...][2]string{{"start", "Start"}, {"from", "From"}, {"to", "To"}, {"ruri", "RURI user"},
		{"status", "Status"}, {"duration", "Duration"}, {"messages", "Messages"}, {"legs", "Legs"}, {"", "Nodes"}, {"", "Call-ID"}} {
		col := views.Column{Label: c[1]}
		if c[0] != "" {
			col.Href = withParams(u, "sort", c[0], "page", "")
		}
		p.Columns = append(p.Columns, col)
	}
	p.Total = len(ds)
	lo, hi := pageBounds(len(ds), page)
	for _, d := range ds[lo:hi] {
		row := views.DialogRow{CallID: d.CallID, Start: record.TimeOf(d.Start).In(loc).Format("2006-01-02 15:04:05.000"),
			From: d.FromUser, To: d.ToUser, RURI: d.RURIUser, Status: d.Status, Messages: d.Messages, Legs: d.Legs,
			Nodes: strings.Join(d.Nodes, ", "), Href: "/call/" + url.PathEscape(d.CallID)}
		if dur := d.Duration(); dur > 0 {
			row.Duration = (time.Duration(dur) * time.Microsecond).Round(time.Second).String()
		}
		p.Dialogs = append(p.Dialogs, row)
	}
	p.From, p.To = lo+1, hi
	wb.pager(p, page, len(ds), u)
}

func (wb *Web) messageRows(p *views.SearchPage, hits []search.Hit, page int, u *url.URL, loc *time.Location) {
	// Newest first, like the dialog tabs.
	p.Total = len(hits)
	lo, hi := pageBounds(len(hits), page)
	for i := len(hits) - 1 - lo; i >= len(hits)-hi; i-- {
		h := &hits[i]
		m := MessageOf(h)
		what := m.Method
		if m.Status != 0 {
			what = strconv.Itoa(m.Status) + " " + m.Reason
		}
		if m.Type != "sip" {
			what = m.Type
		}
		p.Messages = append(p.Messages, views.MessageRow{Time: record.TimeOf(h.Msg.Time).In(loc).Format("2006-01-02 15:04:05.000000"),
			Src: m.Src, Dst: m.Dst, Transport: m.Transport, What: what, Status: m.Status, CallID: m.CallID,
			Node: m.Node, Href: "/call/" + url.PathEscape(m.CallID) + "?msg=" + url.QueryEscape(m.Ref)})
	}
	p.From, p.To = lo+1, hi
	wb.pager(p, page, len(hits), u)
}

func (wb *Web) pager(p *views.SearchPage, page, total int, u *url.URL) {
	if page > 1 {
		p.PrevHref = withParams(u, "page", strconv.Itoa(page-1))
	}
	if page*pageSize < total {
		p.NextHref = withParams(u, "page", strconv.Itoa(page+1))
	}
}

func pageBounds(n, page int) (lo, hi int) {
	lo = min((page-1)*pageSize, n)
	return lo, min(lo+pageSize, n)
}

func sortDialogs(ds []search.Dialog, by string) {
	less := map[string]func(a, b *search.Dialog) bool{
		"from":     func(a, b *search.Dialog) bool { return a.FromUser < b.FromUser },
		"to":       func(a, b *search.Dialog) bool { return a.ToUser < b.ToUser },
		"ruri":     func(a, b *search.Dialog) bool { return a.RURIUser < b.RURIUser },
		"status":   func(a, b *search.Dialog) bool { return a.Status < b.Status },
		"duration": func(a, b *search.Dialog) bool { return a.Duration() > b.Duration() },
		"messages": func(a, b *search.Dialog) bool { return a.Messages > b.Messages },
		"legs":     func(a, b *search.Dialog) bool { return a.Legs > b.Legs },
	}[by]
	if less == nil {
		return // Dialogs are newest first already.
	}
	sort.SliceStable(ds, func(i, j int) bool { return less(&ds[i], &ds[j]) })
}

// withParams returns u's path and query with the given key/value pairs set
// ("" removes a key).
func withParams(u *url.URL, kv ...string) string {
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return u.Path + "?" + q.Encode()
}

func window(since, until int64, loc *time.Location) string {
	f := func(us int64) string { return record.TimeOf(us).In(loc).Format("2006-01-02 15:04:05") }
	switch {
	case since == 0 && until == 0:
		return "in the whole archive"
	case until == 0:
		return "since " + f(since)
	case since == 0:
		return "until " + f(until)
	}
	return fmt.Sprintf("between %s and %s", f(since), f(until))
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
