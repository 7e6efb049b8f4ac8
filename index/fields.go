package index

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/size"
	bindex "github.com/blevesearch/bleve_index_api"

	"traced/segment"
)

// Fields holds the index terms of one block. A slice may hold duplicates and empty
// strings; Add normalises the values and de-duplicates them.
type Fields struct {
	CallIDs    []string // SIP Call-ID values, exact
	SessionIDs []string // X-Session-Id values, exact
	XCIDs      []string // X-CID values, exact
	CorrIDs    []string // HEP correlation ids (chunk 0x11); indexed with the Call-IDs
	// Refs holds the other Call-IDs a message names besides its X-CID: the
	// Call-ID of a Replaces header and of the Replaces inside a Refer-To. Exact.
	Refs []string

	FromUsers []string // user parts; matched case-insensitively
	ToUsers   []string
	RURIUsers []string
	PAIUsers  []string

	SrcIPs []string // textual addresses; IPv6 is compared in canonical form
	DstIPs []string

	Methods  []string // "INVITE"; matched case-insensitively
	Statuses []string // "200"

	UserAgents []string // matched case-insensitively
	Nodes      []string // capture node names and capture ids as decimal strings
	Types      []string // HEP payload types as decimal: "1", "5", "100"

	MinTime, MaxTime int64 // capture time range of the block, Unix µs
}

// Reset empties f and keeps the capacity of its slices, so that one Fields can be
// reused for every block.
func (f *Fields) Reset() {
	*f = Fields{
		CallIDs:    f.CallIDs[:0],
		SessionIDs: f.SessionIDs[:0],
		XCIDs:      f.XCIDs[:0],
		CorrIDs:    f.CorrIDs[:0],
		Refs:       f.Refs[:0],
		FromUsers:  f.FromUsers[:0],
		ToUsers:    f.ToUsers[:0],
		RURIUsers:  f.RURIUsers[:0],
		PAIUsers:   f.PAIUsers[:0],
		SrcIPs:     f.SrcIPs[:0],
		DstIPs:     f.DstIPs[:0],
		Methods:    f.Methods[:0],
		Statuses:   f.Statuses[:0],
		UserAgents: f.UserAgents[:0],
		Nodes:      f.Nodes[:0],
		Types:      f.Types[:0],
	}
}

// Entry is one block to index: what its header says and the terms of its records.
type Entry struct {
	Info   segment.BlockInfo
	Fields Fields
}

// Names of the bleve fields. They are part of the on-disk format of a shard.
const (
	fieldCallID    = "cid" // Call-IDs and correlation ids
	fieldSessionID = "sid"
	fieldXCID      = "xcid"
	fieldRef       = "ref" // Replaces and Refer-To Replaces Call-IDs
	fieldFrom      = "from"
	fieldTo        = "to"
	fieldRURI      = "ruri"
	fieldPAI       = "pai"
	fieldSrc       = "src"
	fieldDst       = "dst"
	fieldMethod    = "method"
	fieldStatus    = "status"
	fieldUA        = "ua"
	fieldNode      = "node"
	fieldType      = "type"
	fieldMinTime   = "tmin"
	fieldMaxTime   = "tmax"
)

// maxTerm caps the length of one term in bytes. Longer values are cut, on both the
// indexing and the query side, so a cut term still finds its block.
const maxTerm = 256

// norm is a normalisation applied to a value before it becomes a term. The same
// function is applied to a query value, so it may only make matching coarser than
// the exact comparison the search does on decoded records.
type norm int

const (
	normExact norm = iota // trimmed and capped only
	normLower             // lower-cased
	normUpper             // upper-cased
	normIP                // canonical address form when the value parses
)

// term returns the term for v, or "" when v yields none.
func (n norm) term(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	switch n {
	case normLower:
		v = toLower(v)
	case normUpper:
		v = strings.ToUpper(v)
	case normIP:
		// A dotted IPv4 address is canonical when it parses; only IPv6 text
		// (with its many spellings) needs rewriting.
		if strings.IndexByte(v, ':') >= 0 {
			if a, err := netip.ParseAddr(v); err == nil {
				v = a.Unmap().String()
			}
		}
	}
	if len(v) > maxTerm {
		// Cut at a rune boundary; both sides cut the same way.
		i := maxTerm
		for i > 0 && !utf8.RuneStart(v[i]) {
			i--
		}
		v = v[:i]
	}
	return v
}

// toLower folds the case of s, without allocating when s is lower-case ASCII,
// the common case for SIP user parts (numbers, lower-case names). Non-ASCII text
// goes through upper then lower case, so that letters that bytes.EqualFold
// takes as equal (ſ and s, K and k) fold to the same term.
func toLower(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(strings.ToUpper(s))
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if upper {
		return strings.ToLower(s)
	}
	return s
}

// keywordList is one bleve keyword field of a block: its name, its
// normalisation and the Fields slices that feed it.
type keywordList struct {
	name string
	norm norm
	a, b []string
}

