package sip

// addr is a header value read as name-addr or addr-spec (RFC 3261 §20.10, §25.1).
type addr struct {
	display  []byte // display name, without quotes
	uri      []byte // the URI: inside <>, or an addr-spec up to ';', ',' or LWS
	params   []byte // header parameters: after '>' or from the ';' that ends an addr-spec
	spec     []byte // for an addr-spec, the URI and everything after it
	nameAddr bool   // the URI was in <>
}

// parseAddr reads the first address of a From, To, Contact, Refer-To or
// P-Asserted-Identity value. A quoted display name may contain '<', ';', '@' and
// escaped quotes.
func parseAddr(v []byte) (a addr) {
	v = trimLWS(v)
	quoted := false     // v starts with a quoted display name
	start := 0          // where an addr-spec may begin: 0, or after that display name
	schemeDone := false // a ':' was seen: a later one cannot end a scheme
	for k := 0; k < len(v); k++ {
		switch v[k] {
		case '"':
			j := closeQuote(v, k+1)
			if j < 0 {
				if k == 0 {
					a.display = v[1:]
				}
				return a // unterminated quote: nothing after it can be trusted
			}
			if k == 0 {
				a.display = v[1:j]
				quoted = true
				start = skipLWS(v, j+1)
			}
			k = j
		case '<':
			if !quoted {
				a.display = trimLWS(v[:k])
			}
			rest := v[k+1:]
			a.nameAddr = true
			for j, c := range rest {
				if c == '>' {
					a.uri, a.params = trimLWS(rest[:j]), rest[j+1:]
					return a
				}
			}
			a.uri = trimLWS(rest) // truncated: no '>'
			return a
		case ':':
			// "scheme:" starts an addr-spec when the scheme is a single word
			// directly followed by the rest of the URI. "Desk: Bob <sip:...>" is
			// not one. Only the first ':' can end a scheme.
			if schemeDone {
				continue
			}
			schemeDone = true
			if k+1 < len(v) && !isLWS(v[k+1]) && k >= start && isScheme(v[start:k]) {
				s := v[start:]
				e := k - start
				for e < len(s) && s[e] != ';' && s[e] != ',' && !isLWS(s[e]) {
					e++
				}
				a.uri, a.params, a.spec = s[:e], s[e:], s
				return a
			}
		}
	}
	return a
}

// closeQuote returns the index of the quote that closes a quoted string whose
// content starts at i, honouring backslash escapes; -1 when there is none.
func closeQuote(v []byte, i int) int {
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// isScheme reports whether b is a URI scheme: a letter, then letters, digits,
// '+', '-' or '.'.
func isScheme(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i, c := range b {
		l := lower(c)
		switch {
		case l >= 'a' && l <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// paramValue returns the value of the first ;name=value parameter in params,
// matching the name in any case, before a ',' that starts the next list entry.
// Quoted parameter values are skipped over.
func paramValue(params []byte, name string) []byte {
	for i := 0; i < len(params); {
		switch params[i] {
		case ',':
			return nil
		case '"':
			j := closeQuote(params, i+1)
			if j < 0 {
				return nil
			}
			i = j + 1
		case ';':
			j := skipLWS(params, i+1)
			k := j
			for k < len(params) && isToken(params[k]) {
				k++
			}
			pn := params[j:k]
			k = skipLWS(params, k)
			if k < len(params) && params[k] == '=' && eqFold(pn, name) {
				s := skipLWS(params, k+1)
				e := s
				for e < len(params) && isToken(params[e]) {
					e++
				}
				return params[s:e]
			}
			i = k
		default:
			i++
		}
	}
	return nil
}

// UserOf returns the user part of a SIP, SIPS or TEL URI, or of the first URI of a
// name-addr such as `"Bob" <sip:+1555@host;user=phone>`. For sip: and sips: it is
// the part before '@' cut at ':' (a password) or ';' (user parameters); for tel:
// the number without parameters. It returns nil for another scheme or a URI without
// a user (<sip:host>). The result aliases uri.
func UserOf(uri []byte) []byte {
	a := parseAddr(uri)
	switch {
	case a.nameAddr:
		return userOfURI(a.uri)
	case a.spec != nil:
		return userOfURI(a.spec)
	}
	return nil
}

// userOfURI returns the user part of a URI. The user ends at '@'; a URI whose '@'
// does not come before '?', '>', ',', '<', '"' or LWS has none.
func userOfURI(u []byte) []byte {
	switch {
	case hasPrefixFold(u, "sip:"):
		u = u[4:]
	case hasPrefixFold(u, "sips:"):
		u = u[5:]
	case hasPrefixFold(u, "tel:"):
		u = u[4:]
		for i, c := range u {
			if c == ';' || c == '?' || c == '>' || c == ',' || isLWS(c) {
				return u[:i]
			}
		}
		return u
	default:
		return nil
	}
	for i, c := range u {
		switch c {
		case '@':
			for j, c := range u[:i] {
				if c == ':' || c == ';' {
					return u[:j]
				}
			}
			return u[:i]
		case '?', '>', ',', '<', '"', ' ', '\t', '\r', '\n':
			return nil
		}
	}
	return nil
}

// setReferTo takes the Call-ID of the Replaces header embedded in the Refer-To URI:
// <sip:bob@h?Replaces=12345%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>.
func (h *Headers) setReferTo(v []byte) {
	if !h.first(seenReferTo) {
		return
	}
	a := parseAddr(v)
	u := v
	if a.nameAddr {
		u = a.uri
	}
	for i := 0; i < len(u); i++ {
		if (u[i] == '?' || u[i] == '&') && hasPrefixFold(u[i+1:], "replaces=") {
			h.ReferToReplaces = h.unescapeCallID(u[i+1+len("replaces="):])
			return
		}
	}
}

// unescapeCallID returns the Call-ID at the start of an escaped Replaces value: up
// to ';' (escaped or not), '&', '>', ',' or LWS. It aliases v when nothing is
// escaped and otherwise unescapes into h.buf.
func (h *Headers) unescapeCallID(v []byte) []byte {
	end, n, escaped := len(v), 0, false
scan:
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]):
			if unhex(v[i+1])<<4|unhex(v[i+2]) == ';' {
				end = i
				break scan
			}
			escaped = true
			i += 2
		case c == ';' || c == '&' || c == '>' || c == ',' || isLWS(c):
			end = i
			break scan
		}
		n++
	}
	v = v[:end]
	if !escaped {
		return v
	}
	var dst []byte
	if n <= len(h.buf) {
		dst = h.buf[:0]
	} else {
		dst = make([]byte, 0, n)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			c = unhex(v[i+1])<<4 | unhex(v[i+2])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
