package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tsharkFields runs tshark on pcap with a display filter and returns one
// slice of field values per matching packet.
func tsharkFields(t testing.TB, pcap, display string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-n", "-r", pcap, "-o", "tcp.desegment_tcp_streams:FALSE",
		"-Y", display, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mustLookPath(t, "tshark"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("peer: tshark -r %s -Y %q: %v\n%s", pcap, display, err, tail(stderr.Bytes(), 10))
	}
	var rows [][]string
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows
}

// decodeHex decodes a tshark bytes field ("a1b2..." or "a1:b2:...").
func decodeHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		t.Fatalf("peer: tshark payload %.40q: %v", s, err)
	}
	return b
}

// LooksLikeHEP reports whether a datagram starts like a HEP packet: "HEP3" or
// "EEP3", or a HEPv1/v2 header (version 1 or 2, IPv4 or IPv6 header length).
func LooksLikeHEP(b []byte) bool {
	if len(b) >= 6 && (string(b[:4]) == "HEP3" || string(b[:4]) == "EEP3") {
		return true
	}
	return len(b) >= 16 && (b[0] == 1 || b[0] == 2) && (b[1] == 16 || b[1] == 40)
}

// CountUDP returns the number of UDP datagrams to port in pcap.
func CountUDP(t testing.TB, pcap string, port int) int {
	t.Helper()
	return len(tsharkFields(t, pcap, fmt.Sprintf("udp.dstport == %d", port), "frame.number"))
}

// CountHEP returns the number of HEP packets sent to port in pcap: UDP
// datagrams that look like HEP (LooksLikeHEP), plus HEP3 frames in the
// reassembled TCP streams to that port. A TCP stream that does not parse as
// back-to-back HEP3 frames fails the test.
func CountHEP(t testing.TB, pcap string, port int) int {
	t.Helper()
	n := 0
	for _, row := range tsharkFields(t, pcap, fmt.Sprintf("udp.dstport == %d", port), "udp.payload") {
		if LooksLikeHEP(decodeHex(t, row[0])) {
			n++
		}
	}
	streams := TCPStreams(t, pcap, port)
	for id, data := range streams {
		frames, rest := SplitHEP3(data)
		if len(rest) != 0 {
			t.Fatalf("peer: tcp stream %d to port %d: %d bytes after %d HEP3 frames do not form a frame",
				id, port, len(rest), len(frames))
		}
		n += len(frames)
	}
	return n
}

// TCPStreams returns the payload sent to port in each TCP stream of pcap,
// keyed by tshark's stream index, with segments ordered by sequence number and
// retransmissions dropped.
func TCPStreams(t testing.TB, pcap string, port int) map[int][]byte {
	t.Helper()
	type seg struct {
		seq  uint32
		data []byte
	}
	segs := map[int][]seg{}
	rows := tsharkFields(t, pcap, fmt.Sprintf("tcp.dstport == %d && tcp.len > 0", port),
		"tcp.stream", "tcp.seq_raw", "tcp.payload")
	for _, row := range rows {
		if len(row) < 3 {
			t.Fatalf("peer: tshark tcp row %q: want 3 fields", row)
		}
		id, err1 := strconv.Atoi(row[0])
		seq, err2 := strconv.ParseUint(row[1], 10, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("peer: tshark tcp row %q: bad stream or sequence number", row)
		}
		segs[id] = append(segs[id], seg{uint32(seq), decodeHex(t, row[2])})
	}
	out := make(map[int][]byte, len(segs))
	for id, ss := range segs {
		// Sequence numbers of one short test stream do not wrap in practice;
		// order by distance from the first segment to be safe anyway.
		base := ss[0].seq
		slices.SortStableFunc(ss, func(a, b seg) int {
			da, db := a.seq-base, b.seq-base
			switch {
			case da < db:
				return -1
			case da > db:
				return 1
			}
			return 0
		})
		var data []byte
		var have uint32 // bytes assembled, counted from base
		for _, s := range ss {
			off := s.seq - base
			end := off + uint32(len(s.data))
			if end <= have {
				continue // retransmission
			}
			if off > have {
				t.Fatalf("peer: tcp stream %d to port %d: gap of %d bytes (capture lost packets)", id, port, off-have)
			}
			data = append(data, s.data[have-off:]...)
			have = end
		}
		out[id] = data
	}
	return out
}

