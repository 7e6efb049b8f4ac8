package loadbench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Params are the parameters of a benchmark run, as given.
type Params struct {
	Duration      time.Duration `json:"duration"`
	Rates         []float64     `json:"rates"`
	Transports    []string      `json:"transports"`
	Conns         int           `json:"conns"`
	Seed          uint64        `json:"seed"`
	LongRate      float64       `json:"long_rate"`
	LongDuration  time.Duration `json:"long_duration"`
	LongTransport string        `json:"long_transport"`
	LongSample    time.Duration `json:"long_sample"`
	ArchiveMsgs   int           `json:"archive_messages"`
	Queries       int           `json:"queries"`
	SenderDur     time.Duration `json:"sender_duration"`
}

// Report is everything one benchmark run measured.
type Report struct {
	Date    time.Time       `json:"date"`
	Machine string          `json:"machine"`
	Params  Params          `json:"params"`
	Sender  []*SenderResult `json:"sender,omitempty"`
	Load    []*LoadResult   `json:"load,omitempty"`
	Long    *LongResult     `json:"long,omitempty"`
	Archive *ArchiveResult  `json:"archive,omitempty"`
	Notes   []string        `json:"notes,omitempty"`
}

// Targets are the product's figures a run is judged against.
const (
	TargetRate        = 40000     // packets/s held with zero loss, per transport
	TargetDrain       = 5.0       // seconds for the index backlog to reach 0 after the load
	TargetRSS         = 512 << 20 // peak RSS, bytes
	TargetBytesPerMsg = 150.0     // segments + index, per stored message
	TargetReady       = 3.0       // seconds from exec to a control socket answer, on the large archive
	TargetSearchP99   = 50.0      // ms, Call-ID and From-user searches on the large archive
	TargetCallView    = 100.0     // ms, the call view of a three-leg call on the large archive
	TargetPcap        = 20.0      // ms, its pcap export
)

// Best returns the highest rate that held (zero loss, rate kept) for a
// transport, and whether any did.
func (r *Report) Best(transport string) (float64, bool) {
	best, ok := 0.0, false
	for _, l := range r.Load {
		if l.Transport == transport && l.Holds() && l.Rate > best {
			best, ok = l.Rate, true
		}
	}
	return best, ok
}

