package retention

import (
	"bytes"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"traced/segment"
)

type fakeSegments struct {
	hours map[segment.Hour]int64 // hour → size
	order []string
}

func (f *fakeSegments) Hours() []segment.HourInfo {
	var out []segment.HourInfo
	for h, sz := range f.hours {
		out = append(out, segment.HourInfo{Hour: h, Size: sz, Sealed: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hour < out[j].Hour })
	return out
}

func (f *fakeSegments) DeleteHour(h segment.Hour) (int64, error) {
	sz := f.hours[h]
	delete(f.hours, h)
	f.order = append(f.order, "seg:"+h.String())
	return sz, nil
}

type fakeIndex struct{ f *fakeSegments }

func (x fakeIndex) DropHour(h segment.Hour) error {
	x.f.order = append(x.f.order, "idx:"+h.String())
	return nil
}

func TestBeyondAge(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	cur := segment.HourOf(now)
	var hours []segment.HourInfo
	for h := cur - 60; h <= cur; h++ {
		hours = append(hours, segment.HourInfo{Hour: h})
	}
	got := BeyondAge(hours, now, 48*time.Hour)
	// Hour h ends at h+1; it goes when now - (h+1) > 48 h: with now at cur+30m, h <= cur-49.
	if len(got) != 12 {
		t.Fatalf("%d hours beyond age, want 12", len(got))
	}
	if got[len(got)-1].Hour != cur-49 {
		t.Errorf("newest deleted %s, want %s", got[len(got)-1].Hour, cur-49)
	}
	if BeyondAge(hours, now, 0) != nil {
		t.Error("a zero age deletes nothing")
	}
}

func TestEnforceByAgeDropsIndexFirst(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	cur := segment.HourOf(now)
	f := &fakeSegments{hours: map[segment.Hour]int64{cur - 30: 100, cur - 25: 200, cur - 2: 300, cur: 400}}
	e := &Enforcer{Policy: Policy{MaxAge: 24 * time.Hour}, Segments: f, Index: fakeIndex{f}, Now: func() time.Time { return now }}
	del, err := e.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 || del[0].Hour != cur-30 || del[1].Hour != cur-25 || del[0].Reason != ByAge {
		t.Fatalf("deleted %+v", del)
	}
	want := []string{"idx:" + (cur - 30).String(), "seg:" + (cur - 30).String(), "idx:" + (cur - 25).String(), "seg:" + (cur - 25).String()}
	if len(f.order) != 4 {
		t.Fatalf("order %v", f.order)
	}
	for i := range want {
		if f.order[i] != want[i] {
			t.Errorf("step %d = %s, want %s", i, f.order[i], want[i])
		}
	}
	if h, b := e.Counts(); h != 2 || b != 300 {
		t.Errorf("counts %d hours %d bytes", h, b)
	}
}

func TestEnforceByDiskOldestFirstNeverActive(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	cur := segment.HourOf(now)
	f := &fakeSegments{hours: map[segment.Hour]int64{cur - 3: 100, cur - 2: 100, cur - 1: 100, cur: 100}}
	used := func() uint64 {
		var n uint64
		for _, s := range f.hours {
			n += uint64(s)
		}
		return n
	}
	const total = 1000
	// Free space is what the hours do not use, minus 550 bytes of other files: the
	// watermark of 20 % (200 bytes) needs two hours to go.
	disk := func() (uint64, uint64, error) { return total - 550 - used(), total, nil }
	e := &Enforcer{Policy: Policy{MaxAge: 100 * 24 * time.Hour, MinFreeFrac: 0.20}, Segments: f, Index: fakeIndex{f},
		Disk: disk, Now: func() time.Time { return now }}
	del, err := e.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 || del[0].Hour != cur-3 || del[1].Hour != cur-2 || del[0].Reason != ByDisk {
		t.Fatalf("deleted %+v", del)
	}
	// Even a hopeless watermark never deletes the hour being written; it is said
	// once, not at every pass.
	var logged bytes.Buffer
	e.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	e.Policy.MinFreeFrac = 0.99
	for i := 0; i < 3; i++ {
		if _, err := e.Enforce(); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logged.String(), "nothing left to delete"); n != 1 {
		t.Errorf("the stuck watermark was logged %d times in 3 passes, want once", n)
	}
	if _, ok := f.hours[cur]; !ok || len(f.hours) != 1 {
		t.Errorf("hours left %v", f.hours)
	}
}
