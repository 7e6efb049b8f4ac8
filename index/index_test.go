package index

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/blevesearch/bleve/v2/document"
	bindex "github.com/blevesearch/bleve_index_api"

	"traced/segment"
)

const (
	hourA = segment.Hour(493_000) // 2026-03-29T16Z
	hourB = hourA + 1
	hourC = hourA + 2
)

// entry is a block of hour h at off, 100 bytes long, with the given fields.
func entry(h segment.Hour, off int64, f Fields) Entry {
	return Entry{
		Info: segment.BlockInfo{
			Ref:     segment.BlockRef{Hour: h, Off: off},
			Next:    off + 100,
			NRec:    3,
			CRC:     uint32(off) * 7,
			MinTime: f.MinTime,
			MaxTime: f.MaxTime,
		},
		Fields: f,
	}
}

func openTest(t *testing.T, dir string, opts Options) *Index {
	t.Helper()
	x, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	return x
}

func find(t *testing.T, x *Index, q Query) []segment.BlockRef {
	t.Helper()
	refs, err := x.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return refs
}

// queryBlocks are three blocks over two hours, each with distinct terms.
func queryBlocks() (a, b, c Entry) {
	a = entry(hourA, 100, Fields{
		CallIDs: []string{"call-a", "call-a"}, SessionIDs: []string{"sess-a"},
		FromUsers: []string{"Alice"}, ToUsers: []string{"bob"}, RURIUsers: []string{"bob"},
		SrcIPs: []string{"10.0.0.1"}, DstIPs: []string{"2001:0db8:0:0::1"},
		Methods: []string{"INVITE", "ACK"}, UserAgents: []string{"Yealink T46"},
		Nodes: []string{"pbx1"}, Types: []string{"1"},
		MinTime: 1000, MaxTime: 2000,
	})
	b = entry(hourA, 300, Fields{
		CallIDs: []string{"call-b"}, CorrIDs: []string{"call-x"}, XCIDs: []string{"x-b"},
		FromUsers: []string{"carol"}, ToUsers: []string{"dave"}, RURIUsers: []string{"dave-ruri"},
		PAIUsers: []string{"ALICE"},
		SrcIPs:   []string{"10.0.0.2"}, DstIPs: []string{"10.0.0.1"},
		Methods: []string{"BYE"}, Statuses: []string{"200"}, UserAgents: []string{"Asterisk"},
		Nodes: []string{"2001"}, Types: []string{"5"},
		MinTime: 3000, MaxTime: 4000,
	})
	c = entry(hourB, 100, Fields{
		CallIDs:   []string{"call-c", ""},
		FromUsers: []string{"erin"}, ToUsers: []string{" alice "},
		SrcIPs: []string{"::ffff:10.0.0.3"}, DstIPs: []string{"10.0.0.4"},
		Methods: []string{"invite"}, Statuses: []string{"486"},
		Nodes: []string{"pbx2"}, Types: []string{"100"},
		MinTime: 5000, MaxTime: 6000,
	})
	return a, b, c
}

