package qos

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// Media is one accepted media line of an SDP body.
type Media struct {
	Type string         // "audio", "video", ...
	RTP  netip.AddrPort // c= address (media level, else session level) and m= port
	// RTCP is where RTCP for this media is received: a=rtcp: when given,
	// else the RTP port + 1; with a=rtcp-mux, RTCP may also come on RTP.
	RTCP      netip.AddrPort
	Mux       bool
	PT        int    // first payload type of the m= line
	Codec     string // its encoding name: "PCMU", "opus"; "" when unknown
	ClockRate int    // its RTP clock rate; 0 when unknown
}

// staticCodec names the static audio payload types of RFC 3551 with their
// RTP clock rates (G.722's is 8000 though it samples at 16 kHz).
func staticCodec(pt int) (string, int) {
	switch pt {
	case 0:
		return "PCMU", 8000
	case 3:
		return "GSM", 8000
	case 4:
		return "G723", 8000
	case 8:
		return "PCMA", 8000
	case 9:
		return "G722", 8000
	case 18:
		return "G729", 8000
	}
	return "", 0
}

// ParseSDP lists the accepted media lines of an SDP body (port 0 is
// rejected media and left out).
func ParseSDP(body []byte) []Media {
	var out []Media
	var session netip.Addr
	cur := -1
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		s := strings.TrimSpace(string(line))
		switch {
		case strings.HasPrefix(s, "c="):
			f := strings.Fields(s[2:])
			if len(f) < 3 {
				continue
			}
			host, _, _ := strings.Cut(f[2], "/")
			ip, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			if cur < 0 {
				session = ip
			} else {
				m := &out[cur]
				m.RTP = netip.AddrPortFrom(ip, m.RTP.Port())
				m.RTCP = netip.AddrPortFrom(ip, m.RTCP.Port())
			}
		case strings.HasPrefix(s, "m="):
			cur = -1
			f := strings.Fields(s[2:])
			if len(f) < 4 {
				continue
			}
			portText, _, _ := strings.Cut(f[1], "/")
			port, err := strconv.ParseUint(portText, 10, 16)
			if err != nil || port == 0 {
				continue
			}
			m := Media{Type: f[0], RTP: netip.AddrPortFrom(session, uint16(port)),
				RTCP: netip.AddrPortFrom(session, uint16(port+1)), PT: -1}
			if pt, err := strconv.Atoi(f[3]); err == nil {
				m.PT = pt
				m.Codec, m.ClockRate = staticCodec(pt)
			}
			out = append(out, m)
			cur = len(out) - 1
		case cur >= 0 && strings.HasPrefix(s, "a=rtcp-mux"):
			out[cur].Mux = true
		case cur >= 0 && strings.HasPrefix(s, "a=rtcp:"):
			f := strings.Fields(s[len("a=rtcp:"):])
			if len(f) == 0 {
				continue
			}
			port, err := strconv.ParseUint(f[0], 10, 16)
			if err != nil {
				continue
			}
			ip := out[cur].RTP.Addr()
			if len(f) >= 4 {
				if a, err := netip.ParseAddr(f[3]); err == nil {
					ip = a
				}
			}
			out[cur].RTCP = netip.AddrPortFrom(ip, uint16(port))
		case cur >= 0 && strings.HasPrefix(s, "a=rtpmap:"):
			ptText, enc, ok := strings.Cut(s[len("a=rtpmap:"):], " ")
			pt, err := strconv.Atoi(strings.TrimSpace(ptText))
			if !ok || err != nil || pt != out[cur].PT {
				continue
			}
			parts := strings.Split(strings.TrimSpace(enc), "/")
			out[cur].Codec = parts[0]
			out[cur].ClockRate = 0
			if len(parts) > 1 {
				out[cur].ClockRate, _ = strconv.Atoi(parts[1])
			}
		}
	}
	return out
}

// Matches reports whether a is where this media's RTCP is sent or received:
// its RTCP address, or its RTP address (rtcp-mux, RFC 5761: an RTCP packet
// on the RTP port is multiplexed whether or not this SDP says a=rtcp-mux).
func (m *Media) Matches(a netip.AddrPort) bool {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	return a == m.RTCP || a == m.RTP
}