func mib(b int64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// WriteMarkdown writes the report as a section of docs/BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	p := r.Params
	fmt.Fprintf(w, "## Load: the real traced under hepload\n\n")
	fmt.Fprintf(w, "`internal/loadbench` starts the traced binary of `make build` on a fresh temporary data directory for every\n")
	fmt.Fprintf(w, "run, sends sipgen traffic as HEPv3 with `hepload` over the loopback, and reads traced from outside: `status` on\n")
	fmt.Fprintf(w, "the control socket, `/proc/PID/stat` (CPU), `/proc/PID/status` (RSS, VmHWM), `/proc/net/udp` (the receiving\n")
	fmt.Fprintf(w, "socket's drops) and `/proc/net/snmp` (UDP errors of the whole machine), and the data directory's files.\n")
	fmt.Fprintf(w, "hepload runs on the same two cores as traced.\n\n")
	fmt.Fprintf(w, "- date: %s\n", r.Date.UTC().Format("2006-01-02T15:04Z"))
	fmt.Fprintf(w, "- machine: %s\n", r.Machine)
	fmt.Fprintf(w, "- parameters: %s per rate, rates %s, transports %s, %d connection(s), seed %d; long run %s at %.0f/s over %s, sampled every %s; archive %d messages; %d queries of each kind\n",
		p.Duration, rateList(p.Rates), strings.Join(p.Transports, ", "), p.Conns, p.Seed,
		p.LongDuration, p.LongRate, p.LongTransport, p.LongSample, p.ArchiveMsgs, p.Queries)
	for _, l := range r.Load {
		if l.UDPBuffer > 0 {
			fmt.Fprintf(w, "- traced's UDP receive buffer: %s MiB granted (its log)\n", mib(l.UDPBuffer))
			break
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- note: %s\n", n)
	}
	fmt.Fprintln(w)

	if len(r.Sender) > 0 {
		fmt.Fprintf(w, "### The load generator alone\n\n")
		fmt.Fprintf(w, "hepload pinned to one core (`taskset -c 0`, `GOMAXPROCS=1`) against a sink that discards, for %s.\n", p.SenderDur)
		fmt.Fprintf(w, "On the loopback the kernel's receive path runs in the sender's system calls and is counted in its CPU.\n\n")
		fmt.Fprintf(w, "CPU per packet is the figure that noise on the machine does not change: one core sends 10⁶/(µs per packet)\n")
		fmt.Fprintf(w, "packets/s.\n\n")
		fmt.Fprintf(w, "| transport | asked (packets/s) | achieved (packets/s) | CPU, %% of one core | CPU µs per packet | behind | errors | pinned |\n|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Sender {
			asked := "flat out"
			if s.Rate > 0 {
				asked = fmt.Sprintf("%.0f", s.Rate)
			}
			per := 0.0
			if s.Sent > 0 {
				per = 1e6 * s.CPUSeconds / float64(s.Sent)
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %.2f | %d | %d | %v |\n", s.Transport, asked, s.Achieved, s.CPUPercent, per, s.Behind, s.Errors, s.Pinned)
		}
		fmt.Fprintln(w)
	}

	for _, tr := range p.Transports {
		var rows []*LoadResult
		for _, l := range r.Load {
			if l.Transport == tr {
				rows = append(rows, l)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "### %s, %s per rate\n\n", strings.ToUpper(tr), p.Duration)
		fmt.Fprintf(w, "Sent and stored are packets; lost = sent − stored; socket drops are the receiving socket's overflows; drain is\n")
		fmt.Fprintf(w, "the time from the end of sending until every received packet is stored (fsynced) and indexed; CPU is traced's,\n")
		fmt.Fprintf(w, "while hepload sent, in %% of one core, and in seconds until drained; bytes per message are measured once the\n")
		fmt.Fprintf(w, "index's size settled (segments + index). Peak RSS is VmHWM; private is the largest RssAnon sampled (RSS\n")
		fmt.Fprintf(w, "without the index files bleve maps, which the kernel can reclaim). A rate holds when stored = sent, hepload had no send errors and it\n")
		fmt.Fprintf(w, "achieved at least 98 %% of the asked rate.")
		if tr == "tcp" {
			fmt.Fprintf(w, " Over TCP a shortfall is traced pushing back (flow control): its reader fell\nbehind, and hepload's writes waited.")
		}
		fmt.Fprintf(w, "\n\n")
		fmt.Fprintf(w, "| asked/s | achieved/s | sent | stored | lost | socket drops | rejected | drain (s) | traced CPU %% | CPU s | peak RSS, of it private (MiB) | max backlog (records) | B/msg | segment B/msg | index B/msg | hepload CPU %% | holds |\n")
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, l := range rows {
			drain := fmt.Sprintf("%.2f", l.DrainSeconds)
			if !l.Drained {
				drain = "**not drained**"
			}
			drops := fmt.Sprintf("%d", l.SocketDrops)
			if tr == "udp" && l.RcvbufErrors != l.SocketDrops {
				drops += fmt.Sprintf(" (machine: %d)", l.RcvbufErrors)
			}
			fmt.Fprintf(w, "| %.0f | %.0f | %d | %d | %d | %s | %d | %s | %.0f | %.1f | %s | %d | %.1f | %.1f | %.1f | %.0f | %s |\n",
				l.Rate, l.Send.Achieved, l.Send.Sent, l.Stored, l.Lost, drops, l.Rejected, drain,
				l.CPUPercent, l.CPUTotal, mib(l.PeakRSS)+", "+mib(l.PeakAnon), l.MaxBacklog, l.BytesPerMsg, l.SegPerMsg, l.IndexPerMsg,
				l.Send.CPUPercent, yes(l.Holds()))
		}
		fmt.Fprintln(w)
		if best, ok := r.Best(tr); ok {
			fmt.Fprintf(w, "Highest rate held with zero loss over %s: **%.0f packets/s**.\n\n", strings.ToUpper(tr), best)
		} else {
			fmt.Fprintf(w, "No rate held with zero loss over %s.\n\n", strings.ToUpper(tr))
		}
		common := r.commonWarnings()
		listed := false
		for _, l := range rows {
			var msgs []string
			for m, n := range l.WarnMsgs {
				if !common[m] {
					msgs = append(msgs, fmt.Sprintf("%q ×%d", m, n))
				}
			}
			if len(msgs) > 0 {
				slices.Sort(msgs)
				fmt.Fprintf(w, "- %.0f/s: traced warned %s", l.Rate, strings.Join(msgs, ", "))
				if l.Log != "" {
					fmt.Fprintf(w, " (log kept in %s)", l.Log)
				}
				fmt.Fprintln(w)
				listed = true
			}
			for _, e := range l.Errors {
				listed = true
				fmt.Fprintf(w, "- %.0f/s: %s\n", l.Rate, e)
			}
			for _, e := range l.Send.ErrorSamples {
				fmt.Fprintf(w, "- %.0f/s: hepload: %s\n", l.Rate, e)
				listed = true
			}
		}
		if listed {
			fmt.Fprintln(w)
		}
	}

	if len(r.Load) > 0 {
		r.writeTargets(w)
	}

	if l := r.Long; l != nil {
		fmt.Fprintf(w, "### Long run: %.0f packets/s over %s for %s\n\n", l.Rate, strings.ToUpper(l.Transport), p.LongDuration)
		fmt.Fprintf(w, "| sent | stored | lost | socket drops | traced CPU %% (first third → last third) | peak RSS, of it private (MiB) | RSS, first third (MiB) | RSS, last third (MiB) | growth | flat (≤ 10 %%) | B/msg |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(w, "| %d | %d | %d | %d | %.0f (%.0f → %.0f) | %s | %.0f | %.0f | %+.1f %% | %s | %.1f |\n\n",
			l.Send.Sent, l.Stored, l.Lost, l.SocketDrops, l.CPUPercent, l.CPUFirst, l.CPULast, mib(l.PeakRSS)+", "+mib(l.PeakAnon),
			l.FirstThird/(1<<20), l.LastThird/(1<<20), 100*l.Growth, yes(l.Flat), l.BytesPerMsg)
		var rss, cpu []string
		for i, s := range l.Samples {
			if s.T < 0 {
				continue
			}
			rss = append(rss, mib(s.RSS))
			if i > 0 && s.T > l.Samples[i-1].T {
				cpu = append(cpu, fmt.Sprintf("%.0f", 100*(s.CPU-l.Samples[i-1].CPU)/(s.T-l.Samples[i-1].T)))
			}
		}
		fmt.Fprintf(w, "RSS (MiB) every %s: %s\n\n", p.LongSample, strings.Join(rss, " "))
		fmt.Fprintf(w, "traced CPU (%% of one core) over each %s: %s\n\n", p.LongSample, strings.Join(cpu, " "))
	}

	if a := r.Archive; a != nil {
		ar := a.Archive
		fmt.Fprintf(w, "### Large archive: %d messages over %s\n\n", ar.Messages, ar.End.Sub(ar.Start))
		fmt.Fprintf(w, "Built the fast way: sipgen packets wrapped as the UDP listener stores them, appended with `segment.Open` and a\n")
		fmt.Fprintf(w, "clock that walks through the day (blocks cut at 256 KiB, every hour sealed), then indexed with `index.CatchUp`.\n")
		fmt.Fprintf(w, "Ready is the time from exec of traced to the first answer of its control socket. Searches go through the\n")
		fmt.Fprintf(w, "control socket API one at a time: Call-IDs with no time range (every hour), From users with the archive's range.\n\n")
		reused := ""
		if a.Reused {
			reused = " (reused from an earlier build)"
		}
		fmt.Fprintf(w, "| figure | value |\n|---|---|\n")
		fmt.Fprintf(w, "| build: write segments | %.0f s%s |\n", ar.GenerateSeconds, reused)
		fmt.Fprintf(w, "| build: index | %.0f s |\n", ar.IndexSeconds)
		fmt.Fprintf(w, "| hours, blocks, dialogs | %d, %d, %d |\n", ar.Hours, ar.Blocks, ar.Dialogs)
		fmt.Fprintf(w, "| bytes per message (segments + index) | %.1f (%.1f + %.1f) |\n", a.BytesPerMsg, a.SegPerMsg, a.IndexPerMsg)
		fmt.Fprintf(w, "| records in status | %d |\n", a.Records)
		var rs []string
		worst := 0.0
		for _, s := range a.Ready {
			rs = append(rs, fmt.Sprintf("%.2f", s))
			worst = max(worst, s)
		}
		cold := ""
		if a.Cold {
			cold = "; the first with the archive's files evicted from the page cache, the others warm"
		}
		fmt.Fprintf(w, "| time to ready, per start%s (s) | %s (target < %.0f: %s) |\n", cold, strings.Join(rs, ", "), TargetReady, yes(worst < TargetReady))
		fmt.Fprintf(w, "| exec to a status without index backlog, first start | %.2f s |\n", a.Searchable)
		fmt.Fprintf(w, "| first Call-ID search after the first start | %.1f ms |\n", 1000*a.FirstQuery)
		for _, q := range []struct {
			name string
			l    Latency
		}{{"Call-ID", a.CallID}, {"From user", a.FromUser}} {
			fmt.Fprintf(w, "| %s search p50 / p90 / p99 / max | %.1f / %.1f / %.1f / %.1f ms (target p99 < %.0f: %s) |\n",
				q.name, q.l.P50, q.l.P90, q.l.P99, q.l.Max, TargetSearchP99, yes(q.l.Queries > 0 && q.l.P99 < TargetSearchP99))
			fmt.Fprintf(w, "| %s searches: count, mean hits, mean blocks read, empty, failed | %d, %.1f, %.1f, %d, %d |\n",
				q.name, q.l.Queries, q.l.Hits, q.l.Blocks, q.l.Empty, q.l.Failed)
		}
		if a.CallView.Queries > 0 || a.CallView.Failed > 0 {
			fmt.Fprintf(w, "| call view of a three-leg call (/api/v1/calls/{id}) p50 / p99 / max | %.1f / %.1f / %.1f ms over %d, %.0f legs found, %d failed (target < %.0f: %s) |\n",
				a.CallView.P50, a.CallView.P99, a.CallView.Max, a.CallView.Queries, a.CallView.Hits, a.CallView.Failed, TargetCallView, yes(a.CallView.Failed == 0 && a.CallView.P99 < TargetCallView))
			fmt.Fprintf(w, "| pcap export of that call p50 / p99 / max | %.1f / %.1f / %.1f ms over %d, %.0f bytes, %d failed (target < %.0f: %s) |\n",
				a.Pcap.P50, a.Pcap.P99, a.Pcap.Max, a.Pcap.Queries, a.Pcap.Hits, a.Pcap.Failed, TargetPcap, yes(a.Pcap.Failed == 0 && a.Pcap.P99 < TargetPcap))
		}
		fmt.Fprintf(w, "| traced RSS after the searches: peak, private, mapped files | %s, %s, %s MiB |\n\n", mib(a.PeakRSS), mib(a.Anon), mib(a.File))
		var msgs []string
		for m, n := range a.WarnMsgs {
			msgs = append(msgs, fmt.Sprintf("%q ×%d", m, n))
		}
		if len(msgs) > 0 {
			slices.Sort(msgs)
			fmt.Fprintf(w, "- over its %d starts traced warned %s\n", len(a.Ready), strings.Join(msgs, ", "))
		}
		for _, e := range a.Errors {
			fmt.Fprintf(w, "- archive: %s\n", e)
		}
		if len(msgs)+len(a.Errors) > 0 {
			fmt.Fprintln(w)
		}
	}
}

// commonWarnings are the messages that every load run logged: what traced
// says at every start, listed once.
func (r *Report) commonWarnings() map[string]bool {
	common := map[string]bool{}
	for i, l := range r.Load {
		for m := range common {
			if l.WarnMsgs[m] == 0 {
				delete(common, m)
			}
		}
		if i == 0 {
			for m := range l.WarnMsgs {
				common[m] = true
			}
		}
	}
	return common
}

func (r *Report) writeTargets(w io.Writer) {
	fmt.Fprintf(w, "### Against the product's targets\n\n| target | UDP | TCP |\n|---|---|---|\n")
	cell := func(tr string, f func(*LoadResult) string) string {
		for _, l := range r.Load {
			if l.Transport == tr && l.Rate == TargetRate {
				return f(l)
			}
		}
		return "not run"
	}
	fmt.Fprintf(w, "| %d packets/s for %s with zero loss | %s | %s |\n", TargetRate, r.Params.Duration,
		cell("udp", func(l *LoadResult) string { return yes(l.Holds()) }),
		cell("tcp", func(l *LoadResult) string { return yes(l.Holds()) }))
	drain := func(l *LoadResult) string {
		return fmt.Sprintf("%.2f s: %s", l.DrainSeconds, yes(l.Drained && l.DrainSeconds <= TargetDrain))
	}
	fmt.Fprintf(w, "| index backlog drained within %.0f s at %d/s | %s | %s |\n", TargetDrain, TargetRate, cell("udp", drain), cell("tcp", drain))
	rss := func(tr string) string {
		var peak, anon int64
		for _, l := range r.Load {
			if l.Transport == tr {
				peak, anon = max(peak, l.PeakRSS), max(anon, l.PeakAnon)
			}
		}
		if peak == 0 {
			return "not run"
		}
		return fmt.Sprintf("%s MiB (private %s): %s", mib(peak), mib(anon), yes(peak <= TargetRSS))
	}
	fmt.Fprintf(w, "| peak RSS ≤ %d MiB, every rate | %s | %s |\n", TargetRSS>>20, rss("udp"), rss("tcp"))
	bpm := func(l *LoadResult) string {
		return fmt.Sprintf("%.1f: %s", l.BytesPerMsg, yes(l.BytesPerMsg <= TargetBytesPerMsg))
	}
	fmt.Fprintf(w, "| ≤ %.0f bytes on disk per message at %d/s | %s | %s |\n\n", TargetBytesPerMsg, TargetRate, cell("udp", bpm), cell("tcp", bpm))
	var common []string
	for m := range r.commonWarnings() {
		common = append(common, fmt.Sprintf("%q", m))
	}
	if len(common) > 0 {
		slices.Sort(common)
		fmt.Fprintf(w, "Every run's traced also warned %s.\n\n", strings.Join(common, ", "))
	}
}

func rateList(rs []float64) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.0f", r))
	}
	return strings.Join(s, ", ")
}
