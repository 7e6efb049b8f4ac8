package segment

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned (wrapped) for a block or hour that does not exist:
	// an hour that was deleted or never written, or a block past the end of its
	// file (for instance one cut off as a torn tail).
	ErrNotFound = errors.New("segment: not found")

	// ErrClosed is returned by calls on a closed Dir.
	ErrClosed = errors.New("segment: dir closed")

	// ErrActive is returned by DeleteHour for the hour being written.
	ErrActive = errors.New("segment: hour is being written")

	// ErrTooLarge is returned by Append for a record over MaxRecordSize.
	ErrTooLarge = errors.New("segment: record too large")
)

// CorruptionError reports damaged bytes in a segment file: a block whose header,
// frame checksum or records do not check, or a footer that does not describe its
// file. Only the block or structure at Offset is affected.
type CorruptionError struct {
	Path   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("segment: corruption in %s at offset %d: %v", e.Path, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// LostData describes bytes cut from the tail of a file by recovery because they
// did not form complete, checked blocks: the file was truncated to Offset and
// Bytes bytes were dropped.
type LostData struct {
	Path   string
	Offset int64
	Bytes  int64
}
