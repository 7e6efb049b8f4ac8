package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"traced/httpui"
	"traced/ingest/hep"
	"traced/ingest/record"
	"traced/internal/sipgen"
	"traced/segment"
)

// The full-disk test runs traced on a small filesystem of its own, so that a
// filler file really exhausts it: the segment writer and the index get ENOSPC
// from the kernel, and retention sees the free space statfs(2) reports.
//
// The filesystem is a loop-mounted ext4 image, like an appliance's data
// partition: blocks are allocated (delayed, at write(2)) and freed by a
// journalling filesystem whose metadata needs space too, where tmpfs only
// counts pages in memory. It is made with -m 0 so that root, which may use the
// reserved blocks, has exactly the free space statfs reports. When no loop
// device can be set up, a size-limited tmpfs is used instead.
const (
	fullDiskFSSize  = 64 << 20                // the filesystem
	fullDiskHours   = 8                       // past hours written before traced starts
	fullDiskPerHour = 1500                    // records per past hour: about 3.3 MiB of segment each
	fullDiskMinFree = 3 << 20                 // --min-free: less than one past hour, so a pass deletes one hour
	fullDiskRate    = 2000                    // packets/s of live traffic
	fullDiskHold    = 1500 * time.Millisecond // the disk is kept full this long
)

