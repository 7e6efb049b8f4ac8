// Package loadbench measures the real traced binary under load, from outside,
// the way an operator would see it. scripts/bench.sh (make bench) runs it through
// its driver, internal/loadbench/cmd/loadbench, and puts its Markdown section
// into docs/BENCHMARKS.md. It also holds the load generator that cmd/hepload
// wraps.
//
// # The load generator (Send, Pool, Pacer)
//
// Send sends internal/sipgen traffic (calls of seven messages with SDP,
// registrations, OPTIONS pings; about 600 bytes of SIP, 690 bytes of HEPv3) at a
// fixed rate over UDP, in batches written with one sendmmsg(2) each
// (ipv4.PacketConn.WriteBatch on a connected socket), or over TCP, one buffered
// write per batch per connection. The packets are generated before the clock
// starts (a Pool of whole dialogs per connection) and replayed; every pass over
// the pool gives every dialog a new Call-ID and X-Session-Id, and every packet's
// HEP capture time is set to the moment it is sent, so what traced stores and
// indexes has the cardinality of real traffic. A token bucket (Pacer) releases a
// batch when a millisecond's worth of packets (at most the batch size) has
// accrued; a sender that was descheduled catches up at most Burst worth of
// packets, and the rest is counted as behind. TCP connections are half-closed at
// the end and the sender waits for traced to close them, which proves that
// traced read every byte.
//
// # A load run (RunLoad)
//
// Every run starts a fresh traced on a new data directory with HEP on a free
// loopback port, then runs the hepload binary for the duration and measures:
//
//   - sent (hepload) against received, accepted, rejected and stored (traced's
//     status). Stored counts records whose fsync completed. Lost = sent − stored;
//     for UDP it is explained by the receiving socket's drop counter
//     (/proc/net/udp, that socket only) and the namespace's RcvbufErrors and
//     InErrors (/proc/net/snmp, every socket: other programs' losses show there
//     too).
//   - A rate holds when stored = sent, hepload had no send errors, and hepload
//     achieved at least 98 % of the asked rate (so the rate was really offered).
//   - Drain: the time from hepload's last send to the first status in which
//     nothing is left in the socket, everything received is stored (fsynced) and
//     the index backlog is zero. It includes up to one flush interval (1 s),
//     since the last block is cut and fsynced only at the next tick.
//   - traced's CPU (utime+stime of /proc/PID/stat) while hepload sent, as % of
//     one core, and until drained, in seconds; RSS sampled every Sample
//     interval and the peak (VmHWM of /proc/PID/status) once drained.
//   - Bytes on disk per stored message: the data directory's segments and index
//     (apparent file sizes), once the index's size has not changed for three
//     seconds (scorch merges and then drops the files a merge replaced).
//
// The load generator shares the machine's cores with traced; on the loopback
// the kernel's receive path runs in the sender's system calls and counts in its
// CPU. MeasureSender measures hepload alone, pinned to one core.
//
// The long run (RunLong) is a load run of many minutes sampled every ten seconds:
// RSS is flat when the mean of the last third of the samples is within 10 % of
// the mean of the first third; traced's CPU over the first and last thirds says
// whether the cost per packet grows as the hour's index shard grows.
//
// # The large archive (BuildArchive, MeasureArchive)
//
// BuildArchive writes an archive without the network: sipgen packets, each
// wrapped as the UDP listener stores it (record.Append with a HEP header), are
// appended through segment.Open with an injected clock that walks evenly through
// the span (24 hours), so each record lands in the hour it would have arrived in
// and every hour is sealed as the daemon seals it; blocks are cut at their size
// (256 KiB), as under sustained traffic. Then index.CatchUp indexes it as the
// daemon's follower does. The archive is described in ARCHIVE.json in its data
// directory, with reservoir samples of its Call-IDs and From users, and is
// reused by a later run asking for the same size and seed. The archive and the
// traced binary must come from the same source tree: an index written by another
// version of package index may be rebuilt by traced at start.
//
// MeasureArchive starts traced on it several times (time from exec to the first
// answer of the control socket, and to a status without index backlog), then
// runs the sampled searches one at a time through the control socket API:
// Call-IDs with no time range (every hourly shard) and From users with the
// archive's time range, and reports p50, p90, p99 and the maximum.
package loadbench