// keywordLists lists the keyword fields of f in a fixed order.
func (f *Fields) keywordLists() [15]keywordList {
	return [...]keywordList{
		{fieldCallID, normExact, f.CallIDs, f.CorrIDs},
		{fieldSessionID, normExact, f.SessionIDs, nil},
		{fieldXCID, normExact, f.XCIDs, nil},
		{fieldRef, normExact, f.Refs, nil},
		{fieldFrom, normLower, f.FromUsers, nil},
		{fieldTo, normLower, f.ToUsers, nil},
		{fieldRURI, normLower, f.RURIUsers, nil},
		{fieldPAI, normLower, f.PAIUsers, nil},
		{fieldSrc, normIP, f.SrcIPs, nil},
		{fieldDst, normIP, f.DstIPs, nil},
		{fieldMethod, normUpper, f.Methods, nil},
		{fieldStatus, normExact, f.Statuses, nil},
		{fieldUA, normLower, f.UserAgents, nil},
		{fieldNode, normExact, f.Nodes, nil},
		{fieldType, normExact, f.Types, nil},
	}
}

// docID is the bleve document id of the block at file offset off.
func docID(off int64) string { return strconv.FormatInt(off, 10) }

// parseDocID is the inverse of docID.
func parseDocID(id string) (int64, error) { return strconv.ParseInt(id, 10, 64) }

// buildDoc turns an entry into a bleve document: one keyword-set field per
// non-empty term list and the two numeric time fields.
func buildDoc(e *Entry) *document.Document {
	d := document.NewDocument(docID(e.Info.Ref.Off))
	for _, l := range e.Fields.keywordLists() {
		if kf := newKeywordSet(l.name, l.norm, l.a, l.b); kf != nil {
			d.AddField(kf)
		}
	}
	tmin, tmax := blockSpan(e)
	d.AddField(document.NewNumericFieldWithIndexingOptions(fieldMinTime, nil, float64(tmin), bindex.IndexField))
	d.AddField(document.NewNumericFieldWithIndexingOptions(fieldMaxTime, nil, float64(tmax), bindex.IndexField))
	return d
}

// blockSpan is the capture time range of the entry: the one Extract found, or the
// block header's when Extract left it empty.
func blockSpan(e *Entry) (int64, int64) {
	if e.Fields.MinTime == 0 && e.Fields.MaxTime == 0 {
		return e.Info.MinTime, e.Info.MaxTime
	}
	lo, hi := e.Fields.MinTime, e.Fields.MaxTime
	if hi < lo {
		lo, hi = hi, lo
	}
	return lo, hi
}

// keywordSet is a bleve field holding a set of exact terms. It is the analysed
// form bleve would produce for a keyword field with one value per term, built
// directly: no analyzer, no stored value, no term vectors, no doc values.
type keywordSet struct {
	name  string
	plain uint64
	freqs bindex.TokenFrequencies
}

// newKeywordSet normalises and de-duplicates the values; it returns nil when no
// term remains.
func newKeywordSet(name string, n norm, a, b []string) *keywordSet {
	total := len(a) + len(b)
	if total == 0 {
		return nil
	}
	freqs := make(bindex.TokenFrequencies, min(total, 64))
	var plain int
	for _, l := range [2][]string{a, b} {
		for _, v := range l {
			t := n.term(v)
			if t == "" {
				continue
			}
			if _, dup := freqs[t]; !dup {
				freqs[t] = nil
				plain += len(t)
			}
		}
	}
	if len(freqs) == 0 {
		return nil
	}
	// Every term once, without locations; two allocations for all of them.
	slab := make([]bindex.TokenFreq, len(freqs))
	buf := make([]byte, 0, plain)
	i := 0
	for t := range freqs {
		tf := &slab[i]
		i++
		buf = append(buf, t...)
		tf.Term = buf[len(buf)-len(t) : len(buf) : len(buf)]
		tf.SetFrequency(1)
		freqs[t] = tf
	}
	return &keywordSet{name: name, plain: uint64(plain), freqs: freqs}
}

func (k *keywordSet) Name() string                         { return k.name }
func (k *keywordSet) ArrayPositions() []uint64             { return nil }
func (k *keywordSet) Options() bindex.FieldIndexingOptions { return bindex.IndexField }
func (k *keywordSet) Value() []byte                        { return nil }
func (k *keywordSet) NumPlainTextBytes() uint64            { return k.plain }
func (k *keywordSet) EncodedFieldType() byte               { return 't' }
func (k *keywordSet) AnalyzedLength() int                  { return len(k.freqs) }

func (k *keywordSet) AnalyzedTokenFrequencies() bindex.TokenFrequencies { return k.freqs }

// Analyze does nothing: the terms are ready when the field is made.
func (k *keywordSet) Analyze() {}

// Size estimates the memory the field holds, for bleve's accounting.
func (k *keywordSet) Size() int {
	return 64 + len(k.name) + len(k.freqs)*(size.SizeOfString+size.SizeOfPtr+64) + 2*int(k.plain)
}
