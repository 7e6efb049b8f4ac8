package stats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"traced/segment"
)

// A stats file is one header line, then the set as JSON:
//
//	traced-stats 1 <crc32c of the JSON, 8 hex digits> <bytes of JSON>\n
//	{"hour":"20261123T14Z","mark":{...},...}
//
// The header makes a torn or damaged file detectable; a file that does not
// check is counted again from its segment.
const (
	fileMagic   = "traced-stats"
	fileVersion = 1
	fileExt     = ".stats"
	// maxFileSize bounds what Decode accepts.
	maxFileSize = 16 << 20
)

// ErrBadFile is returned (wrapped) for a stats file that does not decode.
var ErrBadFile = errors.New("bad stats file")

// fileSet is the JSON form of a Set: sparse maps instead of fixed arrays.
type fileSet struct {
	Hour      string             `json:"hour"`
	Mark      Mark               `json:"mark"`
	MinTime   int64              `json:"min_time_us"`
	MaxTime   int64              `json:"max_time_us"`
	Records   int64              `json:"records"`
	Messages  int64              `json:"messages"`
	Copies    int64              `json:"copies"`
	Requests  map[string]int64   `json:"requests,omitempty"`
	Responses map[string]int64   `json:"responses,omitempty"`
	ByCSeq    map[string][]int64 `json:"responses_by_cseq,omitempty"`
	Final     map[string]int64   `json:"final,omitempty"`
	Calls     []int64            `json:"calls"`
	Regs      []int64            `json:"registrations"`
	Alarms    []int64            `json:"alarms"`
	PDD       fileHist           `json:"pdd"`
	Setup     fileHist           `json:"setup"`
	Minutes   []Minute           `json:"minutes"`
	SrcIPs    []TopEntry         `json:"src_ips,omitempty"`
	UAs       []TopEntry         `json:"user_agents,omitempty"`
	FailDests []TopEntry         `json:"failed_destinations,omitempty"`
	AlarmList []Alarm            `json:"alarm_list,omitempty"`
}

type fileHist struct {
	Buckets []int64 `json:"buckets"`
	Count   int64   `json:"count"`
	SumMS   int64   `json:"sum_ms"`
}

func sparse(a []int64, lo int) map[string]int64 {
	m := map[string]int64{}
	for i := lo; i < len(a); i++ {
		if a[i] != 0 {
			m[strconv.Itoa(i)] = a[i]
		}
	}
	return m
}

// Encode returns the file form of s.
func Encode(s *Set) ([]byte, error) {
	fs := fileSet{Hour: s.Hour.String(), Mark: s.Mark, MinTime: s.MinTime, MaxTime: s.MaxTime,
		Records: s.Records, Messages: s.Messages, Copies: s.Copies,
		Requests: map[string]int64{}, Responses: sparse(s.Responses[:], 100), Final: sparse(s.Final[:], 100),
		ByCSeq: map[string][]int64{}, Calls: s.Calls[:], Regs: s.Regs[:], Alarms: s.Alarms[:],
		PDD:     fileHist{Buckets: s.PDD.Buckets[:], Count: s.PDD.Count, SumMS: s.PDD.SumMS},
		Setup:   fileHist{Buckets: s.Setup.Buckets[:], Count: s.Setup.Count, SumMS: s.Setup.SumMS},
		Minutes: s.Minutes[:], SrcIPs: s.SrcIPs.Top(-1), UAs: s.UAs.Top(-1), FailDests: s.FailDests.Top(-1),
		AlarmList: s.AlarmList}
	names := Methods()
	for i, n := range s.Requests {
		if n != 0 {
			fs.Requests[names[i]] = n
		}
	}
	for i, row := range s.ByCSeq {
		if row != [7]int64{} {
			fs.ByCSeq[names[i]] = row[:]
		}
	}
	body, err := json.Marshal(&fs)
	if err != nil {
		return nil, fmt.Errorf("encode stats of %s: %w", s.Hour, err)
	}
	out := fmt.Appendf(nil, "%s %d %08x %d\n", fileMagic, fileVersion, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)), len(body))
	return append(out, body...), nil
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFile, fmt.Sprintf(format, a...))
}

