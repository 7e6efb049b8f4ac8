/*
Package qos decodes the call quality reports traced receives and turns a call's
reports into time series per media stream. It is pure decoding: no I/O, no
storage, no HTTP.

# Sources

  - RTCP as JSON in HEP type 5 (KindRTCPJSON): the shape heplify, captagent,
    rtpengine, FreeSWITCH and Asterisk send (sender_information, ssrc, type,
    report_blocks, report_blocks_xr, voip_metrics). Numbers may come as JSON
    numbers, floats or strings; unknown fields are ignored. DecodeRTCPJSON.
  - Raw RTCP in HEP type 5 (KindRTCP): a compound packet of SR (200), RR (201),
    SDES (202, the CNAME is kept), BYE (203) and XR (207, VoIP metrics block
    type 7 of RFC 3611). A type-5 payload starting with '{' is JSON, anything
    else binary (DecodeRTCP decides).
  - RTCP-XR session reports in SIP PUBLISH bodies, application/vq-rtcpxr
    (KindRTCPXR, RFC 6035): VQSessionReport, VQIntervalReport, VQAlertReport.
    DecodeVQ.
  - The HEP type 35 short report (KindMOS): a JSON object of MOS, R-factor,
    jitter and loss figures under the names rtpagent and heplify-server use
    (MOS, MEAN_MOS, R_FACTOR, JITTER, PACKET_LOSS, ...; case ignored), or a
    bare number taken as the MOS. DecodeShort.
  - End-of-call statistics headers in BYE and its 200 (DecodeStatHeader):
    X-RTP-Stat (AudioCodes, Polycom, Asterisk), P-RTP-Stat (Cisco, Sonus,
    TelcoBridges) with PS OS PR OR PL JI LA DU EN DE MOS, and Cisco/Linksys/
    Grandstream RTP-RxStat / RTP-TxStat (Total_Rx_Pkts, Total_Rx_Bytes,
    Total_Lost_Pkts, Jitter, ... or Dur, Pkt, Oct, LostPkt, AvgJit).

# Streams

A stream is one direction of media: an SSRC sent from one address to another.
Build puts every report on the stream it describes:

  - the sender information of an SR on the stream of its sender SSRC, in the
    direction the RTCP packet travels;
  - a report block (or an XR VoIP metrics block) on the stream of its source
    SSRC in the opposite direction: the reporter is that stream's receiver. A
    block about the reporter's own SSRC, or about SSRC 0, describes no received
    stream and is skipped;
  - an RFC 6035 report's LocalMetrics on the stream RemoteAddr → LocalAddr, its
    RemoteMetrics on LocalAddr → RemoteAddr;
  - a statistics header's received figures on the stream towards the party
    that sent it, its sent figures on the stream from it (SSRC 0: the header
    names none, and the addresses are the SIP message's).

So a stream with reports from one side only (one-way RTCP) still shows what
that side said.

Loss is per interval: the fraction lost of the report block, or, when a sender
gives only cumulative counts, the delta of lost over the delta of expected
packets between two reports. Jitter is converted from RTP timestamp units to
milliseconds with the codec's clock rate. The round trip time of a report block
(RFC 3550 6.4.1) is A − LSR − DLSR, A being the block's arrival in the SR
sender's clock as a 32-bit NTP short time, only when LSR is not 0. When the SR
the block echoes was captured too, A is LSR plus the capture time elapsed
between that SR and the block, which needs no agreement between the capture
clock and the sender's; otherwise A is the block's capture time converted to
NTP. A negative result, or one over a minute, is a clock mismatch and gives no
RTT. The MOS of a point is the one the report gives
(XR, RFC 6035, short report, header), else the E-model's (EModel).
*/
package qos
