// Command loadbench drives traced's load and archive benchmarks (scripts/bench.sh
// runs it): the load generator alone, a sweep of rates per transport against a
// fresh traced each, a long run, and a large archive. It writes a Markdown section
// for docs/BENCHMARKS.md and the raw results as JSON.
//
//	go build -o /tmp/loadbench ./internal/loadbench/cmd/loadbench
//	/tmp/loadbench -traced bin/traced -hepload /tmp/hepload -rates 20000,40000 -duration 10s -md out.md
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"traced/internal/loadbench"
)

func main() {
	traced := flag.String("traced", "bin/traced", "traced binary (make build)")
	hepload := flag.String("hepload", "", "hepload binary (go build ./cmd/hepload)")
	work := flag.String("work", "", "directory for the runs' data (default: a new temporary directory, removed at the end)")
	parts := flag.String("parts", "sender,load,long,archive", "what to run: sender, load, long, archive")
	transports := flag.String("transports", "udp,tcp", "transports of the load sweep")
	rates := flag.String("rates", "20000,40000,60000,80000,100000", "packets/s of the load sweep")
	duration := flag.Duration("duration", 60*time.Second, "load duration per rate")
	conns := flag.Int("conns", 1, "hepload connections (UDP sockets or TCP connections)")
	seed := flag.Uint64("seed", 1, "traffic seed")
	long := flag.Duration("long", 10*time.Minute, "duration of the long run")
	longRate := flag.Float64("long-rate", 20000, "packets/s of the long run")
	longTransport := flag.String("long-transport", "udp", "transport of the long run")
	longSample := flag.Duration("long-sample", 10*time.Second, "RSS sampling interval of the long run")
	senderDur := flag.Duration("sender-duration", 10*time.Second, "duration of each load generator measurement")
	archive := flag.Int("archive", 10_000_000, "messages in the large archive")
	archiveDir := flag.String("archive-dir", "", "where to build the archive (default: under -work); an archive already there with the same size and seed is reused")
	starts := flag.Int("archive-starts", 3, "starts of traced on the archive (time to ready of each)")
	queries := flag.Int("queries", 300, "searches of each kind on the archive")
	md := flag.String("md", "", "write the Markdown section here (default: stdout)")
	js := flag.String("json", "", "write the results as JSON here")
	keep := flag.Bool("keep", false, "keep the load runs' data directories")
	logs := flag.String("logs", "", "keep traced's logs here when a run logs warnings or goes wrong")
	flag.Parse()

	if err := run(opts{traced: *traced, hepload: *hepload, work: *work, parts: *parts, transports: *transports,
		rates: *rates, duration: *duration, conns: *conns, seed: *seed, long: *long, longRate: *longRate,
		longTransport: *longTransport, longSample: *longSample, senderDur: *senderDur, archive: *archive,
		archiveDir: *archiveDir, starts: *starts, queries: *queries, md: *md, js: *js, keep: *keep, logs: *logs}); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

type opts struct {
	traced, hepload, work, parts, transports, rates string
	duration                                        time.Duration
	conns                                           int
	seed                                            uint64
	long                                            time.Duration
	longRate                                        float64
	longTransport                                   string
	longSample, senderDur                           time.Duration
	archive                                         int
	archiveDir                                      string
	starts, queries                                 int
	md, js, logs                                    string
	keep                                            bool
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
}

func run(o opts) error {
	if o.hepload == "" {
		return fmt.Errorf("-hepload is required")
	}
	for _, b := range []*string{&o.traced, &o.hepload} {
		abs, err := filepath.Abs(*b)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return err
		}
		*b = abs
	}
	want := map[string]bool{}
	for _, p := range strings.Split(o.parts, ",") {
		want[strings.TrimSpace(p)] = true
	}
	rateList, err := parseRates(o.rates)
	if err != nil {
		return err
	}
	trs := strings.Split(o.transports, ",")
	if o.work == "" {
		if o.work, err = os.MkdirTemp("", "loadbench-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(o.work)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rep := &loadbench.Report{Date: time.Now(), Machine: machine(), Params: loadbench.Params{
		Duration: o.duration, Rates: rateList, Transports: trs, Conns: o.conns, Seed: o.seed,
		LongRate: o.longRate, LongDuration: o.long, LongTransport: o.longTransport, LongSample: o.longSample,
		ArchiveMsgs: o.archive, Queries: o.queries, SenderDur: o.senderDur}}
	if l, _ := os.ReadFile("/proc/loadavg"); len(l) > 0 {
		rep.Notes = append(rep.Notes, "load average at the start: "+strings.Join(strings.Fields(string(l))[:3], " "))
	}

	// A part that fails is noted in the report and the others still run: a
	// long benchmark keeps what it measured.
	failed := 0
	fail := func(what string, err error) {
		failed++
		logf("%s: %v", what, err)
		rep.Notes = append(rep.Notes, fmt.Sprintf("**%s failed**: %v", what, err))
	}
	if want["sender"] {
		for _, tr := range []string{"udp", "tcp"} {
			for _, rate := range []float64{100000, 0} {
				logf("load generator alone: %s at %s for %s", tr, rateName(rate), o.senderDur)
				r, err := loadbench.MeasureSender(ctx, o.hepload, tr, rate, o.senderDur)
				if err != nil {
					fail("load generator alone, "+tr, err)
					continue
				}
				logf("  %.0f packets/s, %.0f%% of one core", r.Achieved, r.CPUPercent)
				rep.Sender = append(rep.Sender, r)
			}
		}
	}
	base := loadbench.LoadConfig{Traced: o.traced, Hepload: o.hepload, Work: o.work, Duration: o.duration,
		Conns: o.conns, Seed: o.seed, Keep: o.keep, Logs: o.logs, Logf: logf}
	if want["load"] {
		for _, tr := range trs {
			for _, rate := range rateList {
				cfg := base
				cfg.Transport, cfg.Rate = tr, rate
				r, err := loadbench.RunLoad(ctx, cfg)
				if err != nil {
					fail(fmt.Sprintf("load %s %.0f/s", tr, rate), err)
					continue
				}
				rep.Load = append(rep.Load, r)
			}
		}
	}
	if want["long"] {
		cfg := base
		cfg.Transport, cfg.Rate, cfg.Duration, cfg.Sample = o.longTransport, o.longRate, o.long, o.longSample
		if r, err := loadbench.RunLong(ctx, cfg); err != nil {
			fail("long run", err)
		} else {
			logf("  rss first third %.0f MiB, last third %.0f MiB: flat %v; cpu %.0f%% → %.0f%%",
				r.FirstThird/(1<<20), r.LastThird/(1<<20), r.Flat, r.CPUFirst, r.CPULast)
			rep.Long = r
		}
	}
	if want["archive"] {
		if err := archive(ctx, o, rep); err != nil {
			fail("archive", err)
		}
	}

	if err := write(o, rep); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d part(s) failed; see the report", failed)
	}
	return nil
}

