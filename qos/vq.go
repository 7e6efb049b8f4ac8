package qos

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// VQReport is an RFC 6035 voice quality report (application/vq-rtcpxr).
type VQReport struct {
	Type       string // VQSessionReport, VQIntervalReport or VQAlertReport
	Event      string // its value: CallTerm, ...
	CallID     string
	LocalID    string
	RemoteID   string
	LocalAddr  VQAddr
	RemoteAddr VQAddr
	// Local: as measured by the reporting endpoint, on the stream it
	// received (RemoteAddr → LocalAddr). Remote: as its peer reported it, on
	// the stream the reporter sent. Nil when absent.
	Local, Remote *VQMetrics
	DialogID      string
}

// VQAddr is a LocalAddr or RemoteAddr line.
type VQAddr struct {
	IP   netip.Addr
	Port uint16
	SSRC uint32
}

// AddrPort is the address as one value.
func (a VQAddr) AddrPort() netip.AddrPort { return netip.AddrPortFrom(a.IP, a.Port) }

// VQMetrics is a LocalMetrics or RemoteMetrics section. Missing figures are NaN
// free: each has a Has flag set of the keys present.
type VQMetrics struct {
	Start, Stop string // Timestamps START= STOP=
	PT          int    // SessionDesc PT=
	Codec       string // SessionDesc PD=
	ClockRate   int    // SessionDesc SR=
	// JitterBuffer: adaptive (JBA), rate (JBR), nominal, maximum, absolute maximum (ms).
	JBA, JBR, JBN, JBM, JBX float64
	NLR, JDR                float64 // network loss rate, jitter discard rate, %
	BLD, BD, GLD, GD        float64 // burst/gap loss density %, duration ms
	RTD, ESD                float64 // round trip delay, end system delay, ms
	IAJ, MAJ                float64 // interarrival jitter, mean absolute jitter, ms
	RLQ, RCQ                float64 // R-factors
	MOSLQ, MOSCQ            float64
	// Has lists the keys present ("NLR", "RTD", ...), so a 0 can be told
	// from a missing figure.
	Has map[string]bool
}

// Get returns a figure by key and whether the report carried it.
func (m *VQMetrics) Get(key string) (float64, bool) {
	if m == nil || !m.Has[key] {
		return 0, false
	}
	return *m.field(key), true
}

func (m *VQMetrics) field(key string) *float64 {
	switch key {
	case "JBA":
		return &m.JBA
	case "JBR":
		return &m.JBR
	case "JBN":
		return &m.JBN
	case "JBM":
		return &m.JBM
	case "JBX":
		return &m.JBX
	case "NLR":
		return &m.NLR
	case "JDR":
		return &m.JDR
	case "BLD":
		return &m.BLD
	case "BD":
		return &m.BD
	case "GLD":
		return &m.GLD
	case "GD":
		return &m.GD
	case "RTD":
		return &m.RTD
	case "ESD":
		return &m.ESD
	case "IAJ":
		return &m.IAJ
	case "MAJ":
		return &m.MAJ
	case "RLQ":
		return &m.RLQ
	case "RCQ":
		return &m.RCQ
	case "MOSLQ":
		return &m.MOSLQ
	case "MOSCQ":
		return &m.MOSCQ
	}
	return nil
}

// ErrNotVQ is returned for a body that is not an RFC 6035 report.
var ErrNotVQ = errors.New("qos: not a vq-rtcpxr report")

// DecodeVQ decodes an application/vq-rtcpxr body. Lines are "Name: value";
// parameters are "KEY=value" separated by blanks (values may be quoted).
// Names are matched without case, blanks around ':' are allowed (some phones
// write "VQSessionReport : CallTerm"), unknown lines and keys are ignored.
func DecodeVQ(body []byte) (*VQReport, error) {
	r := &VQReport{}
	var cur *VQMetrics
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		text := strings.TrimSpace(string(line))
		name, value, ok := strings.Cut(text, ":")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "vqsessionreport", "vqintervalreport", "vqalertreport":
			r.Type, r.Event = name, value
		case "callid":
			r.CallID = value
		case "localid":
			r.LocalID = value
		case "remoteid":
			r.RemoteID = value
		case "localaddr":
			r.LocalAddr = vqAddr(value)
		case "remoteaddr":
			r.RemoteAddr = vqAddr(value)
		case "dialogid":
			r.DialogID = value
		case "localmetrics":
			r.Local = &VQMetrics{Has: map[string]bool{}}
			cur = r.Local
		case "remotemetrics":
			r.Remote = &VQMetrics{Has: map[string]bool{}}
			cur = r.Remote
		case "timestamps", "sessiondesc", "jitterbuffer", "packetloss", "burstgaploss", "delay", "signal", "qualityest":
			if cur == nil { // metrics before any section header: the local ones
				r.Local = &VQMetrics{Has: map[string]bool{}}
				cur = r.Local
			}
			cur.set(params(value))
		}
	}
	if r.Type == "" {
		return nil, ErrNotVQ
	}
	return r, nil
}

func (m *VQMetrics) set(p map[string]string) {
	for k, v := range p {
		switch k {
		case "START":
			m.Start = v
		case "STOP":
			m.Stop = v
		case "PT":
			m.PT, _ = strconv.Atoi(v)
		case "PD":
			m.Codec = v
		case "SR":
			m.ClockRate, _ = strconv.Atoi(v)
		default:
			f := m.field(k)
			if f == nil {
				continue
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			*f = x
			m.Has[k] = true
		}
	}
}

// params splits "K=V K2="quoted value" ..." into upper-case keys and values.
func params(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " \t;,")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToUpper(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				v, rest = rest[1:], ""
			} else {
				v, rest = rest[1:1+end], rest[2+end:]
			}
		} else {
			end := strings.IndexAny(rest, " \t;,")
			if end < 0 {
				end = len(rest)
			}
			v, rest = rest[:end], rest[end:]
		}
		out[k] = v
		s = rest
	}
	return out
}

func vqAddr(v string) VQAddr {
	p := params(v)
	var a VQAddr
	a.IP, _ = netip.ParseAddr(p["IP"])
	if port, err := strconv.ParseUint(p["PORT"], 10, 16); err == nil {
		a.Port = uint16(port)
	}
	s := p["SSRC"]
	base := 10
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s, base = s[2:], 16
	}
	if x, err := strconv.ParseUint(s, base, 32); err == nil {
		a.SSRC = uint32(x)
	} else if x, err := strconv.ParseUint(s, 16, 32); err == nil {
		a.SSRC = uint32(x)
	}
	return a
}
