package qos

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ShortReport is a HEP type 35 report. Figures it does not carry are -1.
type ShortReport struct {
	SSRC        uint32
	CallID      string
	MOS         float64
	RFactor     float64
	JitterMS    float64
	LossPercent float64 // lost of expected, %
	Packets     int64   // received
	Lost        int64
	RTTMS       float64
}

// ErrNotShort is returned for a type 35 payload that is neither JSON nor a
// number.
var ErrNotShort = errors.New("qos: not a short report")

// shortKeys maps the lower-case keys of type 35 JSON to figures; the first
// present key of each list wins.
func shortKeys() []shortKey {
	return []shortKey{
		{[]string{"mos", "mean_mos", "mos_lq", "moslq", "avg_mos"}, func(r *ShortReport, v float64) { r.MOS = v }},
		{[]string{"r_factor", "mean_r_factor", "rfactor", "r"}, func(r *ShortReport, v float64) { r.RFactor = v }},
		{[]string{"jitter", "mean_jitter", "avg_jitter", "ia_jitter"}, func(r *ShortReport, v float64) { r.JitterMS = v }},
		{[]string{"packet_loss_percent", "loss_percent", "loss_rate"}, func(r *ShortReport, v float64) { r.LossPercent = v }},
		{[]string{"total_pk", "packets", "received"}, func(r *ShortReport, v float64) { r.Packets = int64(v) }},
		{[]string{"packet_loss", "packets_lost", "lost", "lost_pk"}, func(r *ShortReport, v float64) { r.Lost = int64(v) }},
		{[]string{"rtt", "round_trip_delay", "delay"}, func(r *ShortReport, v float64) { r.RTTMS = v }},
		{[]string{"ssrc", "ssrc_chk"}, func(r *ShortReport, v float64) { r.SSRC = uint32(v) }},
	}
}

type shortKey struct {
	keys []string
	set  func(r *ShortReport, v float64)
}

// DecodeShort decodes a HEP type 35 payload: a JSON object whose keys (any
// case) name MOS, R-factor, jitter (ms), loss and packet counts as rtpagent
// and heplify-server write them (MOS, MEAN_MOS, R_FACTOR, JITTER,
// PACKET_LOSS, TOTAL_PK, EXPECTED_PK, SSRC, CORRELATION_ID or CALL_ID), or a
// bare number, the MOS. Values may be numbers or strings; unknown keys are
// ignored. When EXPECTED_PK and PACKET_LOSS are both given, LossPercent is
// their ratio.
func DecodeShort(b []byte) (*ShortReport, error) {
	r := &ShortReport{MOS: -1, RFactor: -1, JitterMS: -1, LossPercent: -1, Packets: -1, Lost: -1, RTTMS: -1}
	text := strings.TrimSpace(string(b))
	if !strings.HasPrefix(text, "{") {
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || v < 0 || v > 5 {
			return nil, fmt.Errorf("%w: %q", ErrNotShort, truncate(text, 32))
		}
		r.MOS = v
		return r, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("qos: short report json: %w", err)
	}
	vals := map[string]float64{}
	for k, v := range raw {
		k = strings.ToLower(k)
		var n num
		if n.UnmarshalJSON(v) == nil && (n != 0 || strings.TrimSpace(string(v)) == "0") {
			vals[k] = float64(n)
		}
		switch k {
		case "call_id", "callid", "correlation_id", "rtp_sip_call_id":
			var s string
			if json.Unmarshal(v, &s) == nil && r.CallID == "" {
				r.CallID = s
			}
		}
	}
	for _, sk := range shortKeys() {
		for _, k := range sk.keys {
			if v, ok := vals[k]; ok {
				sk.set(r, v)
				break
			}
		}
	}
	if exp, ok := vals["expected_pk"]; ok && exp > 0 && r.Lost >= 0 && r.LossPercent < 0 {
		r.LossPercent = 100 * float64(r.Lost) / exp
	}
	return r, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
