package qos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// num is a JSON number that a sender may also write as a string or a float.
// Anything else (null, a word, an object) reads as 0 and is not an error.
type num float64

func (n *num) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		b = []byte(strings.TrimSpace(s))
	}
	s := string(b)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if v, err := strconv.ParseUint(s[2:], 16, 64); err == nil {
			*n = num(v)
		}
		return nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		*n = num(v)
	}
	return nil
}

func (n num) u32() uint32 {
	switch {
	case n <= 0:
		return 0
	case n >= math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(math.Round(float64(n)))
}

func (n num) u16() uint16 { return uint16(min(n.u32(), math.MaxUint16)) }
func (n num) u8() uint8   { return uint8(min(n.u32(), math.MaxUint8)) }

func (n num) i32() int32 {
	return int32(max(min(math.Round(float64(n)), math.MaxInt32), math.MinInt32))
}

type jsonBlock struct {
	SourceSSRC   num `json:"source_ssrc"`
	FractionLost num `json:"fraction_lost"`
	PacketsLost  num `json:"packets_lost"`
	HighestSeqNo num `json:"highest_seq_no"`
	IAJitter     num `json:"ia_jitter"`
	LSR          num `json:"lsr"`
	DLSR         num `json:"dlsr"`
}

type jsonXR struct {
	Type            num `json:"type"`
	ID              num `json:"id"`
	SSRC            num `json:"ssrc"`
	FractionLost    num `json:"fraction_lost"`
	FractionDiscard num `json:"fraction_discard"`
	BurstDensity    num `json:"burst_density"`
	GapDensity      num `json:"gap_density"`
	BurstDuration   num `json:"burst_duration"`
	GapDuration     num `json:"gap_duration"`
	RoundTripDelay  num `json:"round_trip_delay"`
	EndSystemDelay  num `json:"end_system_delay"`
	RFactor         num `json:"r_factor"`
	ExtRFactor      num `json:"ext_r_factor"`
	MOSLQ           num `json:"mos_lq"`
	MOSCQ           num `json:"mos_cq"`
	JBNominal       num `json:"jb_nominal"`
	JBMaximum       num `json:"jb_maximum"`
	JBAbsMax        num `json:"jb_abs_max"`
}

func (x *jsonXR) empty() bool { return *x == jsonXR{} }

type jsonRTCP struct {
	SenderInformation *struct {
		NTPSec  num `json:"ntp_timestamp_sec"`
		NTPUsec num `json:"ntp_timestamp_usec"`
		RTPTS   num `json:"rtp_timestamp"`
		Packets num `json:"packets"`
		Octets  num `json:"octets"`
	} `json:"sender_information"`
	SSRC           num         `json:"ssrc"`
	Type           num         `json:"type"`
	ReportBlocks   []jsonBlock `json:"report_blocks"`
	ReportBlocksXR any         `json:"report_blocks_xr"`
	VoIPMetrics    any         `json:"voip_metrics"`
	SDESSSRC       num         `json:"sdes_ssrc"`
	CNAME          string      `json:"cname"`
}

// DecodeRTCPJSON decodes the JSON RTCP report of a capture agent (HEP type 5).
// The xr objects (report_blocks_xr, voip_metrics) may be one object or a list.
// MOS in XR objects may be given × 10 (as on the wire) or as a MOS (≤ 5).
func DecodeRTCPJSON(b []byte) (*RTCP, error) {
	var j jsonRTCP
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("qos: rtcp json: %w", err)
	}
	r := &RTCP{SSRC: j.SSRC.u32(), CNAME: j.CNAME}
	if r.SSRC == 0 {
		r.SSRC = j.SDESSSRC.u32()
	}
	typ := j.Type.u32()
	if si := j.SenderInformation; si != nil && (typ == TypeSR || si.Packets != 0 || si.Octets != 0 || si.NTPSec != 0) {
		r.Sender = &SenderInfo{NTPSec: si.NTPSec.u32(), NTPFrac: uint32(min(math.Round(float64(si.NTPUsec.u32()%1000000)*(1<<32)/1e6), math.MaxUint32)),
			RTPTimestamp: si.RTPTS.u32(), Packets: si.Packets.u32(), Octets: si.Octets.u32()}
	}
	for _, bl := range j.ReportBlocks {
		r.Blocks = append(r.Blocks, ReportBlock{SSRC: bl.SourceSSRC.u32(), FractionLost: bl.FractionLost.u8(),
			Lost: bl.PacketsLost.i32(), HighestSeq: bl.HighestSeqNo.u32(), Jitter: bl.IAJitter.u32(),
			LSR: bl.LSR.u32(), DLSR: bl.DLSR.u32()})
	}
	for _, x := range xrObjects(j.ReportBlocksXR, j.VoIPMetrics) {
		ssrc := x.SSRC.u32()
		if ssrc == 0 {
			ssrc = x.ID.u32()
		}
		mos := func(v num) uint8 {
			if v > 0 && v <= 5 {
				return uint8(math.Round(float64(v) * 10))
			}
			return v.u8()
		}
		r.XR = append(r.XR, VoIPMetrics{SSRC: ssrc, LossRate: x.FractionLost.u8(), DiscardRate: x.FractionDiscard.u8(),
			BurstDensity: x.BurstDensity.u8(), GapDensity: x.GapDensity.u8(), BurstDuration: x.BurstDuration.u16(),
			GapDuration: x.GapDuration.u16(), RoundTripDelay: x.RoundTripDelay.u16(), EndSystemDelay: x.EndSystemDelay.u16(),
			RFactor: x.RFactor.u8(), ExtRFactor: x.ExtRFactor.u8(), MOSLQ: mos(x.MOSLQ), MOSCQ: mos(x.MOSCQ),
			JBNominal: x.JBNominal.u16(), JBMax: x.JBMaximum.u16(), JBAbsMax: x.JBAbsMax.u16()})
	}
	return r, nil
}