// Decode parses a stats file. It never panics and checks everything it
// reads: the header, the checksum, the hour, every index and count.
func Decode(b []byte) (*Set, error) {
	if len(b) > maxFileSize {
		return nil, bad("%d bytes", len(b))
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, bad("no header line")
	}
	var magic string
	var ver, n int
	var crc uint32
	if _, err := fmt.Sscanf(string(b[:nl]), "%s %d %x %d", &magic, &ver, &crc, &n); err != nil {
		return nil, bad("header: %v", err)
	}
	body := b[nl+1:]
	switch {
	case magic != fileMagic:
		return nil, bad("magic %q", magic)
	case ver != fileVersion:
		return nil, bad("version %d", ver)
	case n != len(body):
		return nil, bad("%d bytes of body, header says %d", len(body), n)
	case crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != crc:
		return nil, bad("checksum")
	}
	var fs fileSet
	if err := json.Unmarshal(body, &fs); err != nil {
		return nil, bad("json: %v", err)
	}
	h, err := segment.ParseHour(fs.Hour)
	if err != nil {
		return nil, bad("hour: %v", err)
	}
	s := NewSet(h)
	s.Mark, s.MinTime, s.MaxTime = fs.Mark, fs.MinTime, fs.MaxTime
	s.Records, s.Messages, s.Copies = fs.Records, fs.Messages, fs.Copies
	if s.Mark.Off < 0 || s.Mark.Next < s.Mark.Off || s.Mark.Blocks < 0 {
		return nil, bad("mark %+v", s.Mark)
	}
	nonNeg := func(what string, v int64) error {
		if v < 0 {
			return bad("%s: negative count %d", what, v)
		}
		return nil
	}
	for _, v := range []int64{s.Records, s.Messages, s.Copies} {
		if err := nonNeg("totals", v); err != nil {
			return nil, err
		}
	}
	idx := map[string]int{}
	for i, m := range Methods() {
		idx[m] = i
	}
	for k, v := range fs.Requests {
		i, ok := idx[k]
		if !ok {
			return nil, bad("method %q", k)
		}
		if err := nonNeg("requests", v); err != nil {
			return nil, err
		}
		s.Requests[i] = v
	}
	for k, row := range fs.ByCSeq {
		i, ok := idx[k]
		if !ok || len(row) != 7 {
			return nil, bad("responses by cseq %q", k)
		}
		for j, v := range row {
			if err := nonNeg("responses by cseq", v); err != nil {
				return nil, err
			}
			s.ByCSeq[i][j] = v
		}
	}
	for _, c := range []struct {
		m   map[string]int64
		dst *[700]int64
	}{{fs.Responses, &s.Responses}, {fs.Final, &s.Final}} {
		for k, v := range c.m {
			code, err := strconv.Atoi(k)
			if err != nil || code < 100 || code > 699 {
				return nil, bad("status code %q", k)
			}
			if err := nonNeg("responses", v); err != nil {
				return nil, err
			}
			c.dst[code] = v
		}
	}
	for _, c := range []struct {
		src []int64
		dst []int64
	}{{fs.Calls, s.Calls[:]}, {fs.Regs, s.Regs[:]}, {fs.Alarms, s.Alarms[:]}} {
		if len(c.src) != len(c.dst) {
			return nil, bad("%d counters, want %d", len(c.src), len(c.dst))
		}
		for i, v := range c.src {
			if err := nonNeg("counters", v); err != nil {
				return nil, err
			}
			c.dst[i] = v
		}
	}
	for _, c := range []struct {
		src fileHist
		dst *Hist
	}{{fs.PDD, &s.PDD}, {fs.Setup, &s.Setup}} {
		if len(c.src.Buckets) != numBuckets || c.src.Count < 0 || c.src.SumMS < 0 {
			return nil, bad("histogram")
		}
		var sum int64
		for i, v := range c.src.Buckets {
			if err := nonNeg("histogram", v); err != nil {
				return nil, err
			}
			c.dst.Buckets[i] = v
			sum += v
		}
		if sum != c.src.Count {
			return nil, bad("histogram count %d, buckets sum %d", c.src.Count, sum)
		}
		c.dst.Count, c.dst.SumMS = c.src.Count, c.src.SumMS
	}
	if len(fs.Minutes) != len(s.Minutes) {
		return nil, bad("%d minutes", len(fs.Minutes))
	}
	copy(s.Minutes[:], fs.Minutes)
	for _, t := range []struct {
		src []TopEntry
		dst **TopN
	}{{fs.SrcIPs, &s.SrcIPs}, {fs.UAs, &s.UAs}, {fs.FailDests, &s.FailDests}} {
		if len(t.src) > TopCap {
			return nil, bad("%d top entries", len(t.src))
		}
		*t.dst = topFromEntries(TopCap, t.src)
	}
	if len(fs.AlarmList) > maxAlarmList {
		return nil, bad("%d alarms", len(fs.AlarmList))
	}
	s.AlarmList = fs.AlarmList
	return s, nil
}

// FileName returns the name of hour h's stats file.
func FileName(h segment.Hour) string { return h.String() + fileExt }

// writeFile writes s to dir atomically: temporary file, fsync, rename, fsync
// of the directory.
func writeFile(dir string, s *Set) error {
	b, err := Encode(s)
	if err != nil {
		return err
	}
	return writeBytes(dir, s.Hour, b)
}

// writeBytes writes the encoded set of hour h atomically.
func writeBytes(dir string, h segment.Hour, b []byte) error {
	if err := atomicWrite(dir, FileName(h), b); err != nil {
		return fmt.Errorf("write stats of %s: %w", h, err)
	}
	return nil
}

// atomicWrite writes b to dir/name: temporary file, fsync, rename, fsync of
// the directory.
func atomicWrite(dir, name string, b []byte) error {
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// readFile reads hour h's stats file from dir.
func readFile(dir string, h segment.Hour) (*Set, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName(h)))
	if err != nil {
		return nil, fmt.Errorf("read stats of %s: %w", h, err)
	}
	s, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("read stats of %s: %w", h, err)
	}
	if s.Hour != h {
		return nil, fmt.Errorf("read stats of %s: %w: file is of hour %s", h, ErrBadFile, s.Hour)
	}
	return s, nil
}

// readDirNames lists the names in dir.
func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list stats: %w", err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// hourOfFile returns the hour of a stats file name.
func hourOfFile(name string) (segment.Hour, bool) {
	base, ok := strings.CutSuffix(name, fileExt)
	if !ok {
		return 0, false
	}
	h, err := segment.ParseHour(base)
	return h, err == nil
}
