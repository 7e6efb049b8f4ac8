package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxSCTPParts bounds the SCTP streams holding a fragmented message.
const maxSCTPParts = 1024

type sctpKey struct {
	src, dst netip.AddrPort
	stream   uint16
}

// sctpAssoc holds the messages that SCTP fragmented over several DATA chunks
// (B and E flags), per direction and stream.
type sctpAssoc struct {
	parts map[sctpKey][]byte
	hdr   layers.SCTP
}

func newSCTPAssoc() *sctpAssoc { return &sctpAssoc{parts: map[sctpKey][]byte{}} }

// flush counts the messages left incomplete.
func (a *sctpAssoc) flush(d *decoder) {
	if n := len(a.parts); n > 0 {
		d.sum.Skipped[SkipTCPIncomplete] += n
	}
	clear(a.parts)
}

// sctpPacket reads the DATA chunks of one SCTP packet.
func (d *decoder) sctpPacket(src, dst netip.Addr, data []byte, ts time.Time) {
	a := d.sctp
	if a.hdr.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil || len(data) < 12 {
		d.skip(SkipMalformed)
		return
	}
	from := netip.AddrPortFrom(src, uint16(a.hdr.SrcPort))
	to := netip.AddrPortFrom(dst, uint16(a.hdr.DstPort))
	chunks := data[12:]
	sawData := false
	for len(chunks) >= 4 {
		typ, flags := chunks[0], chunks[1]
		n := int(binary.BigEndian.Uint16(chunks[2:]))
		if n < 4 || n > len(chunks) {
			d.skip(SkipMalformed)
			return
		}
		chunk := chunks[:n]
		if pad := (n + 3) &^ 3; pad <= len(chunks) {
			chunks = chunks[pad:]
		} else {
			chunks = nil
		}
		if typ != 0 { // DATA only
			continue
		}
		if len(chunk) < 16 {
			d.skip(SkipMalformed)
			continue
		}
		sawData = true
		key := sctpKey{from, to, binary.BigEndian.Uint16(chunk[8:])}
		user := chunk[16:]
		begin, end := flags&2 != 0, flags&1 != 0
		switch {
		case begin && end:
			d.sctpMessage(from, to, user, ts)
		case begin:
			if _, ok := a.parts[key]; !ok && len(a.parts) >= maxSCTPParts {
				d.skip(SkipFragTable)
				continue
			}
			a.parts[key] = append([]byte(nil), user...)
		default:
			p, ok := a.parts[key]
			if !ok {
				d.skip(SkipFragInvalid) // its first part was not seen
				continue
			}
			if len(p)+len(user) > maxMessage {
				delete(a.parts, key)
				d.skip(SkipTCPOversize)
				continue
			}
			p = append(p, user...)
			if !end {
				a.parts[key] = p
				continue
			}
			delete(a.parts, key)
			d.sctpMessage(from, to, p, ts)
		}
	}
	if !sawData {
		d.skip(SkipSCTPControl)
	}
}

func (d *decoder) sctpMessage(from, to netip.AddrPort, user []byte, ts time.Time) {
	if IsSIP(user) {
		d.yield(ts, ProtoSCTP, from, to, KindSIP, user)
		return
	}
	d.skip(SkipSCTPNotSIP)
}
