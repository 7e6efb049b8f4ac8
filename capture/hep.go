package capture

import (
	"errors"
	"fmt"
	"io"

	"traced/ingest/hep"
)

// NodeName is the HEP node name (chunk 0x13) of the packets built from a
// capture file.
const NodeName = "import"

// ErrTooLarge is AppendHEP's answer for a message too large for a HEPv3 packet.
var ErrTooLarge = errors.New("message too large for a HEP packet")

// AppendHEP appends m as a HEPv3 packet to dst, as a HEP agent would have sent
// it when the packet was captured: the family and IP protocol, both addresses
// and ports, the capture time (seconds and µs), protocol type 1 for SIP and 5
// for RTCP (the binary compound as it was on the wire), capture id 0 and node
// name "import".
func AppendHEP(dst []byte, m *Message) ([]byte, error) {
	p := hep.Packet{Proto: m.Proto, Src: m.Src, Dst: m.Dst, NodeName: []byte(NodeName), Payload: m.Payload}
	if m.Src.Addr().Is6() {
		p.Family = 6
	} else {
		p.Family = 4
	}
	us := m.Time.UnixMicro()
	p.TsSec, p.TsUsec = uint32(us/1e6), uint32(us%1e6)
	switch m.Kind {
	case KindSIP:
		p.ProtoType = hep.TypeSIP
	case KindRTCP:
		p.ProtoType = hep.TypeRTCP
	default:
		return dst, fmt.Errorf("hep: message of %v", m.Kind)
	}
	start := len(dst)
	dst = hep.AppendV3(dst, &p)
	if len(dst)-start > hep.MaxPacketLen {
		return dst[:start], ErrTooLarge
	}
	return dst, nil
}

// HEPResult counts what WriteHEP wrote.
type HEPResult struct {
	Written  int `json:"written"`   // HEP packets written
	TooLarge int `json:"too_large"` // messages left out: too large for HEP
}

// WriteHEP writes every message of r to w as HEPv3 packets back to back (as HEP
// travels over TCP). It stops at the first error of r or w.
func WriteHEP(w io.Writer, r *Reader) (HEPResult, error) {
	var res HEPResult
	var buf []byte
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		buf, err = AppendHEP(buf[:0], &m)
		if errors.Is(err, ErrTooLarge) {
			res.TooLarge++
			continue
		}
		if err != nil {
			return res, err
		}
		if _, err := w.Write(buf); err != nil {
			return res, fmt.Errorf("write hep: %w", err)
		}
		res.Written++
	}
}
