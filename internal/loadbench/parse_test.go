package loadbench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	f := func(line string, want time.Duration) {
		t.Helper()
		got, err := parseStatCPU([]byte(line))
		if err != nil || got != want {
			t.Errorf("parseStatCPU(%q) = %s, %v; want %s", line, got, err, want)
		}
	}
	f("4242 (traced) S 1 4242 4242 0 -1 4194560 9067 0 0 0 1234 567 0 0 20 0 9 0 297534 2998272 422 18446744073709551615",
		(1234+567)*10*time.Millisecond)
	// A command name with spaces and parentheses.
	f("7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1 1", 110*time.Millisecond)
	if _, err := parseStatCPU([]byte("7 (x) R 1 2")); err == nil {
		t.Error("short stat line parsed")
	}
	if _, err := ProcCPU(os.Getpid()); err != nil {
		t.Errorf("own CPU: %v", err)
	}
}

func TestParseStatusMem(t *testing.T) {
	m, err := parseStatusMem([]byte("Name:\ttraced\nVmPeak:\t 1000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n" +
		"RssAnon:\t   81920 kB\nRssFile:\t   20480 kB\nRssShmem:\t       0 kB\nThreads:\t9\n"))
	if err != nil || m.HWM != 200<<20 || m.RSS != 100<<20 || m.Anon != 80<<20 || m.File != 20<<20 {
		t.Errorf("got %+v, %v", m, err)
	}
	if _, err := parseStatusMem([]byte("VmRSS:\t1 kB\n")); err == nil {
		t.Error("status without VmHWM parsed")
	}
	if m, err := ProcMem(os.Getpid()); err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("own memory: %+v, %v", m, err)
	}
}

func TestParseSNMP(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 171747 374 1681095 1856385 1681090 0 5 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"UdpLite: 0 0 0 0 0 0 0 0 0\n"
	c, err := parseSNMP([]byte(snmp), "Udp")
	if err != nil {
		t.Fatal(err)
	}
	if c["RcvbufErrors"] != 1681090 || c["InErrors"] != 1681095 || c["InCsumErrors"] != 5 {
		t.Errorf("got %v", c)
	}
	d := UDPCounters(c).Sub(UDPCounters{"RcvbufErrors": 1681000})
	if d["RcvbufErrors"] != 90 || d["NoPorts"] != 374 {
		t.Errorf("delta %v", d)
	}
	if _, err := parseSNMP([]byte("Udp: A B\nUdp: 1\n"), "Udp"); err == nil {
		t.Error("mismatched line parsed")
	}
	if _, err := ReadUDPCounters(); err != nil {
		t.Errorf("this machine's counters: %v", err)
	}
}

func TestParseUDPSocket(t *testing.T) {
	tbl := "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
		" 1827: 0100007F:A7FB 00000000:0000 07 00000000:00001A00 00:00000000 00000000     0        0 213000 2 00000000816845f0 17\n" +
		" 1828: 0100007F:A7FC 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 213001 2 00000000816845f1 99\n"
	s, err := parseUDPSocket([]byte(tbl), 0xA7FB)
	if err != nil || !s.Found || s.RxQueue != 0x1A00 || s.Drops != 17 {
		t.Errorf("got %+v, %v", s, err)
	}
	if s, err := parseUDPSocket([]byte(tbl), 9060); err != nil || s.Found {
		t.Errorf("port 9060: %+v, %v", s, err)
	}
}

