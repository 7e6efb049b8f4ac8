// Package capture reads packet capture files (pcap and pcapng) and yields the
// SIP and RTCP messages they carry, each with its original capture time, its IP
// protocol and its addresses, so that a capture can be put into the archive as
// if a HEP agent had sent it when it was taken.
//
// # What it decodes
//
// Link types: Ethernet, Linux cooked capture (SLL and SLL2), raw IP (IPv4 or
// IPv6), BSD loopback (null and loop). Above the link: 802.1Q and QinQ VLAN
// tags, MPLS label stacks, IP in IP (IPv4 or IPv6 in either), GRE (with
// transparent Ethernet bridging, ERSPAN types I, II and III). IPv4 fragments
// are reassembled with gopacket's ip4defrag, IPv6 fragments by a small
// reassembler of this package; both tables are bounded and expire by capture
// time.
//
// Transports: UDP datagrams; TCP streams, reassembled per direction (in order,
// with retransmissions dropped and out-of-order segments held back, within
// limits) and cut into SIP messages by Content-Length (RFC 3261 18.3), keep-alive
// CRLFs ignored; SIP over WebSocket (RFC 7118) after an HTTP Upgrade, masked or
// not; SCTP DATA chunks, unfragmented or fragmented within one stream.
//
// # Detection
//
// A payload is SIP when its first line is a request line (METHOD SP URI SP
// SIP/2.0) or a status line (SIP/2.0 SP 3 digits), on any port. A UDP payload is
// RTCP when it is a compound of RTCP packets of version 2 whose first packet type
// is 200 to 207 and whose length fields add up to the datagram. Everything else
// is counted in the Summary by the reason it was skipped.
//
// # Times
//
// A message's time is its packet's capture timestamp. For TCP and WebSocket it is
// the time of the segment that completed the message; for fragmented IP, that of
// the fragment that completed the datagram.
//
// # Memory
//
// Every table is bounded: TCP streams (with their reassembly buffers and their
// out-of-order queues), IP fragment tables, SCTP fragment buffers. What falls out
// of a bound is counted as skipped. At the end of the file what is left
// incomplete is counted as skipped too.
package capture
