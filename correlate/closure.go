package correlate

import (
	"cmp"
	"regexp"
	"slices"
	"traced/ingest/sip"

	"traced/index"
	"traced/search"
	"traced/segment"
)

// maxUnfollowed caps Call.Unfollowed.
const maxUnfollowed = 16

// keyKind is what a key asks the archive.
type keyKind uint8

const (
	// kindID: the messages whose Call-ID or HEP correlation id is the value,
	// over the whole archive (index.Query.CallID). Fetches a leg, and probes a
	// value a leg names as a Call-ID or carries as a correlation id.
	kindID keyKind = iota
	// kindRefers: the messages naming the value, a leg's Call-ID, in X-CID,
	// Replaces or Refer-To, within the window (index.Query.Refers).
	kindRefers
	// kindSession: the messages with this Session-ID, within the window.
	kindSession
	// kindHeader: the messages whose configured header hdr has this value,
	// within the window; no index field holds it, so every block of the window
	// is read.
	kindHeader
)

// key is one question to the archive.
type key struct {
	kind  keyKind
	hdr   int // kindHeader: index in Options.Headers
	value string
}

// keyState is a key and what has been asked of it.
type keyState struct {
	key
	origin int  // the leg that raised it
	rule   Rule // kindID: how origin names the value
	// done: a kindID key has been searched (over the whole archive).
	done bool
	// lo, hi: the interval a windowed key has been searched over; empty while
	// lo > hi.
	lo, hi int64
}

// recID names one stored record.
type recID struct {
	ref segment.BlockRef
	n   int
}

// entry is a record that matched at least one key.
type entry struct {
	hit    search.Hit // decoded from the call's own copy of the record
	callID string     // SIP Call-ID; "" for a packet that is not SIP
	keys   []int      // the keys it matched, by index in closure.keys
	leg    int        // the leg it was assigned to by its Call-ID, or -1
}

// legState is a leg under construction.
type legState struct {
	Leg
	msgs    []*entry // its SIP messages
	scanned int      // msgs[:scanned] have given their values
}

// candidate is a Call-ID a rule would join.
type candidate struct {
	callID string
	rule   Rule
	via    int
	value  string
	header string
	at     int64 // capture time of the message that showed it
}

// closure is the state of one Call: the legs found, the keys asked, the
// records that matched.
type closure struct {
	opts   Options
	seed   string
	legs   []*legState
	byCall map[string]int // Call-ID → leg

	keys   []*keyState
	keyIdx map[key]int

	pool    map[recID]*entry
	entries []*entry // pool in insertion order
	dirty   bool     // entries needs sorting

	lo, hi int64 // join window, Unix µs; empty while lo > hi

	truncated  Limit
	unfollowed map[string]struct{}

	searches, blocks, unreadable, rounds int
}

func newClosure(opts Options, seed string) *closure {
	return &closure{
		opts:       opts,
		seed:       seed,
		byCall:     map[string]int{},
		keyIdx:     map[key]int{},
		pool:       map[recID]*entry{},
		lo:         1,
		unfollowed: map[string]struct{}{},
	}
}

// want raises key k from leg origin, unless it was raised before.
func (c *closure) want(k key, origin int, rule Rule) {
	if k.value == "" {
		return
	}
	if _, ok := c.keyIdx[k]; ok {
		return
	}
	c.keyIdx[k] = len(c.keys)
	c.keys = append(c.keys, &keyState{key: k, origin: origin, rule: rule, lo: 1})
}

// b2bStem matches a Call-ID that a B2BUA derived from another by a suffix.
var b2bStem = regexp.MustCompile(`^(.+)_b2b-[0-9]+$`)

// addLeg makes cand a leg and raises the keys every leg has: its own Call-ID,
// the reverse of the naming rules, and the B2BUA Call-IDs derived from it.
func (c *closure) addLeg(cand candidate) {
	i := len(c.legs)
	c.legs = append(c.legs, &legState{Leg: Leg{CallID: cand.callID, Rule: cand.rule, Via: cand.via,
		Value: cand.value, Header: cand.header}})
	c.byCall[cand.callID] = i
	c.want(key{kind: kindID, value: cand.callID}, i, RuleSeed)
	c.want(key{kind: kindRefers, value: cand.callID}, i, RuleXCID)
	for _, s := range c.opts.B2BSuffixes {
		if s != "" {
			c.want(key{kind: kindID, value: cand.callID + s}, i, RuleB2B)
		}
	}
	if m := b2bStem.FindStringSubmatch(cand.callID); m != nil {
		c.want(key{kind: kindID, value: m[1]}, i, RuleB2B)
	}
	// Records already held that carry the new Call-ID are its messages.
	c.assign()
}

// probe is one search of a round: a key over an interval.
type probe struct {
	key int         // index in closure.keys
	q   index.Query // what the index is asked; Match checks it exactly
}

// plan returns the searches of the next round: every key not searched yet, and
// every windowed key over the part of the window it has not been searched
// over. It returns nil when the closure is complete.
func (c *closure) plan() []probe {
	var ps []probe
	for i, k := range c.keys {
		if k.kind == kindID {
			if !k.done {
				k.done = true
				ps = append(ps, probe{key: i, q: index.Query{CallID: k.value}})
			}
			continue
		}
		if c.lo > c.hi {
			continue // no window yet
		}
		var q index.Query
		switch k.kind {
		case kindRefers:
			q.Refers = k.value
		case kindSession:
			q.SessionID = k.value
		}
		span := func(lo, hi int64) {
			if lo <= hi {
				q.Since, q.Until = lo, hi
				ps = append(ps, probe{key: i, q: q})
			}
		}
		if k.lo > k.hi {
			span(c.lo, c.hi)
		} else {
			span(c.lo, k.lo-1)
			span(k.hi+1, c.hi)
		}
		k.lo, k.hi = c.lo, c.hi
	}
	return ps
}

