package stats

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"

	"traced/ingest/record"
	"traced/ingest/sip"
	"traced/segment"
)

// Limits bounds the counting state and sets its timing rules. Zero fields take
// the defaults of DefaultLimits.
type Limits struct {
	// DedupWindow: copies of one message (same Call-ID, CSeq, method or status
	// and To tag) captured within this time count once. Default 2 s.
	DedupWindow int64 // µs
	// CallTimeout: a call attempt with no final response for this long is
	// closed: failed with its challenge code if it was last challenged
	// (401/407), else unresolved. Default 5 min.
	CallTimeout int64 // µs
	// Linger: a finished call is remembered this long, so late copies of its
	// final response do not count again. Default 32 s (RFC 3261 Timer B).
	Linger int64 // µs
	// MaxCalls, MaxRegs, MaxIPs, MaxDedup bound the tables of calls in
	// progress, challenged registrations, per-address burst counters, and
	// remembered messages (per generation).
	MaxCalls, MaxRegs, MaxIPs, MaxDedup int
	// BurstThreshold: this many 401/403/404 replies to one address within one
	// minute (capture time) raise an auth_burst alarm. Default 20.
	BurstThreshold int
}

// DefaultLimits returns the defaults.
func DefaultLimits() Limits {
	return Limits{DedupWindow: 2e6, CallTimeout: 300e6, Linger: 32e6, MaxCalls: 200000, MaxRegs: 100000,
		MaxIPs: 50000, MaxDedup: 200000, BurstThreshold: 20}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.DedupWindow <= 0 {
		l.DedupWindow = d.DedupWindow
	}
	if l.CallTimeout <= 0 {
		l.CallTimeout = d.CallTimeout
	}
	if l.Linger <= 0 {
		l.Linger = d.Linger
	}
	if l.MaxCalls <= 0 {
		l.MaxCalls = d.MaxCalls
	}
	if l.MaxRegs <= 0 {
		l.MaxRegs = d.MaxRegs
	}
	if l.MaxIPs <= 0 {
		l.MaxIPs = d.MaxIPs
	}
	if l.MaxDedup <= 0 {
		l.MaxDedup = d.MaxDedup
	}
	if l.BurstThreshold <= 0 {
		l.BurstThreshold = d.BurstThreshold
	}
	return l
}

// call is a call attempt in progress (or just finished).
type call struct {
	invite     int64  // capture time of the latest INVITE of the attempt
	last       int64  // last activity
	cseq       uint32 // CSeq of the latest INVITE
	challenged int16  // 401 or 407 when the last final response was a challenge
	ringing    bool   // PDD observed
	done       bool   // final outcome counted
}

// reg is a registration that was challenged.
type reg struct {
	at   int64
	cseq uint32
}

// ipState is the per-address state of the scanner alarms.
type ipState struct {
	minute    int64        // capture minute of n
	n         int32        // 401/403/404 replies to the address in that minute
	burstHour segment.Hour // hour+1 of the last auth_burst alarm (0: none)
	burstIdx  int32        // its index in that hour's AlarmList, -1 when not listed
	uaHour    segment.Hour // hour+1 of the last ua alarm
}

// dedup remembers message keys in two generations of at least window each,
// so a key is remembered between one and two windows, and memory is bounded
// by MaxDedup per generation.
type dedup struct {
	cur, prev map[uint64]struct{}
	start     int64 // capture time at which cur started
	window    int64
	max       int
}

func (d *dedup) seen(k uint64, t int64) bool {
	if t-d.start >= d.window || len(d.cur) >= d.max {
		d.prev, d.cur = d.cur, d.prev
		clear(d.cur)
		if t-d.start >= 2*d.window {
			clear(d.prev) // nothing in it is recent enough to keep
		}
		d.start = t
	}
	if _, ok := d.cur[k]; ok {
		return true
	}
	if _, ok := d.prev[k]; ok {
		return true
	}
	d.cur[k] = struct{}{}
	return false
}

