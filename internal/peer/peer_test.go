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
	s := &rig{sink: newSink(t, network)}
	cfg.HEPDest = s.sink.addr
	s.k = peer.StartKamailio(t, cfg)
	s.cap = peer.StartCapture(t, s.k.CaptureFilter())
	return s
}

// finish stops the proxy (nothing more is mirrored after that), then the
// capture, and returns what the sink received and the pcap.
func (s *rig) finish(t *testing.T) ([][]byte, string) {
	t.Helper()
	s.k.Stop()
	pcap := s.cap.Stop()
	return s.sink.drain(t), pcap
}

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
			s := startRig(t, tc.cfg)
			mix := peer.RunCallMix(t, s.k)
			got, pcap := s.finish(t)
			cfg := s.k.Config
			t.Logf("mix of %d calls, %d packets mirrored, %v", mix.Calls, len(got), time.Since(start).Round(time.Millisecond))

			// What the sink received is exactly what went on the wire.
			port := s.k.HEPPort()
			var pkts []hepPacket
			var plain [][]byte
			for i, b := range got {
				if !peer.LooksLikeHEP(b) {
					if cfg.Duplicate != peer.DuplicateSIP {
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
			if wire := peer.CountHEP(t, pcap, port); len(pkts) != wire {
				t.Errorf("sink got %d HEP packets, tshark counted %d on the wire", len(pkts), wire)
			}
			if cfg.Duplicate == peer.DuplicateSIP {
				wire := peer.CountUDP(t, pcap, port) - peer.CountHEP(t, pcap, port)
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

			// Every Call-ID on the SIP side was mirrored.
			ids := peer.CallIDs(t, pcap)
			if len(ids) != mix.Calls {
				t.Errorf("tshark saw %d Call-IDs on the SIP side, the mix placed %d calls: %q", len(ids), mix.Calls, ids)
			}
			for _, id := range ids {
				needle := []byte("Call-ID: " + id + "\r\n")
				found := false
				for _, b := range got {
					if bytes.Contains(b, needle) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("Call-ID %q seen on the wire is in no mirrored packet", id)
				}
			}

			// hlog(): one HEPv3 type 100 per INVITE, correlated by Call-ID,
			// whatever hep_version is.
			var logs, sip int
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
					continue
				}
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
			if logs != mix.Invites {
				t.Errorf("got %d hlog packets, the mix sent %d INVITEs", logs, mix.Invites)
			}
			if cfg.Duplicate == peer.DuplicateHEP && sip == 0 {
				t.Errorf("no SIP mirrored as HEP")
			}

			// Capture id, auth key and timestamps as configured.
			now := uint32(time.Now().Unix())
			for _, p := range pkts {
				if p.version == 1 {
					continue // v1 has neither capture id nor time
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
		})
	}
}
