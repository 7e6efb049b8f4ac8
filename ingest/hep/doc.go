/*
Package hep decodes HEP (Homer Encapsulation Protocol) packets, versions 1, 2
and 3, into a [Packet], and encodes packets for tests, tools and load
generators.

The package is pure: no I/O, no logging, no clock. [Decode] fills a
caller-owned *Packet whose byte fields alias the input buffer, and does not
allocate when it accepts a packet. A rejection allocates one small *[Error].
Decode never panics on any input and never loops forever: every chunk
advances the cursor by at least six bytes.

# Wire formats

HEPv1 and HEPv2 are the fixed binary headers of Kamailio's sipcapture module
(struct hep_hdr, hep_iphdr, hep_ip6hdr and hep_timehdr in
kamailio/src/modules/sipcapture/hep.h), also written by OpenSIPS, captagent,
FreeSWITCH (sofia-sip tport_logging.c) and sngrep:

	hep_hdr     version u8 | hdr_len u8 | family u8 | ip_proto u8 | sport u16 BE | dport u16 BE
	hep_iphdr   src [4]byte | dst [4]byte            (family AF_INET = 2)
	hep_ip6hdr  src [16]byte | dst [16]byte          (family AF_INET6 = 10 on Linux)
	hep_timehdr tv_sec u32 | tv_usec u32 | captid u16 | 2 bytes padding   (v2 only, 12 bytes)
	payload     the rest of the datagram (SIP)

HEPv3 is "HEP3" (or "EEP3") | total length u16 BE | chunks, each chunk being
vendor u16 | type u16 | length u16 (including these six bytes) | data, all
integers big-endian. The generic chunk types (vendor 0) follow the HEP
specification rev 37; see the Chunk* constants.

# What the decoder accepts, and why

Real senders disagree with the specification and with each other. The
decoder follows what they write; every normalisation it makes is recorded in
[Packet.Quirks].

  - The magic may be "HEP3" or "EEP3" (the rev 37 specification allows both).
  - The v3 length field must equal the datagram length. A TCP caller frames
    with [FrameLen] first and passes exactly one frame.
  - A chunk shorter than its six-byte header, or running past the packet, is
    bad_chunk. Chunks of vendor 0 types 1 to 12 and 18 must have their fixed
    size (as heplify-server checks). The later optional numeric chunks
    (keep-alive, MACs, Ethernet type, TCP flags, TOS, MOS, R-factor, jitter,
    tag and event types) of an unexpected size are not fatal: they are
    counted in Packet.Vendor and left in Raw, like unknown chunks. MAC chunks
    may be 6 or 8 bytes.
  - Chunks with a vendor id other than 0, reserved and unknown generic types
    (including type 0) are skipped by length, counted in Packet.Vendor and
    kept in Raw; [Packet.Chunks] iterates them.
  - A repeated chunk overrides the earlier one, except that a plain payload
    (0x0f) wins over a compressed one (0x10).
  - The family chunk is normalised to 4 or 6. When it is missing or holds a
    value other than 2 or 10 (another system's AF_INET6), the family is taken
    from the address chunks (QuirkFamily). A family chunk that contradicts
    the address chunks, source and destination of different families, or
    IPv4 and IPv6 address chunks with no family chunk to choose between them
    are bad_address.
  - A v3 packet must carry at least one address chunk of its family: every
    known sender (Kamailio siptrace and hlog, Asterisk res_hep, FreeSWITCH,
    sngrep, heplify) always sends both. When exactly one is missing the
    other end is set to the unspecified address (0.0.0.0 or ::) and the
    packet is accepted (QuirkSrcMissing, QuirkDstMissing). With neither, it
    is bad_address: such a packet cannot be placed in a flow.
  - A missing port chunk leaves the port 0.
  - A payload chunk (0x0f or 0x10) is required (no_payload otherwise); an
    empty one is accepted. Every protocol type (1 SIP, 5 RTCP JSON, 35
    RTCP-XR, 100 LOG, 0 as heplify sends at the end of a TCP session, ...)
    is decoded the same way: the caller decides what to keep.
  - sngrep and sipgrep write their 16-bit capture id into the high half of
    the 32-bit capture id chunk (bytes 07 D1 00 00 for 2001). When the low 16
    bits are zero and the high 16 bits are not, CaptureID is the high half
    (QuirkCaptureIDHigh). A true capture id that is a multiple of 65536 is
    therefore read as its high half.
  - Time is plausible when the seconds fall in the years 2000 to 2099 and
    the microseconds are below one million. Otherwise, or when the time
    chunks are missing, TimeOK is false and the caller uses the arrival time.
  - HEPv1/v2: the header length byte is not trusted (sngrep writes the total
    length there); the header size is computed from the family byte, which
    must be AF_INET (2) or an AF_INET6 value (10 on Linux; 23, 24, 26, 28
    and 30 on other systems, QuirkFamily). The v2 time header is 12 bytes
    in the sender's byte order, which is little-endian for every known
    sender (Kamailio writes to_le(tv_sec)). It is read little-endian; when
    that is implausible and big-endian is plausible, the whole time header
    (seconds, microseconds, capture id) is read big-endian
    (QuirkTimeBigEndian). v1 has no time (TimeOK false) and no capture id.
    v1 and v2 carry SIP only: ProtoType is 1.

# Errors

Every rejection is an *[Error] whose [Reason] is a small enum with a stable
snake_case name fit for a metric label: truncated, bad_magic,
unknown_version, bad_length, bad_chunk, no_payload, bad_address and
bad_compressed ([PayloadBytes] only). [ReasonOf] extracts it from any error.

# Compressed payloads

Asterisk res_hep can send the payload gzip- or zlib-compressed in chunk
0x10. Decode leaves it compressed (Packet.Compressed); [PayloadBytes] or a
reusable [Inflater] inflates it, refusing more than [MaxInflated] bytes.

# Encoding

[AppendV3] writes every set field as HEPv3 (the nine core chunks always, as
Kamailio requires them), followed by the vendor and unknown chunks of Raw,
so a decoded packet re-encodes to a packet that decodes to the same fields.
[AppendV2] and [AppendV1] write the legacy headers exactly as Kamailio does
(little-endian time, 12-byte time header).
*/
package hep