// engine counts decoded messages into sets. Its state (duplicates, calls in
// progress, challenged registrations, per-address counters) carries across the
// hours it is fed in order; it lives in memory only.
type engine struct {
	lim   Limits
	seed  maphash.Seed
	h     maphash.Hash
	dd    dedup
	calls map[uint64]call
	regs  map[uint64]reg
	ips   map[netip.Addr]ipState
	now   int64 // latest capture time seen
	swept int64 // capture time of the last sweep
	room  int64 // capture time of the last makeRoom
	msg   record.Message
	buf   []byte
	// rtcp, when not nil, gets the RTCP of live blocks (rtcp.go).
	rtcp *RTCPTotals
}

func newEngine(lim Limits) *engine {
	lim = lim.withDefaults()
	e := &engine{lim: lim, seed: maphash.MakeSeed(),
		dd:    dedup{cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{}, window: lim.DedupWindow, max: lim.MaxDedup},
		calls: map[uint64]call{}, regs: map[uint64]reg{}, ips: map[netip.Addr]ipState{}, buf: make([]byte, 0, 64)}
	e.h.SetSeed(e.seed)
	return e
}

// callKey hashes a Call-ID.
func (e *engine) callKey(id []byte) uint64 {
	return maphash.Bytes(e.seed, id)
}

// msgKey identifies one message across capture points: Call-ID, CSeq, method
// or status code, To tag. Proxies rewrite the Request-URI and add Via headers,
// so neither is part of it.
func (e *engine) msgKey(h *sip.Headers) uint64 {
	e.h.Reset()
	_, _ = e.h.Write(h.CallID)
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], h.CSeq)
	binary.BigEndian.PutUint32(b[4:], uint32(h.StatusCode))
	_, _ = e.h.Write(b[:])
	_, _ = e.h.Write(h.CSeqMethod)
	_ = e.h.WriteByte(0)
	_, _ = e.h.Write(h.Method)
	_ = e.h.WriteByte(0)
	_, _ = e.h.Write(h.ToTag)
	return e.h.Sum64()
}

// count counts one stored record into s, the set of the hour it is stored in.
func (e *engine) count(r segment.Record, s *Set) {
	s.Records++
	if record.Decode(r, &e.msg) != nil {
		return
	}
	if !e.msg.IsSIP {
		if e.msg.Type == 5 && e.rtcp != nil {
			e.rtcp.observeRTCP(e.msg.Payload)
		}
		return
	}
	m := &e.msg
	h := &m.SIP
	t := m.Time
	if s.MinTime == 0 || t < s.MinTime {
		s.MinTime = t
	}
	s.MaxTime = max(s.MaxTime, t)
	if t > e.now {
		e.now = t
	}
	if e.now-e.swept >= 1e6 {
		e.sweep(s)
	}
	key := e.msgKey(h)
	dup := e.dd.seen(key, t)
	if !h.Request && (h.StatusCode == 401 || h.StatusCode == 403 || h.StatusCode == 404) {
		// Every capture point's copy, once per destination: a reply relayed by
		// a proxy counts for the address it was finally sent to.
		e.authFailure(key, t, s, dup)
	}
	if dup {
		s.Copies++
		return
	}
	s.Messages++
	mn := s.minute(t)
	mn.Messages++
	if h.Request {
		e.request(h, t, s, mn)
		return
	}
	code := h.StatusCode
	if code < 100 || code > 699 {
		return
	}
	cm := methodIndex(h.CSeqMethod)
	s.Responses[code]++
	s.ByCSeq[cm][code/100]++
	switch cm {
	case mINVITE:
		e.callResponse(h, t, s, mn)
	case mREGISTER:
		e.regResponse(h, t, s)
	}
}

func (e *engine) request(h *sip.Headers, t int64, s *Set, mn *Minute) {
	mi := methodIndex(h.Method)
	s.Requests[mi]++
	src := e.msg.Src.Addr()
	if src.IsValid() {
		e.buf = src.Unmap().AppendTo(e.buf[:0])
		s.SrcIPs.Add(e.buf, 1)
	}
	if ua := h.UserAgent; len(ua) > 0 {
		s.UAs.Add(cut(ua), 1)
		if ScannerUA(ua) {
			e.uaAlarm(src, ua, t, s)
		}
	}
	if mi == mINVITE && len(h.ToTag) == 0 && len(h.CallID) > 0 {
		e.invite(h, t, s, mn)
	}
}