func TestSearchQueryFields(t *testing.T) {
	x := openTest(t, t.TempDir(), Options{})
	a, b, c := queryBlocks()
	// Out of order on purpose: results come back sorted by hour and offset.
	if err := x.Add([]Entry{c, b, a}); err != nil {
		t.Fatal(err)
	}
	A, B, C := a.Info.Ref, b.Info.Ref, c.Info.Ref
	tests := []struct {
		name string
		q    Query
		want []segment.BlockRef
	}{
		{"empty query matches all", Query{}, []segment.BlockRef{A, B, C}},
		{"call id", Query{CallID: "call-a"}, []segment.BlockRef{A}},
		{"call id matches correlation id", Query{CallID: "call-x"}, []segment.BlockRef{B}},
		{"call id is case sensitive", Query{CallID: "CALL-A"}, nil},
		{"unknown call id", Query{CallID: "nope"}, nil},
		{"session id", Query{SessionID: "sess-a"}, []segment.BlockRef{A}},
		{"x-cid", Query{XCID: "x-b"}, []segment.BlockRef{B}},
		{"from user any case", Query{FromUser: "ALICE"}, []segment.BlockRef{A}},
		{"to user trimmed", Query{ToUser: "alice"}, []segment.BlockRef{C}},
		{"ruri user", Query{RURIUser: "dave-ruri"}, []segment.BlockRef{B}},
		{"ruri user is not to user", Query{RURIUser: "dave"}, nil},
		{"any user: from, pai and to", Query{AnyUser: "Alice"}, []segment.BlockRef{A, B, C}},
		{"any user: ruri", Query{AnyUser: "bob"}, []segment.BlockRef{A}},
		{"ip as source or destination", Query{IP: "10.0.0.1"}, []segment.BlockRef{A, B}},
		{"source ip", Query{SrcIP: "10.0.0.1"}, []segment.BlockRef{A}},
		{"destination ip", Query{DstIP: "10.0.0.1"}, []segment.BlockRef{B}},
		{"ipv6 in canonical form", Query{DstIP: "2001:db8::1"}, []segment.BlockRef{A}},
		{"ipv6 in another spelling", Query{IP: "2001:DB8:0000::1"}, []segment.BlockRef{A}},
		{"ipv4-mapped address", Query{SrcIP: "10.0.0.3"}, []segment.BlockRef{C}},
		{"ipv4-mapped query", Query{SrcIP: "::ffff:10.0.0.3"}, []segment.BlockRef{C}},
		{"method any case", Query{Method: "invite"}, []segment.BlockRef{A, C}},
		{"method", Query{Method: "BYE"}, []segment.BlockRef{B}},
		{"status", Query{Status: "200"}, []segment.BlockRef{B}},
		{"user agent any case", Query{UserAgent: "yealink t46"}, []segment.BlockRef{A}},
		{"user agent is a whole value", Query{UserAgent: "yealink"}, nil},
		{"node name", Query{Node: "pbx1"}, []segment.BlockRef{A}},
		{"capture id", Query{Node: "2001"}, []segment.BlockRef{B}},
		{"type", Query{Type: "5"}, []segment.BlockRef{B}},
		{"and: same block", Query{Method: "INVITE", FromUser: "alice"}, []segment.BlockRef{A}},
		{"and: other hour", Query{Method: "INVITE", ToUser: "alice"}, []segment.BlockRef{C}},
		{"and: fields in different blocks", Query{Method: "BYE", FromUser: "alice"}, nil},
		{"and: disjunctions", Query{IP: "10.0.0.1", AnyUser: "alice", Status: "200"}, []segment.BlockRef{B}},
		{"and: with time", Query{Method: "INVITE", Since: 1500, Until: 1600}, []segment.BlockRef{A}},
		{"and: time excludes", Query{Method: "INVITE", Since: 2500, Until: 4500}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := find(t, x, tt.q)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Search(%+v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestSearchTimeOverlap(t *testing.T) {
	x := openTest(t, t.TempDir(), Options{})
	es := []Entry{
		entry(hourA, 100, Fields{CallIDs: []string{"a"}, MinTime: 10, MaxTime: 20}),
		entry(hourA, 200, Fields{CallIDs: []string{"b"}, MinTime: 20, MaxTime: 30}),
		entry(hourA, 300, Fields{CallIDs: []string{"c"}, MinTime: 40, MaxTime: 50}),
		// Extract left the time empty: the block header's range counts.
		{Info: segment.BlockInfo{Ref: segment.BlockRef{Hour: hourB, Off: 100}, Next: 200, MinTime: 100, MaxTime: 110},
			Fields: Fields{CallIDs: []string{"d"}}},
	}
	if err := x.Add(es); err != nil {
		t.Fatal(err)
	}
	ref := func(i int) segment.BlockRef { return es[i].Info.Ref }
	tests := []struct {
		name         string
		since, until int64
		want         []segment.BlockRef
	}{
		{"open", 0, 0, []segment.BlockRef{ref(0), ref(1), ref(2), ref(3)}},
		{"since inside a block", 25, 0, []segment.BlockRef{ref(1), ref(2), ref(3)}},
		{"since at a block's end", 30, 0, []segment.BlockRef{ref(1), ref(2), ref(3)}},
		{"until at a block's start", 0, 20, []segment.BlockRef{ref(0), ref(1)}},
		{"until before all", 0, 9, nil},
		{"window inside one block", 12, 13, []segment.BlockRef{ref(0)}},
		{"window covering blocks", 5, 45, []segment.BlockRef{ref(0), ref(1), ref(2)}},
		{"window in a gap", 31, 39, nil},
		{"single instant shared by two", 20, 20, []segment.BlockRef{ref(0), ref(1)}},
		{"header time range", 105, 105, []segment.BlockRef{ref(3)}},
		{"until before since", 40, 30, nil},
		{"after everything", 200, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := find(t, x, Query{Since: tt.since, Until: tt.until})
			if !slices.Equal(got, tt.want) {
				t.Errorf("Search(since %d, until %d) = %v, want %v", tt.since, tt.until, got, tt.want)
			}
		})
	}
}

func TestAddIsIdempotentAndKeepsMark(t *testing.T) {
	x := openTest(t, t.TempDir(), Options{BatchBlocks: 2})
	a, b, c := queryBlocks()
	later := entry(hourA, 500, Fields{CallIDs: []string{"call-d"}})
	for range 2 {
		if err := x.Add([]Entry{a, b, later, c}); err != nil {
			t.Fatal(err)
		}
	}
	// An earlier block again does not move the mark back.
	if err := x.Add([]Entry{a}); err != nil {
		t.Fatal(err)
	}
	if off, crc, ok := x.Mark(hourA); !ok || off != 500 || crc != later.Info.CRC {
		t.Errorf("Mark(hourA) = %d, %08x, %v; want 500, %08x, true", off, crc, ok, later.Info.CRC)
	}
	x.mu.RLock()
	m := x.shards[hourA].mark
	x.mu.RUnlock()
	if m.blocks != 3 || m.records != 9 {
		t.Errorf("mark counts %d blocks, %d records; want 3, 9", m.blocks, m.records)
	}
	if got := find(t, x, Query{}); len(got) != 4 {
		t.Errorf("all blocks: %v, want 4", got)
	}
	if _, _, ok := x.Mark(hourC); ok {
		t.Error("Mark of an hour never indexed reports ok")
	}
}

func TestMarkPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := queryBlocks()
	if err := x.Add([]Entry{a, b, c}); err != nil {
		t.Fatal(err)
	}
	before := find(t, x, Query{AnyUser: "alice"})
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Search(context.Background(), Query{}); err != ErrClosed {
		t.Errorf("Search after Close: %v, want ErrClosed", err)
	}

	x = openTest(t, dir, Options{})
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourA, hourB}) {
		t.Errorf("Hours() = %v", got)
	}
	for _, want := range []Entry{b, c} {
		h := want.Info.Ref.Hour
		off, crc, ok := x.Mark(h)
		if !ok || off != want.Info.Ref.Off || crc != want.Info.CRC {
			t.Errorf("Mark(%s) = %d, %08x, %v; want %d, %08x", h, off, crc, ok, want.Info.Ref.Off, want.Info.CRC)
		}
	}
	if got := find(t, x, Query{AnyUser: "alice"}); !slices.Equal(got, before) || len(got) != 3 {
		t.Errorf("after reopen: %v, before %v", got, before)
	}
}