func TestParseSendResult(t *testing.T) {
	out := `{"transport": "udp", "addr": "127.0.0.1:9060", "conns": 1, "rate": 40000, "seconds": 60,
	 "sent": 2399990, "bytes": 1671000000, "achieved": 39999.8, "errors": 0, "behind": 0, "batches": 60000,
	 "cpu_s": 9.1, "cpu_pct": 15.2, "pool": 131072, "pool_s": 0.5, "start_ns": 1, "end_ns": 2, "drained": false, "drain_s": 0}`
	r, err := ParseSendResult([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 2399990 || r.Achieved != 39999.8 || r.EndUnixNano != 2 || r.CPUPercent != 15.2 {
		t.Errorf("got %+v", r)
	}
	for _, bad := range []string{"", "{}", `{"transport":"udp","seconds":1}`, "sent 5 packets"} {
		if _, err := ParseSendResult([]byte(bad)); err == nil {
			t.Errorf("ParseSendResult(%q) succeeded", bad)
		}
	}
}

func TestHolds(t *testing.T) {
	f := func(rate, achieved float64, sent, stored, errs uint64, want bool) {
		t.Helper()
		r := LoadResult{Rate: rate, Stored: stored, Send: SendResult{Sent: sent, Achieved: achieved, Errors: errs}}
		if r.Holds() != want {
			t.Errorf("rate %.0f achieved %.0f sent %d stored %d errors %d: holds %v", rate, achieved, sent, stored, errs, !want)
		}
	}
	f(40000, 40000, 2400000, 2400000, 0, true)
	f(40000, 40000, 2400000, 2399999, 0, false) // one lost
	f(40000, 39000, 2340000, 2340000, 0, false) // the sender did not offer the rate
	f(40000, 40000, 2400000, 2400000, 3, false) // send errors
	f(40000, 0, 0, 0, 0, false)
}

func TestThirdsAndPercentile(t *testing.T) {
	var ss []Sample
	for i := 1; i <= 60; i++ { // 600 s sampled every 10 s; RSS grows from 100 to 159 MiB
		ss = append(ss, Sample{T: float64(10 * i), RSS: int64(99+i) << 20})
	}
	first, last := thirds(ss, 600)
	if first != float64(110<<20)-float64(1<<19) || last != float64(150<<20)-float64(1<<19) {
		t.Errorf("thirds: %.1f %.1f MiB", first/(1<<20), last/(1<<20))
	}
	ms := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}} {
		if got := Percentile(ms, c.p); got != c.want {
			t.Errorf("p%.0f = %.0f, want %.0f", c.p, got, c.want)
		}
	}
}

func TestCPUThirds(t *testing.T) {
	// 60 s sampled every 10 s: 50 % of a core for the first 20 s, then 100 %.
	ss := []Sample{{T: 0, CPU: 0}, {T: 10, CPU: 5}, {T: 20, CPU: 10}, {T: 30, CPU: 20}, {T: 40, CPU: 30}, {T: 50, CPU: 40}, {T: 60, CPU: 50}}
	first, last := cpuThirds(ss, 60)
	if first != 50 || last != 100 {
		t.Errorf("cpuThirds = %.0f %%, %.0f %%; want 50, 100", first, last)
	}
	if f, l := cpuThirds(nil, 60); f != 0 || l != 0 {
		t.Errorf("no samples: %.0f %.0f", f, l)
	}
}

func TestEvictCache(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/f", make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := EvictCache(dir)
	if err != nil || n != 1<<20 {
		t.Fatalf("EvictCache = %d, %v", n, err)
	}
}

func TestUDPBufferFromLog(t *testing.T) {
	d := &Daemon{LogPath: t.TempDir() + "/traced.log"}
	log := `time=2026-11-23T03:18:02.270Z level=INFO msg="udp receive buffer" part=ingest addr=127.0.0.1:40851 asked=16777216 granted=16777216 how=SO_RCVBUFFORCE raise="sysctl -w net.core.rmem_max=16777216"` + "\n"
	if err := os.WriteFile(d.LogPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := d.UDPBuffer(); got != 16<<20 {
		t.Errorf("UDPBuffer = %d", got)
	}
}

func TestWarnings(t *testing.T) {
	log := `time=2026-11-23T03:18:02.270Z level=INFO msg="traced ready" version=dev
time=2026-11-23T03:18:07.277Z level=WARN msg="kernel dropped datagrams: traced is overloaded" part=ingest dropped=3700
time=2026-11-23T03:18:12.287Z level=WARN msg="index behind the segments" blocks=15
time=2026-11-23T03:18:17.270Z level=WARN msg="kernel dropped datagrams: traced is overloaded" part=ingest dropped=4119
time=2026-11-23T03:18:18.000Z level=ERROR msg="a \"quoted\" word" err=x
`
	got := warnings([]byte(log))
	want := map[string]int{"kernel dropped datagrams: traced is overloaded": 2, "index behind the segments": 1, `a \"quoted\" word`: 1}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for m, n := range want {
		if got[m] != n {
			t.Errorf("%s: %d, want %d", m, got[m], n)
		}
	}
}
