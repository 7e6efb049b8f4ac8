package loadbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"traced/httpui"
)

// LoadConfig is one load run: a fresh traced, hepload at one rate for one
// duration, then the measurements.
type LoadConfig struct {
	Traced    string // traced binary
	Hepload   string // hepload binary
	Work      string // parent of the run's data directory
	Transport string
	Rate      float64
	Duration  time.Duration
	Conns     int
	Seed      uint64
	Sample    time.Duration // RSS and CPU sampling interval; 0: 1 s
	Drain     time.Duration // longest wait for the index to catch up; 0: 2 min
	Keep      bool          // keep the data directory
	Logs      string        // where to keep traced's log when the run went wrong or it logged warnings; "": not kept
	Logf      func(format string, args ...any)
}

// Sample is one look at traced during a run.
type Sample struct {
	T       float64 `json:"t"`       // seconds since sending started (negative: before)
	RSS     int64   `json:"rss"`     // bytes
	Anon    int64   `json:"anon"`    // RssAnon, bytes
	CPU     float64 `json:"cpu"`     // CPU seconds since the load started
	Drops   int64   `json:"drops"`   // the receiving UDP socket's drops since the load started
	Backlog int64   `json:"backlog"` // index backlog, records (as of the last status)
}

// LoadResult is what one load run measured.
type LoadResult struct {
	Transport string     `json:"transport"`
	Rate      float64    `json:"rate"`
	Duration  float64    `json:"duration_s"`
	Send      SendResult `json:"send"`

	Received map[string]uint64 `json:"received"`
	Accepted uint64            `json:"accepted"`
	Stored   uint64            `json:"stored"`
	Rejected uint64            `json:"rejected"`
	Ignored  uint64            `json:"ignored"`
	Lost     int64             `json:"lost"` // sent - stored

	// The receiving socket's drops (/proc/net/udp) and the namespace's UDP
	// counters (/proc/net/snmp), as deltas over the run.
	SocketDrops  int64 `json:"socket_drops"`
	RcvbufErrors int64 `json:"udp_rcvbuf_errors"`
	InErrors     int64 `json:"udp_in_errors"`

	Drained      bool    `json:"drained"`
	DrainSeconds float64 `json:"drain_s"` // from the end of sending to stored == accepted and no index backlog
	MaxBacklog   int64   `json:"max_backlog_records"`

	CPULoad    float64  `json:"cpu_load_s"` // traced's CPU while hepload ran
	CPUPercent float64  `json:"cpu_pct"`    // CPULoad over the send phase, % of one core
	CPUTotal   float64  `json:"cpu_total_s"`
	PeakRSS    int64    `json:"peak_rss"`  // VmHWM
	PeakAnon   int64    `json:"peak_anon"` // the largest RssAnon sampled: private memory, without mapped files
	Samples    []Sample `json:"samples"`

	SegmentBytes int64          `json:"segment_bytes"` // after the index settled
	IndexBytes   int64          `json:"index_bytes"`
	BytesPerMsg  float64        `json:"bytes_per_msg"`
	SegPerMsg    float64        `json:"segment_bytes_per_msg"`
	IndexPerMsg  float64        `json:"index_bytes_per_msg"`
	IndexSettle  float64        `json:"index_settle_s"`   // how long the index size took to stop changing
	StoppedBytes int64          `json:"stopped_bytes"`    // segments + index after a clean stop
	Warnings     int            `json:"log_warnings"`     // WARN and ERROR lines in traced's log
	WarnMsgs     map[string]int `json:"log_messages"`     // their messages
	Log          string         `json:"log,omitempty"`    // where traced's log was kept
	UDPBuffer    int64          `json:"udp_buffer"`       // the UDP receive buffer traced was granted, bytes
	Errors       []string       `json:"errors,omitempty"` // what went wrong with the run itself
}

