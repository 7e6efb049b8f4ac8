package segment

import (
	"fmt"
	"time"
)

// Hour identifies one segment file: the UTC hour, counted in hours since the Unix
// epoch, in which its records arrived.
type Hour int64

// HourOf returns the hour that contains t.
func HourOf(t time.Time) Hour { return Hour(t.Unix() / 3600) }

// Time returns the start of the hour.
func (h Hour) Time() time.Time { return time.Unix(int64(h)*3600, 0).UTC() }

// String formats the hour as it appears in file names: 20261123T14Z.
func (h Hour) String() string { return h.Time().Format("20060102T15Z") }

// ParseHour parses the form String writes.
func ParseHour(s string) (Hour, error) {
	t, err := time.Parse("20060102T15Z", s)
	if err != nil {
		return 0, fmt.Errorf("parse hour %q: %w", s, err)
	}
	return HourOf(t), nil
}

// Record is one stored packet. Time is the capture time in Unix microseconds; Data
// is opaque to this package.
type Record struct {
	Time int64
	Data []byte
}

// BlockRef names one block: its hour and the file offset of the block's header frame.
// A BlockRef stays valid in both the active and the sealed file of its hour.
type BlockRef struct {
	Hour Hour
	Off  int64
}

func (r BlockRef) String() string { return fmt.Sprintf("%s@%d", r.Hour, r.Off) }

// BlockInfo is what a block's header frame says about the block, read without
// decompressing it.
type BlockInfo struct {
	Ref      BlockRef
	Next     int64  // file offset just past this block (the next block's Ref.Off)
	FrameLen uint32 // bytes of the zstd frame
	RawLen   uint32 // bytes of the decoded records
	NRec     uint32 // records in the block
	CRC      uint32 // CRC-32C of the zstd frame; identifies the block's content
	MinTime  int64  // smallest record capture time, Unix µs
	MaxTime  int64  // largest record capture time, Unix µs
}

// Block is a decoded block. Records and their Data are shared with the read cache:
// callers must not modify them.
type Block struct {
	BlockInfo
	Records []Record
}

// HourInfo describes one segment file.
type HourInfo struct {
	Hour    Hour
	Path    string
	Size    int64 // bytes on disk
	Sealed  bool  // the file has its footer and is immutable
	End     int64 // offset just past the last complete block
	Blocks  int
	Records int64
	MinTime int64 // capture time range of the hour's records, Unix µs (0 when empty)
	MaxTime int64
}
