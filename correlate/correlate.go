package correlate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"traced/ingest/record"
	"traced/search"
	"traced/segment"
)

// Rule says how a leg joined the call.
type Rule uint8

const (
	// RuleSeed is the Call-ID asked for.
	RuleSeed Rule = iota
	// RuleXCID: one leg's X-CID names the other leg's Call-ID.
	RuleXCID
	// RuleReplaces: one leg's Replaces header names the other leg's Call-ID.
	RuleReplaces
	// RuleReferTo: the Replaces inside one leg's Refer-To names the other
	// leg's Call-ID.
	RuleReferTo
	// RuleSessionID: both legs carry the same X-Session-Id or Session-ID value.
	RuleSessionID
	// RuleCorrelation: the HEP correlation id of one leg's SIP packets equals
	// the other leg's Call-ID, or both legs' SIP packets carry the same one.
	RuleCorrelation
	// RuleB2B: one Call-ID is the other plus a B2BUA suffix such as "_b2b-1".
	RuleB2B
	// RuleHeader: a configured header (Options.Headers) carries the same value
	// in both legs.
	RuleHeader
)

var ruleNames = [...]string{"seed", "x-cid", "replaces", "refer-to", "session-id", "correlation-id", "b2b-suffix", "header"}

func (r Rule) String() string {
	if int(r) < len(ruleNames) {
		return ruleNames[r]
	}
	return fmt.Sprintf("rule(%d)", uint8(r))
}

// Limit names a bound that cut a call short.
type Limit uint8

const (
	// LimitLegs: more legs matched than Options.MaxLegs; Call.Unfollowed lists
	// some of those left out.
	LimitLegs Limit = 1 << iota
	// LimitMessages: more records matched than Options.MaxMessages.
	LimitMessages
)

// Defaults of Options.
const (
	DefaultBefore      = 5 * time.Minute
	DefaultAfter       = 5 * time.Minute
	DefaultMaxLegs     = 50
	DefaultMaxMessages = 100000
	DefaultDupWindow   = 50 * time.Millisecond
)

// DefaultB2BSuffixes are the suffixes tried when Options.B2BSuffixes is nil:
// HOMER's default B2BUA mapping, Call-ID + "_b2b-1".
func DefaultB2BSuffixes() []string { return []string{"_b2b-1"} }

// Options tune an Engine. The zero value of every field means its default.
type Options struct {
	// Before and After bound the joins in time: a leg joins only through a
	// message captured from Before the first SIP message of the legs found so
	// far to After the last. Default 5 min each.
	Before, After time.Duration
	// MaxLegs caps the legs of a call, the asked one included. Default 50.
	MaxLegs int
	// MaxMessages caps the records a call holds while it is built (its
	// messages and the candidates it examined). Default 100 000.
	MaxMessages int
	// B2BSuffixes are appended to every leg's Call-ID to find the legs a B2BUA
	// named after it. nil: DefaultB2BSuffixes; an empty non-nil slice: none.
	// A Call-ID ending in "_b2b-" and digits always joins its stem.
	B2BSuffixes []string
	// Headers are extra correlating headers, like HOMER's AlegIDs: two legs
	// whose messages carry the same value in one of them are joined. See
	// ParseHeader. Default none.
	Headers []Header
	// DupWindow is how far apart in capture time two copies of one SIP message
	// may be to be shown as one (see Message). Default 50 ms; negative: never
	// fold copies.
	DupWindow time.Duration
	// AllCopies returns every captured copy as a Message of its own instead of
	// one Message per SIP message.
	AllCopies bool
}

