package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"traced/ingest/hep"
	"traced/internal/sipgen"
)

const (
	hostileKey       = "hostile-test-key"
	hostileGood      = 20000  // valid packets over UDP
	hostileDatagrams = 100000 // malformed datagrams
	hostileSilent    = 100    // TCP connections that send nothing
	hostileGarbage   = 900    // TCP connections that send garbage
	hostileMaxConns  = 64
	hostileIdle      = 2 * time.Second
	hostileMaxRSS    = 300 << 20
	hostileSpread    = 4 * time.Second // how long the UDP senders take
)

// udpKind is a class of malformed datagram and the rejection reason that the HEP
// specification (and traced's documented checks) give it.
type udpKind struct {
	name   string
	reason string
	make   func(rng *rand.Rand, good []byte) []byte
}

var udpKinds = []udpKind{
	{"random_bytes", "bad_magic", func(rng *rand.Rand, _ []byte) []byte {
		b := randomBytes(rng, 1+rng.IntN(1400))
		b[0] = byte(3 + rng.IntN(60)) // not 1, 2 (HEPv1/v2), 'H' or 'E' (HEP3, EEP3)
		return b
	}},
	{"empty", "truncated", func(*rand.Rand, []byte) []byte { return []byte{} }},
	{"cut_in_header", "truncated", func(rng *rand.Rand, good []byte) []byte {
		return bytes.Clone(good[:1+rng.IntN(5)])
	}},
	{"cut_in_body", "bad_length", func(rng *rand.Rand, good []byte) []byte {
		return bytes.Clone(good[:6+rng.IntN(len(good)-6)])
	}},
	{"length_too_long", "bad_length", func(rng *rand.Rand, good []byte) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)+1+rng.IntN(1000)))
		return b
	}},
	{"length_below_header", "bad_length", func(rng *rand.Rand, good []byte) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint16(b[4:], uint16(rng.IntN(6)))
		return b
	}},
	{"chunk_too_short", "bad_chunk", func(rng *rand.Rand, good []byte) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint16(b[6+4:], uint16(rng.IntN(6)))
		return b
	}},
	{"chunk_past_end", "bad_chunk", func(_ *rand.Rand, good []byte) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint16(b[6+4:], 0xffff)
		return b
	}},
	{"unknown_version", "unknown_version", func(_ *rand.Rand, good []byte) []byte {
		b := bytes.Clone(good)
		b[3] = '4'
		return b
	}},
	{"no_payload", "no_payload", func(_ *rand.Rand, _ []byte) []byte {
		p := hep.Packet{Src: netip.MustParseAddrPort("127.0.0.1:5060"), Dst: netip.MustParseAddrPort("127.0.0.2:5060"),
			Proto: 17, ProtoType: hep.TypeSIP, AuthKey: []byte(hostileKey)}
		return hep.AppendV3(nil, &p)
	}},
	{"hepv1_bad_family", "bad_address", func(rng *rand.Rand, _ []byte) []byte {
		b := randomBytes(rng, 40+rng.IntN(200))
		b[0], b[1], b[2] = 1, 16, 99
		return b
	}},
	{"wrong_auth_key", "auth_wrong", func(_ *rand.Rand, good []byte) []byte {
		return withAuthKey(stripAuthKey(good), "not-"+hostileKey)
	}},
	{"missing_auth_key", "auth_missing", func(_ *rand.Rand, good []byte) []byte { return stripAuthKey(good) }},
	{"not_sip", "bad_sip", func(_ *rand.Rand, _ []byte) []byte {
		p := hep.Packet{Src: netip.MustParseAddrPort("127.0.0.1:5060"), Dst: netip.MustParseAddrPort("127.0.0.2:5060"),
			Proto: 17, ProtoType: hep.TypeSIP, AuthKey: []byte(hostileKey), Payload: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}
		return hep.AppendV3(nil, &p)
	}},
}

// tcpKind is a class of hostile TCP connection and what traced counts for it.
type tcpKind struct {
	name    string
	counted map[string]int // rejections by reason
	stored  int            // packets stored
	send    func(rng *rand.Rand, i int) []byte
}

