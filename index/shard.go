package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"

	"traced/segment"
)

// shardSuffix ends the directory name of a shard: DIR/20261123T14Z.bleve.
const shardSuffix = ".bleve"

// markKey is the bleve internal key under which a shard keeps its mark.
const markKey = "traced.mark"

// flushTimeout bounds how long Close waits for a shard's last batch to reach the
// disk.
const flushTimeout = time.Minute

// mark is what a shard knows about its hour's segment, stored with every batch. It
// is encoded in markLen bytes, little endian:
//
//	version u8 = 2 | off i64 | next i64 | crc u32 | blocks i64 | records i64 | tmin i64 | tmax i64
//
// off, next and crc describe the last block indexed (its offset, the offset just
// past it and its frame CRC); blocks and records count the blocks indexed in file
// order up to it; tmin and tmax bound the capture times of every indexed block.
type mark struct {
	valid      bool // a block has been indexed
	off, next  int64
	crc        uint32
	blocks     int64
	records    int64
	tmin, tmax int64
}

// markVersion also versions the set of fields a shard's documents hold: a shard
// written before a field was added lacks its terms, so its mark no longer decodes
// and the shard is rebuilt from its segment. Version 2 added the ref field.
const (
	markVersion = 2
	markLen     = 1 + 8 + 8 + 4 + 8 + 8 + 8 + 8
)

func (m mark) encode() []byte {
	b := make([]byte, 0, markLen)
	b = append(b, markVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.off))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.next))
	b = binary.LittleEndian.AppendUint32(b, m.crc)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.blocks))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.records))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.tmin))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.tmax))
	return b
}

func decodeMark(b []byte) (mark, error) {
	if len(b) == 0 {
		return mark{}, nil
	}
	if len(b) != markLen || b[0] != markVersion {
		return mark{}, fmt.Errorf("mark of %d bytes, version %d: not a version %d mark", len(b), b[0], markVersion)
	}
	u64 := func(i int) int64 { return int64(binary.LittleEndian.Uint64(b[i:])) }
	m := mark{
		valid:   true,
		off:     u64(1),
		next:    u64(9),
		crc:     binary.LittleEndian.Uint32(b[17:]),
		blocks:  u64(21),
		records: u64(29),
		tmin:    u64(37),
		tmax:    u64(45),
	}
	if m.off < 0 || m.next <= m.off || m.blocks < 1 || m.records < 0 || m.tmax < m.tmin {
		return mark{}, fmt.Errorf("mark %+v is inconsistent", m)
	}
	return m, nil
}

// advance returns the mark after indexing e, given in file order after the
// blocks m covers.
func (m mark) advance(e *Entry) mark {
	lo, hi := blockSpan(e)
	if !m.valid {
		m.tmin, m.tmax = lo, hi
	} else {
		m.tmin, m.tmax = min(m.tmin, lo), max(m.tmax, hi)
	}
	switch {
	case !m.valid || e.Info.Ref.Off > m.off:
		m.valid = true
		m.off, m.next, m.crc = e.Info.Ref.Off, e.Info.Next, e.Info.CRC
		m.blocks++
		m.records += int64(e.Info.NRec)
	case e.Info.Ref.Off == m.off:
		// The same block again, perhaps rewritten: its content is the latest.
		m.next, m.crc = e.Info.Next, e.Info.CRC
	}
	return m
}

// overlaps reports whether the shard may hold a block whose capture time range
// meets [since, until] (0 = open).
func (m mark) overlaps(since, until int64) bool {
	if !m.valid {
		return false
	}
	return (since == 0 || m.tmax >= since) && (until == 0 || m.tmin <= until)
}

// shard is the bleve index of one hour.
type shard struct {
	hour segment.Hour
	path string

	// mu is held shared while the bleve index is used and exclusively to close it.
	mu  sync.RWMutex
	idx bleve.Index // nil once closed

	// Guarded by Index.mu.
	mark     mark
	dirty    bool // batches since the last flush
	verified bool // the mark was checked against the segment in this process
}

// scorchConfig is the runtime configuration of every shard. Batches do not wait
// for the disk: the mark travels in the same batch as the documents, and scorch
// persists batches in order, so whatever a crash leaves is a consistent prefix.
// Close flushes explicitly.
func scorchConfig() map[string]any {
	return map[string]any{
		"unsafe_batch": true,
		"scorchPersisterOptions": map[string]any{
			// Let a few small batches meet in memory before they are written.
			"PersisterNapTimeMSec": 200,
		},
	}
}

