// Package index is traced's side index: a bleve index per segment hour whose
// documents are segment blocks, and the follower that keeps it caught up with the
// segments.
//
// The index is derived data. Every shard can be rebuilt from its hour's segment
// file, and the package rebuilds a shard by itself whenever it finds it missing,
// damaged or out of step with its segment. It imports no traced package but
// segment.
//
// # Documents are blocks
//
// A document is one segment block (about 256 KiB of records, some 400 SIP
// messages, or what arrived in one flush interval). It holds the union of the
// terms of every record in the block, so a search returns candidate blocks, and
// the caller (package search) reads those blocks and keeps the records that
// really match. Per-message documents would need bleve to take 40 000 documents
// a second at full load, several times what it does on this class of machine;
// per-block documents need about 100. What a block document costs is its
// distinct terms (Call-IDs, users), not the number of documents, and those are
// the same whatever the grouping, so grouping several blocks into one document
// would only make the candidate sets coarser.
//
// Measured on the 2-core build machine (BenchmarkAdd, blocks of 400 records
// from 60 calls): 160 000 to 210 000 records indexed per CPU second, background
// merges included, so 40 000 packets a second cost about a quarter of a core;
// about 17 bytes of index per record once merges settle (up to three times that
// for a while after a burst, until scorch drops the files its last merge
// replaced). Documents of 100 records cost 60 % more CPU; documents of four
// blocks cost the same CPU as one block and save 6 % of disk. A Call-ID
// lookup over 24 hourly shards takes about 50 µs.
//
// The document id is the block's file offset in decimal. Indexing a block again
// replaces its document, which makes Add idempotent.
//
// # Shards are hours
//
// Each segment hour has its own bleve index (a shard) in DIR/20261123T14Z.bleve,
// named by segment.Hour.String. Dropping an hour drops its shard, so no result
// can point at data that retention deleted. Search runs over every shard in hour
// order and returns every matching block, sorted by hour and offset, without a
// cap. Each shard also knows the capture time range of its blocks, so a search
// bounded in time skips the shards that cannot match without opening a reader.
//
// # Fields
//
// Every field is a keyword: exact terms, indexed only (not stored, no term
// vectors, no doc values, not in _all). Documents are built directly rather than
// through bleve's mapping, which avoids reflection and per-value analysis; the
// mapping stored with each shard describes the same fields. Fields:
//
//	cid     Call-IDs and HEP correlation ids (chunk 0x11), exact
//	sid     X-Session-Id, exact
//	xcid    X-CID, exact
//	ref     the Call-ID of a Replaces header and of the Replaces in a Refer-To, exact
//	        (Query.Refers asks ref and xcid together)
//	from, to, ruri, pai   user parts, lower-cased
//	src, dst              IP addresses; IPv6 in canonical form, IPv4-mapped as IPv4
//	method  upper-cased
//	status  exact
//	ua      user agent, lower-cased, the whole value
//	node    capture node names and capture ids, exact
//	type    HEP payload type, exact
//	tmin, tmax   the block's capture time range, Unix µs, numeric
//
// A query value goes through the same normalisation as an indexed value (trim,
// case, address form, a cut at 256 bytes), so normalising can only widen the
// candidate set that the exact filter then narrows. A block matches a time range
// [Since, Until] when its own range meets it: tmax ≥ Since and tmin ≤ Until.
//
// # The mark
//
// Every batch written to a shard carries, as a bleve internal value, the shard's
// mark (whose version also versions the fields, so a shard written before a field
// existed is rebuilt rather than silently missing its terms): the offset, end and CRC of the last block indexed, the number of blocks
// and records indexed in file order up to it, and the capture time range of the
// shard. Because the mark and the documents travel in one batch, and scorch
// persists batches in order, whatever a crash leaves of a shard is consistent:
// its documents are exactly the blocks up to its mark. Batches therefore do not
// wait for the disk (scorch's unsafe_batch); Close waits for the last batch to be
// persisted.
//
// # The follower
//
// CatchUp makes one pass over a Source (the segment directory). Hours without a
// segment lose their shard. For every other hour it checks, once per process and
// whenever the segment ends before the mark, that the block at the mark's offset
// still exists with the same CRC. If not, the segment was rewritten under the
// index (a torn tail cut at recovery, then new blocks), the shard is stale: it is
// removed and the hour indexed again from its first block. Then every block after
// the mark is read, its records' terms extracted (Extract, provided by the caller)
// and indexed in batches of at most Options.BatchBlocks blocks and
// Options.BatchRecords records. Hours are done newest first, and the newest hour
// is topped up between the batches of older ones, so a rebuild of old hours does
// not leave live traffic unsearchable.
//
// Follow repeats CatchUp whenever the Source notifies new blocks (at most once
// per Options.FollowDelay, which lets several blocks share a batch) and every
// Options.FollowInterval as a safety net. Backlog reports what is written but not
// yet indexed.
//
// Failures are handled where they are understood:
//   - an hour deleted while it is being indexed (its blocks vanish between
//     listing and reading) is skipped and its shard removed;
//   - a block the segment reports as damaged (*segment.CorruptionError) is
//     indexed without terms, so the follower moves past it; only a time-only
//     query returns it, and reading it then reports the damage;
//   - any other read error ends the hour's pass after indexing the blocks before
//     it; the next pass retries from the mark;
//   - a shard that does not open, or whose mark or document count does not
//     check, is removed at Open; one whose files turn out unreadable during a
//     search is removed then, and that search fails. The follower rebuilds both.
//
// DropHour is for retention: it removes the hour's shard and ignores the hour from
// then on, so that a pass that listed the hour before its segment was deleted
// cannot bring the shard back.
//
// # Concurrency
//
// All methods are safe for concurrent use. Writes (batches, shard creation and
// removal) are serialised one batch at a time; searches run concurrently with
// them and with each other. Removing a shard waits for the searches using it.
package index