func archive(ctx context.Context, o opts, rep *loadbench.Report) error {
	dir := o.archiveDir
	if dir == "" {
		dir = filepath.Join(o.work, "archive")
	}
	acfg := loadbench.ArchiveConfig{Dir: dir, Messages: o.archive, Seed: o.seed, Samples: o.queries, Logf: logf}
	a, reused := loadbench.LoadArchive(acfg)
	if reused {
		logf("archive: reusing %d messages in %s", a.Messages, dir)
	} else {
		logf("archive: building %d messages in %s", o.archive, dir)
		var err error
		if a, err = loadbench.BuildArchive(ctx, acfg); err != nil {
			return err
		}
		logf("  built in %.0f s + %.0f s of indexing: %.1f B/msg", a.GenerateSeconds, a.IndexSeconds,
			float64(a.SegmentBytes+a.IndexBytes)/float64(a.Messages))
	}
	r, err := loadbench.MeasureArchive(o.traced, dir, a, o.starts, o.logs, logf)
	if err != nil {
		return err
	}
	r.Reused = reused
	logf("  call-id %s", r.CallID)
	logf("  from-user %s", r.FromUser)
	rep.Archive = r
	return nil
}

func write(o opts, rep *loadbench.Report) error {
	out := os.Stdout
	if o.md != "" {
		f, err := os.Create(o.md)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	rep.WriteMarkdown(w)
	if err := w.Flush(); err != nil {
		return err
	}
	if o.js != "" {
		b, err := json.MarshalIndent(rep, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.js, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mult := 1.0
		if strings.HasSuffix(f, "k") {
			f, mult = strings.TrimSuffix(f, "k"), 1000
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("rate %q: a positive number of packets/s (20000 or 20k)", f)
		}
		out = append(out, v*mult)
	}
	return out, nil
}

func rateName(r float64) string {
	if r <= 0 {
		return "flat out"
	}
	return fmt.Sprintf("%.0f/s", r)
}

// machine describes the CPU, cores and memory, as scripts/bench.sh does.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				mem = fmt.Sprintf(", %.0f GiB memory", kb/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s", model, runtime.NumCPU(), mem, runtime.Version())
}
