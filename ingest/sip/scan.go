package sip

import (
	"errors"
	"math"
)

// Headers is what Scan extracts from one SIP message. Every slice aliases the
// scanned message, except ReferToReplaces (see its comment). A field whose header is
// absent is nil; numbers are zero, and ContentLength is -1.
type Headers struct {
	Request    bool   // request line seen
	Method     []byte // request method (requests)
	RURI       []byte // Request-URI (requests)
	RURIUser   []byte // user part of the Request-URI (sip:, sips:, tel: number)
	StatusCode int    // status code (responses), 100-699
	Reason     []byte // reason phrase (responses)

	CallID      []byte // Call-ID or compact i:
	FromUser    []byte // user part of the From URI (From / f:)
	FromTag     []byte // tag parameter of From
	FromDisplay []byte // display name of From, without its quotes (escapes left as sent)
	ToUser      []byte // user part of the To URI (To / t:)
	ToTag       []byte // tag parameter of To
	CSeq        uint32 // CSeq number; 0 when absent or out of range
	CSeqMethod  []byte // CSeq method
	UserAgent   []byte // User-Agent
	Server      []byte // Server
	ContactUser []byte // user part of the first Contact / m:
	SessionID   []byte // X-Session-Id, else Session-ID (RFC 7989) without its parameters
	XCID        []byte // X-CID
	Replaces    []byte // the Call-ID inside a Replaces header (RFC 3891)

	// ReferToReplaces is the Call-ID inside the Replaces= header of the URI in
	// Refer-To / r: (RFC 3515, 3891). When it was URL-escaped it is unescaped into a
	// buffer inside this Headers (or, beyond refBufLen bytes, into a fresh
	// allocation) and is valid until the next Scan into the same Headers.
	ReferToReplaces []byte

	ContentType   []byte // Content-Type / c:, with its parameters
	PAIUser       []byte // user part of the first P-Asserted-Identity
	ContentLength int    // Content-Length / l: as sent; -1 when absent or not a number
	Body          []byte // everything after the empty line that ends the header section
	Complete      bool   // valid start line, a Call-ID and a terminated header section

	seen uint32          // headers already taken: the first occurrence wins
	buf  [refBufLen]byte // storage for an unescaped ReferToReplaces
}

// refBufLen is the longest unescaped Refer-To Replaces Call-ID kept inside Headers.
const refBufLen = 128

// Bits of Headers.seen.
const (
	seenCallID uint32 = 1 << iota
	seenFrom
	seenTo
	seenCSeq
	seenUserAgent
	seenServer
	seenContact
	seenXSessionID
	seenSessionID
	seenXCID
	seenReplaces
	seenReferTo
	seenContentType
	seenPAI
	seenContentLength
)

// ErrNotSIP is matched (errors.Is) by every error Scan returns.
var ErrNotSIP = errors.New("sip: not a SIP message")

// The errors Scan returns. Each matches ErrNotSIP.
var (
	ErrEmpty       error = &notSIPError{"sip: empty message or keep-alive"}
	ErrBinary      error = &notSIPError{"sip: binary data in the start line, not a SIP message"}
	ErrHTTP        error = &notSIPError{"sip: HTTP message, not SIP"}
	ErrStatusLine  error = &notSIPError{"sip: malformed status line"}
	ErrRequestLine error = &notSIPError{"sip: first line is neither a SIP request line nor a status line"}
)

type notSIPError struct{ msg string }

func (e *notSIPError) Error() string        { return e.msg }
func (e *notSIPError) Is(target error) bool { return target == ErrNotSIP }

