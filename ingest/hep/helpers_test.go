package hep

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// chunk is one HEPv3 chunk for the hand-built test packets. The builders
// here are independent of AppendV3 so that they test it too.
type chunk struct {
	vendor, typ uint16
	data        []byte
	rawLen      int  // the length field to write instead of the real one, when raw
	raw         bool // write rawLen as the length field
}

// withLen returns c with its length field forced to n.
func withLen(c chunk, n int) chunk {
	c.rawLen, c.raw = n, true
	return c
}

func c8(typ uint16, v uint8) chunk { return chunk{typ: typ, data: []byte{v}} }

func c16(typ uint16, v uint16) chunk {
	return chunk{typ: typ, data: binary.BigEndian.AppendUint16(nil, v)}
}

func c32(typ uint16, v uint32) chunk {
	return chunk{typ: typ, data: binary.BigEndian.AppendUint32(nil, v)}
}

func cb(typ uint16, data []byte) chunk { return chunk{typ: typ, data: data} }

func cs(typ uint16, s string) chunk { return chunk{typ: typ, data: []byte(s)} }

func cip(typ uint16, ip ...byte) chunk { return chunk{typ: typ, data: ip} }

// v3 builds a HEPv3 packet with the given magic and chunks, its length
// field set to the real length.
func v3(magic string, chunks ...chunk) []byte {
	b := append([]byte(magic), 0, 0)
	for _, c := range chunks {
		n := chunkHdrLen + len(c.data)
		if c.raw {
			n = c.rawLen
		}
		b = binary.BigEndian.AppendUint16(b, c.vendor)
		b = binary.BigEndian.AppendUint16(b, c.typ)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, c.data...)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

// setLen overwrites the v3 length field of a copy of b.
func setLen(b []byte, n uint16) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint16(b[4:], n)
	return b
}

// coreV4 is the core chunk set of an IPv4 UDP SIP packet, as Kamailio
// siptrace orders it, without the payload.
func coreV4() []chunk {
	return []chunk{
		c8(ChunkFamily, 2), c8(ChunkProto, 17),
		cip(ChunkSrcIPv4, 10, 0, 0, 1), cip(ChunkDstIPv4, 10, 0, 0, 2),
		c16(ChunkSrcPort, 5060), c16(ChunkDstPort, 5080),
		c32(ChunkTimeSec, testSec), c32(ChunkTimeUsec, testUsec),
		c8(ChunkProtoType, 1), c32(ChunkCaptureID, 2001),
	}
}

// with returns coreV4 followed by more chunks.
func with(more ...chunk) []chunk { return append(coreV4(), more...) }

// without returns coreV4 (plus a payload) minus the chunks of the given types.
func without(types ...uint16) []chunk {
	var out []chunk
next:
	for _, c := range with(cs(ChunkPayload, shortSIP)) {
		for _, t := range types {
			if c.typ == t {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

const (
	testSec  = 1795342530 // 2026-11-22T10:15:30Z
	testUsec = 123456
)

// view is the stable JSON form of a decoded packet used by the golden
// files: addresses and byte fields as strings (hex: prefix when not UTF-8),
// the time as RFC 3339 with microseconds, the compressed payload inflated.
type view struct {
	Version       uint8    `json:"version"`
	Family        uint8    `json:"family"`
	Proto         uint8    `json:"proto"`
	Src           string   `json:"src"`
	Dst           string   `json:"dst"`
	Time          string   `json:"time"`
	TsSec         uint32   `json:"ts_sec"`
	TsUsec        uint32   `json:"ts_usec"`
	TimeOK        bool     `json:"time_ok"`
	ProtoType     uint8    `json:"proto_type"`
	CaptureID     uint32   `json:"capture_id"`
	KeepAlive     uint16   `json:"keep_alive,omitempty"`
	AuthKey       *string  `json:"auth_key,omitempty"`
	CorrelationID *string  `json:"correlation_id,omitempty"`
	VLAN          uint16   `json:"vlan,omitempty"`
	NodeName      *string  `json:"node_name,omitempty"`
	SrcMAC        string   `json:"src_mac,omitempty"`
	DstMAC        string   `json:"dst_mac,omitempty"`
	EthType       uint16   `json:"eth_type,omitempty"`
	TCPFlags      uint8    `json:"tcp_flags,omitempty"`
	TOS           uint8    `json:"tos,omitempty"`
	MOS           uint16   `json:"mos,omitempty"`
	RFactor       uint16   `json:"r_factor,omitempty"`
	Geo           *string  `json:"geo,omitempty"`
	Jitter        uint32   `json:"jitter,omitempty"`
	TxType        *string  `json:"tx_type,omitempty"`
	PayloadKeys   *string  `json:"payload_keys,omitempty"`
	Tags          *string  `json:"tags,omitempty"`
	TagType       uint16   `json:"tag_type,omitempty"`
	EventType     uint16   `json:"event_type,omitempty"`
	GroupID       *string  `json:"group_id,omitempty"`
	Vendor        int      `json:"vendor"`
	Quirks        []string `json:"quirks,omitempty"`
	Compressed    bool     `json:"compressed,omitempty"`
	PayloadLen    int      `json:"payload_len"`
	Payload       string   `json:"payload"`
	RawLen        int      `json:"raw_len"`
	Chunks        []string `json:"chunks,omitempty"`
}

func str(b []byte) *string {
	if b == nil {
		return nil
	}
	s := text(b)
	return &s
}

func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "hex:" + hex.EncodeToString(b)
}

func mac(v uint64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%012x", v)
}

// errorView is the golden view of a rejected packet.
type errorView struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// viewOf returns the golden view of a Decode result: an errorView when err
// is not nil, a view otherwise.
func viewOf(p *Packet, err error) any {
	if err != nil {
		return errorView{Error: err.Error(), Reason: ReasonOf(err).String()}
	}
	v := view{
		Version: p.Version, Family: p.Family, Proto: p.Proto,
		Src: p.Src.String(), Dst: p.Dst.String(),
		Time:  p.Time().Format("2006-01-02T15:04:05.000000Z07:00"),
		TsSec: p.TsSec, TsUsec: p.TsUsec, TimeOK: p.TimeOK,
		ProtoType: p.ProtoType, CaptureID: p.CaptureID, KeepAlive: p.KeepAlive,
		AuthKey: str(p.AuthKey), CorrelationID: str(p.CorrelationID),
		VLAN: p.VLAN, NodeName: str(p.NodeName), SrcMAC: mac(p.SrcMAC), DstMAC: mac(p.DstMAC),
		EthType: p.EthType, TCPFlags: p.TCPFlags, TOS: p.TOS, MOS: p.MOS, RFactor: p.RFactor,
		Geo: str(p.Geo), Jitter: p.Jitter, TxType: str(p.TxType), PayloadKeys: str(p.PayloadKeys),
		Tags: str(p.Tags), TagType: p.TagType, EventType: p.EventType, GroupID: str(p.GroupID),
		Vendor: p.Vendor, Quirks: p.Quirks.Names(), Compressed: p.Compressed,
		PayloadLen: len(p.Payload), RawLen: len(p.Raw),
	}
	payload, perr := PayloadBytes(p, nil)
	if perr != nil {
		v.Payload = "error: " + perr.Error()
	} else {
		v.Payload = text(payload)
	}
	p.Chunks(func(vendor, typ uint16, data []byte) bool {
		v.Chunks = append(v.Chunks, fmt.Sprintf("%04x/%04x len %d", vendor, typ, len(data)))
		return true
	})
	return v
}

// marshalView renders v as indented JSON with a trailing newline, without
// HTML escaping so SIP stays readable.
func marshalView(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