// TestFullDiskDeletesOldestHoursAndRecovers fills the data filesystem while
// traced receives traffic. traced keeps running and answering; the failed
// writes are counted and logged; the free-space watermark deletes the oldest
// past hours first, index shard with segment, until traced stores again with
// the filler still there; after the filler is removed a new packet is found by
// its Call-ID. After a clean stop (exit status 0) every remaining hour reads
// back completely, and after a restart the index still finds everything kept
// and nothing of a deleted hour.
func TestFullDiskDeletesOldestHoursAndRecovers(t *testing.T) {
	binaries(t)
	begin := time.Now()
	elapsed := func() time.Duration { return time.Since(begin).Round(time.Millisecond) }
	data, fsKind := smallFilesystem(t, fullDiskFSSize)
	t.Logf("data filesystem: %s of %d MiB at %s", fsKind, fullDiskFSSize>>20, data)
	segDir := filepath.Join(data, segmentsDir)

	// 1. Past hours, ending two hours ago, sealed.
	now := time.Now()
	var hours []segment.Hour
	for i := fullDiskHours + 1; i >= 2; i-- {
		hours = append(hours, segment.HourOf(now.Add(-time.Duration(i)*time.Hour)))
	}
	past := writePastHours(t, segDir, hours, fullDiskPerHour)
	for _, h := range hours {
		if past[h].size <= fullDiskMinFree {
			t.Fatalf("past hour %s is %d bytes, not more than --min-free", h, past[h].size)
		}
	}
	t.Logf("%d past hours of %d records, %d bytes each (%s)", len(hours), fullDiskPerHour, past[hours[0]].size, elapsed())

	// 2. traced with the watermark met.
	d := startTraced(t, data, "--min-free", fmt.Sprintf("%dB", fullDiskMinFree), "--retention-interval", "500ms",
		"-k", "3650", "--flush-interval", "200ms")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("traced's log without debug lines:\n%s", withoutDebug(daemonLog(t, d)))
		}
	})
	st := d.waitStored(0) // the past hours are indexed
	if st.DiskFree < 4*fullDiskMinFree {
		t.Fatalf("only %d bytes free before the filler: the filesystem is too small for the test", st.DiskFree)
	}
	if st.Deleted != 0 || st.Segments != fullDiskHours {
		t.Fatalf("with the watermark met: %d hours deleted, %d segments; want 0 and %d", st.Deleted, st.Segments, fullDiskHours)
	}
	searchPast(t, d, hours, past, nil, "before the disk fills")

	watch := watchStatus(d)
	defer watch.finish()
	traffic := startSteadyTraffic(t, d.hepPort, fullDiskRate)
	defer traffic.finish()
	base := waitStatus(t, d, 10*time.Second, "live traffic stored", func(s httpui.Status) bool {
		return s.Stored >= fullDiskRate/2 && s.Segments > fullDiskHours
	})
	t.Logf("before the filler (%s): %d stored, %d bytes free", elapsed(), base.Stored, base.DiskFree)

	// 3. Fill the disk and keep it full for a while, taking back the space
	// retention frees: segment writes fail, and so do the index's.
	fill := newDiskFiller(t, filepath.Join(data, "filler"))
	status := statusOver(d)
	fill.keepFull(fullDiskHold, func() (uint64, error) {
		s, err := status()
		return s.Deleted, err
	})
	fill.wait()
	full := waitStatus(t, d, 5*time.Second, "failed writes counted", func(s httpui.Status) bool {
		return s.WriteErrors > 0 && s.LostRecords > 0
	})
	t.Logf("disk full (%s): filler %d MiB, %d write errors, %d records lost, %d hours deleted",
		elapsed(), fill.size()>>20, full.WriteErrors, full.LostRecords, full.Deleted)

	// 4. With the filler still there, the watermark deletes the oldest hours
	// and traced stores again.
	recovered := waitStatus(t, d, 20*time.Second, "storing again after the watermark deletions", func(s httpui.Status) bool {
		return s.Deleted > 0 && s.Stored >= full.Stored+fullDiskRate/2 && s.DiskFree > 0
	})
	t.Logf("stored again with the filler in place (%s): %d stored, %d lost, %d hours deleted, %d bytes freed, %d bytes free",
		elapsed(), recovered.Stored, recovered.LostRecords, recovered.Deleted, recovered.Freed, recovered.DiskFree)
	if !strings.Contains(daemonLog(t, d), "segment writes succeed again") {
		t.Errorf("traced stores again but did not log that writes succeed again")
	}

	// 5. The filler goes; a packet sent now is found by its Call-ID.
	fill.remove()
	marker := fmt.Sprintf("after-full-disk-%d@diskfull.example", time.Now().UnixNano())
	sendUDPOnce(t, d.hepPort, fullDiskPacket(marker, time.Now(), "INVITE", ""))
	waitCallID(t, d, 15*time.Second, marker)
	traffic.finish()
	watch.finish()
	if len(watch.errs) > 0 {
		t.Errorf("the control socket failed %d times out of %d status requests, first: %s", len(watch.errs), watch.polls+len(watch.errs), watch.errs[0])
	}
	if watch.polls < 10 {
		t.Errorf("only %d status requests answered from the start of the traffic to the recovery", watch.polls)
	}
	time.Sleep(600 * time.Millisecond) // three flush intervals: every record received is written
	final := d.waitStored(0)
	if final.Stored <= recovered.Stored || final.Corruptions != 0 {
		t.Errorf("after the filler went: stored %d (was %d), corruptions %d", final.Stored, recovered.Stored, final.Corruptions)
	}
	if final.Stored+final.LostRecords != final.Accepted {
		t.Errorf("%d packets accepted, but %d stored and %d counted as lost", final.Accepted, final.Stored, final.LostRecords)
	}
	t.Logf("final (%s): sent %d, stored %d, lost %d, write errors %d, deleted %d hours, freed %d bytes",
		elapsed(), traffic.sent.Load(), final.Stored, final.LostRecords, final.WriteErrors, final.Deleted, final.Freed)

	// Oldest first: the retention log, the segment files, the index shards and
	// the counters agree.
	log := daemonLog(t, d)
	deleted := deletedHours(t, log)
	if len(deleted) == 0 || uint64(len(deleted)) != final.Deleted {
		t.Fatalf("retention logged %d deleted hours %v, status says %d", len(deleted), deleted, final.Deleted)
	}
	if len(deleted) > len(hours) || !slices.Equal(deleted, hours[:len(deleted)]) {
		t.Fatalf("deleted hours %v: not the oldest first of %v", deleted, hours)
	}
	if len(deleted) == len(hours) {
		t.Fatalf("the watermark deleted every past hour, although each frees more than --min-free")
	}
	kept := hours[len(deleted):]
	var freed uint64
	for _, h := range deleted {
		freed += uint64(past[h].size)
	}
	if final.Freed != freed {
		t.Errorf("status says %d bytes freed, the deleted hours' files were %d bytes", final.Freed, freed)
	}
	for _, h := range hours {
		gone := slices.Contains(deleted, h)
		if _, err := os.Stat(filepath.Join(segDir, h.String()+".seg")); gone != errors.Is(err, os.ErrNotExist) {
			t.Errorf("hour %s deleted %v, but its segment file: %v", h, gone, err)
		}
		if _, err := os.Stat(filepath.Join(data, indexDir, h.String()+".bleve")); gone != errors.Is(err, os.ErrNotExist) {
			t.Errorf("hour %s deleted %v, but its index shard: %v", h, gone, err)
		}
	}

	// The index does not point at deleted hours, and still finds the others.
	searchPast(t, d, hours, past, deleted, "after the disk was full")

	// traced's log tells the story.
	if !regexp.MustCompile(`msg="segment write failed[^"]*".*no space left on device`).MatchString(log) {
		t.Errorf("traced did not log the failed segment write with ENOSPC")
	}
	if !regexp.MustCompile(`msg="deleted hour".* reason=disk`).MatchString(log) {
		t.Errorf("traced did not log the deletions by the free-space watermark")
	}
	for _, bad := range []string{"index follower stopped", "panic", "nothing left to delete"} {
		if strings.Contains(log, bad) {
			t.Errorf("traced's log mentions %q", bad)
		}
	}

	// 6. A clean stop; every remaining hour reads back completely.
	d.stop() // fails the test unless traced exits with status 0
	live := final.Records
	for _, h := range kept {
		live -= int64(past[h].records)
	}
	checkSegmentsReadBack(t, segDir, past, kept, live)

	// 7. What the index persisted while the disk was full opens again: no shard
	// is dropped or rebuilt, and the searches give the same answers.
	logSize := len(daemonLog(t, d))
	d.start()
	d.waitStored(0)
	searchPast(t, d, hours, past, deleted, "after a restart")
	if n := len(d.searchJSON("--call-id", marker)); n != 1 {
		t.Errorf("after a restart, Call-ID %s: %d messages, want 1", marker, n)
	}
	restartLog := daemonLog(t, d)[logSize:]
	for _, bad := range []string{"shard that does not open", "shard is stale", "segment corruption", "panic"} {
		if strings.Contains(restartLog, bad) {
			t.Errorf("after a restart traced's log mentions %q", bad)
		}
	}
	t.Logf("done in %s", elapsed())
}