func TestDropHour(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir, Options{})
	a, b, c := queryBlocks()
	if err := x.Add([]Entry{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if err := x.DropHour(hourA); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, hourA.String()+shardSuffix)); !os.IsNotExist(err) {
		t.Errorf("shard directory still there: %v", err)
	}
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB}) {
		t.Errorf("Hours() = %v, want [%s]", got, hourB)
	}
	if got := find(t, x, Query{AnyUser: "alice"}); !slices.Equal(got, []segment.BlockRef{c.Info.Ref}) {
		t.Errorf("after drop: %v", got)
	}
	if _, _, ok := x.Mark(hourA); ok {
		t.Error("Mark of a dropped hour reports ok")
	}
	// A late batch for the dropped hour is ignored.
	if err := x.Add([]Entry{a}); err != nil {
		t.Fatal(err)
	}
	if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB}) {
		t.Errorf("Hours() after a late Add = %v", got)
	}
	if err := x.DropHour(hourC); err != nil {
		t.Errorf("dropping an hour without shard: %v", err)
	}
}

// damageShard overwrites every file of the shard of hour h with garbage of the
// same length.
func damageShard(t *testing.T, dir string, h segment.Hour) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, h.String()+shardSuffix), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		return os.WriteFile(p, bytes.Repeat([]byte("garbage!"), int(fi.Size()/8)+1), 0o600)
	})
	if err != nil || n == 0 {
		t.Fatalf("damage shard %s: %d files, %v", h, n, err)
	}
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestOpenRemovesDamagedShard(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"garbage in every file", func(t *testing.T, dir string) { damageShard(t, dir, hourA) }},
		{"index metadata missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, hourA.String()+shardSuffix, "index_meta.json")); err != nil {
				t.Fatal(err)
			}
		}},
		{"store missing", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, hourA.String()+shardSuffix, "store")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			x, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			a, b, c := queryBlocks()
			if err := x.Add([]Entry{a, b, c}); err != nil {
				t.Fatal(err)
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir)

			var logs syncBuffer
			x = openTest(t, dir, Options{Logger: newTestLogger(&logs)})
			if got := x.Hours(); !slices.Equal(got, []segment.Hour{hourB}) {
				t.Errorf("Hours() = %v, want only %s", got, hourB)
			}
			if _, err := os.Stat(filepath.Join(dir, hourA.String()+shardSuffix)); !os.IsNotExist(err) {
				t.Errorf("damaged shard directory still there: %v", err)
			}
			if !strings.Contains(logs.String(), hourA.String()) {
				t.Errorf("the removal is not logged: %q", logs.String())
			}
			if got := find(t, x, Query{}); !slices.Equal(got, []segment.BlockRef{c.Info.Ref}) {
				t.Errorf("Search() = %v", got)
			}
		})
	}
}

