package correlate

import (
	"bytes"
	"hash/fnv"
	"time"

	"traced/ingest/sip"
)

// routingHeaders are the headers that may differ between two captures of one
// message: what proxies, ALGs and topology hiding rewrite on the way. They are
// left out when two copies' bytes are compared.
var routingHeaders = []string{"via", "v", "route", "record-route", "path", "max-forwards"}

// dupKey is what two copies of one SIP message have in common.
type dupKey struct {
	callID     string
	cseq       uint32
	cseqMethod string
	method     string // request method, "" for a response
	status     int
	branch     string // branch of the top Via
	content    uint64 // hash of the message without its routing headers
}

// fold groups the copies of each SIP message among msgs, which are in capture
// time order. Two messages are copies when their dupKeys are equal and the later
// was captured at most window after the group's first; a negative window folds
// nothing. Packets that are not SIP are never folded. Without all, each group
// becomes one Message, its first capture, listing every copy; with all, every
// message stays, each listing its group.
func fold(msgs []Message, window time.Duration, all bool) []Message {
	type group struct {
		first   int64
		members []int
	}
	var groups []*group
	of := make([]*group, len(msgs))
	last := map[dupKey]*group{}
	win := window.Microseconds()
	for i := range msgs {
		m := &msgs[i].Msg
		if window >= 0 && m.IsSIP && len(m.SIP.CallID) > 0 {
			k := keyOf(m.Payload, &m.SIP)
			if g := last[k]; g != nil && m.Time-g.first <= win {
				g.members = append(g.members, i)
				of[i] = g
				continue
			}
			g := &group{first: m.Time, members: []int{i}}
			last[k] = g
			groups = append(groups, g)
			of[i] = g
			continue
		}
		g := &group{first: m.Time, members: []int{i}}
		groups = append(groups, g)
		of[i] = g
	}
	copies := make(map[*group][]Copy, len(groups))
	for _, g := range groups {
		cs := make([]Copy, len(g.members))
		for j, i := range g.members {
			cs[j] = copyOf(&msgs[i].Hit)
		}
		copies[g] = cs
	}
	if all {
		out := make([]Message, len(msgs))
		for i := range msgs {
			out[i] = msgs[i]
			g := of[i]
			out[i].Copies = copies[g]
			for j, mi := range g.members {
				if mi == i {
					out[i].Copy = j
				}
			}
		}
		return out
	}
	out := make([]Message, 0, len(groups))
	for _, g := range groups {
		m := msgs[g.members[0]]
		m.Copies, m.Copy = copies[g], 0
		out = append(out, m)
	}
	return out
}

func keyOf(payload []byte, h *sip.Headers) dupKey {
	return dupKey{
		callID:     string(h.CallID),
		cseq:       h.CSeq,
		cseqMethod: string(h.CSeqMethod),
		method:     string(h.Method),
		status:     h.StatusCode,
		branch:     topBranch(payload),
		content:    contentHash(payload),
	}
}

// topBranch returns the branch parameter of the first Via entry, or "".
func topBranch(payload []byte) string {
	v := sip.Header(payload, "Via")
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	for len(v) > 0 {
		var p []byte
		p, v, _ = bytes.Cut(v, []byte(";"))
		p = bytes.TrimSpace(p)
		if len(p) > 7 && bytes.EqualFold(p[:7], []byte("branch=")) {
			return string(bytes.TrimSpace(p[7:]))
		}
	}
	return ""
}

// contentHash hashes the start line, the header lines other than the routing
// headers (with their continuation lines), and the body. Line ends (CRLF or LF)
// do not count.
func contentHash(payload []byte) uint64 {
	f := fnv.New64a()
	rest := payload
	skipping := false
	inBody := false
	for len(rest) > 0 && !inBody {
		line, after, _ := bytes.Cut(rest, []byte("\n"))
		rest = after
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0:
			inBody = true
			continue
		case line[0] == ' ' || line[0] == '\t':
			// a continuation keeps the fate of its header
		default:
			skipping = isRouting(line)
		}
		if !skipping {
			f.Write(line)
			f.Write([]byte{'\n'})
		}
	}
	f.Write([]byte{0})
	f.Write(rest)
	return f.Sum64()
}

func isRouting(line []byte) bool {
	name, _, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	name = bytes.TrimSpace(name)
	for _, r := range routingHeaders {
		if bytes.EqualFold(name, []byte(r)) {
			return true
		}
	}
	return false
}
