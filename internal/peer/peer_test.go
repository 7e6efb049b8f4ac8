package peer_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"traced/internal/peer"
)

// rig is one proxy mirroring to a sink, with a capture running.
type rig struct {
	k    *peer.Kamailio
	sink *sink
	cap  *peer.Capture
}

func startRig(t *testing.T, cfg peer.KamailioConfig) *rig {
	t.Helper()
	peer.Require(t, "kamailio", "sipp", "tshark", "dumpcap")
	network := cfg.HEPTransport
	if network == "" {
		network = "udp"
	}
	r := &rig{sink: newSink(t, network)}
	cfg.HEPDest = r.sink.addr
	r.k = peer.StartKamailio(t, cfg)
	r.cap = peer.StartCapture(t, r.k.CaptureFilter())
	return r
}

// finish stops the proxy (nothing more is mirrored after that), then the
// capture, and returns what the sink received and the pcap.
func (r *rig) finish(t *testing.T) ([][]byte, string) {
	t.Helper()
	r.k.Stop()
	pcap := r.cap.Stop()
	return r.sink.drain(t), pcap
}

// TestCallMixMirroredExactly runs the call mix through Kamailio in every
// mirroring mode and checks the receiver got exactly what tshark saw on the
// wire, every Call-ID, and one hlog() line per INVITE.
func TestCallMixMirroredExactly(t *testing.T) {
	cases := []struct {
		name string
		cfg  peer.KamailioConfig
	}{
		{"hep3-udp", peer.KamailioConfig{HEPVersion: 3, CaptureID: 3001}},
		{"hep3-tcp", peer.KamailioConfig{HEPVersion: 3, HEPTransport: "tcp", CaptureID: 3002}},
		{"hep2-udp", peer.KamailioConfig{HEPVersion: 2, CaptureID: 3003}},
		{"hep1-udp", peer.KamailioConfig{HEPVersion: 1}},
		{"hep3-authkey", peer.KamailioConfig{HEPVersion: 3, CaptureID: 3005, AuthKey: "k3y-for-traced"}},
		{"plain-sip", peer.KamailioConfig{Duplicate: peer.DuplicateSIP}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := startRig(t, tc.cfg)
			mix := peer.RunCallMix(t, r.k)
			got, pcap := r.finish(t)
			t.Logf("mix of %d calls, %d packets mirrored, %v", mix.Calls, len(got), time.Since(start).Round(time.Millisecond))

			cfg := r.k.Config
			pkts, plain := classify(t, got, cfg.Duplicate)
			port := r.k.HEPPort()
			if wire := peer.CountHEP(t, pcap, port); len(pkts) != wire {
				t.Errorf("sink got %d HEP packets, tshark counted %d on the wire", len(pkts), wire)
			}
			if cfg.Duplicate == peer.DuplicateSIP {
				checkPlainSIP(t, plain, peer.CountUDP(t, pcap, port)-peer.CountHEP(t, pcap, port))
			}
			ids := peer.CallIDs(t, pcap)
			if len(ids) != mix.Calls {
				t.Errorf("tshark saw %d Call-IDs on the SIP side, the mix placed %d calls: %q", len(ids), mix.Calls, ids)
			}
			checkCallIDsMirrored(t, ids, got)
			checkHEP(t, cfg, pkts, ids, mix.Invites)
		})
	}
}

// classify parses the HEP packets and sets the plain SIP copies aside; plain
// SIP outside DuplicateSIP fails the test.
func classify(t *testing.T, got [][]byte, mode peer.Duplicate) (pkts []hepPacket, plain [][]byte) {
	t.Helper()
	for i, b := range got {
		if !peer.LooksLikeHEP(b) {
			if mode != peer.DuplicateSIP {
				t.Fatalf("packet %d is not HEP: %.60q", i, b)
			}
			plain = append(plain, b)
			continue
		}
		p, err := parseHEP(b)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		pkts = append(pkts, p)
	}
	return pkts, plain
}

// checkPlainSIP checks the plain SIP copies against the wire count and for
// their X-Siptrace-* headers.
func checkPlainSIP(t *testing.T, plain [][]byte, wire int) {
	t.Helper()
	if len(plain) != wire {
		t.Errorf("sink got %d plain SIP datagrams, tshark counted %d on the wire", len(plain), wire)
	}
	if len(plain) == 0 {
		t.Fatalf("no plain SIP duplicated")
	}
	for _, b := range plain {
		if !bytes.Contains(b, []byte("\r\nX-Siptrace-Fromip: ")) || !bytes.Contains(b, []byte("\r\nX-Siptrace-Dir: ")) {
			t.Errorf("duplicated SIP without X-Siptrace headers: %.200q", b)
		}
	}
}

// checkCallIDsMirrored checks that every Call-ID is in some mirrored message.
func checkCallIDsMirrored(t *testing.T, ids []string, got [][]byte) {
	t.Helper()
	for _, id := range ids {
		needle := []byte("Call-ID: " + id + "\r\n")
		if !slices.ContainsFunc(got, func(b []byte) bool { return bytes.Contains(b, needle) }) {
			t.Errorf("Call-ID %q seen on the wire is in no mirrored packet", id)
		}
	}
}

// checkHEP checks the HEP packets: SIP in the configured version, one HEPv3
// type 100 hlog() line per INVITE correlated by a Call-ID on the wire, and
// the configured capture id and auth key.
func checkHEP(t *testing.T, cfg peer.KamailioConfig, pkts []hepPacket, ids []string, invites int) {
	t.Helper()
	var logs, sip int
	now := uint32(time.Now().Unix())
	for _, p := range pkts {
		if p.proto == 100 {
			logs++
			if p.version != 3 {
				t.Errorf("hlog packet is HEPv%d, want 3", p.version)
			}
			if !slices.Contains(ids, p.correlation) {
				t.Errorf("hlog correlation id %q is not a Call-ID on the wire", p.correlation)
			}
			if !strings.HasPrefix(string(p.payload), "traced test proxy: INVITE") {
				t.Errorf("hlog payload %q", p.payload)
			}
		} else {
			sip++
			if p.proto != 1 {
				t.Errorf("HEP packet with protocol type %d, want 1 (SIP)", p.proto)
			}
			if p.version != cfg.HEPVersion {
				t.Errorf("SIP mirrored as HEPv%d, configured %d", p.version, cfg.HEPVersion)
			}
			if !bytes.Contains(p.payload, []byte("\r\nCall-ID: ")) {
				t.Errorf("HEP payload is not SIP: %.80q", p.payload)
			}
		}
		if p.version == 1 {
			continue // neither capture id nor time
		}
		want := cfg.CaptureID
		if p.version == 2 {
			want &= 0xffff
		}
		if !p.hasCapture || p.captureID != want {
			t.Errorf("HEPv%d capture id %d (present %v), want %d", p.version, p.captureID, p.hasCapture, want)
		}
		if p.tsSec+3600 < now || p.tsSec > now+60 {
			t.Errorf("HEPv%d timestamp %d is not within an hour of now (%d)", p.version, p.tsSec, now)
		}
		if p.version == 3 && p.authKey != cfg.AuthKey {
			t.Errorf("HEPv3 auth key %q, want %q", p.authKey, cfg.AuthKey)
		}
	}
	if logs != invites {
		t.Errorf("got %d hlog packets, the mix sent %d INVITEs", logs, invites)
	}
	if cfg.Duplicate == peer.DuplicateHEP && sip == 0 {
		t.Errorf("no SIP mirrored as HEP")
	}
}
