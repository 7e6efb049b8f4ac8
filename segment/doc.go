// Package segment stores records in hourly, zstd-compressed segment files and
// reads them back by block.
//
// It owns the on-disk format (specified in FORMAT.md), the writer that cuts,
// compresses, writes and fsyncs blocks, sealing, recovery of torn tails, block
// reads through an LRU cache, and whole-hour deletion. It imports no other traced
// package.
//
// # Invariants
//
//   - Every segment file is a valid zstd stream: record data is in independent
//     zstd frames, everything else in skippable frames. zstd -t checks a file and
//     zstdcat prints its records' plaintext.
//   - A record goes into the file of the UTC hour in which Append was called
//     (Options.Now), not the hour of its capture time; each block carries the
//     capture time range of its records.
//   - A sealed file (name.seg) is immutable while the directory is open. It is only
//     reopened for append ("unsealed") by the first Append of its hour after a
//     restart within that hour.
//   - Bytes that were written as complete, checked blocks are never rewritten:
//     recovery and write-error handling only cut bytes after the last good block.
//   - A BlockRef (hour, offset of the block's header frame) stays valid from the
//     moment the block is written until its hour is deleted, whether the file is
//     being written or sealed.
//
// # Files
//
// A directory holds one file per hour, named after Hour.String:
//
//	20261123T13Z.seg        sealed (footer present)
//	20261123T14Z.seg.part   being written, or left unsealed by a crash
//	*.tmp                   left by an interrupted step; removed by Open
//	*.broken                set aside by recovery; never read
//	LOCK                    flock(2)ed while a Dir is open
//
// # Writing
//
// Append copies a record into the block being filled, under a short lock. A block
// is cut when it reaches Options.BlockSize raw bytes (256 KiB), at every flush tick
// (Options.FlushInterval, 1 s), and when the hour changes. Cut blocks go through a
// queue of Options.QueueBlocks (4) to one writer goroutine, which compresses each
// block into one zstd frame with its content checksum, writes its header frame and
// frame with one write(2), puts the decoded block into the read cache, and signals
// Notify. Append waits only when the queue is full, so memory stays bounded when
// the disk falls behind. In the steady state Append does not allocate: block
// buffers are recycled; the writer allocates once per block (the cache's copy).
//
// At each flush tick the writer fsyncs the file. Flush does the same on demand and
// returns when every record appended before it is durable.
//
// On the first Append of a new hour, or at a flush tick once the hour is over, the
// previous hour's last block is written and its file sealed: footer appended,
// fsync, rename .seg.part → .seg, fsync of the directory. Close seals the active
// file: a cleanly stopped directory holds only sealed files.
//
// The hour only moves forward within a process: if the clock steps back, records
// keep going to the later hour.
//
// # Durability
//
// A kill -9 of the process loses the records still in memory: the block being
// filled (at most one FlushInterval of records, and less than BlockSize bytes) and
// the cut blocks still in the queue (none while the disk keeps up; at most
// QueueBlocks when it falls behind). Written blocks are in the page cache and
// survive. A power loss also loses what was written since the last fsync: at most
// one FlushInterval plus the duration of one fsync (plus the queue, as above).
// Stats.Stored counts only records whose fsync completed.
//
// # Write errors
//
// If a block write fails (ENOSPC, EIO), the file is truncated back to the end of
// the last good block, the block's records are counted in Stats.LostRecords and
// Stats.WriteErrors, the failure is logged once per burst of failures (and the
// burst's total when writes succeed again), and Append keeps accepting records:
// later blocks are written once space is back. A failed fsync counts the records
// written since the previous fsync as lost, since the kernel may have dropped
// their pages; they may still read back. Flush and Close return the first failure
// since the previous Flush. A seal that fails leaves the file unsealed; the next
// Open seals it.
//
// # Recovery
//
// Open removes *.tmp files, then checks each sealed file's header and footer tail
// (three small reads, whatever the file size). A sealed file whose footer does not
// check is renamed back to .seg.part. Each .seg.part is scanned block by block: the
// torn tail (a header or frame that overruns the file, a bad CRC, zeros, a last
// block that does not decode) is cut at the end of the last good block, with
// truncate and fsync, and reported as LostData{Path, Offset, Bytes} in the log and
// in Stats.Recovered. A damaged block followed by good blocks is kept and counted in
// Stats.Corruptions. The file is then sealed, whichever hour it belongs to; the
// first Append in its hour unseals it. Format damage never fails Open; I/O errors
// do.
//
// # Reading
//
// ReadBlock reads one block with two preads (header, then frame), checks the header
// CRC, the frame CRC and the zstd checksum, and decodes the records. Decoded blocks
// are shared through an LRU of Options.CacheBlocks (256) blocks; callers must not
// modify them. Damage in one block fails only reads of that block, with a
// *CorruptionError naming the file and offset, and is counted once in
// Stats.Corruptions. A block of a deleted hour, or past the end of its file, gives an
// error that errors.Is ErrNotFound.
//
// Blocks walks the block headers of an hour without decompressing: from the footer
// of a sealed file, from the header frames of the file being written (up to the last
// block completely written). The index follower calls Blocks from its watermark
// after each Notify, then ReadBlock, which hits the cache for a block just written.
//
// # Deletion
//
// DeleteHour renames the file to a .tmp name, removes it and fsyncs the directory;
// a crash in between leaves a .tmp that Open removes. The hour being written cannot
// be deleted (ErrActive). Reads already under way keep their file handle and finish.
//
// # Compression level
//
// The default level is zstd.SpeedFastest. On 700-byte SIP INVITEs
// (BenchmarkAppend, one core of the 2-core build machine, 256 KiB blocks) it
// appends about 470 000 records/s (300 MB/s) including compression, against
// 360 000 for SpeedDefault, and on these independent blocks it even compresses
// slightly better (5.9:1 against 5.7:1), so SpeedDefault buys nothing. The
// figures vary by 20-30 % from run to run.
//
// # Usage
//
//	d, err := segment.Open("/var/lib/traced/segments", segment.Options{Logger: log})
//	if err != nil { ... }
//	defer d.Close()
//	err = d.Append(segment.Record{Time: captureMicros, Data: encoded})
//
//	// index follower
//	for range d.Notify() {
//		err := d.Blocks(hour, watermark, func(bi segment.BlockInfo) error {
//			b, err := d.ReadBlock(bi.Ref)
//			...
//			watermark = bi.Next
//			return nil
//		})
//	}
package segment
