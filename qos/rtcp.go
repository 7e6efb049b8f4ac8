package qos

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind names where a quality report came from.
type Kind string

// The kinds of quality reports.
const (
	KindRTCPJSON  Kind = "rtcp-json"  // HEP type 5, JSON from a capture agent
	KindRTCP      Kind = "rtcp"       // HEP type 5, the binary RTCP packet
	KindRTCPXR    Kind = "rtcp-xr"    // SIP PUBLISH application/vq-rtcpxr (RFC 6035)
	KindMOS       Kind = "hep-mos"    // HEP type 35 short report
	KindXRTPStat  Kind = "x-rtp-stat" // X-RTP-Stat header in BYE or its 200
	KindPRTPStat  Kind = "p-rtp-stat" // P-RTP-Stat header
	KindRTPRxStat Kind = "rtp-stat"   // RTP-RxStat / RTP-TxStat headers
)

// RTCP packet types.
const (
	TypeSR   = 200
	TypeRR   = 201
	TypeSDES = 202
	TypeBYE  = 203
	TypeAPP  = 204
	TypeXR   = 207
)

// RTCP is one RTCP report: a compound packet, or one JSON object of a capture
// agent.
type RTCP struct {
	SSRC   uint32      // the sender SSRC of the first SR or RR
	Sender *SenderInfo // the SR's sender information; nil without an SR
	Blocks []ReportBlock
	CNAME  string // SDES CNAME
	Bye    bool
	XR     []VoIPMetrics // XR VoIP metrics blocks (RFC 3611 4.7)
}

// SenderInfo is the sender information of an SR.
type SenderInfo struct {
	NTPSec, NTPFrac uint32
	RTPTimestamp    uint32
	Packets         uint32
	Octets          uint32
}

// ReportBlock is one reception report block (RFC 3550 6.4.1).
type ReportBlock struct {
	SSRC         uint32 // the source reported on
	FractionLost uint8  // of 256, since the previous report
	Lost         int32  // cumulative, 24-bit signed
	HighestSeq   uint32 // extended highest sequence number received
	Jitter       uint32 // interarrival jitter, RTP timestamp units
	LSR, DLSR    uint32 // last SR (middle 32 bits of its NTP time), delay since it (1/65536 s)
}

// VoIPMetrics is an XR VoIP metrics report block (RFC 3611 4.7). Fields a
// sender marks unavailable (127 for MOS and R, 0 for delays) are kept as sent.
type VoIPMetrics struct {
	SSRC                       uint32
	LossRate, DiscardRate      uint8 // of 256
	BurstDensity, GapDensity   uint8 // of 256
	BurstDuration, GapDuration uint16
	RoundTripDelay             uint16 // ms
	EndSystemDelay             uint16 // ms
	SignalLevel, NoiseLevel    int8
	RERL, Gmin                 uint8
	RFactor, ExtRFactor        uint8
	MOSLQ, MOSCQ               uint8 // MOS × 10
	RXConfig                   uint8
	JBNominal, JBMax, JBAbsMax uint16 // ms
}

// ErrNotRTCP is returned for a payload that is not RTCP.
var ErrNotRTCP = errors.New("qos: not an RTCP packet")

// DecodeRTCP decodes a HEP type-5 payload: JSON when it starts with '{'
// (after white space), else a binary compound RTCP packet. It returns the kind
// it decoded.
func DecodeRTCP(payload []byte) (*RTCP, Kind, error) {
	for _, c := range payload {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		if c == '{' {
			r, err := DecodeRTCPJSON(payload)
			return r, KindRTCPJSON, err
		}
		break
	}
	r, err := DecodeBinaryRTCP(payload)
	return r, KindRTCP, err
}

