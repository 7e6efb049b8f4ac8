package stats

import (
	"cmp"
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"time"

	"traced/segment"
)

// Report is what the statistics page and GET /api/v1/stats show for a time
// range. The range is widened to whole hours: every counter is kept per hour.
// Its JSON names are stable.
type Report struct {
	Since    time.Time `json:"since"` // start of the first hour covered
	Until    time.Time `json:"until"` // end of the last hour covered
	Hours    int       `json:"hours"` // hours with statistics in the range
	Counting int       `json:"hours_counting"`

	Records  int64 `json:"records"`
	Messages int64 `json:"messages"`
	Copies   int64 `json:"duplicate_copies"`

	Requests  []NameCount `json:"requests"`  // by method
	Responses []CodeCount `json:"responses"` // by status code
	// ResponsesByMethod counts responses by CSeq method and class ("2xx").
	ResponsesByMethod []MethodClasses `json:"responses_by_method"`

	Calls         CallReport   `json:"calls"`
	PDD           DelayReport  `json:"pdd"`
	Setup         DelayReport  `json:"setup_time"`
	Registrations RegReport    `json:"registrations"`
	TopSourceIPs  []TopEntry   `json:"top_source_ips"`
	TopUserAgents []TopEntry   `json:"top_user_agents"`
	TopFailedDest []TopEntry   `json:"top_failed_destinations"`
	Alarms        AlarmReport  `json:"alarms"`
	Series        []MinuteStat `json:"series"` // per minute, oldest first
}

// NameCount is a count by name.
type NameCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// CodeCount is a count by status code.
type CodeCount struct {
	Code  int   `json:"code"`
	Count int64 `json:"count"`
}

// MethodClasses counts the responses of one CSeq method by class.
type MethodClasses struct {
	Method  string           `json:"method"`
	Classes map[string]int64 `json:"classes"` // "1xx".."6xx"
}

// CallReport is the call KPIs.
type CallReport struct {
	Attempts   int64       `json:"attempts"`
	Answered   int64       `json:"answered"`
	Failed     int64       `json:"failed"`
	Busy       int64       `json:"busy"`       // 486, 600
	NoAnswer   int64       `json:"no_answer"`  // 480, 487
	Rejected   int64       `json:"rejected"`   // 603, 607
	Unresolved int64       `json:"unresolved"` // no final response seen
	ASR        float64     `json:"asr"`        // answered / attempts (0..1)
	NER        float64     `json:"ner"`        // (answered + busy + no_answer + rejected) / attempts
	FinalCodes []CodeCount `json:"final_codes"`
	// FailedByClass counts failed attempts by class of their final code.
	FailedByClass map[string]int64 `json:"failed_by_class"`
}

// DelayReport summarises a delay histogram.
type DelayReport struct {
	Samples int64         `json:"samples"`
	MeanMS  float64       `json:"mean_ms"`
	P50MS   float64       `json:"p50_ms"`
	P90MS   float64       `json:"p90_ms"`
	P99MS   float64       `json:"p99_ms"`
	Buckets []DelayBucket `json:"buckets"`
}

// DelayBucket is one histogram bucket; LeMS is 0 for the open last bucket.
type DelayBucket struct {
	LeMS  int64 `json:"le_ms"`
	Count int64 `json:"count"`
}

// RegReport is the registration counters.
type RegReport struct {
	OK         int64 `json:"ok"`
	Challenges int64 `json:"challenges"`
	Failed     int64 `json:"failed"`
}

// AlarmReport is the scanner alarms.
type AlarmReport struct {
	UA        int64   `json:"ua"`
	AuthBurst int64   `json:"auth_burst"`
	List      []Alarm `json:"list"` // newest first
}

// MinuteStat is one point of the per-minute series.
type MinuteStat struct {
	Time time.Time `json:"time"`
	Minute
}

// reportTop is the number of entries of each top list in a report.
const reportTop = 20

// maxReportAlarms bounds the alarms a report lists.
const maxReportAlarms = 500

