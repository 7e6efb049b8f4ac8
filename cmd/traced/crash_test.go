package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"traced/httpui"
	"traced/index"
	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/search"
	"traced/segment"
)

// crashChildEnv holds the JSON-encoded traced flags with which a re-executed test
// binary runs the daemon in-process (TestCrashChild) until it is killed.
const crashChildEnv = "TRACED_TEST_CRASH_CHILD"

// crashSeedEnv fixes the base seed of the kill points, to replay a run.
const crashSeedEnv = "TRACED_TEST_CRASH_SEED"

const (
	crashRuns  = 20
	crashFlush = 200 * time.Millisecond
	crashMax   = 30000 // packets per run at most
	// crashInFlight is what a kill may lose beyond one flush interval: packets
	// already written to the TCP socket that traced had not yet read and
	// appended (the socket buffers, the reader between two reads, scheduling on
	// a loaded 2-core machine), and the block cut at the last tick while it was
	// being compressed.
	crashInFlight = 250 * time.Millisecond
)

// crashRates are the sending rates, in packets per second over one TCP
// connection, that the runs alternate: at the first, blocks are cut at 256 KiB
// well before a flush tick; at the second, a block takes about 0.8 s to fill, so
// only the flush tick keeps a kill from losing more than a flush interval.
var crashRates = [...]int{8000, 600}

// TestCrashChild is the daemon side of TestCrashKillLosesAtMostOneFlush: traced,
// run in-process from the flags in crashChildEnv, until the parent kills it.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("runs only as the child of TestCrashKillLosesAtMostOneFlush")
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		fmt.Fprintln(os.Stderr, "crash child: flags:", err)
		os.Exit(2)
	}
	app := newApp(func(ctx context.Context, cfg config) error { return run(ctx, cfg) })
	if err := app.RunContext(context.Background(), append([]string{"traced"}, args...)); err != nil {
		fmt.Fprintln(os.Stderr, "traced:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "crash child: traced returned before it was killed")
	os.Exit(1)
}

// crashOutcome is what one killed run left on disk.
type crashOutcome struct {
	runID     int
	stored    int                // k: records 0..k-1 are on disk
	recovered []segment.LostData // torn tails the segment package cut
	logged    int                // recovery lines it logged
	pristine  string             // a copy of the data directory as the kill left it
}

// TestCrashKillLosesAtMostOneFlush runs traced (in a re-executed test binary) under
// a steady stream of numbered HEP packets over one TCP connection, kills it with
// SIGKILL at a random moment, and checks the data directory with the segment and
// index packages: every block reads, the records are exactly packets 0..k-1 in
// order, nothing sent earlier than one flush interval (plus what was in flight)
// before the kill is missing, and the index catches up and finds them. Finally a
// real traced is started on the state one kill left behind and must report the
// torn tails that the segment package cut from it.
func TestCrashKillLosesAtMostOneFlush(t *testing.T) {
	if testing.Short() {
		t.Skip("kills traced 20 times")
	}
	base := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		base = v
	}
	t.Logf("base seed %d (replay with %s=%d)", base, crashSeedEnv, base)
	keep := t.TempDir()
	var best *crashOutcome
	for i := range crashRuns {
		t.Run(fmt.Sprintf("run%02d", i), func(t *testing.T) {
			out := crashOnce(t, i, base+uint64(i), filepath.Join(keep, fmt.Sprintf("run%02d", i)))
			switch {
			case out == nil:
			case best == nil || len(out.recovered) > len(best.recovered):
				if best != nil {
					os.RemoveAll(best.pristine)
				}
				best = out
			default:
				os.RemoveAll(out.pristine)
			}
		})
	}
	if best == nil {
		t.Fatal("no run left a data directory to restart on")
	}
	t.Run("restart_reports_recovery", func(t *testing.T) { checkRecoveryReported(t, best) })
}