// Scan resets *h and fills it from msg. The slices in *h alias msg. It returns an
// error matching ErrNotSIP when msg is not a SIP message, and still fills what it
// could. h must not be nil.
func Scan(msg []byte, h *Headers) error {
	*h = Headers{ContentLength: -1}
	p := skipKeepalive(msg)
	if p == len(msg) {
		return ErrEmpty
	}
	end, next := lineEnd(msg, p)
	line := msg[p:end]
	var err error
	it := fieldIter{msg: msg, pos: next, body: -1}
	if sl, ok := parseStartLine(line); ok {
		h.Request = sl.request
		h.Method = sl.method
		h.RURI = sl.uri
		h.RURIUser = userOfURI(sl.uri)
		h.StatusCode = sl.code
		h.Reason = sl.reason
	} else {
		err = classify(line)
		if looksLikeHeader(line) {
			it.pos = p
		}
	}
	for {
		name, value, ok := it.next()
		if !ok {
			break
		}
		h.field(name, value)
	}
	if it.body >= 0 {
		h.Body = msg[it.body:]
	}
	h.Complete = err == nil && it.body >= 0 && len(h.CallID) > 0
	return err
}

// field takes one header into h.
func (h *Headers) field(name, v []byte) {
	switch len(name) {
	case 1:
		switch lower(name[0]) {
		case 'i':
			h.setCallID(v)
		case 'f':
			h.setFrom(v)
		case 't':
			h.setTo(v)
		case 'm':
			h.setContact(v)
		case 'c':
			h.setContentType(v)
		case 'l':
			h.setContentLength(v)
		case 'r':
			h.setReferTo(v)
		}
	case 2:
		if eqFold(name, "to") {
			h.setTo(v)
		}
	case 4:
		switch {
		case eqFold(name, "from"):
			h.setFrom(v)
		case eqFold(name, "cseq"):
			h.setCSeq(v)
		}
	case 5:
		if eqFold(name, "x-cid") && h.first(seenXCID) {
			h.XCID = v
		}
	case 6:
		if eqFold(name, "server") && h.first(seenServer) {
			h.Server = v
		}
	case 7:
		switch {
		case eqFold(name, "call-id"):
			h.setCallID(v)
		case eqFold(name, "contact"):
			h.setContact(v)
		}
	case 8:
		switch {
		case eqFold(name, "replaces"):
			if h.first(seenReplaces) {
				h.Replaces = trimLWS(cutAt(v, ';'))
			}
		case eqFold(name, "refer-to"):
			h.setReferTo(v)
		}
	case 10:
		switch {
		case eqFold(name, "user-agent"):
			if h.first(seenUserAgent) {
				h.UserAgent = v
			}
		case eqFold(name, "session-id"):
			if h.seen&(seenXSessionID|seenSessionID) == 0 {
				h.seen |= seenSessionID
				h.SessionID = trimLWS(cutAt(v, ';'))
			}
		}
	case 12:
		switch {
		case eqFold(name, "x-session-id"):
			if h.first(seenXSessionID) {
				h.SessionID = v
			}
		case eqFold(name, "content-type"):
			h.setContentType(v)
		}
	case 14:
		if eqFold(name, "content-length") {
			h.setContentLength(v)
		}
	case 19:
		if eqFold(name, "p-asserted-identity") && h.first(seenPAI) {
			h.PAIUser = UserOf(v)
		}
	}
}

// first reports whether bit has not been seen yet, and marks it seen.
func (h *Headers) first(bit uint32) bool {
	if h.seen&bit != 0 {
		return false
	}
	h.seen |= bit
	return true
}

func (h *Headers) setCallID(v []byte) {
	if h.first(seenCallID) {
		h.CallID = v
	}
}

func (h *Headers) setFrom(v []byte) {
	if !h.first(seenFrom) {
		return
	}
	a := parseAddr(v)
	h.FromUser = userOfURI(a.uri)
	h.FromDisplay = a.display
	h.FromTag = paramValue(a.params, "tag")
}

func (h *Headers) setTo(v []byte) {
	if !h.first(seenTo) {
		return
	}
	a := parseAddr(v)
	h.ToUser = userOfURI(a.uri)
	h.ToTag = paramValue(a.params, "tag")
}

func (h *Headers) setContact(v []byte) {
	if h.first(seenContact) {
		h.ContactUser = userOfURI(parseAddr(v).uri)
	}
}