func TestOpenLeavesForeignEntries(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"notes.bleve", "README"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	x := openTest(t, dir, Options{})
	if got := x.Hours(); len(got) != 0 {
		t.Errorf("Hours() = %v", got)
	}
	for _, name := range []string{"notes.bleve", "README"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNormTerm(t *testing.T) {
	long := strings.Repeat("é", maxTerm) // two bytes a rune
	tests := []struct {
		name string
		n    norm
		in   string
		want string
	}{
		{"exact keeps case", normExact, "AbC@host", "AbC@host"},
		{"exact trims", normExact, "  abc\t", "abc"},
		{"blank is no term", normExact, "  ", ""},
		{"lower", normLower, "Alice", "alice"},
		{"lower non-ascii", normLower, "ÄRGER", "ärger"},
		{"lower unchanged", normLower, "+4930123", "+4930123"},
		{"lower folds long s", normLower, "Joſef", "josef"},
		{"lower folds kelvin sign", normLower, "Karl", "karl"},
		{"upper", normUpper, "invite", "INVITE"},
		{"ipv4 as is", normIP, "10.1.2.3", "10.1.2.3"},
		{"ipv6 canonical", normIP, "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"ipv4-mapped", normIP, "::ffff:192.0.2.1", "192.0.2.1"},
		{"not an address", normIP, "host:5060", "host:5060"},
		{"cut at a rune boundary", normExact, long, long[:maxTerm]},
		{"cut mid rune", normExact, "x" + long, "x" + long[:maxTerm-2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.term(tt.in); got != tt.want {
				t.Errorf("term(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMarkEncoding(t *testing.T) {
	m := mark{valid: true, off: 32, next: 4096, crc: 0xdeadbeef, blocks: 7, records: 2800, tmin: -5, tmax: 1 << 52}
	got, err := decodeMark(m.encode())
	if err != nil || got != m {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
	}
	if got, err := decodeMark(nil); err != nil || got.valid {
		t.Errorf("no mark: %+v, %v", got, err)
	}
	bad := []struct {
		name string
		edit func([]byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:markLen-1] }},
		{"long", func(b []byte) []byte { return append(b, 0) }},
		{"version", func(b []byte) []byte { b[0] = 9; return b }},
		{"next before off", func(b []byte) []byte { return mark{valid: true, off: 100, next: 50, blocks: 1}.encode() }},
		{"no blocks", func(b []byte) []byte { return mark{valid: true, off: 1, next: 2}.encode() }},
		{"time range inverted", func(b []byte) []byte { return mark{valid: true, off: 1, next: 2, blocks: 1, tmin: 9, tmax: 1}.encode() }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := decodeMark(tt.edit(m.encode())); err == nil {
				t.Errorf("decoded %+v, want an error", got)
			}
		})
	}
}

// TestMappingDescribesDocuments checks that the documents built directly are
// the ones bleve would build through the shard's mapping.
func TestMappingDescribesDocuments(t *testing.T) {
	m := indexMapping()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	mapped := document.NewDocument("1")
	err := m.MapDocument(mapped, map[string]any{
		fieldCallID: []any{"x@h", "y@h"}, fieldFrom: "alice", fieldMinTime: 5.0, fieldMaxTime: 6.0, "other": "z",
	})
	if err != nil {
		t.Fatal(err)
	}
	built := buildDoc(&Entry{Fields: Fields{CallIDs: []string{"x@h"}, CorrIDs: []string{"y@h"}, FromUsers: []string{"alice"}, MinTime: 5, MaxTime: 6}})

	type field struct {
		opts  bindex.FieldIndexingOptions
		terms []string
	}
	collect := func(d *document.Document) map[string]field {
		out := map[string]field{}
		d.VisitFields(func(f bindex.Field) {
			f.Analyze()
			fl := out[f.Name()]
			fl.opts = f.Options()
			for term := range f.AnalyzedTokenFrequencies() {
				fl.terms = append(fl.terms, term)
			}
			slices.Sort(fl.terms)
			out[f.Name()] = fl
		})
		return out
	}
	want, got := collect(mapped), collect(built)
	if _, ok := want["other"]; ok {
		t.Error("the mapping indexes an unknown field")
	}
	if len(want) != 4 || len(got) != 4 {
		t.Fatalf("mapped fields %v, built fields %v", want, got)
	}
	for name, w := range want {
		g := got[name]
		if g.opts != w.opts || !slices.Equal(g.terms, w.terms) {
			t.Errorf("field %s: built %v %q, mapping gives %v %q", name, g.opts, g.terms, w.opts, w.terms)
		}
	}
	if built.HasComposite() {
		t.Error("a built document has an _all field")
	}
}
