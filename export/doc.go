// Package export writes stored messages out for other tools: a pcap file that
// Wireshark and tshark read as if it had been captured on the wire, and a text
// file in the style of sngrep's "save as txt".
//
// # Pcap
//
// WritePcap writes a classic libpcap file (magic a1b2c3d4, microsecond
// timestamps, LINKTYPE_ETHERNET, snaplen 262144). Classic pcap is read by every
// tool that reads captures (Wireshark, tshark, tcpdump, sngrep, sipgrep,
// libpcap-based scripts), and microseconds are exactly the resolution of a
// stored capture time, so pcapng would add nothing but a narrower audience.
//
// Every packet carries its message's capture time to the microsecond. Packets
// are written in capture-time order (a stable sort: messages with the same
// time keep their input order). The same input always gives the same bytes.
//
// What each message becomes depends on its HEP payload type and IP protocol:
//
//   - SIP (type 1) over UDP (17), or with an unknown protocol: one UDP
//     datagram. A datagram is never fragmented: a message larger than an
//     Ethernet MTU is written as one jumbo frame (up to the IP limit of 64 KiB),
//     which Wireshark dissects whole without complaint (it does not check
//     frames against an MTU). The rare payload that cannot fit one IP packet
//     (over 65507 bytes on IPv4, 65527 on IPv6) is cut to fit.
//   - SIP over TCP (6), and over Kamailio's protocol 22 ("TLS", which its
//     siptrace sends decrypted): a TCP stream per connection (the pair of
//     address:port endpoints), opened by a synthetic three-way handshake just
//     before its first message (1 to 3 µs earlier, never earlier than the
//     packet before it). The SYN comes from the endpoint that sent that first
//     message, unless that endpoint is on port 5060 or 5061 and the other is
//     not: then the other one, on its ephemeral port, opened it. Data
//     segments carry consistent sequence and acknowledgement numbers in both
//     directions (each segment acknowledges everything the peer has sent so
//     far), with ACK set and PSH on the last segment of each message. A message
//     larger than the MSS (1460 bytes on IPv4, 1440 on IPv6, or
//     PcapOptions.MSS) is split into several segments with the same timestamp,
//     which Wireshark reassembles. The SYNs announce that MSS and a window
//     scale of 14 so no amount of one-way data looks like a full window. No FIN
//     is written: the capture simply ends. Decrypted TLS keeps its ports;
//     Wireshark still finds SIP in a plaintext stream on port 5061.
//   - SIP over SCTP (132): one SCTP packet per message with one unfragmented
//     DATA chunk (stream 0, payload protocol identifier 0, as SIP endpoints
//     send it), with per-direction TSNs and stream sequence numbers, the
//     verification tag of the receiving side and a CRC32c checksum.
//     No INIT or SACK chunks are written.
//   - Every other payload type (RTCP reports as JSON, 5; logs, 100; and the
//     rest) was never a packet on the wire and is left out, unless
//     PcapOptions.HEP is set: then each is written as a HEPv3 packet in a UDP
//     datagram from port 9060 of the message's source address to port 9060 of
//     its destination address, for Wireshark with a HEP dissector (the
//     sipcapture hep-wireshark plugin; Wireshark 4.0 itself shows them as UDP
//     data). The outer addresses let an ip.addr filter find them with the
//     call; port 9060 on both sides keeps them out of the RTP and RTCP
//     conversations that the call's SDP sets up. The HEP packet carries the
//     message's addresses, time, type, capture id, node name and correlation
//     id, never the sender's auth key. A HEP packet too large for one
//     datagram has its payload cut to fit.
//
// IPv4 and IPv6 are written as stored; an IPv4-mapped IPv6 address is written
// as IPv4, and a message with one IPv4 and one IPv6 address as IPv6 (the IPv4
// one mapped). A missing address is written as the unspecified address. IPv4
// headers have TTL 64 and an identification that counts packets; TCP and SCTP
// packets set Don't Fragment. IP, UDP and TCP checksums, SCTP's CRC32c and all
// lengths are computed. A TCP or SCTP message with an empty payload writes no
// packet (a data segment or chunk needs data).
//
// Each address gets its own Ethernet MAC, derived from the IP address alone, so
// Wireshark's Ethernet conversations match the IP ones: 02:00 followed by the
// four bytes of an IPv4 address (10.0.0.1 is 02:00:0a:00:00:01), and 06
// followed by five bytes of a hash of an IPv6 address. Both are locally
// administered unicast addresses.
//
// # Text
//
// WriteText writes each message as sngrep's "save as txt" does: a header line
// "2026/11/23 03:05:07.123456 10.0.0.1:5060 -> 10.0.0.2:5060", the message as
// stored, then a blank line. Times are UTC (sngrep uses the local time zone of
// the machine it runs on; an appliance's exports must not depend on that), and
// IPv6 addresses are bracketed ([2001:db8::1]:5060), where sngrep writes them
// bare and ambiguous. Every message is written, SIP or not.
package export