var tcpKinds = []tcpKind{
	{"random_bytes", map[string]int{"tcp_garbage": 1}, 0, func(rng *rand.Rand, _ int) []byte {
		return noMagic(randomBytes(rng, 16+rng.IntN(4096)))
	}},
	{"partial_frame", map[string]int{"tcp_truncated": 1}, 0, func(_ *rand.Rand, i int) []byte {
		f := withAuthKey(optionsPacket(nil, fmt.Sprintf("partial-%d@test", i), time.Now()), hostileKey)
		return f[:len(f)/2]
	}},
	{"huge_length", map[string]int{"tcp_truncated": 1}, 0, func(rng *rand.Rand, _ int) []byte {
		return append([]byte{'H', 'E', 'P', '3', 0xff, 0xff}, randomBytes(rng, 2000)...)
	}},
	{"largest_frame_of_garbage", map[string]int{"bad_chunk": 1}, 0, func(rng *rand.Rand, _ int) []byte {
		b := append([]byte{'H', 'E', 'P', '3', 0xff, 0xff, 0, 0, 0, 1, 0, 3}, randomBytes(rng, 0xffff-12)...)
		return b
	}},
	{"garbage_then_frame", map[string]int{"tcp_garbage": 1}, 1, func(rng *rand.Rand, i int) []byte {
		return append(noMagic(randomBytes(rng, 1+rng.IntN(1000))), withAuthKey(optionsPacket(nil, resyncCallID(i), time.Now()), hostileKey)...)
	}},
}

func resyncCallID(i int) string { return fmt.Sprintf("resync-%d@test", i) }

// TestHostileInputIsCountedAndBounded runs one traced with an auth key, a small
// TCP connection limit and a short idle timeout against a good sender and, at the
// same time, hostile senders: malformed UDP datagrams of every kind, TCP
// connections that send garbage, partial or oversized frames, and connections
// that send nothing. Every good packet is stored and found; every hostile
// datagram is counted under the reason its construction implies (or was dropped
// by the kernel, which the socket's drop counter shows); connections past the
// limit are refused and counted, silent ones are closed after the idle timeout;
// traced's memory stays bounded.
func TestHostileInputIsCountedAndBounded(t *testing.T) {
	binaries(t)
	d := startTraced(t, filepath.Join(t.TempDir(), "data"), "--hep-auth-key", hostileKey,
		"--max-tcp-conns", strconv.Itoa(hostileMaxConns), "--tcp-idle", hostileIdle.String(), "--flush-interval", "200ms")
	pid := d.cmd.Process.Pid
	drops0 := udpDrops(t, d.hepPort)

	good := goodPackets(hostileGood)
	var wg sync.WaitGroup
	wg.Go(func() { sendPacedUDP(t, d.hepPort, good, hostileSpread) })
	expUDP := make([]map[string]int, 2)
	for s := range expUDP {
		wg.Go(func() { expUDP[s] = sendHostileUDP(t, d.hepPort, uint64(s), hostileDatagrams/len(expUDP), good) })
	}
	var expTCP map[string]int
	var resync []int
	wg.Go(func() {
		checkConnLimitAndIdle(t, d)
		expTCP, resync = sendHostileTCP(t, d.hepPort, hostileGarbage)
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	st := d.waitStored(uint64(hostileGood + len(resync)))
	drops := udpDrops(t, d.hepPort) - drops0
	want := map[string]int{"tcp_conn_limit": hostileSilent - hostileMaxConns}
	hostileSent := 0
	for _, m := range append(expUDP, expTCP) {
		for r, n := range m {
			want[r] += n
		}
	}
	for _, m := range expUDP {
		for _, n := range m {
			hostileSent += n
		}
	}
	t.Logf("sent %d good and %d hostile datagrams (kernel dropped %d), %d hostile TCP connections; status: received %v, accepted %d, stored %d, rejected %v",
		hostileGood, hostileSent, drops, hostileSilent+hostileGarbage, st.Received, st.Accepted, st.Stored, st.Rejected)

	if wantStored := uint64(hostileGood + len(resync)); st.Stored != wantStored || st.Accepted != wantStored {
		t.Errorf("stored %d, accepted %d: want every good packet, %d", st.Stored, st.Accepted, wantStored)
	}
	if st.KernelDrops["udp"] != uint64(drops) {
		t.Errorf("traced reports %d kernel drops on its UDP socket, /proc/net/udp shows %d", st.KernelDrops["udp"], drops)
	}
	if got, wantRecv := st.Received["udp"], uint64(hostileGood+hostileSent-drops); got != wantRecv {
		t.Errorf("received %d UDP datagrams, want %d good + %d hostile - %d dropped by the kernel", got, hostileGood, hostileSent, drops)
	}
	var rejected int
	for r, n := range st.Rejected {
		rejected += int(n)
		if drops == 0 && int(n) != want[r] || int(n) > want[r] {
			t.Errorf("rejected as %s: %d, want %d", r, n, want[r])
		}
	}
	wantRejected := 0
	for _, n := range want {
		wantRejected += n
	}
	if rejected+drops != wantRejected {
		t.Errorf("%d rejections + %d kernel drops; %d hostile datagrams and connections were sent", rejected, drops, wantRejected)
	}

	res := d.searchAPI(url.Values{"ip": {"10.1.0.0"}, "since": {"2h"}, "limit": {"1"}})
	if res.Total != hostileGood || res.Unreadable != 0 {
		t.Errorf("search of the good sender's proxy: %d messages (%d unreadable blocks), want %d", res.Total, res.Unreadable, hostileGood)
	}
	perCall := map[string]int{}
	for _, p := range good {
		perCall[callIDOf(t, p)]++
	}
	for _, p := range [][]byte{good[0], good[len(good)/2], good[len(good)-1]} {
		id := callIDOf(t, p)
		msgs := d.searchJSON("--call-id", id)
		if len(msgs) != perCall[id] || msgs[0].CallID != id {
			t.Errorf("Call-ID %s of the good sender: %d messages, %d were sent", id, len(msgs), perCall[id])
		}
	}
	if len(resync) > 0 {
		id := resyncCallID(resync[len(resync)/2])
		if msgs := d.searchJSON("--call-id", id); len(msgs) != 1 {
			t.Errorf("the frame after garbage on a TCP connection, %s: %d messages", id, len(msgs))
		}
	}

	if peak := procStatusKB(t, pid, "VmHWM") << 10; peak > hostileMaxRSS {
		t.Errorf("traced's peak RSS %d MiB, want under %d MiB", peak>>20, hostileMaxRSS>>20)
	} else {
		t.Logf("traced's peak RSS %d MiB", peak>>20)
	}
}

// goodPackets returns n generated HEP packets carrying the auth key.
func goodPackets(n int) [][]byte {
	g := sipgen.New(42, time.Now().Add(-10*time.Minute))
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = withAuthKey(g.Next(), hostileKey)
	}
	return pkts
}

// sendPacedUDP sends pkts from one socket, evenly over about spread.
func sendPacedUDP(t *testing.T, port int, pkts [][]byte, spread time.Duration) {
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Errorf("good sender: %v", err)
		return
	}
	defer c.Close()
	start := time.Now()
	for i, p := range pkts {
		if i%50 == 0 {
			time.Sleep(time.Until(start.Add(spread * time.Duration(i) / time.Duration(len(pkts)))))
		}
		if _, err := c.Write(p); err != nil {
			t.Errorf("good sender, packet %d: %v", i, err)
			return
		}
	}
}