// DecodeBinaryRTCP decodes a compound RTCP packet. Packets of unknown types
// are skipped; a packet whose length runs past the data ends the decoding,
// keeping what came before, and is an error only when nothing came before.
func DecodeBinaryRTCP(b []byte) (*RTCP, error) {
	r := &RTCP{}
	n := 0
	for len(b) >= 4 {
		if b[0]>>6 != 2 {
			if n == 0 {
				return nil, fmt.Errorf("%w: version %d", ErrNotRTCP, b[0]>>6)
			}
			break
		}
		count := int(b[0] & 0x1f)
		pt := int(b[1])
		size := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if size > len(b) {
			if n == 0 {
				return nil, fmt.Errorf("%w: packet of %d bytes in %d", ErrNotRTCP, size, len(b))
			}
			break
		}
		body := b[4:size]
		if b[0]&0x20 != 0 && size == len(b) && len(body) > 0 {
			pad := int(body[len(body)-1])
			if pad <= len(body) {
				body = body[:len(body)-pad]
			}
		}
		b = b[size:]
		if pt < TypeSR || pt > TypeXR {
			if n == 0 {
				return nil, fmt.Errorf("%w: packet type %d", ErrNotRTCP, pt)
			}
			continue
		}
		n++
		switch pt {
		case TypeSR:
			if len(body) < 24 {
				continue
			}
			ssrc := binary.BigEndian.Uint32(body)
			if r.Sender == nil {
				r.Sender = &SenderInfo{NTPSec: binary.BigEndian.Uint32(body[4:]), NTPFrac: binary.BigEndian.Uint32(body[8:]),
					RTPTimestamp: binary.BigEndian.Uint32(body[12:]), Packets: binary.BigEndian.Uint32(body[16:]),
					Octets: binary.BigEndian.Uint32(body[20:])}
				if r.SSRC == 0 {
					r.SSRC = ssrc
				}
			}
			r.Blocks = appendBlocks(r.Blocks, body[24:], count)
		case TypeRR:
			if len(body) < 4 {
				continue
			}
			if r.SSRC == 0 {
				r.SSRC = binary.BigEndian.Uint32(body)
			}
			r.Blocks = appendBlocks(r.Blocks, body[4:], count)
		case TypeSDES:
			if r.CNAME == "" {
				r.CNAME = sdesCNAME(body, count)
			}
		case TypeBYE:
			r.Bye = true
		case TypeXR:
			if len(body) < 4 {
				continue
			}
			if r.SSRC == 0 {
				r.SSRC = binary.BigEndian.Uint32(body)
			}
			r.XR = appendXR(r.XR, body[4:])
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotRTCP, len(b))
	}
	return r, nil
}

func appendBlocks(dst []ReportBlock, b []byte, count int) []ReportBlock {
	for i := 0; i < count && len(b) >= 24; i++ {
		lost := int32(binary.BigEndian.Uint32(b[4:]) & 0xffffff)
		if lost&0x800000 != 0 {
			lost -= 1 << 24
		}
		dst = append(dst, ReportBlock{SSRC: binary.BigEndian.Uint32(b), FractionLost: b[4], Lost: lost,
			HighestSeq: binary.BigEndian.Uint32(b[8:]), Jitter: binary.BigEndian.Uint32(b[12:]),
			LSR: binary.BigEndian.Uint32(b[16:]), DLSR: binary.BigEndian.Uint32(b[20:])})
		b = b[24:]
	}
	return dst
}

// sdesCNAME returns the first CNAME item of an SDES packet's chunks. Each
// chunk is an SSRC, items, a null item, and padding to 32 bits.
func sdesCNAME(b []byte, count int) string {
	off := 0
	for c := 0; c < count && off+4 <= len(b); c++ {
		off += 4 // SSRC
		for off < len(b) && b[off] != 0 {
			if off+2 > len(b) || off+2+int(b[off+1]) > len(b) {
				return ""
			}
			if b[off] == 1 {
				return string(b[off+2 : off+2+int(b[off+1])])
			}
			off += 2 + int(b[off+1])
		}
		off = (off + 4) &^ 3 // the null item, then padding
	}
	return ""
}

func appendXR(dst []VoIPMetrics, b []byte) []VoIPMetrics {
	for len(b) >= 4 {
		bt := b[0]
		size := 4 + int(binary.BigEndian.Uint16(b[2:]))*4
		if size > len(b) {
			break
		}
		blk := b[4:size]
		b = b[size:]
		if bt != 7 || len(blk) < 32 {
			continue
		}
		dst = append(dst, VoIPMetrics{SSRC: binary.BigEndian.Uint32(blk), LossRate: blk[4], DiscardRate: blk[5],
			BurstDensity: blk[6], GapDensity: blk[7], BurstDuration: binary.BigEndian.Uint16(blk[8:]),
			GapDuration: binary.BigEndian.Uint16(blk[10:]), RoundTripDelay: binary.BigEndian.Uint16(blk[12:]),
			EndSystemDelay: binary.BigEndian.Uint16(blk[14:]), SignalLevel: int8(blk[16]), NoiseLevel: int8(blk[17]),
			RERL: blk[18], Gmin: blk[19], RFactor: blk[20], ExtRFactor: blk[21], MOSLQ: blk[22], MOSCQ: blk[23],
			RXConfig: blk[24], JBNominal: binary.BigEndian.Uint16(blk[26:]), JBMax: binary.BigEndian.Uint16(blk[28:]),
			JBAbsMax: binary.BigEndian.Uint16(blk[30:])})
	}
	return dst
}