// sorted returns the records held in capture time order, ties in storage
// order.
func (c *closure) sorted() []*entry {
	if c.dirty {
		slices.SortStableFunc(c.entries, func(a, b *entry) int {
			return cmp.Or(cmp.Compare(a.hit.Msg.Time, b.hit.Msg.Time),
				cmp.Compare(a.hit.Ref.Hour, b.hit.Ref.Hour), cmp.Compare(a.hit.Ref.Off, b.hit.Ref.Off),
				cmp.Compare(a.hit.N, b.hit.N))
		})
		c.dirty = false
	}
	return c.entries
}

// assign gives every SIP record held whose Call-ID is a leg's to that leg.
func (c *closure) assign() {
	for _, en := range c.sorted() {
		if en.leg >= 0 || en.callID == "" {
			continue
		}
		if i, ok := c.byCall[en.callID]; ok {
			en.leg = i
			c.legs[i].msgs = append(c.legs[i].msgs, en)
		}
	}
}

// window recomputes the join window from the legs' SIP messages; while the legs
// have none, from whatever the asked Call-ID found.
func (c *closure) window() {
	first, last := int64(0), int64(0)
	see := func(t int64) {
		if first == 0 || t < first {
			first = t
		}
		if t > last {
			last = t
		}
	}
	for _, l := range c.legs {
		for _, en := range l.msgs {
			see(en.hit.Msg.Time)
		}
	}
	if first == 0 {
		seedKey := c.keyIdx[key{kind: kindID, value: c.seed}]
		for _, en := range c.entries {
			if slices.Contains(en.keys, seedKey) {
				see(en.hit.Msg.Time)
			}
		}
	}
	if first == 0 {
		return
	}
	lo, hi := first-c.opts.Before.Microseconds(), last+c.opts.After.Microseconds()
	if c.lo > c.hi {
		c.lo, c.hi = lo, hi
		return
	}
	// The window only grows: a key searched over it stays searched.
	c.lo, c.hi = min(c.lo, lo), max(c.hi, hi)
}

func (c *closure) inWindow(t int64) bool { return c.lo <= t && t <= c.hi }

// absorb takes what a round found: records go to their legs, the window
// follows, candidates within it become legs (until the cap), and the new
// messages raise the keys of their values. It repeats until the records held
// yield no new leg.
func (c *closure) absorb() {
	for {
		c.assign()
		c.window()
		c.values()
		cands := c.candidates()
		added := false
		for _, cand := range cands {
			if _, ok := c.byCall[cand.callID]; ok {
				continue
			}
			if len(c.legs) >= c.opts.MaxLegs {
				c.truncated |= LimitLegs
				if len(c.unfollowed) < maxUnfollowed {
					c.unfollowed[cand.callID] = struct{}{}
				}
				continue
			}
			c.addLeg(cand)
			added = true
		}
		if !added {
			return
		}
	}
}

// candidates lists the Call-IDs that the records held join, within the window,
// ordered by the leg they were found from, then rule, then time.
func (c *closure) candidates() []candidate {
	var out []candidate
	for _, en := range c.entries {
		if en.leg >= 0 || en.callID == "" || !c.inWindow(en.hit.Msg.Time) {
			continue
		}
		m := &en.hit.Msg
		h := &m.SIP
		for _, ki := range en.keys {
			k := c.keys[ki]
			cand := candidate{callID: en.callID, via: k.origin, value: k.value, at: m.Time}
			switch k.kind {
			case kindID:
				switch {
				case en.callID == k.value:
					cand.rule = k.rule
				case string(m.CorrID) == k.value:
					cand.rule = RuleCorrelation
					if i, ok := c.byCall[k.value]; ok {
						cand.via = i
					}
				default:
					continue
				}
			case kindRefers:
				cand.via = c.byCall[k.value]
				switch k.value {
				case string(h.XCID):
					cand.rule = RuleXCID
				case string(h.Replaces):
					cand.rule = RuleReplaces
				case string(h.ReferToReplaces):
					cand.rule = RuleReferTo
				default:
					continue
				}
			case kindSession:
				cand.rule = RuleSessionID
			case kindHeader:
				cand.rule = RuleHeader
				cand.header = c.opts.Headers[k.hdr].Name
			}
			out = append(out, cand)
		}
	}
	slices.SortStableFunc(out, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.via, b.via), cmp.Compare(a.rule, b.rule), cmp.Compare(a.at, b.at),
			cmp.Compare(a.callID, b.callID))
	})
	return out
}

// values raises the keys of the values carried by the legs' messages not seen
// yet: the Call-IDs they name, their correlation ids, Session-IDs and
// configured headers.
func (c *closure) values() {
	for i, l := range c.legs {
		for _, en := range l.msgs[l.scanned:] {
			m := &en.hit.Msg
			h := &m.SIP
			named := func(v []byte, r Rule) {
				if len(v) > 0 && string(v) != l.CallID {
					c.want(key{kind: kindID, value: string(v)}, i, r)
				}
			}
			named(h.XCID, RuleXCID)
			named(h.Replaces, RuleReplaces)
			named(h.ReferToReplaces, RuleReferTo)
			named(m.CorrID, RuleCorrelation)
			if !sip.NullSessionID(h.SessionID) {
				c.want(key{kind: kindSession, value: string(h.SessionID)}, i, RuleSessionID)
			}
			for hi := range c.opts.Headers {
				if v := c.opts.Headers[hi].Value(m.Payload); v != "" {
					c.want(key{kind: kindHeader, hdr: hi, value: v}, i, RuleHeader)
				}
			}
		}
		l.scanned = len(l.msgs)
	}
}