// searchPast searches the first and last Call-ID of every past hour: one
// message each, none for the deleted hours.
func searchPast(t *testing.T, d *daemon, hours []segment.Hour, past map[segment.Hour]pastHour, deleted []segment.Hour, when string) {
	t.Helper()
	for _, h := range hours {
		want := 1
		if slices.Contains(deleted, h) {
			want = 0
		}
		for _, id := range []string{past[h].firstID, past[h].lastID} {
			if n := len(d.searchJSON("--call-id", id)); n != want {
				t.Errorf("%s, Call-ID %s of hour %s: %d messages, want %d", when, id, h, n, want)
			}
		}
	}
}

// smallFilesystem mounts a new filesystem of size bytes and unmounts it when the
// test ends. Mounting needs root: without it the test is skipped, unless it runs
// in CI (CI set), where that is a failure.
func smallFilesystem(t *testing.T, size int64) (dir, kind string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the full-disk test mounts a small filesystem and needs root")
		}
		t.Skip("the full-disk test mounts a small filesystem and needs root")
	}
	tmp := t.TempDir()
	dir = filepath.Join(tmp, "data")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	err := mountExt4(t, filepath.Join(tmp, "ext4.img"), dir, size)
	if err == nil {
		return dir, "ext4 (loop)"
	}
	t.Logf("no ext4 image (%v): using tmpfs", err)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0750", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a small filesystem: %v: %s", err, out)
	}
	t.Cleanup(func() { unmountRetry(t, dir) })
	return dir, "tmpfs"
}

// mountExt4 makes an ext4 image of size bytes at img and mounts it at dir
// through a loop device, both undone when the test ends.
func mountExt4(t *testing.T, img, dir string, size int64) error {
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	run := func(name string, args ...string) (string, error) {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0", img); err != nil {
		return err
	}
	dev, err := run("losetup", "--find", "--show", img)
	if err != nil {
		return err
	}
	if _, err := run("mount", "-t", "ext4", dev, dir); err != nil {
		_, _ = run("losetup", "-d", dev)
		return err
	}
	t.Cleanup(func() {
		unmountRetry(t, dir)
		if _, err := run("losetup", "-d", dev); err != nil {
			t.Errorf("detach loop device: %v", err)
		}
	})
	return nil
}

