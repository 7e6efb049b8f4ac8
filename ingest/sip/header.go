package sip

import "bytes"

// compactForms maps each compact header name to its long form (RFC 3261 §7.3.3,
// 3515, 3841, 3892, 4028, 4474, 6665).
var compactForms = [...]struct {
	c    string
	long string
}{
	{"a", "accept-contact"},
	{"b", "referred-by"},
	{"c", "content-type"},
	{"d", "request-disposition"},
	{"e", "content-encoding"},
	{"f", "from"},
	{"i", "call-id"},
	{"j", "reject-contact"},
	{"k", "supported"},
	{"l", "content-length"},
	{"m", "contact"},
	{"n", "identity-info"},
	{"o", "event"},
	{"r", "refer-to"},
	{"s", "subject"},
	{"t", "to"},
	{"u", "allow-events"},
	{"v", "via"},
	{"x", "session-expires"},
	{"y", "identity"},
}

// alias returns the other spelling of a header name: the long form of a compact
// name, or the compact form of a long name; "" when there is none.
func alias(name string) string {
	if len(name) == 1 {
		for _, f := range compactForms {
			if eqFoldString(name, f.c) {
				return f.long
			}
		}
		return ""
	}
	for _, f := range compactForms {
		if eqFoldString(name, f.long) {
			return f.c
		}
	}
	return ""
}

// Header returns the trimmed value of the first header called name in msg, matched
// case-insensitively and in its compact or long form (Header(msg, "Call-ID") also
// finds "i:"). It returns nil when there is no such header. A folded value keeps
// its line breaks. The first line of msg is skipped unless it is not a start line
// but looks like a header (a message captured from its middle), as in Scan.
func Header(msg []byte, name string) []byte {
	if name == "" {
		return nil
	}
	alt := alias(name)
	p := skipKeepalive(msg)
	if p == len(msg) {
		return nil
	}
	end, next := lineEnd(msg, p)
	it := fieldIter{msg: msg, pos: next, body: -1}
	if _, ok := parseStartLine(msg[p:end]); !ok && looksLikeHeader(msg[p:end]) {
		it.pos = p
	}
	for {
		n, v, ok := it.next()
		if !ok {
			return nil
		}
		if eqFold(n, name) || (alt != "" && eqFold(n, alt)) {
			return v
		}
	}
}

// fieldIter walks the header lines of a message, joining continuation lines.
type fieldIter struct {
	msg  []byte
	pos  int // start of the next line
	body int // offset just after the empty line, once it is reached; else -1
}

// next returns the name and trimmed value of the next header. It returns false at
// the empty line that ends the header section (setting body) or at the end of msg.
// Lines without a colon are skipped.
func (it *fieldIter) next() (name, value []byte, ok bool) {
	msg := it.msg
	for it.pos < len(msg) {
		p := it.pos
		end, next := lineEnd(msg, p)
		if end == p {
			it.body = next
			it.pos = len(msg)
			return nil, nil, false
		}
		vend := end
		for next < len(msg) && (msg[next] == ' ' || msg[next] == '\t') {
			vend, next = lineEnd(msg, next)
		}
		it.pos = next
		if msg[p] == ' ' || msg[p] == '\t' {
			continue // a continuation with nothing to continue
		}
		colon := p
		for colon < end && msg[colon] != ':' {
			colon++
		}
		if colon == p || colon == end {
			continue
		}
		n := msg[p:colon]
		for len(n) > 0 && isBlank(n[len(n)-1]) {
			n = n[:len(n)-1]
		}
		return n, trimLWS(msg[colon+1 : vend]), true
	}
	return nil, nil, false
}

// skipKeepalive returns the offset of the first byte of msg that is not CR or LF.
func skipKeepalive(msg []byte) int {
	i := 0
	for i < len(msg) && (msg[i] == '\r' || msg[i] == '\n') {
		i++
	}
	return i
}

// lineEnd returns the end of the line that starts at p, without its CR LF or LF,
// and the start of the next line.
func lineEnd(msg []byte, p int) (end, next int) {
	i := bytes.IndexByte(msg[p:], '\n')
	if i < 0 {
		end, next = len(msg), len(msg)
	} else {
		end, next = p+i, p+i+1
	}
	if end > p && msg[end-1] == '\r' {
		end--
	}
	return end, next
}

// tokenChars marks the RFC 3261 token characters.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()

func isToken(c byte) bool { return tokenChars[c] }

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// eqFold reports whether b equals s, ignoring ASCII case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func eqFoldString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether b starts with prefix, ignoring ASCII case.
func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && eqFold(b[:len(prefix)], prefix)
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	return i
}

func skipLWS(b []byte, i int) int {
	for i < len(b) && isLWS(b[i]) {
		i++
	}
	return i
}

func indexBlank(b []byte) int {
	for i, c := range b {
		if isBlank(c) {
			return i
		}
	}
	return -1
}

// trimLWS trims SP, HT, CR and LF from both ends of b.
func trimLWS(b []byte) []byte {
	i := skipLWS(b, 0)
	j := len(b)
	for j > i && isLWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// cutAt returns b up to the first c, or all of b.
func cutAt(b []byte, c byte) []byte {
	if i := bytes.IndexByte(b, c); i >= 0 {
		return b[:i]
	}
	return b
}
