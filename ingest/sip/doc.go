/*
Package sip owns the scan of one SIP message: the start line and the headers a trace
server indexes and shows (Call-ID, From/To users and tags, CSeq, the correlation
headers X-CID, X-Session-Id and Session-ID, the Call-ID inside Replaces and inside
an escaped Refer-To, and a few more), plus the body boundary.

It is not a SIP parser that validates a message: it is a scanner that runs on every
stored message, real traffic and garbage alike, and takes what it can.

# Invariants

  - Scan, Header and UserOf never panic, whatever the input.
  - Every slice they return aliases the input, with one exception:
    Headers.ReferToReplaces, which needs URL-unescaping, points into a small buffer
    inside the Headers value (and, only for a Call-ID longer than that buffer, into
    a fresh allocation). It stays valid until the next Scan into the same Headers;
    a copy of a Headers value still points at the original's buffer.
  - Scan allocates nothing on the common path. The input is never modified.
  - On garbage the result is partial, never invented: a field is set only from a
    header that is present.

# Rules

Header names are case-insensitive, and the compact forms of RFC 3261, 3515, 3841,
3892, 4028, 4474 and 6665 are understood (i, f, t, m, c, l, r, v, k, s, e, o, u, j,
x, y, a, b, d, n). When a header occurs more than once, the first occurrence wins,
so Header(msg, "Call-ID") and Headers.CallID always agree. X-Session-Id takes
precedence over Session-ID (RFC 7989), whose parameters are cut off.

A line that starts with SP or HT continues the previous header (RFC 3261 LWS). A
folded value is returned as it appears in the message, with the line breaks inside
it: the scan does not copy to unfold.

From, To, Contact and P-Asserted-Identity are read as name-addr (an optional quoted
or token display name, then <URI>, then header parameters) or as addr-spec, where the
URI ends at the first ';' and the parameters after it belong to the header. The tag
is the first ;tag= parameter in any letter case among the header parameters; a tag
inside the URI is not the dialog tag. Only the first entry of a list is read.

The user part of a sip: or sips: URI is what comes before '@', cut at a password
(':') or at user parameters (';'): sip:+1555;npdi@h gives +1555. A tel: URI gives
its number without parameters. Other schemes, and URIs without a user, give nothing.

Lines may end in CRLF or in LF alone, and leading CRLF keep-alives are skipped. The
header section ends at the first empty line; Body is everything after it.
Content-Length is reported as sent (-1 when absent or not a number) and is not used
to cut the body, because senders get it wrong and a trace server shows what was sent.

Complete reports a message that has a valid start line, a Call-ID and a terminated
header section.

# Errors

Scan returns an error only for input that is not a SIP message: empty input or a
bare keep-alive, binary data, an HTTP message, or a first line that is neither a
request line nor a status line. Each such error matches ErrNotSIP with errors.Is,
and allocates nothing. Even then Scan fills what it can: when the first line looks
like a header (a message captured from its middle), the header scan starts there.
A SIP message that is merely incomplete (no Call-ID, no blank line) is not an error;
Complete is false.
*/
package sip
