package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Kind is what a message is.
type Kind uint8

const (
	KindSIP  Kind = 1
	KindRTCP Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindSIP:
		return "sip"
	case KindRTCP:
		return "rtcp"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IP protocols of the messages.
const (
	ProtoTCP  = 6
	ProtoUDP  = 17
	ProtoSCTP = 132
)

// Message is one SIP message or one RTCP compound packet found in a capture.
type Message struct {
	Time     time.Time // capture time of the packet that completed it
	Proto    uint8     // IP protocol it travelled on: ProtoUDP, ProtoTCP or ProtoSCTP
	Src, Dst netip.AddrPort
	Kind     Kind
	Payload  []byte // the SIP message or the RTCP compound, owned by the caller
}

// Reasons a packet (or a part of a stream) is skipped.
const (
	SkipNotIP          = "not_ip"             // a link-layer frame that carries no IP (ARP, STP, LLDP...)
	SkipLinkType       = "link_type"          // a link type this package does not decode
	SkipMalformed      = "malformed"          // a header that does not decode
	SkipOtherProto     = "other_protocol"     // an IP protocol that is not UDP, TCP, SCTP or a tunnel
	SkipTunnelDepth    = "tunnel_depth"       // more nested encapsulations than allowed
	SkipUDPOther       = "udp_not_sip_rtcp"   // a UDP datagram that is neither SIP nor RTCP (RTP, DNS...)
	SkipKeepAlive      = "keepalive"          // a CRLF keep-alive datagram or an empty payload
	SkipTCPControl     = "tcp_no_payload"     // a TCP segment without data (SYN, ACK, FIN)
	SkipTCPRetrans     = "tcp_retransmission" // a TCP segment whose data was already seen
	SkipTCPNotSIP      = "tcp_not_sip"        // bytes of a TCP stream that are not SIP (counted once per stretch)
	SkipTCPGap         = "tcp_gap"            // stream data given up because a segment never came
	SkipTCPIncomplete  = "tcp_incomplete"     // a message still incomplete at the end of the file or of its stream
	SkipTCPOversize    = "tcp_oversize"       // a message larger than the limit
	SkipTCPStreams     = "tcp_stream_limit"   // a stream dropped because too many were open
	SkipWSNotSIP       = "websocket_not_sip"  // a WebSocket data frame that is not SIP
	SkipWSControl      = "websocket_control"  // a WebSocket ping, pong or close frame
	SkipSCTPNotSIP     = "sctp_not_sip"       // an SCTP DATA chunk that is not SIP
	SkipSCTPControl    = "sctp_control"       // an SCTP packet without DATA (INIT, SACK, HEARTBEAT...)
	SkipFragInvalid    = "fragment_invalid"   // an IP fragment that cannot be part of a datagram
	SkipFragExpired    = "fragment_expired"   // an IP datagram whose fragments did not all come
	SkipFragTable      = "fragment_table_full"
	SkipFileTruncated  = "file_truncated" // the capture file ends inside a packet
	SkipFragIncomplete = "fragment_incomplete"
)

// Summary says what a Reader found.
type Summary struct {
	Packets int            `json:"packets"` // packets read from the file
	SIP     int            `json:"sip"`     // SIP messages yielded
	RTCP    int            `json:"rtcp"`    // RTCP compound packets yielded
	Skipped map[string]int `json:"skipped"` // by reason (the Skip* constants)
	// Reassembled IP datagrams and TCP streams that carried data.
	IPv4Reassembled int       `json:"ipv4_reassembled"`
	IPv6Reassembled int       `json:"ipv6_reassembled"`
	TCPStreams      int       `json:"tcp_streams"`
	First           time.Time `json:"first"` // capture time of the first message yielded (zero when none)
	Last            time.Time `json:"last"`  // of the last one
}

// SkippedTotal is the sum of Skipped.
func (s *Summary) SkippedTotal() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// SkipReasons returns the reasons in Skipped, most frequent first.
func (s *Summary) SkipReasons() []string {
	var r []string
	for k := range s.Skipped {
		r = append(r, k)
	}
	sort.Slice(r, func(i, j int) bool {
		if s.Skipped[r[i]] != s.Skipped[r[j]] {
			return s.Skipped[r[i]] > s.Skipped[r[j]]
		}
		return r[i] < r[j]
	})
	return r
}

// packetSource is pcapgo's Reader or NgReader.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Reader yields the messages of one capture file.
type Reader struct {
	src     packetSource
	link    func(ci gopacket.CaptureInfo) layers.LinkType
	dec     *decoder
	out     []Message
	flushed bool
	err     error
}

// Open opens a pcap or pcapng file. Close the returned closer when done.
func Open(path string) (*Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open capture: %w", err)
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, f, nil
}

// pcapng's section header block type, its first four bytes.
var ngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// NewReader reads a pcap or pcapng stream (told apart by its first bytes).
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a capture file: %w", err)
	}
	rd := &Reader{dec: newDecoder()}
	rd.dec.emit = func(m Message) { rd.out = append(rd.out, m) }
	if string(head) == string(ngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		first := ng.LinkType()
		rd.src = ng
		rd.link = func(ci gopacket.CaptureInfo) layers.LinkType {
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					return lt
				}
			}
			return first
		}
		return rd, nil
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	lt := pr.LinkType()
	rd.src = pr
	rd.link = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	return rd, nil
}

// Next returns the next message, or io.EOF after the last one. A file cut
// inside a packet ends the messages normally (counted as SkipFileTruncated); any
// other read error is returned.
func (r *Reader) Next() (Message, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return Message{}, r.err
		}
		if r.flushed {
			return Message{}, io.EOF
		}
		data, ci, err := r.src.ReadPacketData()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					r.err = fmt.Errorf("read packet %d: %w", r.dec.sum.Packets+1, err)
				} else {
					r.dec.skip(SkipFileTruncated)
				}
			}
			r.dec.flush()
			r.flushed = true
			continue
		}
		r.dec.sum.Packets++
		r.dec.packet(r.link(ci), data, ci.Timestamp)
	}
	m := r.out[0]
	r.out[0] = Message{}
	r.out = r.out[1:]
	if len(r.out) == 0 {
		r.out = r.out[:0:0]
	}
	return m, nil
}

// Summary returns the counts so far (final once Next has returned io.EOF).
func (r *Reader) Summary() Summary {
	s := r.dec.sum
	s.Skipped = make(map[string]int, len(r.dec.sum.Skipped))
	for k, v := range r.dec.sum.Skipped {
		s.Skipped[k] = v
	}
	return s
}

// ReadAll reads every message of r.
func ReadAll(r *Reader) ([]Message, error) {
	var ms []Message
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ms, nil
		}
		if err != nil {
			return ms, err
		}
		ms = append(ms, m)
	}
}
