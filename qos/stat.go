package qos

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// CallStat is what an end-of-call statistics header says, from the point of
// view of the party that sent it. Figures it does not carry are -1.
type CallStat struct {
	Kind             Kind
	PacketsSent      int64
	OctetsSent       int64
	PacketsReceived  int64
	OctetsReceived   int64
	PacketsLost      int64   // lost on receive
	JitterMS         float64 // receive jitter, ms
	LatencyMS        float64 // LA: latency or jitter buffer delay, ms
	DurationSec      float64
	Encoder, Decoder string
	MOS              float64
}

// StatHeaderKind reports whether name is a statistics header and its kind.
func StatHeaderKind(name string) (Kind, bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "x-rtp-stat", "x-rtp-stats", "x-rtp-statistics", "x-siemens-rtp-stats", "x-siemens-rtp-stats-list":
		return KindXRTPStat, true
	case "p-rtp-stat":
		return KindPRTPStat, true
	case "rtp-rxstat", "rtp-txstat":
		return KindRTPRxStat, true
	}
	return "", false
}

// ErrNoStat is returned for a header value without any known figure.
var ErrNoStat = errors.New("qos: no statistics in header")

// DecodeStatHeader decodes the value of a statistics header named name:
// "KEY=value" pairs separated by ';' or ',' (senders use either), keys
// without case. X-RTP-Stat and P-RTP-Stat keys: PS OS PR OR PL JI LA DU EN DE
// MOS. RTP-RxStat / RTP-TxStat keys: Total_Rx_Pkts Total_Rx_Bytes
// Total_Lost_Pkts Jitter Total_Tx_Pkts Total_Tx_Bytes, or the Linksys
// Dur Pkt Oct LostPkt AvgJit (Pkt and Oct are received in RTP-RxStat and sent
// in RTP-TxStat).
func DecodeStatHeader(name, value string) (*CallStat, error) {
	kind, ok := StatHeaderKind(name)
	if !ok {
		return nil, ErrNoStat
	}
	tx := strings.EqualFold(strings.TrimSpace(name), "rtp-txstat")
	s := &CallStat{Kind: kind, PacketsSent: -1, OctetsSent: -1, PacketsReceived: -1, OctetsReceived: -1,
		PacketsLost: -1, JitterMS: -1, LatencyMS: -1, DurationSec: -1, MOS: -1}
	found := false
	for _, part := range strings.FieldsFunc(value, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		f, ferr := strconv.ParseFloat(v, 64)
		num := ferr == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
		i := int64(f)
		hit := true
		switch {
		case k == "en":
			s.Encoder = v
		case k == "de":
			s.Decoder = v
		case !num:
			hit = false
		case k == "ps" || k == "total_tx_pkts" || tx && k == "pkt":
			s.PacketsSent = i
		case k == "os" || k == "total_tx_bytes" || tx && k == "oct":
			s.OctetsSent = i
		case k == "pr" || k == "total_rx_pkts" || !tx && k == "pkt":
			s.PacketsReceived = i
		case k == "or" || k == "total_rx_bytes" || !tx && k == "oct":
			s.OctetsReceived = i
		case k == "pl" || k == "total_lost_pkts" || k == "lostpkt":
			s.PacketsLost = i
		case k == "ji" || k == "jitter" || k == "avgjit" || k == "avg_jitter":
			s.JitterMS = f
		case k == "la" || k == "latency":
			s.LatencyMS = f
		case k == "du" || k == "dur" || k == "duration":
			s.DurationSec = f
		case k == "mos" || k == "moslq" || k == "mos-lq":
			s.MOS = f
		default:
			hit = false
		}
		found = found || hit
	}
	if !found {
		return nil, ErrNoStat
	}
	return s, nil
}

// Merge fills the figures of s that o has and s lacks (an RTP-RxStat and
// an RTP-TxStat of one message are one CallStat).
func (s *CallStat) Merge(o *CallStat) {
	pick := func(a *int64, b int64) {
		if *a < 0 {
			*a = b
		}
	}
	pickf := func(a *float64, b float64) {
		if *a < 0 {
			*a = b
		}
	}
	pick(&s.PacketsSent, o.PacketsSent)
	pick(&s.OctetsSent, o.OctetsSent)
	pick(&s.PacketsReceived, o.PacketsReceived)
	pick(&s.OctetsReceived, o.OctetsReceived)
	pick(&s.PacketsLost, o.PacketsLost)
	pickf(&s.JitterMS, o.JitterMS)
	pickf(&s.LatencyMS, o.LatencyMS)
	pickf(&s.DurationSec, o.DurationSec)
	pickf(&s.MOS, o.MOS)
	if s.Encoder == "" {
		s.Encoder = o.Encoder
	}
	if s.Decoder == "" {
		s.Decoder = o.Decoder
	}
}
