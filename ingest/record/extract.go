package record

import (
	"bytes"
	"net/netip"
	"strconv"

	"traced/index"
	"traced/segment"
)

// Extract fills f with the index terms of recs: every identifier, user, address,
// method, status, user agent, node and payload type a search may ask for. Records
// that do not decode contribute nothing to the index (they are still stored).
func Extract(recs []segment.Record, f *index.Fields) {
	var m Message
	var t terms
	*f = index.Fields{}
	var num [20]byte
	for _, r := range recs {
		if Decode(r, &m) != nil {
			continue
		}
		if f.MinTime == 0 || r.Time < f.MinTime {
			f.MinTime = r.Time
		}
		if r.Time > f.MaxTime {
			f.MaxTime = r.Time
		}
		t.add(&f.CorrIDs, m.CorrID)
		t.addIP(&f.SrcIPs, m.Src)
		t.addIP(&f.DstIPs, m.Dst)
		t.add(&f.Nodes, m.Node)
		if m.CaptureID != 0 {
			t.add(&f.Nodes, strconv.AppendUint(num[:0], uint64(m.CaptureID), 10))
		}
		t.add(&f.Types, strconv.AppendUint(num[:0], uint64(m.Type), 10))
		if !m.IsSIP {
			continue
		}
		h := &m.SIP
		t.add(&f.CallIDs, h.CallID)
		t.add(&f.SessionIDs, h.SessionID)
		t.add(&f.XCIDs, h.XCID)
		t.add(&f.Refs, h.Replaces)
		t.add(&f.Refs, h.ReferToReplaces)
		t.addLower(&f.FromUsers, h.FromUser)
		t.addLower(&f.ToUsers, h.ToUser)
		t.addLower(&f.RURIUsers, h.RURIUser)
		t.addLower(&f.PAIUsers, h.PAIUser)
		if h.Request {
			t.add(&f.Methods, h.Method)
		} else if h.StatusCode > 0 {
			t.add(&f.Statuses, strconv.AppendInt(num[:0], int64(h.StatusCode), 10))
		}
		t.add(&f.Methods, h.CSeqMethod)
		t.add(&f.UserAgents, h.UserAgent)
		t.add(&f.UserAgents, h.Server)
	}
}

// terms de-duplicates the values added to each field of one block, so that the
// hundreds of "INVITE"s of a block cost one string.
type terms struct {
	seen map[*[]string]map[string]struct{}
	buf  []byte
}

func (t *terms) add(dst *[]string, b []byte) {
	if len(b) == 0 {
		return
	}
	if t.seen == nil {
		t.seen = make(map[*[]string]map[string]struct{}, 16)
	}
	set := t.seen[dst]
	if set == nil {
		set = make(map[string]struct{}, 16)
		t.seen[dst] = set
	}
	if _, ok := set[string(b)]; ok {
		return
	}
	s := string(b)
	set[s] = struct{}{}
	*dst = append(*dst, s)
}

func (t *terms) addLower(dst *[]string, b []byte) {
	if hasUpper(b) {
		t.buf = append(t.buf[:0], b...)
		b = bytes.ToLower(t.buf)
	}
	t.add(dst, b)
}

func (t *terms) addIP(dst *[]string, a netip.AddrPort) {
	if !a.Addr().IsValid() {
		return
	}
	t.buf = a.Addr().Unmap().AppendTo(t.buf[:0])
	t.add(dst, t.buf)
}

func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}