// sendHostileUDP sends n malformed datagrams from one socket, spread like the
// good sender's, cycling through udpKinds, and returns the rejections they must
// cause, by reason.
func sendHostileUDP(t *testing.T, port int, seed uint64, n int, good [][]byte) map[string]int {
	rng := rand.New(rand.NewPCG(seed, 0x6a09e667))
	want := map[string]int{}
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Errorf("hostile sender: %v", err)
		return want
	}
	defer c.Close()
	start := time.Now()
	for i := range n {
		if i%100 == 0 {
			time.Sleep(time.Until(start.Add(hostileSpread * time.Duration(i) / time.Duration(n))))
		}
		k := udpKinds[i%len(udpKinds)]
		if _, err := c.Write(k.make(rng, good[rng.IntN(len(good))])); err != nil {
			t.Errorf("hostile sender, %s datagram: %v", k.name, err)
			return want
		}
		want[k.reason]++
	}
	return want
}

// checkConnLimitAndIdle opens hostileSilent connections that send nothing: those
// past the limit must be refused at once (EOF, counted as tcp_conn_limit), the
// others closed by traced once they have been idle for the timeout.
func checkConnLimitAndIdle(t *testing.T, d *daemon) {
	type result struct {
		after time.Duration // from the dial to EOF
		err   error
	}
	results := make(chan result, hostileSilent)
	for range hostileSilent {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.hepPort))
		if err != nil {
			t.Errorf("dial a silent connection: %v", err)
			return
		}
		dialed := time.Now()
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(dialed.Add(hostileIdle + 8*time.Second))
			_, err := c.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil
			} else if err == nil {
				err = errors.New("traced sent data")
			}
			results <- result{time.Since(dialed), err}
		}()
	}
	// Before the first silent connection can have been idle for the timeout.
	deadline := time.Now().Add(hostileIdle * 3 / 4)
	for {
		st, err := d.status()
		if err == nil && st.TCPOpen == hostileMaxConns && st.Rejected["tcp_conn_limit"] == hostileSilent-hostileMaxConns {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("with %d silent connections and a limit of %d: %d open, %d refused (status error %v)",
				hostileSilent, hostileMaxConns, st.TCPOpen, st.Rejected["tcp_conn_limit"], err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	refused, idled := 0, 0
	for range hostileSilent {
		r := <-results
		switch {
		case r.err != nil:
			t.Errorf("silent connection: no EOF within %s: %v", r.after.Round(time.Millisecond), r.err)
		case r.after < hostileIdle/2:
			refused++
		case r.after >= hostileIdle-50*time.Millisecond && r.after <= hostileIdle+5*time.Second:
			idled++
		default:
			t.Errorf("silent connection closed after %s; the idle timeout is %s", r.after.Round(time.Millisecond), hostileIdle)
		}
	}
	if refused != hostileSilent-hostileMaxConns || idled != hostileMaxConns {
		t.Errorf("of %d silent connections, %d were refused at once and %d closed when idle; want %d and %d",
			hostileSilent, refused, idled, hostileSilent-hostileMaxConns, hostileMaxConns)
	}
	// traced counts a connection closed just after closing it: allow a moment.
	deadline = time.Now().Add(time.Second)
	for {
		st, err := d.status()
		if err == nil && st.TCPOpen == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after the idle timeout, %d connections still open (%v)", st.TCPOpen, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendHostileTCP opens n connections, at most 16 at a time (well under the
// limit), each sending one kind of garbage and closing its side, and waits for
// traced to close each. It returns the rejections they must cause and the
// numbers of the connections whose frame after the garbage must be stored.
func sendHostileTCP(t *testing.T, port, n int) (map[string]int, []int) {
	want := map[string]int{}
	var resync []int
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		k := tcpKinds[i%len(tcpKinds)]
		payload := k.send(rand.New(rand.NewPCG(uint64(i), 0xbb67ae85)), i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := garbageConn(port, payload); err != nil {
				t.Errorf("%s connection %d: %v", k.name, i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for r, c := range k.counted {
				want[r] += c
			}
			if k.stored > 0 {
				resync = append(resync, i)
			}
		})
	}
	wg.Wait()
	return want, resync
}

// garbageConn sends payload on a new connection, closes its writing side and
// waits for traced to close the connection.
func garbageConn(port int, payload []byte) error {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(payload); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return fmt.Errorf("close the writing side: %w", err)
	}
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		return fmt.Errorf("wait for traced to close: %d bytes, %v", n, err)
	}
	return nil
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// noMagic changes every 'P' so that b holds no HEP3 or EEP3 magic.
func noMagic(b []byte) []byte {
	for i, c := range b {
		if c == 'P' {
			b[i] = 'Q'
		}
	}
	return b
}

// withAuthKey returns a HEPv3 packet with an auth key chunk (0x000e) appended.
func withAuthKey(pkt []byte, key string) []byte {
	out := make([]byte, 0, len(pkt)+6+len(key))
	out = append(out, pkt...)
	out = binary.BigEndian.AppendUint16(out, 0)
	out = binary.BigEndian.AppendUint16(out, hep.ChunkAuthKey)
	out = binary.BigEndian.AppendUint16(out, uint16(6+len(key)))
	out = append(out, key...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)))
	return out
}

// stripAuthKey returns a copy of a packet made by withAuthKey without its key.
func stripAuthKey(pkt []byte) []byte {
	n := len(pkt) - 6 - len(hostileKey)
	out := bytes.Clone(pkt[:n])
	binary.BigEndian.PutUint16(out[4:], uint16(n))
	return out
}

func callIDOf(t *testing.T, pkt []byte) string {
	t.Helper()
	var p hep.Packet
	if err := hep.Decode(pkt, &p); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(p.Payload, []byte("Call-ID: "))
	if i < 0 {
		t.Fatalf("no Call-ID in %q", p.Payload)
	}
	rest := p.Payload[i+len("Call-ID: "):]
	return string(rest[:bytes.Index(rest, []byte("\r\n"))])
}

// udpDrops returns the kernel's drop counter of the UDP socket bound to
// 127.0.0.1:port (the last column of /proc/net/udp).
func udpDrops(t *testing.T, port int) int {
	t.Helper()
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	local := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 2 && fs[1] == local {
			n, err := strconv.Atoi(fs[len(fs)-1])
			if err != nil {
				t.Fatalf("/proc/net/udp: %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatalf("/proc/net/udp: no socket on %s", local)
	return 0
}

// procStatusKB returns a "kB" field of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %v", pid, line, err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}
