// Package search owns reading the archive: a query goes to the index for the
// candidate blocks, those blocks are read from the segments, and every record in
// them is decoded and matched exactly, so a result holds every matching message
// and nothing else. Results are ordered by capture time.
//
// Invariants: a search never drops a match silently — when a limit cuts the
// result, Result.Total still counts every match; a block that vanished because its
// hour was deleted is skipped (it is no longer part of the archive), and a block
// that cannot be read is reported in Result.Unreadable.
package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"traced/index"
	"traced/ingest/record"
	"traced/segment"
)

// Index finds candidate blocks. *index.Index satisfies it.
type Index interface {
	Search(ctx context.Context, q index.Query) ([]segment.BlockRef, error)
}

// Blocks reads blocks. *segment.Dir satisfies it.
type Blocks interface {
	ReadBlock(ref segment.BlockRef) (*segment.Block, error)
}

// Query is a search. Empty fields are ignored; set fields are ANDed.
type Query struct {
	index.Query
	// Ports are not indexed: the index narrows by the other fields and time, and
	// the ports are checked on the decoded records. 0: any.
	Port, SrcPort, DstPort uint16
	Limit                  int // most messages returned; 0: DefaultLimit
}

// portsMatch checks q's ports against m.
func (q *Query) portsMatch(m *record.Message) bool {
	return (q.Port == 0 || m.Src.Port() == q.Port || m.Dst.Port() == q.Port) &&
		(q.SrcPort == 0 || m.Src.Port() == q.SrcPort) && (q.DstPort == 0 || m.Dst.Port() == q.DstPort)
}

// DefaultLimit is the number of messages a search returns when none is asked.
const DefaultLimit = 10000

// DefaultWindow is how far back a search without a time range and without a
// Call-ID, X-Session-Id or X-CID looks.
const DefaultWindow = time.Hour

// Hit is one matching message.
type Hit struct {
	Ref  segment.BlockRef
	N    int // record ordinal in the block
	Msg  record.Message
	Data []byte // the stored record (shared with the block cache: read only)
}

// Result is the outcome of a search.
type Result struct {
	Hits       []Hit
	Total      int // every match, including those past the limit
	Blocks     int // candidate blocks read
	Unreadable int // candidate blocks that could not be read (damaged)
	Since      int64
	Until      int64
}

// More is the number of matches that the limit left out.
func (r *Result) More() int { return r.Total - len(r.Hits) }

// Searcher runs searches.
type Searcher struct {
	Index  Index
	Blocks Blocks
	Now    func() time.Time // nil: time.Now
}

// Normalize applies the default time window: searches by Call-ID, X-Session-Id,
// X-CID or Refers cover the whole archive (senders' clocks are often wrong),
// others the last hour.
func (s *Searcher) Normalize(q *Query) {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Since == 0 && q.Until == 0 && q.CallID == "" && q.SessionID == "" && q.XCID == "" && q.Refers == "" {
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		q.Since = now().Add(-DefaultWindow).UnixMicro()
	}
	q.FromUser = strings.ToLower(q.FromUser)
	q.ToUser = strings.ToLower(q.ToUser)
	q.RURIUser = strings.ToLower(q.RURIUser)
	q.AnyUser = strings.ToLower(q.AnyUser)
	q.Method = strings.ToUpper(q.Method)
	if ip, err := netip.ParseAddr(q.IP); err == nil {
		q.IP = ip.Unmap().String()
	}
}

// Search runs q.
func (s *Searcher) Search(ctx context.Context, q Query) (Result, error) {
	s.Normalize(&q)
	refs, err := s.Index.Search(ctx, q.Query)
	if err != nil {
		return Result{}, fmt.Errorf("search index: %w", err)
	}
	res := Result{Since: q.Since, Until: q.Until}
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		b, err := s.Blocks.ReadBlock(ref)
		if err != nil {
			if errors.Is(err, segment.ErrNotFound) {
				continue
			}
			res.Unreadable++
			continue
		}
		res.Blocks++
		for i, r := range b.Records {
			var h Hit
			if record.Decode(r, &h.Msg) != nil || !Match(&q.Query, &h.Msg) || !q.portsMatch(&h.Msg) {
				continue
			}
			h.Ref, h.N, h.Data = ref, i, r.Data
			res.Hits = append(res.Hits, h)
		}
	}
	res.Total = len(res.Hits)
	sort.SliceStable(res.Hits, func(i, j int) bool { return res.Hits[i].Msg.Time < res.Hits[j].Msg.Time })
	if len(res.Hits) > q.Limit {
		res.Hits = res.Hits[:q.Limit]
	}
	return res, nil
}

// Match says whether m satisfies every set field of q. It is the exact check
// behind the index's candidate blocks. Users compare without case; Call-IDs and
// other identifiers exactly.
func Match(q *index.Query, m *record.Message) bool {
	if q.Since != 0 && m.Time < q.Since || q.Until != 0 && m.Time > q.Until {
		return false
	}
	h := &m.SIP
	sipOnly := func(want string, got []byte) bool {
		return want == "" || m.IsSIP && string(got) == want
	}
	if q.CallID != "" && !(m.IsSIP && string(h.CallID) == q.CallID || string(m.CorrID) == q.CallID) {
		return false
	}
	if !sipOnly(q.SessionID, h.SessionID) || !sipOnly(q.XCID, h.XCID) {
		return false
	}
	if q.Refers != "" && !(m.IsSIP && (string(h.XCID) == q.Refers || string(h.Replaces) == q.Refers ||
		string(h.ReferToReplaces) == q.Refers)) {
		return false
	}
	user := func(want string, got []byte) bool { return bytes.EqualFold(got, []byte(want)) }
	if q.FromUser != "" && !(m.IsSIP && user(q.FromUser, h.FromUser)) ||
		q.ToUser != "" && !(m.IsSIP && user(q.ToUser, h.ToUser)) ||
		q.RURIUser != "" && !(m.IsSIP && user(q.RURIUser, h.RURIUser)) {
		return false
	}
	if q.AnyUser != "" && !(m.IsSIP && (user(q.AnyUser, h.FromUser) || user(q.AnyUser, h.ToUser) ||
		user(q.AnyUser, h.RURIUser) || user(q.AnyUser, h.PAIUser))) {
		return false
	}
	ip := func(want string, a netip.AddrPort) bool { return a.Addr().Unmap().String() == want }
	if q.IP != "" && !ip(q.IP, m.Src) && !ip(q.IP, m.Dst) ||
		q.SrcIP != "" && !ip(q.SrcIP, m.Src) || q.DstIP != "" && !ip(q.DstIP, m.Dst) {
		return false
	}
	if q.Method != "" && !(m.IsSIP && (string(h.Method) == q.Method || string(h.CSeqMethod) == q.Method)) {
		return false
	}
	if q.Status != "" && !(m.IsSIP && !h.Request && strconv.Itoa(h.StatusCode) == q.Status) {
		return false
	}
	if q.UserAgent != "" && !(m.IsSIP && (string(h.UserAgent) == q.UserAgent || string(h.Server) == q.UserAgent)) {
		return false
	}
	if q.Node != "" && string(m.Node) != q.Node && strconv.FormatUint(uint64(m.CaptureID), 10) != q.Node {
		return false
	}
	if q.Type != "" && strconv.Itoa(int(m.Type)) != q.Type {
		return false
	}
	return true
}