// crashOnce runs one kill and checks what it left. It returns nil if the run
// failed.
func crashOnce(t *testing.T, runID int, seed uint64, pristine string) *crashOutcome {
	rng := rand.New(rand.NewPCG(seed, seed^0x5deece66d))
	killAfter := time.Duration(100+rng.IntN(1100)) * time.Millisecond
	rate := crashRates[runID%len(crashRates)]
	t.Logf("seed %d: %d packets/s, kill %s after the first packet", seed, rate, killAfter)

	data := filepath.Join(t.TempDir(), "data")
	port := freePort(t)
	child := startCrashChild(t, data, port)

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("dial traced: %v", err)
	}
	defer conn.Close()
	var stop atomic.Bool
	sentCh := make(chan []time.Time, 1)
	started := make(chan time.Time, 1)
	go func() { sentCh <- sendNumbered(conn, runID, rate, &stop, started) }()
	first := <-started
	time.Sleep(time.Until(first.Add(killAfter)))
	killed := time.Now()
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill traced: %v", err)
	}
	werr := <-child.done
	stop.Store(true)
	sent := <-sentCh
	if ws, ok := child.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("traced did not die of SIGKILL (%v): it stopped by itself\n%s", werr, logTail(child.log))
	}
	if err := copyTree(data, pristine); err != nil {
		t.Fatalf("copy the data directory: %v", err)
	}

	out := &crashOutcome{runID: runID, pristine: pristine}
	var segLog syncBuffer
	seg, err := segment.Open(filepath.Join(data, segmentsDir), segment.Options{
		FlushInterval: crashFlush, Logger: slog.New(slog.NewTextHandler(&segLog, nil))})
	if err != nil {
		t.Fatalf("open the segments after the kill: %v", err)
	}
	defer seg.Close()
	st := seg.Stats()
	out.recovered = st.Recovered
	out.logged = strings.Count(segLog.String(), "segment recovery:")

	// (a) every block of every hour reads; (b) the records are 0..k-1 in order.
	seqs := storedSeqs(t, seg, runID)
	for i, s := range seqs {
		if s != i {
			t.Fatalf("record %d of %d on disk is packet %d: not a prefix of what was sent (gap or duplicate)", i, len(seqs), s)
		}
	}
	k := len(seqs)
	out.stored = k
	if st := seg.Stats(); st.Corruptions != 0 {
		t.Errorf("%d corrupt blocks or footers after a kill", st.Corruptions)
	}
	if k > len(sent) {
		t.Fatalf("%d records on disk, only %d packets were sent", k, len(sent))
	}

	// (c) only the newest data is missing.
	cutoff := killed.Add(-crashFlush - crashInFlight)
	mustHave := 0
	for mustHave < len(sent) && sent[mustHave].Before(cutoff) {
		mustHave++
	}
	lostFor := time.Duration(0)
	if k < len(sent) {
		lostFor = killed.Sub(sent[k])
	}
	t.Logf("%d packets sent, %d on disk; the first one missing was sent %s before the kill; %d torn tails cut (%d logged)",
		len(sent), k, lostFor.Round(time.Millisecond), len(out.recovered), out.logged)
	if k < mustHave {
		t.Errorf("only packets 0..%d are on disk, but every packet up to %d was sent more than %s (flush) + %s (in flight) before the kill: packet %d was sent %s before it",
			k-1, mustHave-1, crashFlush, crashInFlight, k, lostFor)
	}
	if out.logged != len(out.recovered) {
		t.Errorf("the segment package logged %d recoveries and reports %d: %+v\n%s", out.logged, len(out.recovered), out.recovered, segLog.String())
	}

	// (d) the index catches up from whatever state the kill left it in.
	checkIndexCatchesUp(t, data, seg, runID, k, len(sent), rng)
	if t.Failed() {
		t.Logf("traced's log:\n%s", logTail(child.log))
		return nil
	}
	return out
}

// crashChild is a killed-to-order traced.
type crashChild struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

