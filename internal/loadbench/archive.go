package loadbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"traced/index"
	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/internal/sipgen"
	"traced/segment"
)

// ArchiveConfig describes an archive to build: Messages sipgen packets spread
// evenly over Span, ending at End, written as traced writes them.
type ArchiveConfig struct {
	Dir      string        // the traced data directory to create
	Messages int           // packets to store
	Span     time.Duration // capture and arrival times cover [End-Span, End); 0: 24 h
	End      time.Time     // zero: the start of the current hour
	Seed     uint64
	Samples  int // Call-IDs and From users kept for queries; 0: 300
	Logf     func(format string, args ...any)
}

// Archive is a built archive, described in ARCHIVE.json in its data directory.
type Archive struct {
	Messages  int       `json:"messages"`
	Seed      uint64    `json:"seed"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Dialogs   int       `json:"dialogs"`
	CallIDs   []string  `json:"call_ids"`   // sample of the Call-IDs stored
	FromUsers []string  `json:"from_users"` // sample of the From users of calls and registrations
	// ThreeLeg is the first leg's Call-ID of a three-leg call (B joined by X-CID,
	// C by a shared X-Session-Id) stored in the middle of the archive, for the
	// call view and pcap export figures; Extra counts its packets.
	ThreeLeg string `json:"three_leg"`
	Extra    int    `json:"extra"`

	GenerateSeconds float64 `json:"generate_s"` // sipgen and segment writes, sealing included
	IndexSeconds    float64 `json:"index_s"`    // index.CatchUp over the whole archive, closing included
	SegmentBytes    int64   `json:"segment_bytes"`
	IndexBytes      int64   `json:"index_bytes"`
	Hours           int     `json:"hours"`
	Blocks          int     `json:"blocks"`
}

// archiveFile is the description of a built archive in its data directory.
const archiveFile = "ARCHIVE.json"

// LoadArchive returns the archive described in dir, if one was built there with
// the same messages, seed and span.
func LoadArchive(cfg ArchiveConfig) (*Archive, bool) {
	b, err := os.ReadFile(filepath.Join(cfg.Dir, archiveFile))
	if err != nil {
		return nil, false
	}
	var a Archive
	if json.Unmarshal(b, &a) != nil || a.Messages != cfg.Messages || a.Seed != cfg.Seed ||
		a.End.Sub(a.Start) != spanOf(cfg) || len(a.CallIDs) == 0 {
		return nil, false
	}
	return &a, true
}

func spanOf(cfg ArchiveConfig) time.Duration {
	if cfg.Span <= 0 {
		return 24 * time.Hour
	}
	return cfg.Span
}

// BuildArchive writes the archive the fast way: sipgen packets, wrapped as
// stored records the way the UDP listener does it, appended to segment.Open with
// a clock that walks through the span (so each record lands in the hour it
// would have arrived in, and every hour is sealed), then indexed with
// index.CatchUp as the daemon's follower would.
func BuildArchive(ctx context.Context, cfg ArchiveConfig) (*Archive, error) {
	if cfg.Messages < 1 {
		return nil, errors.New("archive: no messages")
	}
	span := spanOf(cfg)
	end := cfg.End
	if end.IsZero() {
		end = time.Now().UTC().Truncate(time.Hour)
	}
	if cfg.Samples <= 0 {
		cfg.Samples = 300
	}
	start := end.Add(-span)
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, err
	}
	a := &Archive{Messages: cfg.Messages, Seed: cfg.Seed, Start: start, End: end}

	t0 := time.Now()
	var clock atomic.Int64
	clock.Store(start.UnixMicro())
	seg, err := segment.Open(segmentsDir(cfg.Dir), segment.Options{
		FlushInterval: time.Hour, // blocks are cut by size; the wall clock plays no part
		Now:           func() time.Time { return time.UnixMicro(clock.Load()) },
	})
	if err != nil {
		return nil, err
	}
	defer seg.Close()

	g := sipgen.New(cfg.Seed, start)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	agent := netip.MustParseAddrPort("127.0.0.1:40000")
	var buf []byte
	var m record.Message
	fromSeen := 0
	step := float64(span.Microseconds()) / float64(cfg.Messages)
	for i := range cfg.Messages {
		if i%(1<<20) == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if i > 0 && cfg.Logf != nil {
				cfg.Logf("  archive: %d of %d messages written (%.0f s)", i, cfg.Messages, time.Since(t0).Seconds())
			}
		}
		d := g.Dialogs
		pkt := g.Next()
		first := g.Dialogs != d
		ts := start.UnixMicro() + int64(float64(i)*step)
		st, err := FindStamp(pkt)
		if err != nil {
			return nil, err
		}
		st.Set(pkt, ts)
		clock.Store(ts)
		h := record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: ts, Agent: agent}
		buf = record.Append(buf[:0], &h, pkt)
		r := segment.Record{Time: ts, Data: buf}
		if err := seg.Append(r); err != nil {
			return nil, err
		}
		if i == cfg.Messages/2 {
			id, n, err := appendThreeLegCall(seg, ts, agent, cfg.Seed)
			if err != nil {
				return nil, err
			}
			a.ThreeLeg, a.Extra = id, n
		}
		if !first {
			continue
		}
		// Reservoir samples of the dialogs' Call-IDs, and of the From users of
		// calls and registrations (OPTIONS pings all come from "monitor").
		if k := sampleSlot(rng, g.Dialogs, cfg.Samples); k >= 0 {
			if record.Decode(r, &m) == nil && m.IsSIP {
				put(&a.CallIDs, k, string(m.SIP.CallID))
			}
		}
		if record.Decode(r, &m) == nil && m.IsSIP && string(m.SIP.FromUser) != "monitor" {
			fromSeen++
			if k := sampleSlot(rng, fromSeen, cfg.Samples); k >= 0 {
				put(&a.FromUsers, k, string(m.SIP.FromUser))
			}
		}
	}
	if err := seg.Close(); err != nil {
		return nil, err
	}
	a.Dialogs = g.Dialogs
	a.GenerateSeconds = time.Since(t0).Seconds()
	if cfg.Logf != nil {
		cfg.Logf("  archive: %d messages in %d dialogs written in %.0f s; indexing", cfg.Messages, a.Dialogs, a.GenerateSeconds)
	}

	// Index it as the follower does, from a fresh open of the segments.
	t1 := time.Now()
	seg, err = segment.Open(segmentsDir(cfg.Dir), segment.Options{})
	if err != nil {
		return nil, err
	}
	defer seg.Close()
	idx, err := index.Open(indexDir(cfg.Dir), index.Options{})
	if err != nil {
		return nil, err
	}
	if err := idx.CatchUp(ctx, seg, record.Extract); err != nil {
		idx.Close()
		return nil, err
	}
	if err := idx.Close(); err != nil {
		return nil, err
	}
	a.IndexSeconds = time.Since(t1).Seconds()
	for _, h := range seg.Hours() {
		a.Hours++
		a.Blocks += h.Blocks
	}
	if err := seg.Close(); err != nil {
		return nil, err
	}
	a.SegmentBytes, a.IndexBytes = DirBytes(segmentsDir(cfg.Dir)), DirBytes(indexDir(cfg.Dir))
	b, err := json.MarshalIndent(a, "", " ")
	if err != nil {
		return nil, err
	}
	return a, os.WriteFile(filepath.Join(cfg.Dir, archiveFile), b, 0o644)
}

// sampleSlot is reservoir sampling (algorithm R): for the n-th item seen (from
// 1), the slot of a reservoir of k it goes to, or -1.
func sampleSlot(rng *rand.Rand, n, k int) int {
	if n <= k {
		return n - 1
	}
	if j := rng.IntN(n); j < k {
		return j
	}
	return -1
}

func put(s *[]string, k int, v string) {
	if k == len(*s) {
		*s = append(*s, v)
	} else if k < len(*s) {
		(*s)[k] = v
	}
}

// ArchiveResult is what traced does with a built archive.
type ArchiveResult struct {
	Archive *Archive `json:"archive"`
	Reused  bool     `json:"reused"` // the archive came from an earlier build

	Ready      []float64 `json:"ready_s"`        // exec to the control socket's first answer, per start
	Cold       bool      `json:"cold"`           // the first start found the archive's files out of the page cache
	Searchable float64   `json:"searchable_s"`   // exec to a status with no index backlog, first start
	FirstQuery float64   `json:"first_query_s"`  // the first Call-ID search after the first start
	Records    int64     `json:"records"`        // what status reports
	Backlog    int       `json:"backlog_blocks"` // index backlog at the first status

	CallID   Latency `json:"call_id"`
	FromUser Latency `json:"from_user"`
	CallView Latency `json:"call_view"` // /api/v1/calls/{id} of the three-leg call; Hits: legs found
	Pcap     Latency `json:"pcap"`      // its pcap export; Blocks: bytes of pcap
	PeakRSS  int64   `json:"peak_rss"`
	Anon     int64   `json:"anon"` // RssAnon after the searches
	File     int64   `json:"file"` // RssFile after the searches: mapped index files

	BytesPerMsg float64        `json:"bytes_per_msg"`
	SegPerMsg   float64        `json:"segment_bytes_per_msg"`
	IndexPerMsg float64        `json:"index_bytes_per_msg"`
	WarnMsgs    map[string]int `json:"log_messages"` // traced's WARN and ERROR messages over every start
	Errors      []string       `json:"errors,omitempty"`
}

// Latency summarises the searches of one kind.
type Latency struct {
	Queries int       `json:"queries"`
	P50     float64   `json:"p50_ms"`
	P90     float64   `json:"p90_ms"`
	P99     float64   `json:"p99_ms"`
	Max     float64   `json:"max_ms"`
	Hits    float64   `json:"mean_hits"`
	Blocks  float64   `json:"mean_blocks"`
	Empty   int       `json:"empty"` // searches that found nothing (each query is for a value that was stored)
	Failed  int       `json:"failed"`
	MS      []float64 `json:"ms"` // every latency, in the order the searches ran
}

// MeasureArchive starts traced on the archive `starts` times and measures the
// time to ready each time, then, on the last start, the latency of searches for
// the archive's sampled Call-IDs (over the whole archive) and From users (with
// the archive's time range).
func MeasureArchive(traced string, dir string, a *Archive, starts int, logs string, logf func(string, ...any)) (*ArchiveResult, error) {
	res := &ArchiveResult{Archive: a}
	n := float64(a.Messages)
	res.SegPerMsg, res.IndexPerMsg = float64(a.SegmentBytes)/n, float64(a.IndexBytes)/n
	res.BytesPerMsg = res.SegPerMsg + res.IndexPerMsg
	// Retention must not delete an archive built (or reused) days ago.
	extra := []string{"--retention-days", "3650"}
	_ = os.Remove(strings.TrimRight(dir, "/") + ".log") // this measurement's log only
	// The first start reads the archive from the disk, as after a reboot; the
	// others find it in the page cache.
	if _, err := EvictCache(dir); err != nil {
		res.Errors = append(res.Errors, "evict the archive from the page cache: "+err.Error())
	} else {
		res.Cold = true
	}
	var d *Daemon
	for i := range max(starts, 1) {
		var err error
		if d, err = StartDaemon(traced, dir, extra...); err != nil {
			return nil, err
		}
		res.Ready = append(res.Ready, d.Ready.Seconds())
		if i == 0 {
			for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if s, err := d.Status(); err == nil && s.IndexBacklog.Blocks == 0 && s.IndexBacklog.Records == 0 {
					res.Searchable = d.Ready.Seconds() + time.Since(d.readyAt).Seconds()
					break
				}
			}
			t := time.Now()
			if _, err := d.Search(url.Values{"call_id": {a.CallIDs[0]}}); err != nil {
				res.Errors = append(res.Errors, "first search: "+err.Error())
			}
			res.FirstQuery = time.Since(t).Seconds()
			if s, err := d.Status(); err == nil {
				res.Records, res.Backlog = s.Records, s.IndexBacklog.Blocks
			}
			if res.Searchable == 0 || res.Searchable > res.Ready[0]+1 || res.Records != int64(a.Messages+a.Extra) {
				res.Errors = append(res.Errors, fmt.Sprintf("traced found %d records and took %.1f s to have no index backlog: "+
					"was the archive written by another version of traced? Build it again (remove %s)", res.Records, res.Searchable, dir))
			}
		}
		if i < starts-1 {
			if err := d.Stop(); err != nil {
				return nil, err
			}
		}
	}
	defer d.Kill()
	if logf != nil {
		logf("  archive: ready in %v s; searching", res.Ready)
	}
	res.CallID = searchLatency(d, a.CallIDs, func(v string) url.Values { return url.Values{"call_id": {v}} })
	since, until := a.Start.Format(time.RFC3339), a.End.Format(time.RFC3339)
	res.FromUser = searchLatency(d, a.FromUsers, func(v string) url.Values {
		return url.Values{"from_user": {v}, "since": {since}, "until": {until}}
	})
	if a.ThreeLeg != "" {
		res.CallView, res.Pcap = callLatency(d, a.ThreeLeg, 100)
	}
	if m, err := ProcMem(d.PID()); err == nil {
		res.PeakRSS, res.Anon, res.File = m.HWM, m.Anon, m.File
	}
	if err := d.Stop(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	res.WarnMsgs = d.Warnings()
	if logs != "" && len(res.Errors) > 0 {
		if p, err := d.SaveLog(logs, "traced-archive.log"); err == nil {
			res.Errors = append(res.Errors, "traced's log is in "+p)
		}
	}
	return res, nil
}

func searchLatency(d *Daemon, values []string, query func(string) url.Values) Latency {
	var l Latency
	var ms []float64
	var hits, blocks int
	for _, v := range values {
		t := time.Now()
		r, err := d.Search(query(v))
		el := time.Since(t)
		if err != nil {
			l.Failed++
			continue
		}
		ms = append(ms, float64(el.Microseconds())/1000)
		hits += r.Total
		blocks += r.Blocks
		if r.Total == 0 {
			l.Empty++
		}
	}
	l.Queries = len(ms)
	if l.Queries == 0 {
		return l
	}
	l.MS = slices.Clone(ms)
	slices.Sort(ms)
	l.P50, l.P90, l.P99, l.Max = Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99), ms[len(ms)-1]
	l.Hits, l.Blocks = float64(hits)/float64(l.Queries), float64(blocks)/float64(l.Queries)
	return l
}

// Percentile is the p-th percentile of sorted (nearest rank).
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

func (l Latency) String() string {
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d (%.1f hits, %.1f blocks each)",
		l.P50, l.P99, l.Max, l.Queries, l.Hits, l.Blocks)
}

// callLatency fetches the three-leg call n times as the call view does, then
// exports it as pcap n times, over the control socket.
func callLatency(d *Daemon, callID string, n int) (view, pcap Latency) {
	measure := func(f func() (float64, bool)) Latency {
		var l Latency
		var ms []float64
		var sum float64
		for range n {
			t := time.Now()
			v, ok := f()
			el := time.Since(t)
			if !ok {
				l.Failed++
				continue
			}
			ms = append(ms, float64(el.Microseconds())/1000)
			sum += v
		}
		l.Queries = len(ms)
		if l.Queries == 0 {
			return l
		}
		l.MS = slices.Clone(ms)
		slices.Sort(ms)
		l.P50, l.P90, l.P99, l.Max = Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99), ms[len(ms)-1]
		l.Hits = sum / float64(l.Queries)
		return l
	}
	view = measure(func() (float64, bool) {
		c, err := d.Call(callID)
		return float64(len(c.Legs)), err == nil && len(c.Legs) == 3
	})
	pcap = measure(func() (float64, bool) {
		n, err := d.Pcap(callID)
		return float64(n), err == nil && n > 24
	})
	return view, pcap
}

// appendThreeLegCall stores a three-leg call at ts: leg A, leg B whose INVITE
// names A in X-CID, and leg C sharing B's X-Session-Id, seven messages each.
func appendThreeLegCall(seg *segment.Dir, ts int64, agent netip.AddrPort, seed uint64) (string, int, error) {
	ids := [3]string{fmt.Sprintf("bench-3leg-a-%d@pbx.example.net", seed), fmt.Sprintf("bench-3leg-b-%d@sbc.example.net", seed),
		fmt.Sprintf("bench-3leg-c-%d@gw.example.net", seed)}
	extra := [3]string{"", "X-CID: " + ids[0] + "\r\nX-Session-Id: bench-3leg-session\r\n", "X-Session-Id: bench-3leg-session\r\n"}
	hosts := [4]netip.AddrPort{netip.MustParseAddrPort("10.9.0.1:5060"), netip.MustParseAddrPort("10.9.0.2:5060"),
		netip.MustParseAddrPort("10.9.0.3:5060"), netip.MustParseAddrPort("10.9.0.4:5060")}
	sdp := "v=0\r\no=- 1 1 IN IP4 10.9.0.1\r\ns=-\r\nc=IN IP4 10.9.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"
	var buf []byte
	n := 0
	for leg := range 3 {
		head := func(start string, cseq string) string {
			return start + "\r\nVia: SIP/2.0/UDP 10.9.0.1;branch=z9hG4bK" + fmt.Sprint(leg) + cseq[:1] +
				"\r\nFrom: <sip:alice@pbx>;tag=f" + fmt.Sprint(leg) + "\r\nTo: <sip:bob@gw>;tag=t" + fmt.Sprint(leg) +
				"\r\nCall-ID: " + ids[leg] + "\r\nCSeq: " + cseq + "\r\n" + extra[leg]
		}
		msgs := []struct {
			fwd  bool
			text string
		}{
			{true, head("INVITE sip:bob@gw SIP/2.0", "1 INVITE") + "Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(sdp)) + "\r\n\r\n" + sdp},
			{false, head("SIP/2.0 100 Trying", "1 INVITE") + "Content-Length: 0\r\n\r\n"},
			{false, head("SIP/2.0 180 Ringing", "1 INVITE") + "Content-Length: 0\r\n\r\n"},
			{false, head("SIP/2.0 200 OK", "1 INVITE") + "Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(sdp)) + "\r\n\r\n" + sdp},
			{true, head("ACK sip:bob@gw SIP/2.0", "1 ACK") + "Content-Length: 0\r\n\r\n"},
			{true, head("BYE sip:bob@gw SIP/2.0", "2 BYE") + "Content-Length: 0\r\n\r\n"},
			{false, head("SIP/2.0 200 OK", "2 BYE") + "Content-Length: 0\r\n\r\n"},
		}
		for i, m := range msgs {
			t := ts + int64(leg*30_000+i*400_000)
			src, dst := hosts[leg], hosts[leg+1]
			if !m.fwd {
				src, dst = dst, src
			}
			p := hep.Packet{Version: 3, Family: 4, Proto: 17, Src: src, Dst: dst, TsSec: uint32(t / 1e6),
				TsUsec: uint32(t % 1e6), ProtoType: 1, CaptureID: 2001, Payload: []byte(m.text)}
			h := record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: t, Agent: agent}
			buf = record.Append(buf[:0], &h, hep.AppendV3(nil, &p))
			if err := seg.Append(segment.Record{Time: t, Data: buf}); err != nil {
				return "", 0, err
			}
			n++
		}
	}
	return ids[0], n, nil
}
