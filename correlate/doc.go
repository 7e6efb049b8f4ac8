/*
Package correlate owns the assembly of a call: given one Call-ID, every leg of the
call, each with its Call-ID and the rule that joined it, and all their messages in
capture time order, with copies of one message from several capture points shown
once. It also owns the digest the call view shows (Summarize): final status,
post-dial delay, setup time, duration, who hung up, codecs.

It needs no configuration: the rules below work out of the box, over any number of
legs, by transitive closure. Options bound it (a time window, a leg cap, a record
cap) and add optional correlating headers.

# Rules

A leg is a Call-ID. The asked Call-ID is the first leg (RuleSeed). Another Call-ID
joins when one of its SIP messages, captured within the window, is related to a leg
already found by one of these rules; values are compared exactly, byte for byte:

  - RuleXCID: its X-CID equals a leg's Call-ID, or a leg's X-CID equals its
    Call-ID.
  - RuleReplaces: its Replaces header (the Call-ID before the first ';') equals a
    leg's Call-ID, or the reverse.
  - RuleReferTo: the Replaces inside its Refer-To URI (URL-unescaped) equals a
    leg's Call-ID, or the reverse. With RuleReplaces this joins an attended
    transfer: the REFER's call, the replaced call, the replacing call.
  - RuleSessionID: it carries the Session-ID value of a leg: X-Session-Id as a
    whole, else the Session-ID header without its parameters (RFC 7989). A null
    value (only '0's and '-': the null UUID, with or without dashes) joins nothing.
  - RuleCorrelation: the HEP correlation id (chunk 0x11) of its SIP packets equals
    a leg's Call-ID, or a leg's SIP packets carry its Call-ID as correlation id, or
    both carry the same correlation id (OpenSIPS trace(), Kamailio sip_trace).
  - RuleB2B: its Call-ID is a leg's plus one of Options.B2BSuffixes (HOMER's
    "_b2b-1" by default), or a leg's Call-ID is its Call-ID plus "_b2b-" and
    digits.
  - RuleHeader: it carries, in a header of Options.Headers, the same value as a
    leg (HOMER's AlegIDs, e.g. the icid-value of P-Charging-Vector).

A packet that is not SIP (RTCP, logs, ...) is never a leg: it belongs to the leg
whose Call-ID equals its correlation id, or else, when captured within the window,
to the first leg whose SIP packets carry that correlation id.

Each Leg records its Rule, the leg it was found from (Via) and the Value that
joined them (the Call-ID named, the shared Session-ID, correlation id or header
value). When several rules join a leg, the one recorded is the first found: legs
are found in rounds; within a round, candidates are taken by the index of the leg
they were found from, then by rule in the order of the constants, then by capture
time and Call-ID. So the result is the same for the same archive.

# The closure

Every leg raises keys, questions to the archive: its own Call-ID (its messages,
and the packets correlated to it), the reverse of the naming rules (who names it),
the B2BUA Call-IDs derived from it, and the values its messages carry (the
Call-IDs they name, their correlation ids, Session-IDs and configured headers).
A round asks every new key at once: the index gives each its candidate blocks,
the union of those blocks is read once, and each record is decoded once and
matched exactly. Records that match are held; those of a leg's Call-ID are its
messages, the others are candidates.

A key by Call-ID (a leg's own, or one a leg names) covers the whole archive, as a
search by Call-ID does (senders' clocks are often wrong): a leg has every message
of its Call-ID, even those long after the call set up. The other keys, and joins
themselves, are bounded by the window: from Options.Before the first SIP message of
the legs found so far to Options.After the last. The window only grows as legs
join; a key already asked is then asked again over the part of the window it has
not covered. The closure ends when a round finds nothing new.

The legs are capped by Options.MaxLegs: a runaway closure over a value many calls
share (a fixed X-Session-Id, say) stops there, and Call.Truncated says so, with
some of the Call-IDs left out in Call.Unfollowed. The records held are capped by
Options.MaxMessages, also reported in Call.Truncated.

# Index support

The reverse of the naming rules asks "which messages name this Call-ID in X-CID,
Replaces or Refer-To": index.Query.Refers, answered by the index's ref field (the
Replaces and Refer-To Call-IDs, filled by record.Extract) together with its xcid
field, and checked exactly by search.Match. The other keys use the index's Call-ID
(with correlation ids) and Session-ID fields. Configured headers have no index
field: their keys read every block of the window. Before a record is decoded, a
key's value is looked for in its stored bytes, where it must appear as it is
unless the payload is compressed or the Refer-To is URL-escaped (both let through),
so this never drops a record the exact check would keep.

# Copies

The same SIP message captured by several nodes (an SBC and a proxy both tracing,
a capture agent next to a proxy's own tracing) is one Message listing every
capture in Copies. Two SIP messages are copies when they have the same Call-ID,
CSeq number and method, request method or status code, and branch of the top Via,
the same bytes apart from the routing headers (Via, Route, Record-Route, Path,
Max-Forwards) and line ends in the header section, and the later was captured at
most Options.DupWindow (50 ms) after the first copy. Addresses are not compared
(NAT changes them between capture points). A forwarded message is not a copy: the
proxy's Via gives it another top branch. A retransmission is not a copy: it comes
500 ms or more later. Options.AllCopies keeps every copy as a Message.

# Invariants

  - Every Message belongs to a leg, and every SIP Message's Call-ID is its leg's.
  - No Call-ID joins without a message captured within the window that relates it
    to a leg by a rule, and every such message that the archive holds (within the
    caps, and in readable blocks) is found: the index is asked for a superset and
    each record is checked exactly.
  - Messages are in capture time order, ties in storage order.
  - A block of a deleted hour is skipped; a block that cannot be read is counted
    in Call.Unreadable, and Call.Complete is then false.
  - A Message's Data is the call's own copy of the stored record: a call does not
    pin the block cache.
  - An Engine holds no state between calls and is safe for concurrent use.
*/
package correlate