// indexMapping describes the fields of a shard. Documents are built directly
// (Batch.IndexAdvanced), so the mapping documents the format and serves queries;
// it never analyses anything.
func indexMapping() *mapping.IndexMappingImpl {
	m := mapping.NewIndexMapping()
	m.DefaultAnalyzer = keyword.Name
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	dm := mapping.NewDocumentStaticMapping()
	for _, l := range (&Fields{}).keywordLists() {
		fm := mapping.NewKeywordFieldMapping()
		fm.Store = false
		fm.IncludeTermVectors = false
		fm.IncludeInAll = false
		fm.DocValues = false
		dm.AddFieldMappingsAt(l.name, fm)
	}
	for _, name := range []string{fieldMinTime, fieldMaxTime} {
		fm := mapping.NewNumericFieldMapping()
		fm.Store = false
		fm.IncludeInAll = false
		fm.DocValues = false
		dm.AddFieldMappingsAt(name, fm)
	}
	m.DefaultMapping = dm
	return m
}

// createShard makes a new, empty shard at path.
func createShard(h segment.Hour, path string) (*shard, error) {
	idx, err := bleve.NewUsing(path, indexMapping(), scorch.Name, scorch.Name, scorchConfig())
	if err != nil {
		return nil, fmt.Errorf("create shard %s: %w", path, err)
	}
	return &shard{hour: h, path: path, idx: idx}, nil
}

// openShard opens an existing shard and reads its mark. Any failure, including a
// panic inside bleve on damaged files, is returned as an error.
func openShard(h segment.Hour, path string) (s *shard, err error) {
	var idx bleve.Index
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open shard %s: panic: %v", path, r)
		}
		if err != nil && idx != nil {
			_ = idx.Close()
		}
	}()
	opened, err := bleve.OpenUsing(path, scorchConfig())
	if err != nil {
		// bleve returns a typed nil with its error: never keep it.
		return nil, fmt.Errorf("open shard %s: %w", path, err)
	}
	idx = opened
	raw, err := idx.GetInternal([]byte(markKey))
	if err != nil {
		return nil, fmt.Errorf("read mark of shard %s: %w", path, err)
	}
	m, err := decodeMark(raw)
	if err != nil {
		return nil, fmt.Errorf("read mark of shard %s: %w", path, err)
	}
	n, err := idx.DocCount()
	if err != nil {
		return nil, fmt.Errorf("count documents of shard %s: %w", path, err)
	}
	if m.valid != (n > 0) {
		return nil, fmt.Errorf("shard %s: %d documents but mark %+v", path, n, m)
	}
	return &shard{hour: h, path: path, idx: idx, mark: m}, nil
}

// batch indexes the entries (sorted by offset, no duplicate offsets) and stores
// the mark m that results, in one bleve batch.
func (s *shard) batch(entries []Entry, m mark) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.idx == nil {
		return errShardClosed
	}
	b := s.idx.NewBatch()
	for i := range entries {
		if err := b.IndexAdvanced(buildDoc(&entries[i])); err != nil {
			return fmt.Errorf("index block %s: %w", entries[i].Info.Ref, err)
		}
	}
	b.SetInternal([]byte(markKey), m.encode())
	if err := s.idx.Batch(b); err != nil {
		return fmt.Errorf("write batch to shard %s: %w", s.hour, err)
	}
	return nil
}

// errShardClosed reports a shard closed by DropHour or Close while in use.
var errShardClosed = errors.New("shard closed")

// close flushes the shard if dirty, then closes it. It waits until no search or
// batch uses the shard.
func (s *shard) close(flush bool, m mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idx == nil {
		return nil
	}
	var ferr error
	if flush {
		ferr = s.flushLocked(m)
	}
	err := s.idx.Close()
	s.idx = nil
	if err != nil {
		return fmt.Errorf("close shard %s: %w", s.hour, err)
	}
	return ferr
}

// flushLocked writes one more batch holding the mark and waits until scorch has
// persisted it, and with it every batch before it.
func (s *shard) flushLocked(m mark) error {
	done := make(chan error, 1)
	b := s.idx.NewBatch()
	if m.valid {
		b.SetInternal([]byte(markKey), m.encode())
	} else {
		b.DeleteInternal([]byte(markKey))
	}
	b.SetPersistedCallback(func(err error) {
		select {
		case done <- err:
		default:
		}
	})
	if err := s.idx.Batch(b); err != nil {
		return fmt.Errorf("flush shard %s: %w", s.hour, err)
	}
	t := time.NewTimer(flushTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("flush shard %s: %w", s.hour, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("flush shard %s: not persisted after %v", s.hour, flushTimeout)
	}
}