func (o Options) withDefaults() Options {
	if o.Before <= 0 {
		o.Before = DefaultBefore
	}
	if o.After <= 0 {
		o.After = DefaultAfter
	}
	if o.MaxLegs <= 0 {
		o.MaxLegs = DefaultMaxLegs
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	if o.B2BSuffixes == nil {
		o.B2BSuffixes = DefaultB2BSuffixes()
	}
	if o.DupWindow == 0 {
		o.DupWindow = DefaultDupWindow
	}
	return o
}

// Engine assembles calls from the archive. Its methods are safe for concurrent
// use.
type Engine struct {
	// Searcher provides the index and the blocks; its Index answers the
	// identifier queries and its Blocks are read directly, each candidate block
	// once per round.
	Searcher *search.Searcher
	Options  Options
}

// ErrNotFound is returned when no message of the asked Call-ID is stored.
var ErrNotFound = errors.New("correlate: no message of this call is stored")

// Call is one call: every leg found from the asked Call-ID and all their
// messages.
type Call struct {
	CallID string // the Call-ID asked for; Legs[0].CallID
	Legs   []Leg
	// Messages holds the messages of every leg in capture time order (ties in
	// storage order). Each SIP message appears once, with the copies that other
	// capture points sent in Copies, unless Options.AllCopies.
	Messages []Message
	// Since and Until are the final join window.
	Since, Until time.Time
	// Truncated names the limits that cut the call short; 0 when complete.
	Truncated Limit
	// Unfollowed lists Call-IDs that matched a rule but were left out because
	// of the leg cap, at most maxUnfollowed of them, sorted.
	Unfollowed []string
	// What it cost: index searches, blocks read, candidate blocks that could not
	// be read (damaged), and rounds of the closure.
	Searches, Blocks, Unreadable, Rounds int
}

// Complete reports whether no limit cut the call short and every candidate
// block was read.
func (c *Call) Complete() bool { return c.Truncated == 0 && c.Unreadable == 0 }

// Leg is one Call-ID of a call.
type Leg struct {
	CallID string
	Rule   Rule
	// Via is the index in Call.Legs of the leg this one was found from; -1 for
	// the asked leg.
	Via int
	// Value is what joined the leg: the Call-ID named (the new leg's, or Via's
	// for the reverse direction), the shared Session-ID, correlation id or header
	// value; "" for the asked leg.
	Value string
	// Header is the configured header name, for RuleHeader.
	Header string
	// First and Last are the capture times of the leg's first and last message;
	// zero when it has none.
	First, Last time.Time
	// Messages counts the leg's entries in Call.Messages.
	Messages int
}

// Message is one message of a call.
type Message struct {
	// Hit is the first captured copy. Its Data is the call's own copy of the
	// stored record.
	search.Hit
	// Leg is the index in Call.Legs of the leg the message belongs to: the leg
	// of its Call-ID, or for RTCP, logs and other non-SIP packets the leg whose
	// Call-ID equals their HEP correlation id (else the first leg whose SIP
	// packets carry that correlation id).
	Leg int
	// Copies lists every capture of this message, first capture first; a
	// message captured once has one. See doc.go for what counts as a copy.
	Copies []Copy
	// Copy is the index of this message in Copies: 0, except with
	// Options.AllCopies.
	Copy int
}

// Copy is one capture of a message.
type Copy struct {
	Ref       segment.BlockRef
	N         int   // record ordinal in the block
	Time      int64 // capture time, Unix µs
	Node      string
	CaptureID uint32
	Src, Dst  netip.AddrPort
}

func copyOf(h *search.Hit) Copy {
	return Copy{Ref: h.Ref, N: h.N, Time: h.Msg.Time, Node: string(h.Msg.Node), CaptureID: h.Msg.CaptureID,
		Src: h.Msg.Src, Dst: h.Msg.Dst}
}

// Call returns the call of callID: its legs, found by the rules of doc.go to a
// fixed point within the window and the caps, and their messages. It returns
// ErrNotFound when nothing of the call is stored.
func (e *Engine) Call(ctx context.Context, callID string) (*Call, error) {
	if e.Searcher == nil || e.Searcher.Index == nil || e.Searcher.Blocks == nil {
		return nil, errors.New("correlate: engine without a searcher")
	}
	if callID == "" {
		return nil, errors.New("correlate: empty Call-ID")
	}
	c := newClosure(e.Options.withDefaults(), callID)
	c.addLeg(candidate{callID: callID, rule: RuleSeed, via: -1})
	for {
		probes := c.plan()
		if len(probes) == 0 {
			break
		}
		c.rounds++
		if err := c.pass(ctx, e.Searcher, probes); err != nil {
			return nil, err
		}
		c.absorb()
	}
	call := c.result()
	if len(call.Messages) == 0 {
		return nil, ErrNotFound
	}
	return call, nil
}

// result assembles the Call: legs, messages attached to them, copies folded.
func (c *closure) result() *Call {
	call := &Call{CallID: c.seed, Truncated: c.truncated, Searches: c.searches, Blocks: c.blocks,
		Unreadable: c.unreadable, Rounds: c.rounds}
	if c.lo <= c.hi {
		call.Since, call.Until = record.TimeOf(c.lo), record.TimeOf(c.hi)
	}
	for u := range c.unfollowed {
		call.Unfollowed = append(call.Unfollowed, u)
	}
	slices.Sort(call.Unfollowed)

	// The first leg whose SIP packets carry each correlation id, for the
	// non-SIP packets whose correlation id is no leg's Call-ID.
	corrLeg := map[string]int{}
	for i, l := range c.legs {
		for _, en := range l.msgs {
			if id := string(en.hit.Msg.CorrID); id != "" {
				if _, ok := corrLeg[id]; !ok {
					corrLeg[id] = i
				}
			}
		}
	}
	var msgs []Message
	for _, en := range c.sorted() {
		leg, ok := -1, false
		if en.callID != "" {
			leg, ok = c.byCall[en.callID]
		} else if id := string(en.hit.Msg.CorrID); id != "" {
			if leg, ok = c.byCall[id]; !ok && c.inWindow(en.hit.Msg.Time) {
				leg, ok = corrLeg[id]
			}
		}
		if ok {
			msgs = append(msgs, Message{Hit: en.hit, Leg: leg})
		}
	}
	call.Messages = fold(msgs, c.opts.DupWindow, c.opts.AllCopies)

	call.Legs = make([]Leg, len(c.legs))
	for i, l := range c.legs {
		call.Legs[i] = l.Leg
	}
	for _, m := range call.Messages {
		l := &call.Legs[m.Leg]
		t := record.TimeOf(m.Msg.Time)
		if l.Messages == 0 || t.Before(l.First) {
			l.First = t
		}
		if l.Messages == 0 || t.After(l.Last) {
			l.Last = t
		}
		l.Messages++
	}
	return call
}