// unmountRetry unmounts dir, retrying while it is busy, and lazily as a last resort.
func unmountRetry(t *testing.T, dir string) {
	var out []byte
	var err error
	for range 20 {
		if out, err = exec.Command("umount", dir).CombinedOutput(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("umount %s: %v: %s", dir, err, out)
	_ = exec.Command("umount", "-l", dir).Run()
}

// pastHour is what was written to one past hour.
type pastHour struct {
	records         int
	sum             [32]byte // of the records' times and data, in order
	size            int64    // bytes of the sealed file
	firstID, lastID string   // Call-IDs of its first and last records
}

// recordSum hashes records in order.
type recordSum struct{ h [32]byte }

func (s *recordSum) add(r segment.Record) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(r.Time))
	h := sha256.New()
	h.Write(s.h[:])
	h.Write(b[:])
	h.Write(r.Data)
	copy(s.h[:], h.Sum(nil))
}

// writePastHours writes perHour records of SIP in each of hours with the segment
// writer under a clock set in that hour, and closes the directory: the files are
// sealed. The records are about 3.5 KiB, most of it a body of random text that
// compresses to about 3/4, so each hour is a few MiB.
func writePastHours(t *testing.T, dir string, hours []segment.Hour, perHour int) map[segment.Hour]pastHour {
	t.Helper()
	var clock atomic.Int64
	clock.Store(hours[0].Time().UnixNano())
	seg, err := segment.Open(dir, segment.Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	raw := make([]byte, 2250)
	out := make(map[segment.Hour]pastHour)
	agent := netip.MustParseAddrPort("10.9.0.1:9060")
	for _, h := range hours {
		var p pastHour
		var sum recordSum
		for i := range perHour {
			at := h.Time().Add(time.Duration(i) * (time.Hour / time.Duration(perHour)))
			clock.Store(at.UnixNano())
			for j := range raw {
				raw[j] = byte(rng.Uint32())
			}
			id := fmt.Sprintf("past-%s-%d@diskfull.example", h, i)
			pkt := fullDiskPacket(id, at, "INVITE", "X-Padding: "+base64.StdEncoding.EncodeToString(raw)+"\r\n")
			rec := segment.Record{Time: at.UnixMicro(), Data: record.Append(nil,
				&record.Header{Kind: record.KindHEP, Listener: record.ListenerUDP, Recv: at.UnixMicro(), Agent: agent}, pkt)}
			if err := seg.Append(rec); err != nil {
				t.Fatal(err)
			}
			sum.add(rec)
			if i == 0 {
				p.firstID = id
			}
			p.lastID = id
			p.records++
		}
		p.sum = sum.h
		out[h] = p
	}
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	for _, h := range hours {
		fi, err := os.Stat(filepath.Join(dir, h.String()+".seg"))
		if err != nil {
			t.Fatalf("past hour %s not sealed: %v", h, err)
		}
		p := out[h]
		p.size = fi.Size()
		out[h] = p
	}
	return out
}

// fullDiskPacket returns a HEPv3 packet carrying a SIP request with the Call-ID id
// and the extra header lines in extra.
func fullDiskPacket(id string, at time.Time, method, extra string) []byte {
	sip := fmt.Sprintf("%s sip:+15550001111@gw.example.net SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-diskfull\r\n"+
		"From: <sip:+15559990000@pbx.example.net>;tag=1\r\nTo: <sip:+15550001111@gw.example.net>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 %s\r\n%sContent-Length: 0\r\n\r\n", method, id, method, extra)
	p := hep.Packet{Version: 3, Family: 4, Proto: 17,
		Src: netip.MustParseAddrPort("10.0.0.1:5060"), Dst: netip.MustParseAddrPort("10.0.0.2:5060"),
		TsSec: uint32(at.Unix()), TsUsec: uint32(at.Nanosecond() / 1000), ProtoType: 1, CaptureID: 2001,
		NodeName: []byte("proxy1"), Payload: []byte(sip)}
	return hep.AppendV3(nil, &p)
}

func sendUDPOnce(t *testing.T, port int, pkt []byte) {
	t.Helper()
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
}

// steadyTraffic sends generated HEP packets over UDP at a steady rate until finish.
type steadyTraffic struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
	sent atomic.Int64
}

func startSteadyTraffic(t *testing.T, port, perSecond int) *steadyTraffic {
	t.Helper()
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	tr := &steadyTraffic{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		defer c.Close()
		g := sipgen.New(23, time.Now().Add(-10*time.Minute))
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tr.stop:
				return
			case <-tick.C:
			}
			for range perSecond / 100 {
				if _, err := c.Write(g.Next()); err == nil {
					tr.sent.Add(1)
				}
			}
		}
	}()
	return tr
}

