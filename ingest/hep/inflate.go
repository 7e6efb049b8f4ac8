package hep

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
)

// MaxInflated is the most bytes a compressed payload may inflate to: the
// largest UDP payload rounded up to 64 KiB. A SIP message never needs more,
// and the cap keeps a small packet from inflating into a large allocation.
const MaxInflated = 64 << 10

// PayloadBytes returns p's payload, inflated when p.Compressed: the gzip or
// zlib stream is detected from its header, and the inflated bytes are
// appended to dst. When p is not compressed it returns p.Payload itself,
// without copying, and ignores dst. Errors are *Error with
// ReasonBadCompressed. Use an Inflater to inflate many payloads without
// allocating a decompressor each time.
func PayloadBytes(p *Packet, dst []byte) ([]byte, error) {
	var z Inflater
	return z.Payload(p, dst)
}

// Inflater inflates compressed payloads, reusing its decompressors between
// calls. The zero value is ready to use; it is not safe for concurrent use.
type Inflater struct {
	src bytes.Reader
	gz  *gzip.Reader
	zl  io.ReadCloser
}

// Payload is PayloadBytes with reused decompressors.
func (z *Inflater) Payload(p *Packet, dst []byte) ([]byte, error) {
	if !p.Compressed {
		return p.Payload, nil
	}
	out, err := z.inflate(dst, p.Payload)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// isZlib reports whether b starts with a zlib header (RFC 1950): deflate
// method, window at most 32 KiB, header check bits valid.
func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

func (z *Inflater) inflate(dst, src []byte) ([]byte, error) {
	z.src.Reset(src)
	var r io.Reader
	switch {
	case len(src) >= 2 && src[0] == 0x1f && src[1] == 0x8b:
		var err error
		if z.gz == nil {
			z.gz, err = gzip.NewReader(&z.src)
		} else {
			err = z.gz.Reset(&z.src)
		}
		if err != nil {
			z.gz = nil
			return dst, inflateError("bad gzip header", err)
		}
		r = z.gz
	case isZlib(src):
		var err error
		if z.zl == nil {
			z.zl, err = zlib.NewReader(&z.src)
		} else {
			err = z.zl.(zlib.Resetter).Reset(&z.src, nil)
		}
		if err != nil {
			z.zl = nil
			return dst, inflateError("bad zlib header", err)
		}
		r = z.zl
	default:
		return dst, inflateError("compressed payload is neither gzip nor zlib", nil)
	}

	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		room := min(cap(dst), start+MaxInflated+1)
		n, err := r.Read(dst[len(dst):room])
		dst = dst[:len(dst)+n]
		if len(dst)-start > MaxInflated {
			return dst[:start], inflateError("inflated payload larger than MaxInflated", nil)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], inflateError("corrupt compressed payload", err)
		}
	}
}

func inflateError(detail string, err error) *Error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &Error{Reason: ReasonBadCompressed, Detail: detail, Err: err}
}
