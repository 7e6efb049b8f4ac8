/*
Package peer runs traced's tests against real senders: Kamailio's siptrace
module mirroring calls that sipp drives through it, with tshark counting the
traffic independently. It is imported only by _test.go files.

# Usage

	peer.Require(t, "kamailio", "sipp", "tshark", "dumpcap")
	k := peer.StartKamailio(t, peer.KamailioConfig{HEPDest: "127.0.0.1:9060"})
	c := peer.StartCapture(t, k.CaptureFilter())
	mix := peer.RunCallMix(t, k) // 8 calls, 7 INVITEs, REGISTER, OPTIONS
	k.Stop()                     // nothing is mirrored after this
	pcap := c.Stop()
	wire := peer.CountHEP(t, pcap, k.HEPPort())
	ids := peer.CallIDs(t, pcap) // len(ids) == mix.Calls

Require skips a test when a binary is missing, or fails it when the CI
environment variable is set; scripts/install-test-deps.sh installs them.

# Topology

Every role binds port 5060 on its own loopback address inside one
127.A.B.0/24 block (Hosts): the proxy on .10, answering sipp instances on .11
(180 then 200), .12 (486) and .13 (rings until CANCEL), the calling sipp on
.20. StartKamailio reserves a fresh block unless KamailioConfig.Listen is set;
the reservation is a UDP socket on 127.A.B.1:5060, so `go test ./...` running
packages in parallel never collide. The proxy routes on the Request-URI user:
"404…" gets a stateless 404, "auth…" a 407 challenge (alice/secret), "busy…"
goes to .12, "cancel…" to .13, anything else to .11; REGISTER is challenged
with 401 and saved in memory (usrloc db_mode 0); OPTIONS to the proxy itself
gets 200. Each INVITE calls hlog("$ci", …).

# Versions

Written against Debian 12: kamailio 5.6.3, sip-tester 3.6.1 (sipp
"v3.6.1-SCTP-PCAP-RTPSTREAM"), tshark 4.0.17. Kamailio lives in /usr/sbin
and its modules in ModuleDir.

# What Kamailio 5.6 siptrace really sends (seen running these tests)

  - trace_mode=1 mirrors every message received and sent through core events,
    as HEP whatever hep_mode_on says; only SL-filtered ACKs follow hep_mode_on.
    The ACK to a stateless negative reply (404, 407) is mirrored twice. With
    trace_mode=4 the copies go out as raw SIP but without X-Siptrace-*
    headers, so DuplicateSIP uses trace_mode=0 and sip_trace_mode("t") on
    every request instead: then every copy carries X-Siptrace-Fromip, -Toip,
    -Time ("sec usec"), -Method and -Dir, but the relayed ACK of a 2xx (a
    stateless forward) is not mirrored at all.
  - hlog() always sends HEPv3 protocol type 100, also with hep_version 1 or 2
    and in plain SIP mode. Its correlation chunk (0x11) is the Call-ID, its
    addresses are Kamailio's socket and the capture server (not the SIP
    peers), and it carries the auth key and the full 32-bit capture id.
  - HEPv2: header length byte 16 (IPv4), then tv_sec, tv_usec (u32) and the
    capture id (u16) little-endian, then two bytes of padding. HEPv1 has no
    time and no capture id.
  - UDP HEP leaves from the SIP socket (source port 5060). Over TCP one
    connection carries back-to-back HEP3 frames for the whole run.
  - Mirrored messages may arrive out of causal order (reference/HEP.md saw a
    relayed ACK before the 487 it acknowledges); order by capture time.
  - t_precheck_trans() is in tmx, not tm.
  - The readiness probe (Call-ID prefix "peer-probe-") is answered before any
    tracing and dropped in event_route[siptrace:msg], so it is never mirrored.
  - sip_trace(uri, correlation_id) puts the correlation id (HEPv3 chunk 0x11)
    only on the message it is called for, sent as received: headers removed
    later by remove_hf are still there, but mf_process_maxfwd_header has
    already decremented Max-Forwards in place. In transaction mode ("t") the
    other messages of the transaction are mirrored too, but without the id.
    KamailioConfig.CorrelationHeader therefore calls it in message mode on
    the initial request: that request is mirrored one more time, with the
    id, besides its trace_mode=1 copies.

# sipp pitfalls

  - sipp's built-in "uac" ignores Record-Route: its ACK and BYE reach the proxy
    without a Route header, the proxy rejects them and the UAS retransmits its
    200. The built-in scenarios here (testdata/*.xml, embedded) keep the route
    set (rrs, [routes], [next_url]).
  - The ACK of a non-2xx reply and a CANCEL need the INVITE's branch, so the
    scenarios write branches explicitly: z9hG4bK-[pid]-[call_number]-N.
  - The UAC scenarios retransmit an unanswered INVITE after 2 s, not sipp's
    usual 500 ms: a retransmitted INVITE that the proxy answers statelessly
    (404, 407) runs the script again and would send a second hlog() line.
  - <assignstr value="[last_Via:]"> does not expand keywords in 3.6; the
    ringing UAS keeps the INVITE's Via headers with <ereg search_in="hdr"
    occurrence="N">.
  - Values given with -key are inserted as they are, line breaks included,
    but an empty one leaves an empty line that ends the headers: InviteHeaders
    needs at least one line. -cid_str gives a run a fixed Call-ID
    (FixedCallID). <ereg search_in="var"> works on a variable set by
    <assignstr value="[call_id]">: uac_headers, uac_refer and uas_refer make
    their tags of the Call-ID's local part that way.
  - sipp logs "Overload warning: the minor watchdog timer" on a busy machine;
    it is harmless. -trace_err logs go to the run's temporary directory and
    are shown when a run fails.

# tshark and dumpcap pitfalls

  - A capture started through tshark takes 2 to 9 s to start on a loaded
    machine (it loads every dissector); dumpcap alone takes well under one.
    StartCapture therefore runs dumpcap, and tshark only reads the pcap.
  - dumpcap flushes the file about every half second. StartCapture and
    Capture.Stop widen the filter by a private UDP flow on 127.0.0.1 and send
    numbered probes until one is in the file: every earlier packet is in it
    too.
  - Without root (or capabilities on dumpcap, which install-test-deps.sh
    declines) dumpcap cannot open lo; StartCapture then skips outside CI.
  - TCP payloads are read per segment (tcp.desegment_tcp_streams off) and
    reassembled here by sequence number.

# Timing

Measured on two cores with a load average near 14: StartKamailio 0.2 to
0.4 s, StartCapture 0.7 to 1 s, RunCallMix 3 to 4 s, Capture.Stop under 1 s,
each tshark read of the pcap about 0.5 s. The package's own tests run six
proxies, two at a time, in about 20 s.
*/
package peer
