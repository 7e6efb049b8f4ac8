package correlate

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"traced/ingest/sip"
)

// Header is an extra correlating header: two legs whose SIP messages carry the
// same value in it are joined (RuleHeader).
type Header struct {
	// Name is the header name, matched without regard to case, compact forms
	// included. The first occurrence in a message counts.
	Name string
	// Pattern, when set, picks the value out of the header: its first capture
	// group, or the whole match when it has none. A header it does not match
	// gives no value. nil: the whole value, trimmed.
	Pattern *regexp.Regexp
}

// ParseHeader reads a header in HOMER's AlegIDs form: a name, optionally
// followed by a comma and a regular expression with one capture group, e.g.
//
//	P-Charging-Vector,icid-value="?([^";]+)
//	X-BroadWorks-Correlation-Info
func ParseHeader(s string) (Header, error) {
	name, expr, hasExpr := strings.Cut(s, ",")
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t:") {
		return Header{}, fmt.Errorf("correlate: header %q: not a header name", s)
	}
	h := Header{Name: name}
	if hasExpr {
		re, err := regexp.Compile(expr)
		if err != nil {
			return Header{}, fmt.Errorf("correlate: header %q: %w", s, err)
		}
		h.Pattern = re
	}
	return h, nil
}

// Value returns the correlating value the SIP message msg carries in h, or "".
func (h *Header) Value(msg []byte) string {
	v := sip.Header(msg, h.Name)
	if len(v) == 0 {
		return ""
	}
	if h.Pattern != nil {
		m := h.Pattern.FindSubmatch(v)
		switch {
		case m == nil:
			return ""
		case len(m) > 1:
			v = m[1]
		default:
			v = m[0]
		}
	}
	return string(bytes.TrimSpace(v))
}
