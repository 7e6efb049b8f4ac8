// Package stats keeps traffic statistics per segment hour: messages by method
// and status code, call attempts and their outcomes (ASR, NER), post-dial delay
// and setup time, registrations, top source addresses, User-Agents and failing
// destinations, and scanner alarms. The figures are counted once, from the
// records as they are written, never by scanning the archive when a page asks.
//
// It imports segment and ingest/record (and the leaves below them) only.
//
// # Follows the segments
//
// Like the index, a follower (Follow, CatchUp) reads the blocks of the segment
// directory after they are written (a read-cache hit for a block just written),
// decodes each record with record.Decode and counts the SIP ones (HEP payload
// type 1 and plain SIP) into the set of the segment hour the record is stored
// in: the hour it arrived, so an hour's statistics age out exactly with its
// segment. Each hour's set also keeps a per-minute series by capture time
// (clamped into the hour) for the charts.
//
// # Files
//
// An hour's set is written to DIR/20261123T14Z.stats (one checksummed header
// line, then JSON; see file.go) every Options.PersistEvery while it is being
// counted, when its sealed segment has been counted to its end, and at Close.
// Writes are atomic (temporary file, fsync, rename, fsync of the directory).
// The file holds the set's mark: the offset, end and CRC of the last block
// counted. After a restart counting resumes after that block, so nothing is
// counted twice; a file that is missing, does not decode, or whose mark does
// not match its segment (the block is gone or has another CRC) is discarded and
// the hour counted again from its first block, in the background: startup does
// not wait. Files of hours without a segment are removed by the first pass;
// retention calls DropHour before it deletes a segment.
//
// # Counting rules
//
// Messages. A message is identified by Call-ID, CSeq number and method, request
// method or status code, and To tag (not the Request-URI or Via, which proxies
// rewrite). Copies of one message captured within Limits.DedupWindow (2 s) —
// the same message seen by several capture points, or by one proxy as received
// and as sent, and quick retransmissions — count once in Messages; the others
// count in Copies. Requests count by method (a fixed set plus OTHER); responses
// by status code and by CSeq method and class.
//
// Calls. A call attempt is an INVITE without a To tag whose Call-ID is not
// already an attempt in progress: retransmissions, copies and the INVITE that
// answers a 401/407 challenge belong to the same attempt. Its outcome is the
// first final response to an INVITE of its Call-ID other than 401/407:
// answered for 2xx, failed otherwise. A 401/407 only marks the attempt as
// challenged; an attempt with no final response for Limits.CallTimeout (5 min
// of capture time) is closed then, as failed with its challenge code when it
// was challenged, else as unresolved. Outcomes, PDD and setup time are counted
// in the hour (and minute) in which the response is stored, not the INVITE's:
// each hour's file then depends only on its own segment up to its mark, which
// is what makes resuming exact. A call whose INVITE and answer straddle an hour
// boundary has its attempt in one hour and its outcome in the next.
//
// The calls in progress live in memory (bounded by Limits.MaxCalls). After a
// restart they are lost: an answer to an INVITE counted before the restart is
// not counted, and such attempts never get an outcome (nor are they counted as
// unresolved).
//
//   - ASR (answer seizure ratio) = answered / attempts.
//   - NER (network effectiveness ratio, ITU-T E.425, GSMA IR.42): the share of
//     attempts that reached the called user, whether or not it answered:
//     (answered + user busy + ring no answer + terminal rejection) / attempts,
//     mapped to SIP as 2xx; 486 Busy Here, 600 Busy Everywhere; 480 Temporarily
//     Unavailable, 487 Request Terminated (the caller gave up while ringing);
//     603 Decline, 607 Unwanted. Every other final code (404, 408, 5xx, a 401/407
//     never answered, ...) and unresolved attempts count against NER.
//   - PDD (post-dial delay, RFC 6076 session request delay) = from the INVITE
//     that got the answer (after a challenge: the retried INVITE) to the first
//     180/183 (or to the 2xx when no ringing came first).
//   - Setup time = from that INVITE to the 2xx.
//
// Both delays go into fixed-bucket histograms (Bounds) that merge across hours;
// percentiles are interpolated inside a bucket.
//
// Registrations. Final responses to REGISTER (by CSeq method), once per
// message: 2xx is a successful registration; a 401/407 is a challenge, counted
// apart, not a failure; a 401/407 to a REGISTER of the same Call-ID with a new
// CSeq within 32 s of a challenge (the credentials were refused) and any other
// final code ≥ 300 are failed registrations. So REGISTER, 401, REGISTER, 200
// is one challenge and one success.
//
// Top lists. Requests by source address and by User-Agent, failed attempts by
// To user, each in a space-saving table (TopN) of TopCap keys per hour: a flood
// of random addresses or agents cannot grow memory, and every key above 1/TopCap
// of the hour's total is kept with a count at most its Err too high.
//
// Scanner alarms. A ua alarm is raised, once per source address and hour, by a
// request whose User-Agent contains a known scanner's (ScannerUA: friendly-
// scanner, sipvicious, sipcli, sip-scan, VaxSIPUserAgent, ...). An auth_burst
// alarm is raised, once per address and hour, when Limits.BurstThreshold (20)
// 401, 403 or 404 replies are sent to one address within one capture minute;
// every capture point's copy counts toward the address it was sent to, once.
// Each hour lists its first 200 alarms; all are counted.
//
// # Counters for /metrics
//
// Cumulative is the counts of every hour ever counted, the hours retention
// deleted included (cumulative.go): counters that never go down and survive
// restarts. RTCP gives the RTCP distributions of live traffic only (blocks
// written after the first pass, not the catch-up of the archive; rtcp.go).
// LastHour gives the attempts, answered and NER-effective calls of the last 60
// minutes from the per-minute series.
package stats