// startCrashChild re-executes the test binary as traced on data with HEP on the
// loopback port and waits for its control socket.
func startCrashChild(t *testing.T, data string, port int) *crashChild {
	t.Helper()
	args := []string{"--data", data, "--hep-addr", fmt.Sprintf("127.0.0.1:%d", port), "--web-addr", "127.0.0.1:0",
		"--flush-interval", crashFlush.String(), "--min-free", "0", "--log-level", "info"}
	spec, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	c := &crashChild{log: data + ".log", done: make(chan error, 1)}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=2m")
	c.cmd.Env = append(os.Environ(), crashChildEnv+"="+string(spec))
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start the crash child: %v", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	cl := httpui.NewClient(httpui.SocketPath(data))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cl.Status(ctx)
		cancel()
		if err == nil {
			return c
		}
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("traced exited at start: %v\n%s", err, logTail(c.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("traced did not answer on its control socket: %v\n%s", err, logTail(c.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendNumbered writes numbered packets to c at rate per second until stop is set, a
// write fails or crashMax are sent, and returns when each write returned. The
// time of the first write goes to started.
func sendNumbered(c net.Conn, runID, rate int, stop *atomic.Bool, started chan<- time.Time) []time.Time {
	sent := make([]time.Time, 0, crashMax)
	var buf []byte
	var t0 time.Time
	defer func() {
		if t0.IsZero() {
			started <- time.Now()
		}
	}()
	for seq := 0; seq < crashMax && !stop.Load(); seq++ {
		now := time.Now()
		if seq > 0 {
			if d := time.Until(t0.Add(time.Duration(seq) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
				now = time.Now()
			}
		}
		buf = optionsPacket(buf[:0], numberedCallID(runID, seq), now)
		if _, err := c.Write(buf); err != nil {
			break
		}
		at := time.Now()
		sent = append(sent, at)
		if seq == 0 {
			t0 = at
			started <- at
		}
	}
	return sent
}

// numberedCallID is the Call-ID of packet seq of a run.
func numberedCallID(runID, seq int) string { return fmt.Sprintf("crash-%d-%d@test", runID, seq) }

// optionsPacket appends a HEPv3 packet carrying a SIP OPTIONS with the given
// Call-ID, captured at now between two loopback addresses.
func optionsPacket(dst []byte, callID string, now time.Time) []byte {
	sipMsg := "OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-" + strconv.FormatInt(now.UnixNano(), 36) + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:monitor@127.0.0.1>;tag=1928301774\r\n" +
		"To: <sip:probe@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"User-Agent: traced-test\r\n" +
		"Content-Length: 0\r\n\r\n"
	p := hep.Packet{Version: 3, Family: 4, Proto: 17,
		Src: netip.MustParseAddrPort("127.0.0.1:5060"), Dst: netip.MustParseAddrPort("127.0.0.2:5060"),
		TsSec: uint32(now.Unix()), TsUsec: uint32(now.Nanosecond() / 1000), ProtoType: hep.TypeSIP, CaptureID: 7,
		Payload: []byte(sipMsg)}
	return hep.AppendV3(dst, &p)
}

// storedSeqs reads every block of every hour, in order, and returns the packet
// numbers of the run's records. A block that does not read fails the test.
func storedSeqs(t *testing.T, seg *segment.Dir, runID int) []int {
	t.Helper()
	prefix := fmt.Sprintf("crash-%d-", runID)
	var seqs []int
	var m record.Message
	for _, h := range seg.Hours() {
		var blocks []segment.BlockInfo
		if err := seg.Blocks(h.Hour, 0, func(bi segment.BlockInfo) error { blocks = append(blocks, bi); return nil }); err != nil {
			t.Fatalf("list the blocks of %s: %v", h.Hour, err)
		}
		n := int64(0)
		for _, bi := range blocks {
			b, err := seg.ReadBlock(bi.Ref)
			if err != nil {
				t.Fatalf("read block %s after a kill: %v", bi.Ref, err)
			}
			n += int64(len(b.Records))
			for _, r := range b.Records {
				if err := record.Decode(r, &m); err != nil {
					t.Fatalf("block %s: decode a record: %v", bi.Ref, err)
				}
				id, ok := strings.CutPrefix(string(m.SIP.CallID), prefix)
				id, ok2 := strings.CutSuffix(id, "@test")
				s, err := strconv.Atoi(id)
				if !ok || !ok2 || err != nil {
					t.Fatalf("block %s: a record with Call-ID %q, not one of run %d", bi.Ref, m.SIP.CallID, runID)
				}
				seqs = append(seqs, s)
			}
		}
		if n != h.Records {
			t.Errorf("hour %s: %d records read, the segment says %d", h.Hour, n, h.Records)
		}
	}
	return seqs
}

// checkIndexCatchesUp opens the index as the kill left it, catches it up with the
// segments, and searches a sample of the stored Call-IDs (and the first one that
// is not stored).
func checkIndexCatchesUp(t *testing.T, data string, seg *segment.Dir, runID, stored, sent int, rng *rand.Rand) {
	t.Helper()
	idx, err := index.Open(filepath.Join(data, indexDir), index.Options{})
	if err != nil {
		t.Fatalf("open the index after a kill: %v", err)
	}
	defer idx.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := idx.CatchUp(ctx, seg, record.Extract); err != nil {
		t.Fatalf("index catch-up after a kill: %v", err)
	}
	if blocks, recs := indexBacklog(seg.Hours(), idx); blocks != 0 || recs != 0 {
		t.Errorf("index backlog after catch-up: %d blocks, %d records", blocks, recs)
	}
	if bl := idx.Backlog(); bl.Blocks != 0 || bl.Records != 0 {
		t.Errorf("the index reports a backlog after catch-up: %+v", bl)
	}
	s := &search.Searcher{Index: idx, Blocks: seg}
	want := map[int]int{}
	if stored > 0 {
		want[0], want[stored-1] = 1, 1
		for range 6 {
			want[rng.IntN(stored)] = 1
		}
	}
	if stored < sent {
		want[stored] = 0 // lost with the kill: found nowhere
	}
	for seq, n := range want {
		id := numberedCallID(runID, seq)
		res, err := s.Search(ctx, search.Query{Query: index.Query{CallID: id}})
		if err != nil {
			t.Fatalf("search %s: %v", id, err)
		}
		if len(res.Hits) != n || res.Unreadable != 0 {
			t.Errorf("search %s: %d messages (%d unreadable blocks), want %d", id, len(res.Hits), res.Unreadable, n)
			continue
		}
		if n == 1 && string(res.Hits[0].Msg.SIP.CallID) != id {
			t.Errorf("search %s returned Call-ID %s", id, res.Hits[0].Msg.SIP.CallID)
		}
	}
}

// checkRecoveryReported starts the real traced on the state a kill left and
// compares its status with what the segment package found in the same state.
func checkRecoveryReported(t *testing.T, out *crashOutcome) {
	binaries(t)
	d := startTraced(t, out.pristine, "--flush-interval", crashFlush.String(), "--min-free", "0")
	st := d.waitStored(0)
	var lost int64
	for _, l := range out.recovered {
		lost += l.Bytes
	}
	t.Logf("restarted on a state with %d records and %d torn tails (%d bytes)", out.stored, len(out.recovered), lost)
	if st.RecoveredCuts != len(out.recovered) || st.RecoveredBytes != lost {
		t.Errorf("traced reports %d torn tails (%d bytes) cut; the segment package cut %d (%d bytes) from the same state",
			st.RecoveredCuts, st.RecoveredBytes, len(out.recovered), lost)
	}
	var js httpui.Status
	if err := json.Unmarshal(d.tracectl("status", "--json"), &js); err != nil || js.RecoveredCuts != len(out.recovered) || js.RecoveredBytes != lost {
		t.Errorf("tracectl status --json: recovered_cuts %d, recovered_bytes %d (%v); want %d, %d",
			js.RecoveredCuts, js.RecoveredBytes, err, len(out.recovered), lost)
	}
	if st.Records != int64(out.stored) || st.Corruptions != 0 {
		t.Errorf("traced holds %d records (%d corruptions), the segment package read %d", st.Records, st.Corruptions, out.stored)
	}
	if n := strings.Count(d.logText(), "segment recovery:"); n != out.logged {
		t.Errorf("traced logged %d segment recoveries, the segment package %d", n, out.logged)
	}
	text := string(d.tracectl("status"))
	line := damageLine(text)
	if len(out.recovered) == 0 && line != "" || len(out.recovered) > 0 && !strings.Contains(line, fmt.Sprintf("%d torn tails cut", len(out.recovered))) {
		t.Errorf("tracectl status with %d torn tails cut:\n%s", len(out.recovered), text)
	}
	if out.stored > 0 {
		id := numberedCallID(out.runID, out.stored-1)
		if msgs := d.searchJSON("--call-id", id); len(msgs) != 1 || msgs[0].CallID != id {
			t.Errorf("tracectl search --call-id %s after the restart: %d messages", id, len(msgs))
		}
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case de.IsDir():
			return os.MkdirAll(target, 0o750)
		case !de.Type().IsRegular():
			return nil // the control socket
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
}

// logTail returns the end of a log file.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (a logger's).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