// invite handles an initial INVITE: a new attempt, or the next INVITE of an
// attempt already seen (a retransmission, or the retry after a challenge).
func (e *engine) invite(h *sip.Headers, t int64, s *Set, mn *Minute) {
	k := e.callKey(h.CallID)
	if c, ok := e.calls[k]; ok {
		if !c.done {
			if h.CSeq != c.cseq {
				c.invite, c.cseq, c.challenged = t, h.CSeq, 0
			}
			c.last = t
			e.calls[k] = c
		}
		return
	}
	s.Calls[callAttempts]++
	mn.Attempts++
	if len(e.calls) >= e.lim.MaxCalls {
		e.makeRoom(s)
		if len(e.calls) >= e.lim.MaxCalls {
			// Counted as an attempt, but its outcome cannot be followed.
			s.Calls[callUnresolved]++
			return
		}
	}
	e.calls[k] = call{invite: t, last: t, cseq: h.CSeq}
}

func (e *engine) callResponse(h *sip.Headers, t int64, s *Set, mn *Minute) {
	k := e.callKey(h.CallID)
	c, ok := e.calls[k]
	if !ok || c.done {
		return
	}
	c.last = t
	code := h.StatusCode
	switch {
	case code < 180:
	case code < 200:
		if !c.ringing {
			c.ringing = true
			s.PDD.Observe((t - c.invite) / 1000)
		}
	case code < 300:
		if !c.ringing {
			c.ringing = true
			s.PDD.Observe((t - c.invite) / 1000)
		}
		s.Calls[callAnswered]++
		s.Final[code]++
		s.Setup.Observe((t - c.invite) / 1000)
		mn.Answered++
		c.done = true
	case code == 401 || code == 407:
		c.challenged = int16(code)
	default:
		e.fail(code, h.ToUser, s, mn)
		c.done = true
	}
	e.calls[k] = c
}

// NEREffective reports whether a final failure code counts as an effective
// call for the network effectiveness ratio: user busy (486, 600), no answer or
// subscriber absent (480, 487) and terminal rejection (603, 607).
func NEREffective(code int) bool {
	switch code {
	case 486, 600, 480, 487, 603, 607:
		return true
	}
	return false
}

// fail counts a failed call attempt with final code.
func (e *engine) fail(code int, dest []byte, s *Set, mn *Minute) {
	s.Calls[callFailed]++
	s.Final[code]++
	switch code {
	case 486, 600:
		s.Calls[callBusy]++
	case 480, 487:
		s.Calls[callNoAnswer]++
	case 603, 607:
		s.Calls[callRejected]++
	}
	mn.Failed++
	if NEREffective(code) {
		mn.Effective++
	}
	if len(dest) == 0 {
		dest = []byte("(none)")
	}
	s.FailDests.Add(cut(dest), 1)
}

func (e *engine) regResponse(h *sip.Headers, t int64, s *Set) {
	code := h.StatusCode
	if code < 200 {
		return
	}
	k := e.callKey(h.CallID)
	switch {
	case code < 300:
		s.Regs[regOK]++
		delete(e.regs, k)
	case code == 401 || code == 407:
		r, ok := e.regs[k]
		switch {
		case ok && r.cseq == h.CSeq:
			// A retransmitted challenge.
		case ok && t-r.at <= e.lim.Linger:
			// Challenged again right after answering a challenge: the
			// credentials were refused.
			s.Regs[regFailed]++
			delete(e.regs, k)
		default:
			s.Regs[regChallenges]++
			if len(e.regs) < e.lim.MaxRegs {
				e.regs[k] = reg{at: t, cseq: h.CSeq}
			}
		}
	default:
		s.Regs[regFailed]++
		delete(e.regs, k)
	}
}

