package capture

import (
	"bytes"
	"encoding/binary"
)

// IsSIP says whether b begins with a SIP request line or status line.
func IsSIP(b []byte) bool {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	return IsStartLine(b[:i])
}

var sipVersion = []byte("SIP/2.0")

// IsStartLine says whether line (with or without its CR) is a SIP request line
// `METHOD SP Request-URI SP SIP/2.0` or a status line `SIP/2.0 SP 3DIGIT ...`.
// The method is any token and the URI any scheme, as Wireshark's heuristic.
func IsStartLine(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if bytes.HasPrefix(line, sipVersion) {
		r := line[len(sipVersion):]
		return len(r) >= 4 && r[0] == ' ' && isDigit(r[1]) && isDigit(r[2]) && isDigit(r[3]) &&
			(len(r) == 4 || r[4] == ' ')
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp > 32 {
		return false
	}
	for _, c := range line[:sp] {
		if !isTokenChar(c) {
			return false
		}
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return false
	}
	uri := rest[:sp2]
	colon := bytes.IndexByte(uri, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range uri {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return bytes.Equal(rest[sp2+1:], sipVersion)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isTokenChar is RFC 3261's token: alphanumerics and -.!%*_+`'~
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', isDigit(c):
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

// IsRTCP says whether b is a compound RTCP packet (RFC 3550 6.1): every packet of
// version 2, the first of type 200 to 207 (SR, RR, SDES, BYE, APP, RTPFB, PSFB,
// XR), the others of an RTCP type (192 to 223), and their lengths adding up to
// len(b), give or take fewer than 4 trailing bytes (some stacks send them, and
// Wireshark accepts them).
func IsRTCP(b []byte) bool {
	if len(b) < 8 || b[1] < 200 || b[1] > 207 {
		return false
	}
	for off := 0; len(b)-off >= 4; {
		if b[off]>>6 != 2 || b[off+1] < 192 || b[off+1] > 223 {
			return false
		}
		n := (int(binary.BigEndian.Uint16(b[off+2:])) + 1) * 4
		if n > len(b)-off {
			return false
		}
		off += n
	}
	return true
}

// onlyCRLF says whether b holds nothing but CR and LF (a keep-alive) or nothing.
func onlyCRLF(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
