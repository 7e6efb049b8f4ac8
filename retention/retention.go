// Package retention owns deleting old data: whole hours, never single records.
// An hour goes when it is older than the retention period, and the oldest hours go
// first whenever free space on the data filesystem falls under the watermark. The
// hour being written is never deleted.
//
// Invariant: an hour's index shard (and its other derived data, such as its
// statistics: Enforcer.Derived) is dropped before its segment file, so no
// search result can point at deleted data; if traced stops in between, the next
// pass deletes the segment (and the index follower never rebuilds a shard for an
// hour that is being deleted, because the next pass comes first).
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"traced/segment"
)

// Segments lists and deletes hours. *segment.Dir satisfies it.
type Segments interface {
	Hours() []segment.HourInfo
	DeleteHour(h segment.Hour) (int64, error)
}

// Index drops an hour's index data. *index.Index satisfies it.
type Index interface {
	DropHour(h segment.Hour) error
}

// Disk reports the data filesystem's free and total bytes.
type Disk func() (free, total uint64, err error)

// StatFS returns a Disk for the filesystem holding path.
func StatFS(path string) Disk {
	return func() (uint64, uint64, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
		}
		return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
	}
}

// Policy says what to keep. Zero values disable the rule.
type Policy struct {
	MaxAge      time.Duration // hours older than this go
	MinFreeFrac float64       // keep at least this fraction of the filesystem free (0.10 = 10 %)
	MinFree     uint64        // keep at least this many bytes free (when MinFreeFrac is 0)
}

// Reason says why an hour was deleted.
type Reason string

const (
	ByAge  Reason = "age"
	ByDisk Reason = "disk"
)

// Deletion is one hour deleted.
type Deletion struct {
	Hour   segment.Hour
	Reason Reason
	Freed  int64
}

// BeyondAge returns the hours, oldest first, whose whole hour ended more than
// maxAge before now. The hour being written is never among them.
func BeyondAge(hours []segment.HourInfo, now time.Time, maxAge time.Duration) []segment.HourInfo {
	if maxAge <= 0 {
		return nil
	}
	var out []segment.HourInfo
	for _, h := range hours {
		if now.Sub(h.Hour.Time().Add(time.Hour)) > maxAge {
			out = append(out, h)
		}
	}
	return out
}

// Enforcer applies a Policy.
type Enforcer struct {
	Policy   Policy
	Segments Segments
	Index    Index
	// Derived are further per-hour data derived from the segments (the
	// statistics), dropped with the index, before the segment.
	Derived []Index
	Disk    Disk
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard

	deleted atomic.Uint64
	freed   atomic.Uint64
	stuck   atomic.Bool // warned that nothing is left to delete; reset once the watermark is met
}

// Counts returns the hours deleted and the bytes freed since start.
func (e *Enforcer) Counts() (hours, bytes uint64) { return e.deleted.Load(), e.freed.Load() }

// Enforce deletes what the policy says must go, and returns what it deleted.
func (e *Enforcer) Enforce() ([]Deletion, error) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	var out []Deletion
	hours := e.Segments.Hours()
	for _, h := range BeyondAge(hours, now(), e.Policy.MaxAge) {
		d, err := e.delete(h, ByAge)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	if e.Disk == nil || (e.Policy.MinFreeFrac <= 0 && e.Policy.MinFree == 0) {
		return out, nil
	}
	for {
		free, total, err := e.Disk()
		if err != nil {
			return out, err
		}
		want := e.Policy.MinFree
		if e.Policy.MinFreeFrac > 0 {
			want = uint64(e.Policy.MinFreeFrac * float64(total))
		}
		if free >= want {
			e.stuck.Store(false)
			return out, nil
		}
		hours = e.Segments.Hours()
		if len(hours) == 0 || hours[0].Hour >= segment.HourOf(now()) {
			if e.stuck.Swap(true) {
				return out, nil // said once; said again only after the watermark was met in between
			}
			e.log().Warn("disk below the free-space watermark and nothing left to delete but the hour being written",
				"free", free, "want", want)
			return out, nil
		}
		d, err := e.delete(hours[0], ByDisk)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
}

func (e *Enforcer) log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Enforcer) delete(h segment.HourInfo, why Reason) (Deletion, error) {
	if e.Index != nil {
		if err := e.Index.DropHour(h.Hour); err != nil {
			return Deletion{}, fmt.Errorf("drop index of %s: %w", h.Hour, err)
		}
	}
	for _, d := range e.Derived {
		if err := d.DropHour(h.Hour); err != nil {
			return Deletion{}, fmt.Errorf("drop derived data of %s: %w", h.Hour, err)
		}
	}
	freed, err := e.Segments.DeleteHour(h.Hour)
	if err != nil {
		return Deletion{}, fmt.Errorf("delete segment %s: %w", h.Hour, err)
	}
	e.deleted.Add(1)
	e.freed.Add(uint64(freed))
	e.log().Info("deleted hour", "hour", h.Hour.String(), "reason", string(why), "freed_bytes", freed,
		"records", h.Records)
	return Deletion{Hour: h.Hour, Reason: why, Freed: freed}, nil
}

// Run enforces the policy every interval until ctx is done.
func (e *Enforcer) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := e.Enforce(); err != nil {
			e.log().Error("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