// authFailure counts a 401/403/404 reply toward its destination's burst
// counter, once per destination however many points captured it.
func (e *engine) authFailure(key uint64, t int64, s *Set, dup bool) {
	if !dup {
		s.minute(t).AuthFailures++
	}
	dst := e.msg.Dst.Addr().Unmap()
	if !dst.IsValid() {
		return
	}
	e.h.Reset()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], key)
	_, _ = e.h.Write(b[:])
	a16 := dst.As16()
	_, _ = e.h.Write(a16[:])
	if e.dd.seen(e.h.Sum64(), t) {
		return
	}
	st, ok := e.ips[dst]
	if !ok && len(e.ips) >= e.lim.MaxIPs {
		return
	}
	if !ok {
		st.burstIdx = -1
	}
	minute := t / 60e6
	if st.minute != minute {
		st.minute, st.n = minute, 0
	}
	st.n++
	cur := s.Hour + 1
	switch {
	case st.burstHour == cur && st.burstIdx >= 0 && int(st.burstIdx) < len(s.AlarmList):
		s.AlarmList[st.burstIdx].Count++
	case st.burstHour != cur && int(st.n) >= e.lim.BurstThreshold:
		st.burstHour, st.burstIdx = cur, -1
		s.Alarms[AlarmAuthBurst]++
		if len(s.AlarmList) < maxAlarmList {
			st.burstIdx = int32(len(s.AlarmList))
			s.AlarmList = append(s.AlarmList, Alarm{Kind: "auth_burst", IP: dst.String(), Time: t, Count: int64(st.n)})
		}
	}
	e.ips[dst] = st
}

// uaAlarm raises a ua alarm for src, once per address and hour.
func (e *engine) uaAlarm(src netip.Addr, ua []byte, t int64, s *Set) {
	src = src.Unmap()
	cur := s.Hour + 1
	st, ok := e.ips[src]
	if ok && st.uaHour == cur {
		return
	}
	if ok || len(e.ips) < e.lim.MaxIPs {
		if !ok {
			st.burstIdx = -1
		}
		st.uaHour = cur
		e.ips[src] = st
	}
	s.Alarms[AlarmUA]++
	if len(s.AlarmList) < maxAlarmList {
		ip := ""
		if src.IsValid() {
			ip = src.String()
		}
		s.AlarmList = append(s.AlarmList, Alarm{Kind: "ua", IP: ip, UA: string(cut(ua)), Time: t})
	}
}

// sweep closes calls that timed out and forgets expired state; what it closes
// is counted in s.
func (e *engine) sweep(s *Set) {
	now := e.now
	e.swept = now
	for k, c := range e.calls {
		switch {
		case c.done && now-c.last > e.lim.Linger:
			delete(e.calls, k)
		case !c.done && now-c.last > e.lim.CallTimeout:
			if c.challenged != 0 {
				e.fail(int(c.challenged), nil, s, s.minute(now))
			} else {
				s.Calls[callUnresolved]++
			}
			delete(e.calls, k)
		}
	}
	for k, r := range e.regs {
		if now-r.at > e.lim.Linger {
			delete(e.regs, k)
		}
	}
	minute := now / 60e6
	for a, st := range e.ips {
		if minute-st.minute > 60 {
			delete(e.ips, a)
		}
	}
}

// makeRoom frees the calls table when it is full: a sweep, then, if it is
// still nearly full, every finished call (a late copy of a finished call's
// final response then finds no call and is ignored, as it would be anyway).
// It runs at most once per 100 ms of capture time: under a flood of new calls
// a full table costs one scan per interval, not one per INVITE.
func (e *engine) makeRoom(s *Set) {
	if e.room != 0 && e.now-e.room < 100e3 {
		return
	}
	e.room = e.now
	e.sweep(s)
	if len(e.calls) < e.lim.MaxCalls*9/10 {
		return
	}
	for k, c := range e.calls {
		if c.done {
			delete(e.calls, k)
		}
	}
}

// cut limits a key's length.
func cut(b []byte) []byte {
	if len(b) > maxKeyLen {
		return b[:maxKeyLen]
	}
	return b
}

// scannerUAs are User-Agent substrings (lower case) of SIP scanning and
// toll-fraud tools: SIPVicious (friendly-scanner, sipvicious), sipcli,
// sip-scan, VaxSIPUserAgent, iWar, sundayddr, smap, pplsip, SIPScan. Agents
// that also ship in legitimate products (PortSIP VoIP SDK, "Asterisk PBX",
// Z 3.x) are left out: they would raise alarms on real customers.
func scannerUAs() [10]string {
	return [10]string{"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sipscan", "vaxsipuseragent",
		"iwar", "sundayddr", "smap", "pplsip"}
}

// ScannerUA reports whether a User-Agent belongs to a known scanning tool
// (case-insensitive substring match).
func ScannerUA(ua []byte) bool {
	for _, n := range scannerUAs() {
		if containsFold(ua, n) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII needle, ignoring
// ASCII case in s.
func containsFold(s []byte, needle string) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