// xrObjects reads the XR parts: each may be an object or a list of objects.
// The voip_metrics objects fill in what the report_blocks_xr objects of the
// same position lack.
func xrObjects(parts ...any) []jsonXR {
	var lists [][]jsonXR
	for _, p := range parts {
		var list []jsonXR
		switch v := p.(type) {
		case map[string]any:
			list = append(list, xrOf(v))
		case []any:
			for _, e := range v {
				if m, ok := e.(map[string]any); ok {
					list = append(list, xrOf(m))
				}
			}
		}
		lists = append(lists, list)
	}
	var out []jsonXR
	for _, list := range lists {
		for i, x := range list {
			if x.empty() {
				continue
			}
			if i < len(out) {
				mergeXR(&out[i], &x)
			} else {
				out = append(out, x)
			}
		}
	}
	return out
}

func xrOf(m map[string]any) jsonXR {
	var x jsonXR
	b, err := json.Marshal(m)
	if err == nil {
		_ = json.Unmarshal(b, &x)
	}
	return x
}

// mergeXR fills the zero fields of a from b.
func mergeXR(a, b *jsonXR) {
	fill := func(dst *num, src num) {
		if *dst == 0 {
			*dst = src
		}
	}
	fill(&a.SSRC, b.SSRC)
	fill(&a.ID, b.ID)
	fill(&a.FractionLost, b.FractionLost)
	fill(&a.FractionDiscard, b.FractionDiscard)
	fill(&a.BurstDensity, b.BurstDensity)
	fill(&a.GapDensity, b.GapDensity)
	fill(&a.BurstDuration, b.BurstDuration)
	fill(&a.GapDuration, b.GapDuration)
	fill(&a.RoundTripDelay, b.RoundTripDelay)
	fill(&a.EndSystemDelay, b.EndSystemDelay)
	fill(&a.RFactor, b.RFactor)
	fill(&a.ExtRFactor, b.ExtRFactor)
	fill(&a.MOSLQ, b.MOSLQ)
	fill(&a.MOSCQ, b.MOSCQ)
	fill(&a.JBNominal, b.JBNominal)
	fill(&a.JBMaximum, b.JBMaximum)
	fill(&a.JBAbsMax, b.JBAbsMax)
}

// EncodeRTCPJSON writes r in the heplify agent's JSON shape (the inverse of
// DecodeRTCPJSON for what that shape carries).
func EncodeRTCPJSON(r *RTCP) []byte {
	type si struct {
		NTPSec  uint32 `json:"ntp_timestamp_sec"`
		NTPUsec uint32 `json:"ntp_timestamp_usec"`
		RTPTS   uint32 `json:"rtp_timestamp"`
		Packets uint32 `json:"packets"`
		Octets  uint32 `json:"octets"`
	}
	type blk struct {
		SourceSSRC   uint32 `json:"source_ssrc"`
		FractionLost uint8  `json:"fraction_lost"`
		PacketsLost  int32  `json:"packets_lost"`
		HighestSeqNo uint32 `json:"highest_seq_no"`
		IAJitter     uint32 `json:"ia_jitter"`
		LSR          uint32 `json:"lsr"`
		DLSR         uint32 `json:"dlsr"`
	}
	out := struct {
		SenderInformation si     `json:"sender_information"`
		SSRC              uint32 `json:"ssrc"`
		Type              int    `json:"type"`
		ReportCount       int    `json:"report_count"`
		ReportBlocks      []blk  `json:"report_blocks"`
		SDESSSRC          uint32 `json:"sdes_ssrc"`
	}{SSRC: r.SSRC, Type: TypeRR, ReportCount: len(r.Blocks), ReportBlocks: []blk{}}
	if s := r.Sender; s != nil {
		out.Type = TypeSR
		out.SenderInformation = si{NTPSec: s.NTPSec, NTPUsec: uint32(uint64(s.NTPFrac) * 1000000 >> 32),
			RTPTS: s.RTPTimestamp, Packets: s.Packets, Octets: s.Octets}
	}
	for _, b := range r.Blocks {
		out.ReportBlocks = append(out.ReportBlocks, blk{b.SSRC, b.FractionLost, b.Lost, b.HighestSeq, b.Jitter, b.LSR, b.DLSR})
	}
	if r.CNAME != "" {
		out.SDESSSRC = r.SSRC
	}
	b, _ := json.Marshal(out)
	return b
}
