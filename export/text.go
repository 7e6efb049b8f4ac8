package export

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"

	"traced/ingest/record"
)

// WriteText writes msgs to w in the style of sngrep's "save as txt", in
// capture-time order: for each message a header line
//
//	2026/11/23 03:05:07.123456 10.0.0.1:5060 -> 10.0.0.2:5060
//
// then the message exactly as stored, then a blank line. Times are UTC; IPv6
// addresses are bracketed. Nil messages are skipped. It returns the first
// error of w.
func WriteText(w io.Writer, msgs []*record.Message) error {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	var line []byte
	for _, m := range byTime(msgs) {
		line = appendTextHeader(line[:0], m)
		// A bufio.Writer keeps its first error and returns it from every
		// later call: checking the last write of each message is enough.
		bw.Write(line)
		bw.Write(m.Payload)
		if _, err := bw.WriteString("\n\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendTextHeader appends the header line of m, with its newline.
func appendTextHeader(b []byte, m *record.Message) []byte {
	b = record.TimeOf(m.Time).AppendFormat(b, "2006/01/02 15:04:05.000000")
	b = append(b, ' ')
	b = appendEndpoint(b, m.Src)
	b = append(b, " -> "...)
	b = appendEndpoint(b, m.Dst)
	return append(b, '\n')
}

// appendEndpoint appends a as ip:port, [ip6]:port, or 0.0.0.0:port when the
// address is missing.
func appendEndpoint(b []byte, a netip.AddrPort) []byte {
	ip := a.Addr().Unmap()
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	if ip.Is6() {
		b = append(b, '[')
		b = ip.AppendTo(b)
		b = append(b, ']')
	} else {
		b = ip.AppendTo(b)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(a.Port()), 10)
}
