package stats

import (
	"slices"

	"traced/segment"
)

// Methods are the request methods counted by name; every other method counts
// as "OTHER", so garbage cannot grow the tables.
func Methods() []string {
	return []string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "UPDATE", "PRACK",
		"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "OTHER"}
}

// Method indexes into Methods.
const (
	mINVITE = iota
	mACK
	mBYE
	mCANCEL
	mREGISTER
	mOPTIONS
	mINFO
	mUPDATE
	mPRACK
	mSUBSCRIBE
	mNOTIFY
	mPUBLISH
	mMESSAGE
	mREFER
	mOTHER
	numMethods
)

// methodIndex returns the index in Methods of a method name, case-sensitive
// as RFC 3261 says (methods are upper case on the wire).
func methodIndex(b []byte) int {
	switch string(b) { // no allocation: the compiler compares in place
	case "INVITE":
		return mINVITE
	case "ACK":
		return mACK
	case "BYE":
		return mBYE
	case "CANCEL":
		return mCANCEL
	case "REGISTER":
		return mREGISTER
	case "OPTIONS":
		return mOPTIONS
	case "INFO":
		return mINFO
	case "UPDATE":
		return mUPDATE
	case "PRACK":
		return mPRACK
	case "SUBSCRIBE":
		return mSUBSCRIBE
	case "NOTIFY":
		return mNOTIFY
	case "PUBLISH":
		return mPUBLISH
	case "MESSAGE":
		return mMESSAGE
	case "REFER":
		return mREFER
	}
	return mOTHER
}

// Alarm kinds.
const (
	AlarmUA        = 0 // a request with a scanner's User-Agent
	AlarmAuthBurst = 1 // a burst of 401/403/404 replies to one address
	numAlarmKinds  = 2
)

// AlarmKinds names the alarm kinds, by index.
func AlarmKinds() []string { return []string{"ua", "auth_burst"} }

// Counts are the additive counters of a stretch of traffic. Two Counts add
// up field by field (Merge).
type Counts struct {
	Records  int64 // stored records read
	Messages int64 // distinct SIP messages (copies and quick retransmissions once)
	Copies   int64 // further copies of a message already counted

	Requests  [numMethods]int64
	Responses [700]int64             // by status code (100..699)
	ByCSeq    [numMethods][7]int64   // responses by CSeq method and class (index 1..6)
	Final     [700]int64             // final responses to call attempts, by code
	Calls     [numCallCounters]int64 // see the call* constants
	Regs      [numRegCounters]int64  // see the reg* constants
	Alarms    [numAlarmKinds]int64   // alarms raised, by kind
	PDD       Hist                   // INVITE → first 18x (or 2xx)
	Setup     Hist                   // INVITE → 2xx
	_         [0]func()              // not comparable
}

// Call counters.
const (
	callAttempts   = iota // initial INVITEs, once per Call-ID
	callAnswered          // 2xx
	callFailed            // any other final outcome (including busy, no answer, cancelled)
	callBusy              // 486, 600
	callNoAnswer          // 480, 487 (ring no answer, caller abandoned)
	callRejected          // 603, 607 (terminal rejection)
	callUnresolved        // no final response seen before the call expired
	numCallCounters
)

// Registration counters.
const (
	regOK         = iota // 2xx to REGISTER
	regChallenges        // 401/407 to a REGISTER not yet challenged
	regFailed            // any other final failure, and a second challenge (credentials refused)
	numRegCounters
)

// Merge adds o to c.
func (c *Counts) Merge(o *Counts) {
	c.Records += o.Records
	c.Messages += o.Messages
	c.Copies += o.Copies
	for i := range c.Requests {
		c.Requests[i] += o.Requests[i]
	}
	for i := range c.Responses {
		c.Responses[i] += o.Responses[i]
		c.Final[i] += o.Final[i]
	}
	for i := range c.ByCSeq {
		for j := range c.ByCSeq[i] {
			c.ByCSeq[i][j] += o.ByCSeq[i][j]
		}
	}
	for i := range c.Calls {
		c.Calls[i] += o.Calls[i]
	}
	for i := range c.Regs {
		c.Regs[i] += o.Regs[i]
	}
	for i := range c.Alarms {
		c.Alarms[i] += o.Alarms[i]
	}
	c.PDD.Merge(&o.PDD)
	c.Setup.Merge(&o.Setup)
}

// Minute is the per-minute series of one hour, for charts.
type Minute struct {
	Messages     int64 `json:"messages"`
	Attempts     int64 `json:"attempts"`
	Answered     int64 `json:"answered"`
	Failed       int64 `json:"failed"`
	Effective    int64 `json:"ner_effective_failures"` // failures that count as effective for NER
	AuthFailures int64 `json:"auth_failures"`          // 401/403/404 replies
}

func (m *Minute) merge(o *Minute) {
	m.Messages += o.Messages
	m.Attempts += o.Attempts
	m.Answered += o.Answered
	m.Failed += o.Failed
	m.Effective += o.Effective
	m.AuthFailures += o.AuthFailures
}

// Alarm is one scanner alarm.
type Alarm struct {
	Kind  string `json:"kind"`            // "ua" or "auth_burst"
	IP    string `json:"ip"`              // the scanner's address
	UA    string `json:"user_agent"`      // the User-Agent (kind ua), cut at 64 bytes
	Time  int64  `json:"time_us"`         // capture time of the message that raised it, Unix µs
	Count int64  `json:"count,omitempty"` // for auth_burst: replies in the minute when it was raised
}

// Capacity limits of one hour's set.
const (
	// TopCap is the number of keys each top table keeps per hour.
	TopCap = 512
	// maxAlarmList is the number of alarms listed per hour; more are only counted.
	maxAlarmList = 200
	// maxKeyLen cuts keys (User-Agents, users) of the top tables.
	maxKeyLen = 64
)

// Mark is how far a hour's segment has been counted: the last block counted.
type Mark struct {
	Off    int64  `json:"off"`  // file offset of the last block counted
	Next   int64  `json:"next"` // offset just past it: counting resumes there
	CRC    uint32 `json:"crc"`  // the block's CRC, checked before resuming
	Blocks int64  `json:"blocks"`
}

// Set is the statistics of one segment hour: what was counted from its records,
// up to Mark.
type Set struct {
	Hour    segment.Hour
	Mark    Mark
	MinTime int64 // capture time range of the records counted, Unix µs
	MaxTime int64
	Counts
	Minutes   [60]Minute // by capture minute, clamped into the hour
	SrcIPs    *TopN      // requests by source address
	UAs       *TopN      // requests by User-Agent
	FailDests *TopN      // failed call attempts by destination (To user)
	AlarmList []Alarm
}

// NewSet returns an empty set for hour h.
func NewSet(h segment.Hour) *Set {
	return &Set{Hour: h, SrcIPs: NewTopN(TopCap), UAs: NewTopN(TopCap), FailDests: NewTopN(TopCap)}
}

// Clone returns a deep copy.
func (s *Set) Clone() *Set {
	c := *s
	c.SrcIPs, c.UAs, c.FailDests = s.SrcIPs.Clone(), s.UAs.Clone(), s.FailDests.Clone()
	c.AlarmList = slices.Clone(s.AlarmList)
	return &c
}

// minute returns the minute bucket of capture time t (Unix µs), clamped into
// the set's hour: a record captured just before the hour but stored in it
// counts in its first minute.
func (s *Set) minute(t int64) *Minute {
	start := int64(s.Hour) * 3600 * 1e6
	i := (t - start) / 60e6
	i = min(max(i, 0), 59)
	return &s.Minutes[i]
}
