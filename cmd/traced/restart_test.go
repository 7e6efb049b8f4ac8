package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/internal/sipgen"
)

// sendGenerated sends n generated HEP packets to d over UDP, paced so that the
// loopback never drops, and returns them.
func sendGenerated(t *testing.T, d *daemon, n int, seed uint64) [][]byte {
	t.Helper()
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", d.hepPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := sipgen.New(seed, time.Now().Add(-10*time.Minute))
	var pkts [][]byte
	for i := 0; i < n; i++ {
		p := g.Next()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
		if i%200 == 199 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return pkts
}

// searches are the queries compared across restarts: by Call-ID (the whole
// archive), by user, by IP and by method over an explicit range.
func searchesOf(t *testing.T, pkts [][]byte) [][]string {
	var p hep.Packet
	var ids []string
	for _, b := range pkts {
		if err := hep.Decode(b, &p); err != nil {
			t.Fatal(err)
		}
		if i := indexOf(p.Payload, "Call-ID: "); i >= 0 {
			rest := p.Payload[i+9:]
			if j := indexOf(rest, "\r\n"); j > 0 {
				ids = append(ids, string(rest[:j]))
			}
		}
	}
	q := [][]string{
		{"--from-user", "+15550000000", "--since", "2h"},
		{"--ip", "10.1.0.0", "--since", "2h", "--limit", "100000"},
		{"--method", "REGISTER", "--since", "2h", "--limit", "100000"},
	}
	for _, i := range []int{0, len(ids) / 3, len(ids) / 2, len(ids) - 1} {
		q = append(q, []string{"--call-id", ids[i]})
	}
	return q
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func snapshot(t *testing.T, d *daemon, queries [][]string) []string {
	t.Helper()
	var out []string
	for _, q := range queries {
		msgs := d.searchJSON(q...)
		b, _ := json.Marshal(msgs)
		out = append(out, fmt.Sprintf("%v: %d messages %x", q, len(msgs), b))
	}
	return out
}

// TestRestartKeepsArchiveAndRebuildsIndex stores traffic, stops traced with
// SIGTERM and starts it again: every search returns the same messages. Then the
// index directory is deleted while traced is stopped; it is rebuilt from the
// segments on start and the same searches return the same results again.
func TestRestartKeepsArchiveAndRebuildsIndex(t *testing.T) {
	binaries(t)
	data := filepath.Join(t.TempDir(), "data")
	d := startTraced(t, data)
	const n = 3000
	pkts := sendGenerated(t, d, n, 11)
	d.waitStored(n)
	queries := searchesOf(t, pkts)
	before := snapshot(t, d, queries)
	total := 0
	for _, q := range queries {
		total += len(d.searchJSON(q...))
	}
	if total < 50 {
		t.Fatalf("the searches found only %d messages: the comparison would prove little", total)
	}

	// A search cut by --limit says so and how many more there are.
	_, ctl := binaries(t)
	cmd := exec.Command(ctl, "--data", data, "search", "--method", "INVITE", "--since", "2h", "--limit", "5")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil || strings.Count(string(out), "INVITE sip:") != 5 ||
		!strings.Contains(stderr.String(), "more (narrow the search or raise --limit)") {
		t.Errorf("a cut search: err %v, %d messages printed, stderr %q", err, strings.Count(string(out), "INVITE sip:"), stderr.String())
	}

	d.restart()
	if s := d.waitStored(0); s.Records != n {
		t.Errorf("after restart the segments hold %d records, want %d", s.Records, n)
	}
	if after := snapshot(t, d, queries); !reflect.DeepEqual(before, after) {
		t.Errorf("searches differ after a restart")
	}

	d.stop()
	if err := os.RemoveAll(filepath.Join(data, indexDir)); err != nil {
		t.Fatal(err)
	}
	d.start()
	d.waitStored(0) // the backlog drains: the index is rebuilt
	if after := snapshot(t, d, queries); !reflect.DeepEqual(before, after) {
		t.Errorf("searches differ after the index was rebuilt")
	}
	if _, err := os.Stat(filepath.Join(data, indexDir)); err != nil {
		t.Errorf("index not rebuilt: %v", err)
	}
}
