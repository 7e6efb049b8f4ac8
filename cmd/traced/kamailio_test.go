package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"traced/httpui"
	"traced/internal/peer"
)

// wireSIP is one SIP message as tshark decoded it on the loopback.
type wireSIP struct {
	time     time.Time
	src, dst string
	callID   string
	cseq     string
	what     string // method, or status code
}

func (w wireSIP) key() string {
	return strings.Join([]string{w.src, w.dst, w.callID, w.cseq, w.what}, "|")
}

// wireMessages returns the SIP messages tshark sees between the SIP parties (port
// 5060 on both sides), not the copies mirrored to traced.
func wireMessages(t *testing.T, pcap string, hepPort int) []wireSIP {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-Y",
		fmt.Sprintf("sip && udp.srcport == 5060 && udp.dstport == 5060 && !(udp.port == %d)", hepPort),
		"-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "udp.srcport",
		"-e", "ip.dst", "-e", "udp.dstport", "-e", "sip.Call-ID", "-e", "sip.CSeq", "-e", "sip.Method",
		"-e", "sip.Status-Code").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var msgs []wireSIP
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 9 {
			continue
		}
		sec, _ := strconv.ParseFloat(f[0], 64)
		w := wireSIP{time: time.UnixMicro(int64(sec * 1e6)), src: f[1] + ":" + f[2], dst: f[3] + ":" + f[4],
			callID: f[5], cseq: f[6], what: f[7]}
		if w.what == "" {
			w.what = f[8]
		}
		msgs = append(msgs, w)
	}
	if len(msgs) == 0 {
		t.Fatalf("tshark found no SIP between the parties in %s", pcap)
	}
	return msgs
}

func archiveKey(m httpui.Message) string {
	what := m.Method
	if m.Status != 0 {
		what = strconv.Itoa(m.Status)
	}
	return strings.Join([]string{m.Src, m.Dst, m.CallID, m.CSeq, what}, "|")
}

// TestKamailioSendersStoredAndFound runs a real Kamailio (siptrace, trace_mode=1)
// proxying sipp calls, mirroring to a real traced in every way Kamailio can: HEPv3
// over UDP and over TCP, HEPv2, HEPv1, HEPv3 with an auth key, and plain SIP with
// X-Siptrace headers. tshark counts what Kamailio sent. Every packet must be
// stored and found again by Call-ID through tracectl, with the addresses, capture
// id and times the wire shows, and each hlog() line as a LOG packet under its
// call's Call-ID.
func TestKamailioSendersStoredAndFound(t *testing.T) {
	cases := []struct {
		name string
		cfg  peer.KamailioConfig
	}{
		{"hep3_udp", peer.KamailioConfig{HEPVersion: 3, CaptureID: 3001}},
		{"hep3_tcp", peer.KamailioConfig{HEPVersion: 3, HEPTransport: "tcp", CaptureID: 3002}},
		{"hep2_udp", peer.KamailioConfig{HEPVersion: 2, CaptureID: 3003}},
		{"hep1_udp", peer.KamailioConfig{HEPVersion: 1}},
		{"hep3_auth_key", peer.KamailioConfig{HEPVersion: 3, CaptureID: 3005, AuthKey: "k3y-for-traced"}},
		{"plain_sip", peer.KamailioConfig{Duplicate: peer.DuplicateSIP}},
	}
	binaries(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			peer.Require(t, "kamailio", "sipp", "tshark", "dumpcap")
			cfg := tc.cfg
			var extra []string
			if cfg.AuthKey != "" {
				extra = append(extra, "--hep-auth-key", "other-key", "--hep-auth-key", cfg.AuthKey)
			}
			sipPort := 0
			if cfg.Duplicate == peer.DuplicateSIP {
				sipPort = freePort(t)
				extra = append(extra, "--sip-addr", fmt.Sprintf("127.0.0.1:%d", sipPort))
			}
			d := startTraced(t, filepath.Join(t.TempDir(), "data"), extra...)
			port := d.hepPort
			if sipPort != 0 {
				port = sipPort
			}
			cfg.HEPDest = fmt.Sprintf("127.0.0.1:%d", port)
			start := time.Now()
			k := peer.StartKamailio(t, cfg)
			capt := peer.StartCapture(t, k.CaptureFilter())
			mix := peer.RunCallMix(t, k)
			k.Stop()
			pcap := capt.Stop()
			end := time.Now()

			sent := peer.CountUDP(t, pcap, port)
			if cfg.HEPTransport == "tcp" {
				sent = peer.CountHEP(t, pcap, port)
			}
			st := d.waitStored(uint64(sent))
			if st.Stored != uint64(sent) || st.Accepted != uint64(sent) {
				t.Errorf("kamailio sent %d packets; traced accepted %d, stored %d", sent, st.Accepted, st.Stored)
			}
			for reason, n := range st.Rejected {
				if n != 0 {
					t.Errorf("rejected %d as %s", n, reason)
				}
			}
			checkArchive(t, d, cfg, pcap, port, mix, sent, start, end)
		})
	}
}