func (tr *steadyTraffic) finish() {
	tr.once.Do(func() { close(tr.stop) })
	<-tr.done
}

// diskFiller takes the free space of a filesystem with a file.
type diskFiller struct {
	t    *testing.T
	f    *os.File
	n    atomic.Int64
	stop chan struct{}
	done chan struct{}
	err  error
}

func newDiskFiller(t *testing.T, path string) *diskFiller {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	fl := &diskFiller{t: t, f: f}
	t.Cleanup(fl.remove)
	return fl
}

// fillOnce writes until the filesystem refuses even a small write, but no more
// than the free space when it starts (and a little slack): space freed while it
// writes is left for the next call.
func (fl *diskFiller) fillOnce() error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(fl.f.Fd()), &st); err != nil {
		return err
	}
	limit := int64(st.Bavail*uint64(st.Bsize)) + 64<<10
	buf := make([]byte, 1<<20)
	for _, chunk := range []int{1 << 20, 64 << 10, 4 << 10} {
		for limit > 0 {
			n, err := fl.f.Write(buf[:min(int64(chunk), limit)])
			fl.n.Add(int64(n))
			limit -= int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// keepFull fills the filesystem, then for hold takes back the space that
// retention frees, as a disk filled faster than retention runs. It refills once
// deleted (traced's count of deleted hours) has grown and the retention pass
// has had time to see its own result, so as not to race the pass itself.
func (fl *diskFiller) keepFull(hold time.Duration, deleted func() (uint64, error)) {
	last, err := deleted()
	if err != nil {
		fl.t.Fatal(err)
	}
	if err := fl.fillOnce(); err != nil {
		fl.t.Fatalf("fill the disk: %v", err)
	}
	fl.stop, fl.done = make(chan struct{}), make(chan struct{})
	deadline := time.Now().Add(hold)
	pause := func(d time.Duration) bool {
		select {
		case <-fl.stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	go func() {
		defer close(fl.done)
		for time.Now().Before(deadline) && pause(20*time.Millisecond) {
			n, err := deleted()
			if err != nil || n == last {
				continue
			}
			last = n
			if !pause(200 * time.Millisecond) {
				return
			}
			if err := fl.fillOnce(); err != nil {
				fl.err = err
				return
			}
		}
	}()
}

// wait waits until keepFull stops taking space.
func (fl *diskFiller) wait() {
	if fl.done != nil {
		<-fl.done
		fl.done = nil
		if fl.err != nil {
			fl.t.Errorf("keep the disk full: %v", fl.err)
		}
	}
}

func (fl *diskFiller) size() int64 { return fl.n.Load() }

func (fl *diskFiller) remove() {
	if fl.f == nil {
		return
	}
	if fl.done != nil {
		close(fl.stop)
		fl.wait()
	}
	fl.f.Close()
	if err := os.Remove(fl.f.Name()); err != nil {
		fl.t.Errorf("remove the filler: %v", err)
	}
	fl.f = nil
}

// statusWatch asks traced for its status every 100 ms and keeps the failures.
type statusWatch struct {
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	polls int
	errs  []string
}

func watchStatus(d *daemon) *statusWatch {
	w := &statusWatch{stop: make(chan struct{}), done: make(chan struct{})}
	status := statusOver(d)
	go func() {
		defer close(w.done)
		for {
			start := time.Now()
			if _, err := status(); err != nil {
				w.errs = append(w.errs, fmt.Sprintf("after %s: %v", time.Since(start).Round(time.Millisecond), err))
			} else {
				w.polls++
			}
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

// statusOver returns a function that asks d for its status over one kept-alive
// connection, as a monitoring client does.
func statusOver(d *daemon) func() (httpui.Status, error) {
	c := httpui.NewClient(httpui.SocketPath(d.data))
	return func() (httpui.Status, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Status(ctx)
	}
}

func (w *statusWatch) finish() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// waitStatus polls traced's status until cond holds.
func waitStatus(t *testing.T, d *daemon, timeout time.Duration, what string, cond func(httpui.Status) bool) httpui.Status {
	t.Helper()
	status := statusOver(d)
	deadline := time.Now().Add(timeout)
	for {
		s, err := status()
		if err == nil && cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %s for %s: status %+v (err %v)\n%s", timeout, what, s, err, d.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCallID waits until a search by Call-ID finds exactly one message.
func waitCallID(t *testing.T, d *daemon, timeout time.Duration, callID string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := d.searchJSON("--call-id", callID)
		if len(msgs) == 1 && msgs[0].CallID == callID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Call-ID %s: %d messages after %s, want 1\n%s", callID, len(msgs), timeout, d.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// daemonLog returns traced's whole log.
func daemonLog(t *testing.T, d *daemon) string {
	t.Helper()
	b, err := os.ReadFile(d.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutDebug drops the debug lines of a log, and keeps its first 150 and
// last 50 lines.
func withoutDebug(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, " level=DEBUG ") {
			keep = append(keep, l)
		}
	}
	if len(keep) > 200 {
		keep = append(append(keep[:150:150], "..."), keep[len(keep)-50:]...)
	}
	return strings.Join(keep, "\n")
}

var deletedHourLine = regexp.MustCompile(`msg="deleted hour".* hour=(\S+) reason=(\S+)`)

// deletedHours returns the hours retention logged as deleted, in log order.
func deletedHours(t *testing.T, log string) []segment.Hour {
	t.Helper()
	var out []segment.Hour
	for _, m := range deletedHourLine.FindAllStringSubmatch(log, -1) {
		h, err := segment.ParseHour(m[1])
		if err != nil {
			t.Fatalf("deleted hour line: %v", err)
		}
		out = append(out, h)
	}
	return out
}

// checkSegmentsReadBack opens the stopped data's segments and reads every block of
// every hour: no damage, nothing cut by recovery, every record decodes; the
// kept past hours hold exactly what was written, and the other hours liveRecords
// records in all.
func checkSegmentsReadBack(t *testing.T, dir string, past map[segment.Hour]pastHour, kept []segment.Hour, liveRecords int64) {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range names {
		if n := de.Name(); strings.HasSuffix(n, ".tmp") || strings.HasSuffix(n, ".broken") {
			t.Errorf("segment directory holds %s after a clean stop", n)
		}
	}
	seg, err := segment.Open(dir, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var hours []segment.Hour
	var live int64
	for _, hi := range seg.Hours() {
		hours = append(hours, hi.Hour)
		var sum recordSum
		n := 0
		var msg record.Message
		err := seg.Blocks(hi.Hour, 0, func(bi segment.BlockInfo) error {
			b, err := seg.ReadBlock(bi.Ref)
			if err != nil {
				return err
			}
			for _, r := range b.Records {
				if err := record.Decode(r, &msg); err != nil {
					return fmt.Errorf("record %d of block %s: %w", n, bi.Ref, err)
				}
				if !msg.IsSIP || len(msg.SIP.CallID) == 0 {
					return fmt.Errorf("record %d of block %s is not SIP with a Call-ID", n, bi.Ref)
				}
				sum.add(r)
				n++
			}
			return nil
		})
		if err != nil {
			t.Errorf("hour %s: %v", hi.Hour, err)
			continue
		}
		if int64(n) != hi.Records {
			t.Errorf("hour %s: %d records read, the directory says %d", hi.Hour, n, hi.Records)
		}
		if p, ok := past[hi.Hour]; ok {
			if n != p.records || sum.h != p.sum {
				t.Errorf("past hour %s: %d records read back (sum %x), %d written (sum %x)", hi.Hour, n, sum.h[:4], p.records, p.sum[:4])
			}
		} else {
			live += int64(n)
		}
	}
	st := seg.Stats()
	if st.Corruptions != 0 || len(st.Recovered) != 0 {
		t.Errorf("reopening the segments: %d corruptions, recovered %+v", st.Corruptions, st.Recovered)
	}
	for _, h := range kept {
		if !slices.Contains(hours, h) {
			t.Errorf("past hour %s was not deleted but is gone", h)
		}
	}
	for h := range past {
		if !slices.Contains(kept, h) && slices.Contains(hours, h) {
			t.Errorf("deleted past hour %s is back", h)
		}
	}
	if live != liveRecords {
		t.Errorf("the hours written by traced hold %d records, its status said %d", live, liveRecords)
	}
	t.Logf("read back %d hours: %s", len(hours), strconv.FormatInt(live, 10)+" live records")
}
