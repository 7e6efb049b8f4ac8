package stats

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"traced/segment"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func openSeg(t *testing.T, dir string, clk *testClock) *segment.Dir {
	t.Helper()
	d, err := segment.Open(dir, segment.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func appendAll(t *testing.T, d *segment.Dir, msgs ...[]sipMsg) {
	t.Helper()
	for _, m := range join(msgs...) {
		if err := d.Append(m.rec()); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
}

func openStats(t *testing.T, dir string) *Stats {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func catchUp(t *testing.T, s *Stats, src Source) {
	t.Helper()
	if err := s.CatchUp(context.Background(), src); err != nil {
		t.Fatal(err)
	}
}

func report(t *testing.T, s *Stats) *Report {
	t.Helper()
	r, err := s.Report(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// comparable strips what differs between two equal reports built at
// different moments.
func same(t *testing.T, what string, got, want *Report) {
	t.Helper()
	g, w := *got, *want
	g.Counting, w.Counting = 0, 0
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: reports differ\n got calls %+v messages %d records %d\nwant calls %+v messages %d records %d",
			what, g.Calls, g.Messages, g.Records, w.Calls, w.Messages, w.Records)
	}
}

// TestPersistResume counts, closes, reopens and counts more: the figures
// after the restart are those of one uninterrupted count, nothing counted
// twice; a damaged file is counted again from its segment.
func TestPersistResume(t *testing.T) {
	root := t.TempDir()
	clk := &testClock{t: testBase.Add(10 * time.Minute)}
	seg := openSeg(t, filepath.Join(root, "segments"), clk)
	defer seg.Close()
	statsDir := filepath.Join(root, "stats")

	appendAll(t, seg, answeredCall(0, "p1"), answeredCall(ms(100), "p2"), failedCall(ms(200), "p3", "486 Busy Here"))
	s1 := openStats(t, statsDir)
	catchUp(t, s1, seg)
	r1 := report(t, s1)
	if r1.Calls.Attempts != 3 || r1.Calls.Answered != 2 || r1.Calls.Busy != 1 {
		t.Fatalf("first count %+v", r1.Calls)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(statsDir, FileName(segment.HourOf(testBase)))
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("no stats file after Close: %v", err)
	}

	// Reopen: the same figures, from the file alone and after a pass.
	s2 := openStats(t, statsDir)
	same(t, "reopened, before a pass", report(t, s2), r1)
	catchUp(t, s2, seg)
	same(t, "reopened, after a pass", report(t, s2), r1)

	// More traffic after the restart is added once.
	appendAll(t, seg, failedCall(ms(20000), "p4", "404 Not Found"), answeredCall(ms(21000), "p5"))
	catchUp(t, s2, seg)
	r2 := report(t, s2)
	if r2.Calls.Attempts != 5 || r2.Calls.Answered != 3 || r2.Calls.Failed != 2 {
		t.Fatalf("after the restart %+v, want 5 attempts, 3 answered, 2 failed", r2.Calls)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// One uninterrupted count of the same segment gives the same report.
	fresh := openStats(t, filepath.Join(root, "fresh"))
	catchUp(t, fresh, seg)
	same(t, "uninterrupted count", r2, report(t, fresh))
	fresh.Close()

	// A damaged file is counted again.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 0x55
	if err := os.WriteFile(file, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s3 := openStats(t, statsDir)
	if r := report(t, s3); r.Calls.Attempts != 0 || r.Counting != 1 {
		t.Errorf("damaged file read as %+v (counting %d)", r.Calls, r.Counting)
	}
	catchUp(t, s3, seg)
	same(t, "recounted after damage", report(t, s3), r2)
	s3.Close()

	// A file whose mark names a block the segment does not have is stale.
	set, err := readFile(statsDir, segment.HourOf(testBase))
	if err != nil {
		t.Fatal(err)
	}
	set.Mark.CRC ^= 1
	set.Calls[callAttempts] = 1000
	if err := writeFile(statsDir, set); err != nil {
		t.Fatal(err)
	}
	s4 := openStats(t, statsDir)
	catchUp(t, s4, seg)
	same(t, "recounted after a stale mark", report(t, s4), r2)
	s4.Close()
}

// TestSealedHourRetiredAndRange: once the hour is over and sealed, its set is
// written and leaves memory; reports pick hours by range.
func TestSealedHourRetiredAndRange(t *testing.T) {
	root := t.TempDir()
	clk := &testClock{t: testBase.Add(10 * time.Minute)}
	seg := openSeg(t, filepath.Join(root, "segments"), clk)
	defer seg.Close()
	s := openStats(t, filepath.Join(root, "stats"))
	defer s.Close()
	appendAll(t, seg, answeredCall(0, "s1"))
	clk.Set(testBase.Add(70 * time.Minute))
	appendAll(t, seg, failedCall(70*time.Minute, "s2", "486 Busy Here"), failedCall(71*time.Minute, "s3", "503 Service Unavailable"))
	catchUp(t, s, seg)
	h := segment.HourOf(testBase)
	s.mu.Lock()
	_, active := s.active[h]
	s.mu.Unlock()
	if active {
		t.Errorf("hour %s still being counted after it was sealed and counted", h)
	}
	if _, err := os.Stat(filepath.Join(root, "stats", FileName(h))); err != nil {
		t.Errorf("sealed hour not written: %v", err)
	}
	first, err := s.Report(testBase, testBase.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if first.Hours != 1 || first.Calls.Attempts != 1 || first.Calls.Answered != 1 {
		t.Errorf("first hour: %d hours, %+v", first.Hours, first.Calls)
	}
	second, err := s.Report(testBase.Add(time.Hour+time.Minute), testBase.Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if second.Hours != 1 || second.Calls.Attempts != 2 || second.Calls.Busy != 1 || second.Calls.Failed != 2 ||
		!second.Since.Equal(testBase.Add(time.Hour)) || !second.Until.Equal(testBase.Add(2*time.Hour)) {
		t.Errorf("second hour: %d hours %s..%s, %+v", second.Hours, second.Since, second.Until, second.Calls)
	}
	all := report(t, s)
	if all.Hours != 2 || all.Calls.Attempts != 3 || len(all.Series) != 120 {
		t.Errorf("both hours: %d hours, %d attempts, %d minutes", all.Hours, all.Calls.Attempts, len(all.Series))
	}
}

// TestLiveRTCPAndLastHour: the RTCP distributions count only the report
// blocks of blocks written after the first pass (live traffic, not the
// catch-up of the archive); LastHour sums the last 60 minutes of calls.
func TestLiveRTCPAndLastHour(t *testing.T) {
	root := t.TempDir()
	clk := &testClock{t: testBase.Add(10 * time.Minute)}
	seg := openSeg(t, filepath.Join(root, "segments"), clk)
	defer seg.Close()
	appendAll(t, seg, answeredCall(0, "old"))
	appendRecords(t, seg, rtcpRec(ms(100), 0x11, 0x22, 40, 16))
	s := openStats(t, filepath.Join(root, "stats"))
	defer s.Close()
	catchUp(t, s, seg)
	if r := s.RTCP(); r.Reports != 0 || r.Jitter.Count != 0 {
		t.Errorf("RTCP stored before the start counted: %+v", r)
	}
	appendAll(t, seg, answeredCall(ms(20000), "new"), failedCall(ms(21000), "new2", "486 Busy Here"))
	appendRecords(t, seg, rtcpRec(ms(22000), 0x11, 0x22, 80, 64), rtcpRec(ms(22100), 0x22, 0x22, 8, 0))
	catchUp(t, s, seg)
	// The second report is about its own SSRC: a packet, but no block.
	r := s.RTCP()
	if r.Reports != 2 || r.Jitter.Count != 1 || r.Jitter.Sum != 10 || r.Loss.Count != 1 || r.Loss.Sum != 0.25 || r.MOS.Count != 1 {
		t.Errorf("live RTCP: %d reports, jitter %d/%v ms, loss %d/%v, MOS %d; want 2, 1/10, 1/0.25, 1",
			r.Reports, r.Jitter.Count, r.Jitter.Sum, r.Loss.Count, r.Loss.Sum, r.MOS.Count)
	}
	s.opts.Now = func() time.Time { return testBase.Add(30 * time.Minute) }
	if a, ans, eff := s.LastHour(); a != 3 || ans != 2 || eff != 3 {
		t.Errorf("last hour: %d attempts, %d answered, %d effective; want 3, 2, 3", a, ans, eff)
	}
}

// TestCumulativeKeepsDeletedHours: the cumulative counters keep the counts of
// an hour retention deleted, are the same after a restart, and count nothing
// twice when traced stopped between retiring an hour and removing its file.
func TestCumulativeKeepsDeletedHours(t *testing.T) {
	root := t.TempDir()
	statsDir := filepath.Join(root, "stats")
	clk := &testClock{t: testBase.Add(10 * time.Minute)}
	seg := openSeg(t, filepath.Join(root, "segments"), clk)
	defer seg.Close()
	appendAll(t, seg, answeredCall(0, "c1"), failedCall(ms(500), "c2", "486 Busy Here"))
	clk.Set(testBase.Add(70 * time.Minute))
	appendAll(t, seg, answeredCall(70*time.Minute, "c3"))
	s := openStats(t, statsDir)
	catchUp(t, s, seg)
	attempts := func(s *Stats) int64 { c := s.Cumulative(); return c.Calls[callAttempts] }
	if n := attempts(s); n != 3 {
		t.Fatalf("cumulative attempts %d, want 3", n)
	}
	h := segment.HourOf(testBase)
	if err := s.DropHour(h); err != nil {
		t.Fatal(err)
	}
	if _, err := seg.DeleteHour(h); err != nil {
		t.Fatal(err)
	}
	catchUp(t, s, seg)
	if n, r := attempts(s), report(t, s); n != 3 || r.Calls.Attempts != 1 {
		t.Errorf("after the first hour was deleted: cumulative %d attempts (want 3), report %d (want 1)", n, r.Calls.Attempts)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStats(t, statsDir)
	catchUp(t, s2, seg)
	if n := attempts(s2); n != 3 {
		t.Errorf("after a restart: cumulative %d attempts, want 3", n)
	}
	// A stop between retiring the next hour and removing its file: the file
	// is still there at the next start, and the hour is not counted twice.
	h2 := h + 1
	kept, err := os.ReadFile(filepath.Join(statsDir, FileName(h2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.DropHour(h2); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(statsDir, FileName(h2)), kept, 0o640); err != nil {
		t.Fatal(err)
	}
	s3 := openStats(t, statsDir)
	defer s3.Close()
	catchUp(t, s3, seg) // the hour's segment is still there too
	if n, r := attempts(s3), report(t, s3); n != 3 || r.Calls.Attempts != 0 {
		t.Errorf("after an interrupted drop: cumulative %d attempts (want 3), report %d (want 0)", n, r.Calls.Attempts)
	}
	if _, err := os.Stat(filepath.Join(statsDir, FileName(h2))); err == nil {
		t.Errorf("the file of the retired hour %s is still there", h2)
	}
}