// SplitHEP3 cuts a byte stream into back-to-back HEP3 frames using the
// 16-bit length after the magic. rest is what is left when the stream does not
// start with a complete frame.
func SplitHEP3(stream []byte) (frames [][]byte, rest []byte) {
	for len(stream) >= 6 && (string(stream[:4]) == "HEP3" || string(stream[:4]) == "EEP3") {
		n := int(binary.BigEndian.Uint16(stream[4:6]))
		if n < 6 || n > len(stream) {
			break
		}
		frames = append(frames, stream[:n])
		stream = stream[n:]
	}
	return frames, stream
}

// CallIDs returns the distinct SIP Call-IDs in pcap, sorted, from SIP messages
// sent to port SIPPort over UDP or TCP. Mirrored copies (sent to the HEP port)
// and the harness's readiness probes are not counted.
func CallIDs(t testing.TB, pcap string) []string {
	t.Helper()
	display := fmt.Sprintf("sip && (udp.dstport == %d || tcp.dstport == %d)", SIPPort, SIPPort)
	var ids []string
	for _, row := range tsharkFields(t, pcap, display, "sip.Call-ID") {
		id := strings.TrimSpace(row[0])
		if id == "" || strings.HasPrefix(id, probeCallIDPrefix) {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Mirrored is one HEPv3 packet as a sender put it on the wire.
type Mirrored struct {
	// Type is the payload's protocol type (chunk 0x000b): 1 SIP, 100 log.
	Type byte
	// CallID is the Call-ID of a SIP payload; "" for other payloads.
	CallID string
	// CorrID is the correlation id (chunk 0x0011); "" when absent.
	CorrID string
}

// Call is the call the packet belongs to: its Call-ID, else its correlation
// id.
func (m Mirrored) Call() string {
	if m.CallID != "" {
		return m.CallID
	}
	return m.CorrID
}

// MirroredHEP3 decodes the UDP datagrams sent to port in pcap as HEPv3
// packets (vendor 0 chunks, uncompressed payload). A datagram that is not one
// fails the test.
func MirroredHEP3(t testing.TB, pcap string, port int) []Mirrored {
	t.Helper()
	var out []Mirrored
	for _, row := range tsharkFields(t, pcap, fmt.Sprintf("udp.dstport == %d", port), "udp.payload") {
		m, err := parseHEP3(decodeHex(t, row[0]))
		if err != nil {
			t.Fatalf("peer: datagram to port %d: %v", port, err)
		}
		out = append(out, m)
	}
	return out
}

// parseHEP3 reads the protocol type, correlation id and SIP Call-ID of one
// HEPv3 packet.
func parseHEP3(b []byte) (Mirrored, error) {
	var m Mirrored
	if len(b) < 6 || string(b[:4]) != "HEP3" {
		return m, fmt.Errorf("not HEPv3: % x", b[:min(len(b), 6)])
	}
	if n := int(binary.BigEndian.Uint16(b[4:6])); n != len(b) {
		return m, fmt.Errorf("HEPv3 length %d in a datagram of %d bytes", n, len(b))
	}
	var payload []byte
	for c := b[6:]; len(c) > 0; {
		if len(c) < 6 {
			return m, fmt.Errorf("HEPv3 chunk header cut short")
		}
		vendor, typ, n := binary.BigEndian.Uint16(c), binary.BigEndian.Uint16(c[2:]), int(binary.BigEndian.Uint16(c[4:]))
		if n < 6 || n > len(c) {
			return m, fmt.Errorf("HEPv3 chunk %#04x of length %d", typ, n)
		}
		data := c[6:n]
		c = c[n:]
		if vendor != 0 {
			continue
		}
		switch typ {
		case 0x0b:
			if len(data) == 1 {
				m.Type = data[0]
			}
		case 0x0f:
			payload = data
		case 0x10:
			return m, fmt.Errorf("compressed HEPv3 payload")
		case 0x11:
			m.CorrID = string(data)
		}
	}
	if m.Type == 1 {
		m.CallID = sipCallID(payload)
	}
	return m, nil
}

// sipCallID returns the value of the Call-ID header (or its compact form "i")
// of a SIP message, or "".
func sipCallID(msg []byte) string {
	lines := bytes.Split(msg, []byte("\n"))
	for _, l := range lines[min(1, len(lines)):] {
		l = bytes.TrimRight(l, "\r")
		if len(l) == 0 {
			break
		}
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Call-ID")) || bytes.EqualFold(name, []byte("i")) {
			return string(bytes.TrimSpace(value))
		}
	}
	return ""
}
