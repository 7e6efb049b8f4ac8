package correlate

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"traced/index"
	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/search"
	"traced/segment"
)

// pass runs the probes of one round as one read of the archive: the index gives
// each probe its candidate blocks, the union of those blocks is read once, each
// record decoded once, and checked exactly against the probes of its block
// (search.Match, or the configured header for a header key). Matching records
// join the pool. Blocks of deleted hours are skipped; unreadable ones counted.
func (c *closure) pass(ctx context.Context, s *search.Searcher, probes []probe) error {
	refsOf := map[index.Query][]segment.BlockRef{}
	of := map[segment.BlockRef][]int{} // block → probes
	for i, p := range probes {
		refs, ok := refsOf[p.q]
		if !ok {
			var err error
			if refs, err = s.Index.Search(ctx, p.q); err != nil {
				return fmt.Errorf("correlate: search index: %w", err)
			}
			c.searches++
			refsOf[p.q] = refs
		}
		for _, r := range refs {
			of[r] = append(of[r], i)
		}
	}
	order := make([]segment.BlockRef, 0, len(of))
	for r := range of {
		order = append(order, r)
	}
	slices.SortFunc(order, func(a, b segment.BlockRef) int {
		return cmp.Or(cmp.Compare(a.Hour, b.Hour), cmp.Compare(a.Off, b.Off))
	})

	var rc recordCheck
	var matched []int
	for _, ref := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := s.Blocks.ReadBlock(ref)
		if err != nil {
			if !errors.Is(err, segment.ErrNotFound) {
				c.unreadable++
			}
			continue
		}
		c.blocks++
		ps := of[ref]
		for n, r := range b.Records {
			rc.reset(r)
			matched = matched[:0]
			for _, pi := range ps {
				if c.matches(&rc, &probes[pi]) {
					matched = append(matched, probes[pi].key)
				}
			}
			if len(matched) > 0 {
				c.collect(recID{ref, n}, r, matched)
			}
		}
	}
	return nil
}

// recordCheck decodes one record lazily, for the probes of its block.
type recordCheck struct {
	r        segment.Record
	decoded  bool
	bad      bool
	hidden   int8 // 1: the payload is compressed, so its text is not in r.Data; -1: it is not; 0: unknown
	m        record.Message
	hdr      record.Header
	hepProbe hep.Packet
}

func (rc *recordCheck) reset(r segment.Record) {
	rc.r, rc.decoded, rc.bad, rc.hidden = r, false, false, 0
}

func (rc *recordCheck) msg() *record.Message {
	if !rc.decoded {
		rc.decoded = true
		rc.bad = record.Decode(rc.r, &rc.m) != nil
	}
	if rc.bad {
		return nil
	}
	return &rc.m
}

// mayHold reports whether the record may carry text v in its payload: v is in
// the stored bytes, or the payload is compressed and cannot be told without
// inflating it.
func (rc *recordCheck) mayHold(v string) bool {
	if bytes.Contains(rc.r.Data, []byte(v)) {
		return true
	}
	if rc.hidden == 0 {
		rc.hidden = -1
		// Only a HEPv3 packet with a vendor-0 chunk 0x0010 has a compressed
		// payload: without those four bytes, there is nothing to decode.
		if !bytes.Contains(rc.r.Data, compressedChunk) {
			return false
		}
		payload, err := record.Split(rc.r.Data, &rc.hdr)
		if err == nil && rc.hdr.Kind == record.KindHEP && hep.Decode(payload, &rc.hepProbe) == nil && rc.hepProbe.Compressed {
			rc.hidden = 1
		}
	}
	return rc.hidden == 1
}

// compressedChunk is the start of the header of a HEPv3 compressed payload
// chunk: vendor 0, type 0x0010.
var compressedChunk = []byte{0, 0, 0, 0x10}

// matches checks the record of rc exactly against p. Every value a key asks
// for appears as it is in the stored bytes of a record that matches (a Call-ID,
// correlation id, Session-ID, X-CID, Replaces or header value is a part of
// the packet), except inside a compressed payload and in a URL-escaped
// Refer-To; so a record without it is passed over before it is decoded.
func (c *closure) matches(rc *recordCheck, p *probe) bool {
	k := c.keys[p.key]
	if rc.r.Time < p.q.Since || p.q.Until != 0 && rc.r.Time > p.q.Until {
		return false
	}
	if !rc.mayHold(k.value) && !(k.kind == kindRefers && bytes.IndexByte(rc.r.Data, '%') >= 0) {
		return false
	}
	m := rc.msg()
	if m == nil {
		return false
	}
	if k.kind == kindHeader {
		return m.IsSIP && c.opts.Headers[k.hdr].Value(m.Payload) == k.value
	}
	return search.Match(&p.q, m)
}

// collect adds a matching record to the pool, or the keys to the record held.
// A record kept is decoded again from the call's own copy of its bytes, so the
// call does not pin the block.
func (c *closure) collect(id recID, r segment.Record, keys []int) {
	if en, ok := c.pool[id]; ok {
		for _, k := range keys {
			if !slices.Contains(en.keys, k) {
				en.keys = append(en.keys, k)
			}
		}
		return
	}
	if len(c.pool) >= c.opts.MaxMessages {
		c.truncated |= LimitMessages
		return
	}
	en := &entry{leg: -1, keys: slices.Clone(keys)}
	data := bytes.Clone(r.Data)
	if record.Decode(segment.Record{Time: r.Time, Data: data}, &en.hit.Msg) != nil {
		return
	}
	en.hit.Ref, en.hit.N, en.hit.Data = id.ref, id.n, data
	if en.hit.Msg.IsSIP {
		en.callID = string(en.hit.Msg.SIP.CallID)
	}
	c.pool[id] = en
	c.entries = append(c.entries, en)
	c.dirty = true
}