func checkArchive(t *testing.T, d *daemon, cfg peer.KamailioConfig, pcap string, port int, mix peer.Mix, sent int, start, end time.Time) {
	t.Helper()
	ids := peer.CallIDs(t, pcap)
	if len(ids) != mix.Calls {
		t.Fatalf("tshark saw %d Call-IDs, the mix placed %d calls", len(ids), mix.Calls)
	}
	wire := wireMessages(t, pcap, port)
	wireKeys := map[string]wireSIP{}
	for _, w := range wire {
		wireKeys[w.key()] = w
	}
	found, logs := 0, 0
	var logged, logText string // a call with an hlog() line, and the line
	archived := map[string]bool{}
	for _, id := range ids {
		msgs := d.searchJSON("--call-id", id)
		if len(msgs) == 0 {
			t.Errorf("Call-ID %s: nothing found", id)
		}
		found += len(msgs)
		if !sort.SliceIsSorted(msgs, func(i, j int) bool { return msgs[i].Time < msgs[j].Time }) {
			t.Errorf("Call-ID %s: not in capture-time order", id)
		}
		for _, m := range msgs {
			tm, err := time.Parse(time.RFC3339Nano, m.Time)
			if err != nil || tm.Before(start.Add(-time.Second)) || tm.After(end.Add(time.Second)) {
				t.Errorf("%s: capture time %s outside the test's run %s..%s", id, m.Time, start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
			}
			if m.Type == "log" {
				logs++
				if m.CorrID != id || m.HEPVersion != 3 {
					t.Errorf("log line %q: correlation id %q, hep v%d", m.Raw, m.CorrID, m.HEPVersion)
				}
				logged, logText = id, m.Raw
				continue
			}
			if m.CallID != id {
				t.Errorf("search for %s returned Call-ID %s", id, m.CallID)
			}
			wantVersion := cfg.HEPVersion
			if cfg.Duplicate == peer.DuplicateSIP {
				wantVersion = 0
			}
			if m.HEPVersion != wantVersion {
				t.Errorf("%s: hep version %d, want %d", id, m.HEPVersion, wantVersion)
			}
			wantID := cfg.CaptureID
			if cfg.HEPVersion == 1 || cfg.Duplicate == peer.DuplicateSIP {
				wantID = 0 // neither carries a capture id
			}
			if m.CaptureID != wantID {
				t.Errorf("%s: capture id %d, want %d", id, m.CaptureID, wantID)
			}
			w, ok := wireKeys[archiveKey(m)]
			if !ok {
				t.Errorf("stored %s %s→%s (cseq %s) matches nothing on the wire", m.Method+strconv.Itoa(m.Status), m.Src, m.Dst, m.CSeq)
				continue
			}
			// The stored time is Kamailio's HEP timestamp. Kamailio stamps
			// a relayed reply with the time it received it, so on a loaded
			// machine (CI runs test packages side by side) the copy of a
			// relayed reply can be stamped hundreds of milliseconds before
			// it reached the wire. That traced stores exactly the time the
			// sender gives is shown by ingest's tests (TestImportStoresWith
			// CaptureTimes, the HEP fixtures); this bound only says the
			// archive's times are the call's.
			tm, _ = time.Parse(time.RFC3339Nano, m.Time)
			if dt := tm.Sub(w.time).Abs(); dt > time.Second {
				t.Errorf("%s %s: capture time %s is %s away from the wire's %s", id, archiveKey(m), m.Time, dt, w.time.UTC().Format(time.RFC3339Nano))
			}
			archived[archiveKey(m)] = true
		}
	}
	t.Logf("%d packets sent, %d found by %d Call-IDs, %d hlog lines, %d wire messages", sent, found, len(ids), logs, len(wire))
	if found != sent {
		t.Errorf("found %d packets by Call-ID, kamailio sent %d", found, sent)
	}
	if logs != mix.Invites {
		t.Errorf("found %d hlog() lines, want one per INVITE: %d", logs, mix.Invites)
	}
	if logged != "" {
		checkCallLogs(t, d, logged, logText)
	}
	// Kamailio mirrors what it receives and sends, so nearly every message on the
	// wire must be in the archive; under load it occasionally fails to mirror a
	// stateless reply of its own (the count above proves traced stored all it was
	// sent), so a few may be missing, never more.
	var missing []string
	for _, w := range wire {
		if !archived[w.key()] && !(cfg.Duplicate == peer.DuplicateSIP && w.what == "ACK") {
			missing = append(missing, w.key())
		}
	}
	if len(missing) > 0 {
		t.Logf("wire messages Kamailio did not mirror: %q", missing)
	}
	if len(missing) > len(wire)/20 {
		t.Errorf("%d of %d wire messages are not in the archive: %q", len(missing), len(wire), missing)
	}
}
