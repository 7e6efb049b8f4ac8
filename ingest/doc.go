// Package ingest owns traced's listeners: HEP over UDP and TCP on every configured
// address, and plain SIP over UDP (as Kamailio's siptrace duplicate_uri sends it).
// It validates each packet, checks auth keys, counts every rejection by reason,
// and appends what it accepts to the segment store.
//
// Invariants:
//   - A bad packet, frame or connection never costs a neighbour: a datagram is
//     judged alone, and a TCP stream with garbage in it is resynchronised on the
//     next "HEP3"/"EEP3" magic instead of being dropped.
//   - Every packet read is either appended to the store or counted under exactly
//     one rejection reason (see Reasons).
//   - The per-packet path does not allocate in the steady state beyond the
//     sender's address of a batched UDP read.
//   - Listeners never wait on the index: they only append to the store.
package ingest
