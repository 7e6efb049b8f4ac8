package ingest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"

	"traced/ingest/record"
)

// ImportResult says what became of the HEP packets of one import.
type ImportResult struct {
	Packets  int            // HEP frames read
	Stored   int            // handed to the store
	Ignored  int            // HEP type 0 (end of session), neither stored nor rejected
	Rejected map[string]int // by reason (the Reason* constants and the HEP decoder's reasons)
}

// Import reads a stream of HEPv3 packets, back to back as they travel on TCP, and
// takes each through the path of received packets, as if it had arrived on a
// listener of its own (record.ListenerImport, counted under "import"). The
// packets keep their own capture times. The stream is trusted (it comes over
// the control socket): no auth key is asked for. Import returns when r ends; an
// error is returned only when reading r fails, with what was done until then.
func (s *Server) Import(r io.Reader) (ImportResult, error) {
	t := &streamTally{rejected: map[string]int{}}
	err := s.readFrames((&dataThenError{r: r}).Read, netip.AddrPort{}, record.ListenerImport, t)
	res := ImportResult{Packets: t.frames, Stored: t.stored, Ignored: t.ignored, Rejected: maps.Clone(t.rejected)}
	if errors.Is(err, io.EOF) {
		return res, nil
	}
	return res, fmt.Errorf("import: read the stream: %w", err)
}

// dataThenError hands an error to readFrames only on a read without data:
// io.Reader may return the last bytes together with io.EOF, a connection
// does not.
type dataThenError struct {
	r   io.Reader
	err error
}

func (d *dataThenError) Read(b []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(b)
	if n > 0 && err != nil {
		d.err = err
		return n, nil
	}
	return n, err
}