// Holds says the rate held: every packet sent was stored, and the sender kept
// to the rate (within 2 %), so the rate was really offered.
func (r *LoadResult) Holds() bool {
	return r.Send.Sent > 0 && r.Stored == r.Send.Sent && r.Send.Errors == 0 && r.Send.Achieved >= 0.98*r.Rate
}

func (c *LoadConfig) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// RunLoad runs one load run.
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if cfg.Sample <= 0 {
		cfg.Sample = time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 2 * time.Minute
	}
	res := &LoadResult{Transport: cfg.Transport, Rate: cfg.Rate, Duration: cfg.Duration.Seconds()}
	data, err := os.MkdirTemp(cfg.Work, fmt.Sprintf("load-%s-%.0f-", cfg.Transport, cfg.Rate))
	if err != nil {
		return nil, err
	}
	if !cfg.Keep {
		defer os.RemoveAll(data)
		defer os.Remove(data + ".log")
	}
	d, err := StartDaemon(cfg.Traced, data)
	if err != nil {
		return nil, err
	}
	defer d.Kill()
	pid := d.PID()

	snmp0, err := ReadUDPCounters()
	if err != nil {
		return nil, err
	}
	sock0, _ := ReadUDPSocket(d.HEPPort)
	cpu0, err := ProcCPU(pid)
	if err != nil {
		return nil, err
	}

	// Sample RSS and CPU while the load runs, and the index backlog.
	start := time.Now()
	if m, err := ProcMem(pid); err == nil {
		res.Samples = append(res.Samples, Sample{RSS: m.RSS, Anon: m.Anon})
	}
	stopSampling := make(chan struct{})
	var mu sync.Mutex // guards res.Samples, res.MaxBacklog and backlog
	var backlog int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(cfg.Sample)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			m, err1 := ProcMem(pid)
			c, err2 := ProcCPU(pid)
			if err1 != nil || err2 != nil {
				continue
			}
			sock, _ := ReadUDPSocket(d.HEPPort)
			mu.Lock()
			res.Samples = append(res.Samples, Sample{T: time.Since(start).Seconds(), RSS: m.RSS, Anon: m.Anon, CPU: (c - cpu0).Seconds(),
				Drops: sock.Drops - sock0.Drops, Backlog: backlog})
			mu.Unlock()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			if s, err := d.Status(); err == nil {
				mu.Lock()
				backlog = s.IndexBacklog.Records
				res.MaxBacklog = max(res.MaxBacklog, backlog)
				mu.Unlock()
			}
		}
	}()

	cfg.logf("%s %.0f/s for %s → traced pid %d on %s", cfg.Transport, cfg.Rate, cfg.Duration, pid, d.HEPAddr())
	send, err := runHepload(ctx, cfg, d.HEPAddr())
	cpuLoad, _ := ProcCPU(pid)
	if err != nil {
		close(stopSampling)
		wg.Wait()
		return nil, err
	}
	res.Send = *send
	res.CPULoad = (cpuLoad - cpu0).Seconds()
	if send.Seconds > 0 {
		res.CPUPercent = 100 * res.CPULoad / send.Seconds
	}
	sendEnd := time.Unix(0, send.EndUnixNano)

	// Wait for traced to take in what the kernel still holds, store it and index it.
	var st httpui.Status
	var lastRecv uint64
	deadline := time.Now().Add(cfg.Drain)
	for {
		s, err := d.Status()
		if err != nil {
			if len(res.Errors) < 3 {
				res.Errors = append(res.Errors, "status: "+err.Error())
			}
		} else {
			st = s
			recv := total(s.Received)
			sock, _ := ReadUDPSocket(d.HEPPort)
			if recv == lastRecv && sock.RxQueue == 0 && s.Stored == s.Accepted &&
				s.IndexBacklog.Blocks == 0 && s.IndexBacklog.Records == 0 {
				res.Drained = true
				res.DrainSeconds = max(time.Since(sendEnd).Seconds(), 0)
				break
			}
			lastRecv = recv
		}
		if time.Now().After(deadline) {
			res.Errors = append(res.Errors, fmt.Sprintf("index backlog not drained after %s: %+v", cfg.Drain, st.IndexBacklog))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpuDrained, _ := ProcCPU(pid)
	res.CPUTotal = (cpuDrained - cpu0).Seconds()
	close(stopSampling)
	wg.Wait()
	// Sample times count from the start of sending (hepload first generates its packets).
	shift := time.Unix(0, send.StartUnixNano).Sub(start).Seconds()
	for i := range res.Samples {
		res.Samples[i].T -= shift
	}

	res.Received, res.Accepted, res.Stored, res.Ignored = st.Received, st.Accepted, st.Stored, st.Ignored
	res.Rejected = total(st.Rejected)
	res.Lost = int64(res.Send.Sent) - int64(res.Stored)
	if sock, err := ReadUDPSocket(d.HEPPort); err == nil && sock.Found {
		res.SocketDrops = sock.Drops - sock0.Drops
	}
	if snmp, err := ReadUDPCounters(); err == nil {
		dl := snmp.Sub(snmp0)
		res.RcvbufErrors, res.InErrors = dl["RcvbufErrors"], dl["InErrors"]
	}

	// Disk: wait until the index stops changing size (scorch merges, then drops
	// the files a merge replaced), at most 30 s.
	settle := time.Now()
	last, same := int64(-1), 0
	for time.Since(settle) < 30*time.Second && same < 3 {
		n := DirBytes(indexDir(data))
		if n == last {
			same++
		} else {
			same = 0
		}
		last = n
		time.Sleep(time.Second)
	}
	res.IndexSettle = time.Since(settle).Seconds()
	res.SegmentBytes, res.IndexBytes = DirBytes(segmentsDir(data)), DirBytes(indexDir(data))
	if res.Stored > 0 {
		n := float64(res.Stored)
		res.SegPerMsg, res.IndexPerMsg = float64(res.SegmentBytes)/n, float64(res.IndexBytes)/n
		res.BytesPerMsg = res.SegPerMsg + res.IndexPerMsg
	}
	if m, err := ProcMem(pid); err == nil {
		res.PeakRSS = m.HWM
		res.PeakAnon = m.Anon
	}
	for _, s := range res.Samples {
		res.PeakAnon = max(res.PeakAnon, s.Anon)
	}
	if err := d.Stop(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	res.StoppedBytes = DirBytes(segmentsDir(data)) + DirBytes(indexDir(data))
	res.WarnMsgs = d.Warnings()
	for _, n := range res.WarnMsgs {
		res.Warnings += n
	}
	res.UDPBuffer = d.UDPBuffer()
	if cfg.Logs != "" && (res.Warnings > 0 || len(res.Errors) > 0) {
		if p, err := d.SaveLog(cfg.Logs, fmt.Sprintf("traced-%s-%.0f.log", cfg.Transport, cfg.Rate)); err == nil {
			res.Log = p
		}
	}
	cfg.logf("  sent %d (%.0f/s, hepload %.0f%% cpu) stored %d lost %d drops %d; drained %v in %.2fs; traced cpu %.0f%%, peak rss %.0f MiB, %.1f B/msg",
		res.Send.Sent, res.Send.Achieved, res.Send.CPUPercent, res.Stored, res.Lost, res.SocketDrops,
		res.Drained, res.DrainSeconds, res.CPUPercent, float64(res.PeakRSS)/(1<<20), res.BytesPerMsg)
	return res, nil
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// runHepload runs the hepload binary and decodes its JSON result. It is given
// the duration, the time to generate its packets and a minute more.
func runHepload(ctx context.Context, cfg LoadConfig, addr string, env ...string) (*SendResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+2*time.Minute)
	defer cancel()
	conns := max(cfg.Conns, 1)
	cmd := exec.CommandContext(ctx, cfg.Hepload, "--json", "--addr", addr, "--transport", cfg.Transport,
		"--rate", strconv.FormatFloat(cfg.Rate, 'f', -1, 64), "--duration", cfg.Duration.String(),
		"--conns", strconv.Itoa(conns), "--seed", strconv.FormatUint(cfg.Seed, 10))
	cmd.Env = append(os.Environ(), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("hepload: %v\n%s", err, stderr.Bytes())
	}
	return ParseSendResult(out.Bytes())
}

// ParseSendResult decodes the JSON that hepload --json prints.
func ParseSendResult(b []byte) (*SendResult, error) {
	var r SendResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("hepload result: %w", err)
	}
	if r.Transport == "" || r.Seconds <= 0 || r.EndUnixNano == 0 {
		return nil, errors.New("hepload result: no transport, duration or end time")
	}
	return &r, nil
}

// LongResult is the long run: one rate for a long time, RSS sampled.
type LongResult struct {
	*LoadResult
	FirstThird float64 `json:"rss_first_third"` // mean RSS of the samples in the first third of the load, bytes
	LastThird  float64 `json:"rss_last_third"`
	Growth     float64 `json:"rss_growth"` // LastThird/FirstThird - 1
	Flat       bool    `json:"rss_flat"`   // Growth within 10 %
	// traced's CPU in the first and the last third of the load, % of one core:
	// whether the work per packet grows as the hour's shard grows.
	CPUFirst float64 `json:"cpu_pct_first_third"`
	CPULast  float64 `json:"cpu_pct_last_third"`
}

// RunLong runs cfg (typically 20 000 packets/s for 10 minutes, sampled every
// 10 s) and judges whether traced's RSS stays flat: the mean of the last third
// of the samples within 10 % of the mean of the first third.
func RunLong(ctx context.Context, cfg LoadConfig) (*LongResult, error) {
	r, err := RunLoad(ctx, cfg)
	if err != nil {
		return nil, err
	}
	lr := &LongResult{LoadResult: r}
	lr.FirstThird, lr.LastThird = thirds(r.Samples, cfg.Duration.Seconds())
	lr.CPUFirst, lr.CPULast = cpuThirds(r.Samples, cfg.Duration.Seconds())
	if lr.FirstThird > 0 {
		lr.Growth = lr.LastThird/lr.FirstThird - 1
		lr.Flat = lr.Growth <= 0.10
	}
	return lr, nil
}

// thirds returns the mean RSS of the samples in the first and the last third of
// [0, dur] seconds.
func thirds(ss []Sample, dur float64) (first, last float64) {
	var fs, ls, fn, ln float64
	for _, s := range ss {
		switch {
		case s.T >= 0 && s.T <= dur/3:
			fs += float64(s.RSS)
			fn++
		case s.T > 2*dur/3 && s.T <= dur:
			ls += float64(s.RSS)
			ln++
		}
	}
	if fn == 0 || ln == 0 {
		return 0, 0
	}
	return fs / fn, ls / ln
}

// cpuThirds returns the CPU use (% of one core) over the first and the last
// third of [0, dur] seconds, from the cumulative CPU of the samples nearest to
// the thirds' ends.
func cpuThirds(ss []Sample, dur float64) (first, last float64) {
	at := func(t float64) (Sample, bool) {
		best, ok := Sample{}, false
		for _, s := range ss {
			if s.T <= dur && (!ok || abs(s.T-t) < abs(best.T-t)) {
				best, ok = s, true
			}
		}
		return best, ok
	}
	a, ok1 := at(0)
	b, ok2 := at(dur / 3)
	c, ok3 := at(2 * dur / 3)
	d, ok4 := at(dur)
	if !ok1 || !ok2 || !ok3 || !ok4 || b.T <= a.T || d.T <= c.T {
		return 0, 0
	}
	return 100 * (b.CPU - a.CPU) / (b.T - a.T), 100 * (d.CPU - c.CPU) / (d.T - c.T)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