func (h *Headers) setContentType(v []byte) {
	if h.first(seenContentType) {
		h.ContentType = v
	}
}

// setCSeq reads "CSeq: 4711 INVITE".
func (h *Headers) setCSeq(v []byte) {
	if !h.first(seenCSeq) {
		return
	}
	n, i, ok := digits(v, math.MaxUint32)
	if ok {
		h.CSeq = uint32(n)
	}
	i = skipLWS(v, i)
	j := i
	for j < len(v) && isToken(v[j]) {
		j++
	}
	h.CSeqMethod = v[i:j]
}

func (h *Headers) setContentLength(v []byte) {
	if !h.first(seenContentLength) {
		return
	}
	if n, i, ok := digits(v, math.MaxInt32); ok && i == len(v) {
		h.ContentLength = int(n)
	}
}

// digits parses the decimal number at the start of v. It returns the value, the
// index after the digits, and false when there are none or the value exceeds limit.
func digits(v []byte, limit uint64) (n uint64, i int, ok bool) {
	ok = true
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		if ok {
			n = n*10 + uint64(v[i]-'0')
			ok = n <= limit
		}
		i++
	}
	return n, i, ok && i > 0
}

// startLine is a parsed request line or status line.
type startLine struct {
	request bool
	method  []byte
	uri     []byte
	code    int
	reason  []byte
}

// parseStartLine parses "METHOD URI SIP/2.0" or "SIP/2.0 CODE Reason".
// It is lenient about runs of blanks and the version number.
func parseStartLine(line []byte) (sl startLine, ok bool) {
	if hasPrefixFold(line, "SIP/") {
		i := indexBlank(line)
		if i < 0 || !isVersion(line[:i]) {
			return sl, false
		}
		i = skipBlank(line, i)
		if len(line)-i < 3 || (len(line)-i > 3 && !isBlank(line[i+3])) {
			return sl, false
		}
		code := 0
		for _, c := range line[i : i+3] {
			if c < '0' || c > '9' {
				return sl, false
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 || code > 699 {
			return sl, false
		}
		sl.code = code
		sl.reason = trimLWS(line[i+3:])
		return sl, true
	}
	i := 0
	for i < len(line) && isToken(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || !isBlank(line[i]) {
		return sl, false
	}
	method := line[:i]
	i = skipBlank(line, i)
	j := i
	for j < len(line) && line[j] > ' ' && line[j] != 0x7f {
		j++
	}
	if j == i || j == len(line) || !isBlank(line[j]) {
		return sl, false
	}
	uri := line[i:j]
	k := skipBlank(line, j)
	if !isVersion(trimLWS(line[k:])) {
		return sl, false
	}
	return startLine{request: true, method: method, uri: uri}, true
}

// isVersion reports whether v is "SIP/" followed by a version number.
func isVersion(v []byte) bool {
	if !hasPrefixFold(v, "SIP/") || len(v) == 4 {
		return false
	}
	for _, c := range v[4:] {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// classify names what is wrong with a first line that is not a start line.
func classify(line []byte) error {
	for _, c := range line {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return ErrBinary
		}
	}
	switch {
	case hasPrefixFold(line, "HTTP/"):
		return ErrHTTP
	case hasPrefixFold(line, "SIP/"):
		return ErrStatusLine
	}
	// A request line whose version is HTTP: "GET / HTTP/1.1".
	i := len(line)
	for i > 0 && line[i-1] != ' ' && line[i-1] != '\t' {
		i--
	}
	if i > 0 && hasPrefixFold(line[i:], "HTTP/") {
		return ErrHTTP
	}
	return ErrRequestLine
}

// looksLikeHeader reports whether line reads "token: ..." (a message that starts
// in the middle of its header section).
func looksLikeHeader(line []byte) bool {
	i := 0
	for i < len(line) && isToken(line[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	i = skipBlank(line, i)
	return i < len(line) && line[i] == ':'
}
