package index

import (
	"cmp"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"sync"

	"traced/segment"
)

// fakeSource is an in-memory segment directory: hours of blocks with
// consecutive offsets after a header.
type fakeSource struct {
	mu     sync.Mutex
	hours  map[segment.Hour]*fakeHour
	notify chan struct{}
	// onRead, when set, is called before each read and may fail it.
	onRead func(ref segment.BlockRef) error
	reads  map[segment.Hour]int // blocks read per hour
}

type fakeHour struct {
	blocks []*segment.Block
}

const fakeHeaderLen = 32 // bytes before the first block of a file

func newFakeSource() *fakeSource {
	return &fakeSource{
		hours:  make(map[segment.Hour]*fakeHour),
		notify: make(chan struct{}, 1),
		reads:  make(map[segment.Hour]int),
	}
}

// rec builds a record whose data lists index terms as key=value pairs
// separated by ';', the form extractTest reads.
func rec(t int64, kv ...string) segment.Record {
	return segment.Record{Time: t, Data: []byte(strings.Join(kv, ";"))}
}

// extractTest is the Extract of the tests: it reads the pairs rec writes.
func extractTest(recs []segment.Record, f *Fields) {
	for _, r := range recs {
		for _, kv := range strings.Split(string(r.Data), ";") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "cid":
				f.CallIDs = append(f.CallIDs, v)
			case "sid":
				f.SessionIDs = append(f.SessionIDs, v)
			case "xcid":
				f.XCIDs = append(f.XCIDs, v)
			case "corr":
				f.CorrIDs = append(f.CorrIDs, v)
			case "from":
				f.FromUsers = append(f.FromUsers, v)
			case "to":
				f.ToUsers = append(f.ToUsers, v)
			case "ruri":
				f.RURIUsers = append(f.RURIUsers, v)
			case "pai":
				f.PAIUsers = append(f.PAIUsers, v)
			case "src":
				f.SrcIPs = append(f.SrcIPs, v)
			case "dst":
				f.DstIPs = append(f.DstIPs, v)
			case "method":
				f.Methods = append(f.Methods, v)
			case "status":
				f.Statuses = append(f.Statuses, v)
			case "ua":
				f.UserAgents = append(f.UserAgents, v)
			case "node":
				f.Nodes = append(f.Nodes, v)
			case "type":
				f.Types = append(f.Types, v)
			}
		}
	}
}

// info describes a block of records placed at off.
func blockInfo(h segment.Hour, off int64, recs []segment.Record) segment.BlockInfo {
	c := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	raw := 0
	bi := segment.BlockInfo{Ref: segment.BlockRef{Hour: h, Off: off}, NRec: uint32(len(recs))}
	for i, r := range recs {
		fmt.Fprintf(c, "%d:%s;", r.Time, r.Data)
		raw += 8 + len(r.Data)
		if i == 0 || r.Time < bi.MinTime {
			bi.MinTime = r.Time
		}
		if i == 0 || r.Time > bi.MaxTime {
			bi.MaxTime = r.Time
		}
	}
	bi.CRC = c.Sum32()
	bi.RawLen = uint32(raw)
	bi.FrameLen = uint32(raw/2 + 16)
	bi.Next = off + 40 + int64(bi.FrameLen)
	return bi
}

// add appends a block to hour h and notifies.
func (s *fakeSource) add(h segment.Hour, recs ...segment.Record) segment.BlockInfo {
	s.mu.Lock()
	fh := s.hours[h]
	if fh == nil {
		fh = &fakeHour{}
		s.hours[h] = fh
	}
	off := int64(fakeHeaderLen)
	if n := len(fh.blocks); n > 0 {
		off = fh.blocks[n-1].Next
	}
	b := &segment.Block{BlockInfo: blockInfo(h, off, recs), Records: recs}
	fh.blocks = append(fh.blocks, b)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return b.BlockInfo
}

// truncate keeps the first n blocks of hour h, as recovery does with a torn tail.
func (s *fakeSource) truncate(h segment.Hour, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fh := s.hours[h]
	fh.blocks = fh.blocks[:n]
}

// rewrite replaces block i of hour h and every block after it with blocks of the
// given records, as a file rewritten after a crash would be.
func (s *fakeSource) rewrite(h segment.Hour, i int, recs ...[]segment.Record) {
	s.truncate(h, i)
	for _, r := range recs {
		s.add(h, r...)
	}
}

func (s *fakeSource) deleteHour(h segment.Hour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.hours, h)
}

func (s *fakeSource) readsOf(h segment.Hour) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[h]
}

func (s *fakeSource) Hours() []segment.HourInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []segment.HourInfo
	for h, fh := range s.hours {
		hi := segment.HourInfo{Hour: h, End: fakeHeaderLen, Blocks: len(fh.blocks)}
		for _, b := range fh.blocks {
			hi.End = b.Next
			hi.Records += int64(b.NRec)
		}
		hi.Size = hi.End
		out = append(out, hi)
	}
	slices.SortFunc(out, func(a, b segment.HourInfo) int { return cmp.Compare(a.Hour, b.Hour) })
	return out
}

func (s *fakeSource) Blocks(h segment.Hour, from int64, fn func(segment.BlockInfo) error) error {
	s.mu.Lock()
	fh := s.hours[h]
	if fh == nil {
		s.mu.Unlock()
		return fmt.Errorf("hour %s: %w", h, segment.ErrNotFound)
	}
	blocks := slices.Clone(fh.blocks)
	s.mu.Unlock()
	start := 0
	if from != 0 {
		end := int64(fakeHeaderLen)
		if n := len(blocks); n > 0 {
			end = blocks[n-1].Next
		}
		if from == end {
			return nil
		}
		start = slices.IndexFunc(blocks, func(b *segment.Block) bool { return b.Ref.Off == from })
		if start < 0 {
			return fmt.Errorf("hour %s: no block at %d: %w", h, from, segment.ErrNotFound)
		}
	}
	for _, b := range blocks[start:] {
		if err := fn(b.BlockInfo); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeSource) ReadBlock(ref segment.BlockRef) (*segment.Block, error) {
	s.mu.Lock()
	onRead := s.onRead
	s.mu.Unlock()
	if onRead != nil {
		if err := onRead(ref); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[ref.Hour]++
	fh := s.hours[ref.Hour]
	if fh == nil {
		return nil, fmt.Errorf("read %s: %w", ref, segment.ErrNotFound)
	}
	for _, b := range fh.blocks {
		if b.Ref == ref {
			return b, nil
		}
	}
	return nil, fmt.Errorf("read %s: %w", ref, segment.ErrNotFound)
}

func (s *fakeSource) Notify() <-chan struct{} { return s.notify }

func (s *fakeSource) setOnRead(f func(segment.BlockRef) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRead = f
}
