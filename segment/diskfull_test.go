package segment

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultyDisk makes segment file writes and fsyncs fail on demand.
type faultyDisk struct {
	failWrites atomic.Bool // writes fail with ENOSPC after writing half their bytes
	failSyncs  atomic.Bool // fsyncs fail with EIO
	writes     atomic.Int64
}

func (fd *faultyDisk) hooks() *fileHooks {
	return &fileHooks{
		writeAt: func(f *os.File, p []byte, off int64) (int, error) {
			fd.writes.Add(1)
			if fd.failWrites.Load() {
				n, _ := f.WriteAt(p[:len(p)/2], off)
				return n, syscall.ENOSPC
			}
			return f.WriteAt(p, off)
		},
		sync: func(f *os.File) error {
			if fd.failSyncs.Load() {
				return syscall.EIO
			}
			return f.Sync()
		},
	}
}

func TestDiskFull(t *testing.T) {
	forEachOptions(t, func(t *testing.T, opts Options) {
		var disk faultyDisk
		var logs logBuffer
		clk := newClock(baseTime().Add(10 * time.Minute))
		opts.Now, opts.hooks, opts.Logger = clk.Now, disk.hooks(), logs.logger()
		dir := t.TempDir()
		d := mustOpen(t, dir, opts)
		path := filepath.Join(dir, partName(baseHour()))

		good1 := testRecords(0, 30)
		mustAppend(t, d, good1...)
		mustFlush(t, d)
		sizeBefore := fileSize(t, path)

		disk.failWrites.Store(true)
		lostRecs := testRecords(30, 60)
		for i := range 2 { // two failing flushes: one burst
			mustAppend(t, d, lostRecs[i*15:(i+1)*15]...)
			err := d.Flush()
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Flush on a full disk: %v, want ENOSPC", err)
			}
		}
		if got := fileSize(t, path); got != sizeBefore {
			t.Fatalf("file is %d bytes after failed writes, want %d (cut back to the last good block)", got, sizeBefore)
		}
		st := d.Stats()
		if st.LostRecords != 30 || st.WriteErrors < 2 || st.Stored != 30 {
			t.Errorf("stats while full: lost %d errors %d stored %d; want 30 lost, >=2 errors, 30 stored", st.LostRecords, st.WriteErrors, st.Stored)
		}

		disk.failWrites.Store(false)
		good2 := testRecords(60, 90)
		mustAppend(t, d, good2...)
		mustFlush(t, d)
		want := append(slices.Clone(good1), good2...)
		sameRecords(t, readAll(t, d), want)
		if st := d.Stats(); st.Stored != 60 || st.LostRecords != 30 || st.Appended != 90 {
			t.Errorf("stats after space is back: %+v", st)
		}
		if n := logs.count("segment write failed"); n != 1 {
			t.Errorf("%d failure log lines for one burst, want 1", n)
		}
		if n := logs.count("segment writes succeed again"); n != 1 {
			t.Errorf("%d recovery log lines, want 1", n)
		}
		mustClose(t, d)

		d = mustOpen(t, dir, Options{Now: clk.Now})
		sameRecords(t, readAll(t, d), want)
		if st := d.Stats(); len(st.Recovered) != 0 {
			t.Errorf("reopen after a full disk recovered %+v", st.Recovered)
		}
	})
}

func TestFsyncFailure(t *testing.T) {
	var disk faultyDisk
	clk := newClock(baseTime().Add(10 * time.Minute))
	d := mustOpen(t, t.TempDir(), Options{Now: clk.Now, hooks: disk.hooks(), FlushInterval: time.Hour})
	mustAppend(t, d, testRecords(0, 10)...)
	mustFlush(t, d)
	disk.failSyncs.Store(true)
	mustAppend(t, d, testRecords(10, 20)...)
	if err := d.Flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Flush with a failing fsync: %v", err)
	}
	disk.failSyncs.Store(false)
	mustAppend(t, d, testRecords(20, 30)...)
	mustFlush(t, d)
	st := d.Stats()
	if st.Stored != 20 || st.LostRecords != 10 || st.WriteErrors != 1 {
		t.Errorf("stats: stored %d lost %d errors %d; want 20 10 1", st.Stored, st.LostRecords, st.WriteErrors)
	}
	// The kernel kept the pages here, so the block still reads.
	sameRecords(t, readAll(t, d), testRecords(0, 30))
}

// TestCreateFailsOnFullDisk: the new hour's file cannot be created; its records
// are lost, and the file is created once space is back.
func TestCreateFailsOnFullDisk(t *testing.T) {
	var disk faultyDisk
	clk := newClock(baseTime().Add(10 * time.Minute))
	dir := t.TempDir()
	d := mustOpen(t, dir, Options{Now: clk.Now, hooks: disk.hooks(), FlushInterval: time.Hour})
	disk.failWrites.Store(true)
	mustAppend(t, d, testRecords(0, 5)...)
	if err := d.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Flush: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("files after a failed create: %v", names)
	}
	disk.failWrites.Store(false)
	mustAppend(t, d, testRecords(5, 10)...)
	mustFlush(t, d)
	sameRecords(t, readAll(t, d), testRecords(5, 10))
	if st := d.Stats(); st.LostRecords != 5 {
		t.Errorf("lost %d, want 5", st.LostRecords)
	}
}

// TestSealFailsOnFullDisk: the footer cannot be written at Close; the file stays
// unsealed with every block, and the next Open seals it.
func TestSealFailsOnFullDisk(t *testing.T) {
	var disk faultyDisk
	clk := newClock(baseTime().Add(10 * time.Minute))
	dir := t.TempDir()
	d := mustOpen(t, dir, Options{Now: clk.Now, hooks: disk.hooks()})
	mustAppend(t, d, testRecords(0, 10)...)
	mustFlush(t, d)
	disk.failWrites.Store(true)
	if err := d.Close(); err == nil {
		t.Fatal("Close with a failing footer write succeeded")
	}
	if got, want := dirNames(t, dir), []string{partName(baseHour())}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	d = mustOpen(t, dir, Options{Now: clk.Now})
	sameRecords(t, readAll(t, d), testRecords(0, 10))
	if st := d.Stats(); len(st.Recovered) != 0 {
		t.Errorf("recovered %+v, want nothing lost", st.Recovered)
	}
	if got, want := dirNames(t, dir), []string{sealedName(baseHour())}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}