// Report builds the report of the hours that overlap [since, until) (zero
// times: unbounded on that side).
func (s *Stats) Report(since, until time.Time) (*Report, error) {
	var sets []*Set
	counting := 0
	for _, h := range s.hours(since, until) {
		set, active, err := s.snapshot(h)
		if err != nil {
			// Not written yet, or damaged: the follower counts it (again).
			if !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("stats: unreadable file left out of a report", "hour", h, "err", err)
			}
			counting++
			continue
		}
		if active {
			counting++
		}
		sets = append(sets, set)
	}
	r := Build(sets)
	r.Counting = counting
	if len(sets) == 0 {
		if !since.IsZero() {
			r.Since = segment.HourOf(since).Time()
		}
		if !until.IsZero() {
			r.Until = segment.HourOf(until.Add(-time.Microsecond)).Time().Add(time.Hour)
		}
	}
	return r, nil
}

// hours lists the hours with statistics (in memory or on disk) that overlap
// [since, until), ascending.
func (s *Stats) hours(since, until time.Time) []segment.Hour {
	seen := map[segment.Hour]bool{}
	s.mu.Lock()
	for h := range s.active {
		seen[h] = true
	}
	for h := range s.cache {
		seen[h] = true
	}
	dropped := make(map[segment.Hour]bool, len(s.dropped))
	for h := range s.dropped {
		dropped[h] = true
	}
	s.mu.Unlock()
	if ents, err := readDirNames(s.dir); err == nil {
		for _, n := range ents {
			if h, ok := hourOfFile(n); ok {
				seen[h] = true
			}
		}
	}
	var out []segment.Hour
	for h := range seen {
		if dropped[h] {
			continue
		}
		start := h.Time()
		if (!until.IsZero() && !start.Before(until)) || (!since.IsZero() && !start.Add(time.Hour).After(since)) {
			continue
		}
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// snapshot returns hour h's set: a copy of the set being counted, or the
// finished set (shared: not to be modified).
func (s *Stats) snapshot(h segment.Hour) (*Set, bool, error) {
	s.mu.Lock()
	if st := s.active[h]; st != nil {
		c := st.set.Clone()
		s.mu.Unlock()
		return c, true, nil
	}
	if c := s.cache[h]; c != nil {
		s.mu.Unlock()
		return c, false, nil
	}
	s.mu.Unlock()
	set, err := readFile(s.dir, h)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	if !s.dropped[h] && s.active[h] == nil {
		s.addCache(set)
	}
	s.mu.Unlock()
	return set, false, nil
}

// Build merges sets (of distinct hours) into a report.
func Build(sets []*Set) *Report {
	slices.SortFunc(sets, func(a, b *Set) int { return cmp.Compare(a.Hour, b.Hour) })
	var c Counts
	ips, uas, dests := NewTopN(4*TopCap), NewTopN(4*TopCap), NewTopN(4*TopCap)
	r := &Report{Hours: len(sets)}
	var alarms []Alarm
	for _, set := range sets {
		c.Merge(&set.Counts)
		ips.Merge(set.SrcIPs)
		uas.Merge(set.UAs)
		dests.Merge(set.FailDests)
		alarms = append(alarms, set.AlarmList...)
		start := set.Hour.Time()
		for i, m := range set.Minutes {
			r.Series = append(r.Series, MinuteStat{Time: start.Add(time.Duration(i) * time.Minute), Minute: m})
		}
	}
	if len(sets) > 0 {
		r.Since = sets[0].Hour.Time()
		r.Until = sets[len(sets)-1].Hour.Time().Add(time.Hour)
	}
	r.Records, r.Messages, r.Copies = c.Records, c.Messages, c.Copies
	names := Methods()
	r.Requests = []NameCount{}
	for i, n := range c.Requests {
		if n > 0 {
			r.Requests = append(r.Requests, NameCount{names[i], n})
		}
	}
	r.Responses = codes(c.Responses[:])
	r.ResponsesByMethod = []MethodClasses{}
	for i, row := range c.ByCSeq {
		if row == [7]int64{} {
			continue
		}
		mc := MethodClasses{Method: names[i], Classes: map[string]int64{}}
		for k := 1; k <= 6; k++ {
			if row[k] > 0 {
				mc.Classes[strconv.Itoa(k)+"xx"] = row[k]
			}
		}
		r.ResponsesByMethod = append(r.ResponsesByMethod, mc)
	}
	cr := CallReport{Attempts: c.Calls[callAttempts], Answered: c.Calls[callAnswered], Failed: c.Calls[callFailed],
		Busy: c.Calls[callBusy], NoAnswer: c.Calls[callNoAnswer], Rejected: c.Calls[callRejected],
		Unresolved: c.Calls[callUnresolved], FinalCodes: codes(c.Final[:]), FailedByClass: map[string]int64{}}
	if cr.Attempts > 0 {
		cr.ASR = float64(cr.Answered) / float64(cr.Attempts)
		cr.NER = float64(cr.Answered+cr.Busy+cr.NoAnswer+cr.Rejected) / float64(cr.Attempts)
	}
	for code, n := range c.Final {
		if code >= 300 && n > 0 {
			cr.FailedByClass[strconv.Itoa(code/100)+"xx"] += n
		}
	}
	r.Calls = cr
	r.PDD, r.Setup = delay(&c.PDD), delay(&c.Setup)
	r.Registrations = RegReport{OK: c.Regs[regOK], Challenges: c.Regs[regChallenges], Failed: c.Regs[regFailed]}
	r.TopSourceIPs, r.TopUserAgents, r.TopFailedDest = ips.Top(reportTop), uas.Top(reportTop), dests.Top(reportTop)
	slices.SortStableFunc(alarms, func(a, b Alarm) int { return cmp.Compare(b.Time, a.Time) })
	if len(alarms) > maxReportAlarms {
		alarms = alarms[:maxReportAlarms]
	}
	r.Alarms = AlarmReport{UA: c.Alarms[AlarmUA], AuthBurst: c.Alarms[AlarmAuthBurst], List: alarms}
	if r.Alarms.List == nil {
		r.Alarms.List = []Alarm{}
	}
	if r.Series == nil {
		r.Series = []MinuteStat{}
	}
	return r
}

func codes(a []int64) []CodeCount {
	out := []CodeCount{}
	for code, n := range a {
		if n > 0 {
			out = append(out, CodeCount{code, n})
		}
	}
	return out
}

func delay(h *Hist) DelayReport {
	d := DelayReport{Samples: h.Count, P50MS: h.Quantile(0.5), P90MS: h.Quantile(0.9), P99MS: h.Quantile(0.99)}
	if h.Count > 0 {
		d.MeanMS = float64(h.SumMS) / float64(h.Count)
	}
	b := Bounds()
	for i, n := range h.Buckets {
		le := int64(0)
		if i < len(b) {
			le = b[i]
		}
		d.Buckets = append(d.Buckets, DelayBucket{LeMS: le, Count: n})
	}
	return d
}

// RTCP returns the RTCP quality distributions of live traffic since Open.
func (s *Stats) RTCP() RTCPTotals {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rtcp.clone()
}

// ReportOf is the report of counts alone, without top lists, series or
// alarm list: the figures /metrics exposes from Cumulative.
func ReportOf(c Counts) *Report {
	set := NewSet(0)
	set.Counts = c
	r := Build([]*Set{set})
	r.Since, r.Until, r.Hours, r.Series = time.Time{}, time.Time{}, 0, nil
	return r
}

// LastHour returns the call attempts, answered calls and NER-effective calls
// (answered plus effective failures) of the 60 minutes before now, from the
// per-minute series of the hours being counted.
func (s *Stats) LastHour() (attempts, answered, effective int64) {
	now := s.opts.Now()
	from := now.Add(-time.Hour)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range []segment.Hour{segment.HourOf(now) - 1, segment.HourOf(now)} {
		var set *Set
		if st := s.active[h]; st != nil {
			set = st.set
		} else {
			set = s.cache[h]
		}
		if set == nil {
			continue
		}
		for i, m := range set.Minutes {
			t := set.Hour.Time().Add(time.Duration(i) * time.Minute)
			if t.Add(time.Minute).After(from) && !t.After(now) {
				attempts += m.Attempts
				answered += m.Answered
				effective += m.Answered + m.Effective
			}
		}
	}
	return attempts, answered, effective
}
