package capture

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// Limits of one direction of a TCP stream.
const (
	// maxMessage is the largest SIP message (or WebSocket message) kept: a HEP
	// packet cannot carry more.
	maxMessage = 65000
	// maxLine is how long a first line may grow before its bytes are judged.
	maxLine = 2048
	// notSIPLimit: a stream that has had this many bytes discarded without ever
	// carrying SIP is not SIP; its later data is skipped without being scanned.
	notSIPLimit = 256 << 10
)

const (
	modeSIP = iota // SIP messages framed by Content-Length (RFC 3261 18.3), or an HTTP Upgrade
	modeWS         // WebSocket frames, one SIP message each (RFC 7118)
)

// framer cuts one direction of a reassembled TCP stream into SIP messages.
type framer struct {
	buf        []byte
	mode       int
	skipN      int  // bytes still to discard (the rest of an oversize message or frame)
	discarding bool // inside a stretch of non-SIP bytes (counted once)
	everSIP    bool
	discarded  int
	dead       bool // not SIP: data is no longer scanned
	wsFrag     []byte
	wsFragging bool
	midLine    bool // the buffer starts inside a line that was dropped
}

// feed adds data and calls out for each complete SIP message (out must copy what
// it keeps) and skip for what is dropped.
func (f *framer) feed(data []byte, out func([]byte), skip func(string)) {
	if f.dead {
		skip(SkipTCPNotSIP)
		return
	}
	if f.skipN > 0 {
		n := min(f.skipN, len(data))
		f.skipN -= n
		data = data[n:]
	}
	f.buf = append(f.buf, data...)
	for f.step(out, skip) {
	}
	if !f.everSIP && f.discarded > notSIPLimit {
		f.dead = true
		f.buf = nil
	}
}

// end is the end of the stream: a partial message left is counted.
func (f *framer) end(skip func(string)) {
	if len(bytes.Trim(f.buf, "\r\n")) > 0 && !f.discarding && !f.dead || f.skipN > 0 || f.wsFragging {
		skip(SkipTCPIncomplete)
	}
	f.buf, f.skipN, f.wsFrag, f.wsFragging = nil, 0, nil, false
}

// gap is a hole in the stream: what is buffered can no longer be completed.
func (f *framer) gap(skip func(string)) {
	skip(SkipTCPGap)
	f.buf, f.skipN, f.wsFrag, f.wsFragging = f.buf[:0], 0, nil, false
	// The next bytes may be anywhere in a message: find the next start line.
	f.discarding = true
	if f.mode == modeWS {
		f.mode = modeSIP // WebSocket cannot resynchronise: look for SIP again
	}
}

func (f *framer) consume(n int) {
	f.buf = f.buf[:copy(f.buf, f.buf[n:])]
}

// step takes one step and says whether another may be taken.
func (f *framer) step(out func([]byte), skip func(string)) bool {
	if f.skipN > 0 {
		n := min(f.skipN, len(f.buf))
		f.skipN -= n
		f.consume(n)
		return len(f.buf) > 0
	}
	if f.mode == modeWS {
		return f.wsStep(out, skip)
	}
	if f.discarding {
		return len(f.buf) > 0 && f.resync(skip)
	}
	i := 0
	for i < len(f.buf) && (f.buf[i] == '\r' || f.buf[i] == '\n') {
		i++ // keep-alive CRLFs between messages
	}
	if i > 0 {
		f.consume(i)
	}
	if len(f.buf) == 0 {
		return false
	}
	if bytes.HasPrefix(f.buf, httpGet) || bytes.HasPrefix(f.buf, httpResp) {
		return f.httpUpgrade(skip)
	}
	nl := bytes.IndexByte(f.buf, '\n')
	if nl < 0 {
		if bytes.HasPrefix(httpGet, f.buf) || bytes.HasPrefix(httpResp, f.buf) {
			return false // too short to tell
		}
		if len(f.buf) > maxLine || !couldStart(f.buf) {
			return f.startDiscard(skip)
		}
		return false
	}
	if nl > maxLine || !IsStartLine(f.buf[:nl]) {
		return f.startDiscard(skip)
	}
	hdrEnd := headerEnd(f.buf)
	if hdrEnd < 0 {
		if len(f.buf) > maxMessage {
			skip(SkipTCPOversize)
			return f.dropMessage(nl)
		}
		return false
	}
	cl, ok := contentLength(f.buf[:hdrEnd])
	if !ok || hdrEnd+cl > maxMessage {
		skip(SkipTCPOversize)
		if ok {
			f.skipN = hdrEnd + cl
			return true
		}
		return f.dropMessage(nl)
	}
	if len(f.buf) < hdrEnd+cl {
		return false
	}
	f.everSIP = true
	out(f.buf[:hdrEnd+cl])
	f.consume(hdrEnd + cl)
	return true
}

