package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"traced/segment"
)

// Query selects blocks. Every non-empty field must match (AND); an empty field is
// ignored. Values are normalised as when indexing: users, methods and user agents
// compare case-insensitively, IP addresses in canonical form, the rest exactly.
type Query struct {
	CallID    string // matches a Call-ID or a HEP correlation id
	SessionID string
	XCID      string
	// Refers matches a message that names this Call-ID in its X-CID, its
	// Replaces header or the Replaces inside its Refer-To: the reverse of
	// correlation by those headers.
	Refers string

	FromUser, ToUser, RURIUser string
	AnyUser                    string // from, to, request-URI or P-Asserted-Identity user

	IP           string // source or destination
	SrcIP, DstIP string

	Method, Status, UserAgent, Node, Type string

	// Since and Until bound the capture time, Unix µs, inclusive; 0 = open. A
	// block matches when its capture time range meets [Since, Until].
	Since, Until int64
}

// build returns the bleve query for q over a shard whose blocks' capture times
// all lie in [tmin, tmax]. A time bound that every block of the shard meets is
// left out: numeric ranges cost far more than terms.
func (q Query) build(tmin, tmax int64) query.Query {
	var must []query.Query
	term := func(field string, n norm, v string, alsoIn ...string) {
		t := n.term(v)
		if t == "" {
			return
		}
		if len(alsoIn) == 0 {
			must = append(must, termQuery(field, t))
			return
		}
		either := []query.Query{termQuery(field, t)}
		for _, f := range alsoIn {
			either = append(either, termQuery(f, t))
		}
		must = append(must, query.NewDisjunctionQuery(either))
	}
	term(fieldCallID, normExact, q.CallID)
	term(fieldSessionID, normExact, q.SessionID)
	term(fieldXCID, normExact, q.XCID)
	term(fieldRef, normExact, q.Refers, fieldXCID)
	term(fieldFrom, normLower, q.FromUser)
	term(fieldTo, normLower, q.ToUser)
	term(fieldRURI, normLower, q.RURIUser)
	term(fieldFrom, normLower, q.AnyUser, fieldTo, fieldRURI, fieldPAI)
	term(fieldSrc, normIP, q.IP, fieldDst)
	term(fieldSrc, normIP, q.SrcIP)
	term(fieldDst, normIP, q.DstIP)
	term(fieldMethod, normUpper, q.Method)
	term(fieldStatus, normExact, q.Status)
	term(fieldUA, normLower, q.UserAgent)
	term(fieldNode, normExact, q.Node)
	term(fieldType, normExact, q.Type)
	inclusive := true
	if q.Since != 0 && q.Since > tmin {
		v := float64(q.Since)
		rq := query.NewNumericRangeInclusiveQuery(&v, nil, &inclusive, nil)
		rq.SetField(fieldMaxTime)
		must = append(must, rq)
	}
	if q.Until != 0 && q.Until < tmax {
		v := float64(q.Until)
		rq := query.NewNumericRangeInclusiveQuery(nil, &v, nil, &inclusive)
		rq.SetField(fieldMinTime)
		must = append(must, rq)
	}
	switch len(must) {
	case 0:
		return query.NewMatchAllQuery()
	case 1:
		return must[0]
	}
	return query.NewConjunctionQuery(must)
}

func termQuery(field, t string) query.Query {
	tq := query.NewTermQuery(t)
	tq.SetField(field)
	return tq
}

// Search returns every block that may hold a record matching q, over all shards,
// sorted by hour and offset. There is no cap: the caller reads the blocks and
// filters their records exactly. Shards whose capture time range cannot meet
// [Since, Until] are skipped without being searched, and the time bounds are
// applied block by block only in the shards they cut.
func (x *Index) Search(ctx context.Context, q Query) ([]segment.BlockRef, error) {
	if q.Since != 0 && q.Until != 0 && q.Until < q.Since {
		return nil, nil
	}
	x.mu.RLock()
	if x.closed {
		x.mu.RUnlock()
		return nil, ErrClosed
	}
	type target struct {
		s *shard
		m mark
	}
	targets := make([]target, 0, len(x.shards))
	for _, s := range x.shards {
		if s.mark.overlaps(q.Since, q.Until) {
			targets = append(targets, target{s, s.mark})
		}
	}
	x.mu.RUnlock()
	slices.SortFunc(targets, func(a, b target) int { return cmp.Compare(a.s.hour, b.s.hour) })

	var refs []segment.BlockRef
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := t.s
		start := len(refs)
		var err error
		refs, err = s.search(ctx, q.build(t.m.tmin, t.m.tmax), refs)
		if errors.Is(err, errDamaged) {
			// Remove the shard so that the follower rebuilds it from its
			// segment; this search fails rather than answer without it.
			x.log.Error("index: removing a damaged shard; it will be rebuilt from its segment", "hour", s.hour, "err", err)
			x.removeDamaged(s)
		}
		if err != nil {
			return nil, err
		}
		slices.SortFunc(refs[start:], func(a, b segment.BlockRef) int { return cmp.Compare(a.Off, b.Off) })
	}
	return refs, nil
}

// errDamaged marks a failure that shows a shard's files are damaged.
var errDamaged = errors.New("shard damaged")

// removeDamaged removes shard s unless it has already been replaced.
func (x *Index) removeDamaged(s *shard) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.RLock()
	current := x.shards[s.hour] == s
	x.mu.RUnlock()
	if !current {
		return
	}
	if err := x.removeShardLocked(s.hour); err != nil {
		x.log.Error("index: removing a damaged shard", "hour", s.hour, "err", err)
	}
}

// search appends to refs the blocks of the shard that match bq. A shard dropped
// meanwhile contributes nothing.
func (s *shard) search(ctx context.Context, bq query.Query, refs []segment.BlockRef) (_ []segment.BlockRef, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.idx == nil {
		return refs, nil
	}
	defer func() {
		// bleve reads memory-mapped files; a damaged one can make it panic.
		if r := recover(); r != nil {
			err = fmt.Errorf("search shard %s: %w: panic: %v", s.hour, errDamaged, r)
		}
	}()
	adv, err := s.idx.Advanced()
	if err != nil {
		return nil, fmt.Errorf("search shard %s: %w", s.hour, err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("search shard %s: open reader: %w", s.hour, err)
	}
	defer r.Close()
	sr, err := bq.Searcher(ctx, r, s.idx.Mapping(), search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, s.searchError(ctx, err)
	}
	defer sr.Close()
	sctx := &search.SearchContext{
		DocumentMatchPool: search.NewDocumentMatchPool(sr.DocumentMatchPoolSize(), 0),
		IndexReader:       r,
	}
	for n := 0; ; n++ {
		if n&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		dm, err := sr.Next(sctx)
		if err != nil {
			return nil, s.searchError(ctx, err)
		}
		if dm == nil {
			return refs, nil
		}
		id, err := r.ExternalID(dm.IndexInternalID)
		if err != nil {
			return nil, fmt.Errorf("search shard %s: %w: document id: %v", s.hour, errDamaged, err)
		}
		off, err := parseDocID(id)
		if err != nil {
			return nil, fmt.Errorf("search shard %s: %w: document id %q: %v", s.hour, errDamaged, id, err)
		}
		refs = append(refs, segment.BlockRef{Hour: s.hour, Off: off})
		sctx.DocumentMatchPool.Put(dm)
	}
}

// searchError classifies an error of bleve's searcher. Over a local index that
// is open, the only causes besides cancellation are unreadable files.
func (s *shard) searchError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return fmt.Errorf("search shard %s: %w: %v", s.hour, errDamaged, err)
}