// startDiscard begins a stretch of bytes that are not SIP (counted once).
func (f *framer) startDiscard(skip func(string)) bool {
	if skip != nil {
		skip(SkipTCPNotSIP)
	}
	f.discarding = true
	return f.resync(nil)
}

// dropMessage drops a message that cannot be framed (no end of headers within
// the size limit, or no usable Content-Length): its start line goes first, so
// resynchronising cannot find the same message again, then the rest up to the
// next start line.
func (f *framer) dropMessage(nl int) bool {
	f.discarded += nl + 1
	f.consume(nl + 1)
	return f.startDiscard(nil)
}

// resync drops bytes up to the next SIP start line at the beginning of a line.
// It keeps a last partial line, which may be the start of one, unless it is
// already too long to be one: then it is dropped and the bytes that follow are
// known to be the rest of that line.
func (f *framer) resync(_ func(string)) bool {
	from := 0
	if f.midLine {
		nl := bytes.IndexByte(f.buf, '\n')
		if nl < 0 {
			f.discarded += len(f.buf)
			f.consume(len(f.buf))
			return false
		}
		f.midLine = false
		from = nl + 1
	} else if nl := bytes.IndexByte(f.buf, '\n'); nl >= 0 && nl <= maxLine && IsStartLine(f.buf[:nl]) {
		f.discarding = false // after a gap, a message may start right here
		return true
	}
	for {
		next := bytes.IndexByte(f.buf[from:], '\n')
		if next < 0 {
			break
		}
		if from > 0 && next <= maxLine && IsStartLine(f.buf[from:from+next]) {
			f.discarded += from
			f.consume(from)
			f.discarding = false
			return true
		}
		from += next + 1
	}
	// No start line in the complete lines: keep only the partial last line,
	// when it can still be one.
	drop := from
	if tail := f.buf[from:]; len(tail) > maxLine || len(tail) > 0 && !couldStart(tail) {
		drop = len(f.buf)
		f.midLine = len(tail) > 0
	}
	f.discarded += drop
	f.consume(drop)
	return false
}

// httpUpgrade reads an HTTP request or response head at the start of the
// buffer: a WebSocket upgrade switches the direction to WebSocket frames, any
// other HTTP is not SIP.
func (f *framer) httpUpgrade(skip func(string)) bool {
	end := headerEnd(f.buf)
	if end < 0 {
		if len(f.buf) > maxMessage {
			return f.startDiscard(skip)
		}
		return false
	}
	head := bytes.ToLower(f.buf[:end])
	if !bytes.Contains(head, []byte("\nupgrade: websocket")) && !bytes.Contains(head, []byte("\nupgrade:websocket")) {
		return f.startDiscard(skip)
	}
	f.consume(end)
	f.mode = modeWS
	return true
}

// wsStep reads one WebSocket frame.
func (f *framer) wsStep(out func([]byte), skip func(string)) bool {
	h, st := ParseWSHeader(f.buf)
	switch st {
	case wsIncomplete:
		return false
	case wsInvalid:
		f.mode = modeSIP
		return f.startDiscard(skip)
	}
	if h.Len > maxMessage {
		skip(SkipTCPOversize)
		f.consume(h.HeaderLen)
		f.skipN = int(min(h.Len, 1<<40))
		f.wsFrag, f.wsFragging = nil, false
		return true
	}
	total := h.HeaderLen + int(h.Len)
	if len(f.buf) < total {
		return false
	}
	payload := f.buf[h.HeaderLen:total]
	if h.Masked {
		for i := range payload {
			payload[i] ^= h.Mask[i&3]
		}
	}
	switch {
	case h.Opcode >= 8:
		skip(SkipWSControl)
	case h.Opcode == 0 && !f.wsFragging:
		skip(SkipWSNotSIP)
	case !h.Fin || h.Opcode == 0:
		if h.Opcode != 0 {
			f.wsFrag, f.wsFragging = f.wsFrag[:0], true
		}
		if len(f.wsFrag)+len(payload) > maxMessage {
			skip(SkipTCPOversize)
			f.wsFrag, f.wsFragging = nil, false
			break
		}
		f.wsFrag = append(f.wsFrag, payload...)
		if h.Fin {
			f.wsMessage(f.wsFrag, h.RSV, out, skip)
			f.wsFrag, f.wsFragging = f.wsFrag[:0], false
		}
	default:
		f.wsMessage(payload, h.RSV, out, skip)
	}
	f.consume(total)
	return true
}

func (f *framer) wsMessage(p []byte, rsv byte, out func([]byte), skip func(string)) {
	switch {
	case rsv != 0: // compressed (permessage-deflate): not read
		skip(SkipWSNotSIP)
	case IsSIP(p):
		f.everSIP = true
		out(p)
	case onlyCRLF(p):
		skip(SkipKeepAlive)
	default:
		skip(SkipWSNotSIP)
	}
}

// WSHeader is a WebSocket frame header (RFC 6455 5.2).
type WSHeader struct {
	Fin       bool
	RSV       byte // the three reserved bits
	Opcode    byte
	Masked    bool
	Mask      [4]byte
	Len       uint64 // payload length
	HeaderLen int
}

type wsStatus uint8

const (
	wsOK wsStatus = iota
	wsIncomplete
	wsInvalid
)

// ParseWSHeader decodes the frame header at the start of b.
func ParseWSHeader(b []byte) (WSHeader, wsStatus) {
	var h WSHeader
	if len(b) < 2 {
		return h, wsIncomplete
	}
	h.Fin = b[0]&0x80 != 0
	h.RSV = b[0] >> 4 & 7
	h.Opcode = b[0] & 0x0f
	h.Masked = b[1]&0x80 != 0
	n := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, wsIncomplete
		}
		h.Len = uint64(binary.BigEndian.Uint16(b[2:]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, wsIncomplete
		}
		h.Len = binary.BigEndian.Uint64(b[2:])
		n = 10
		if h.Len>>63 != 0 {
			return h, wsInvalid
		}
	default:
		h.Len = uint64(l)
	}
	switch {
	case h.Opcode > 2 && h.Opcode < 8 || h.Opcode > 10:
		return h, wsInvalid
	case h.Opcode >= 8 && (!h.Fin || h.Len > 125):
		return h, wsInvalid
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, wsIncomplete
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	h.HeaderLen = n
	return h, wsOK
}

// headerEnd returns the length of the header block at the start of b, its
// empty line included, or -1 while it is incomplete.
func headerEnd(b []byte) int {
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	lf := bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf+2 <= lf):
		return crlf + 4
	case lf >= 0:
		return lf + 2
	}
	return -1
}

// contentLength reads Content-Length (or its compact form l) from a header
// block; a missing one is 0. ok is false for a value that is not a number.
func contentLength(head []byte) (int, bool) {
	first := true
	for len(head) > 0 {
		var line []byte
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			line, head = head, nil
		}
		if first {
			first = false
			continue
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		name := bytes.TrimSpace(line[:c])
		if !bytes.EqualFold(name, []byte("content-length")) && !bytes.EqualFold(name, []byte("l")) {
			continue
		}
		v := string(bytes.TrimSpace(line[c+1:]))
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false
		}
		return n, true
	}
	return 0, true
}

var (
	httpGet  = []byte("GET ")
	httpResp = []byte("HTTP/1.")
)

// couldStart says whether b, a first line without its end yet, can still become
// a SIP start line (IsStartLine of b and what follows).
func couldStart(b []byte) bool {
	if bytes.HasPrefix(sipVersion, b) {
		return true
	}
	if bytes.HasPrefix(b, sipVersion) {
		r := b[len(sipVersion):]
		for i, c := range r {
			switch {
			case i == 0 && c != ' ',
				i >= 1 && i <= 3 && !isDigit(c),
				i == 4 && c != ' ' && c != '\r':
				return false
			}
		}
		return true
	}
	sp := bytes.IndexByte(b, ' ')
	method := b
	if sp >= 0 {
		method = b[:sp]
	}
	if len(method) > 32 || sp == 0 {
		return false
	}
	for _, c := range method {
		if !isTokenChar(c) {
			return false
		}
	}
	if sp < 0 {
		return true
	}
	rest := b[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	uri := rest
	if sp2 >= 0 {
		uri = rest[:sp2]
	}
	for _, c := range uri {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	if sp2 < 0 {
		return true
	}
	if sp2 == 0 || bytes.IndexByte(uri, ':') <= 0 {
		return false
	}
	v := rest[sp2+1:]
	return bytes.HasPrefix(sipVersion, v) || bytes.Equal(v, append(sipVersion[:len(sipVersion):len(sipVersion)], '\r'))
}
