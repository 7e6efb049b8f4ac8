package peer_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"traced/internal/peer"
)

// Re-record the fixtures with:
//
//	go test ./internal/peer -run TestRecordFixtures -capture
var capture = flag.Bool("capture", false, "record real Kamailio packets as fixtures into ingest/hep/testdata and testdata")

const (
	hepFixtureDir  = "../../ingest/hep/testdata"
	sipFixtureFile = "testdata/kamailio_duplicate_xheaders.sip"
)

// fixture is one recorded packet: which proxy sends it and how to pick it.
type fixture struct {
	file string
	cfg  peer.KamailioConfig
	pick func(b []byte) bool
}

func fixtures() []fixture {
	return []fixture{
		{"kamailio_v3_udp_invite.bin", peer.KamailioConfig{HEPVersion: 3, CaptureID: 2001}, isHEPInvite(3)},
		{"kamailio_v3_tcp_invite.bin", peer.KamailioConfig{HEPVersion: 3, HEPTransport: "tcp", CaptureID: 2002}, isHEPInvite(3)},
		{"kamailio_v2_invite.bin", peer.KamailioConfig{HEPVersion: 2, CaptureID: 2003}, isHEPInvite(2)},
		{"kamailio_v1_invite.bin", peer.KamailioConfig{HEPVersion: 1}, isHEPInvite(1)},
		{"kamailio_v3_authkey.bin", peer.KamailioConfig{HEPVersion: 3, CaptureID: 2005, AuthKey: "traced-fixture-key"}, isHEPInvite(3)},
		{"kamailio_v3_hlog.bin", peer.KamailioConfig{HEPVersion: 2, CaptureID: 2006}, isHLog},
		{"kamailio_duplicate_xheaders.sip", peer.KamailioConfig{Duplicate: peer.DuplicateSIP}, isXHeaderInvite},
	}
}

func (f fixture) path() string {
	if filepath.Ext(f.file) == ".sip" {
		return sipFixtureFile
	}
	return filepath.Join(hepFixtureDir, f.file)
}

// isHEPInvite picks the INVITE as the proxy received it from the caller,
// mirrored as HEP of the given version.
func isHEPInvite(version int) func([]byte) bool {
	return func(b []byte) bool {
		p, err := parseHEP(b)
		return err == nil && p.version == version && p.proto == 1 &&
			bytes.HasPrefix(p.payload, []byte("INVITE sip:")) &&
			!bytes.Contains(p.payload, []byte("\r\nRecord-Route: "))
	}
}

func isHLog(b []byte) bool {
	p, err := parseHEP(b)
	return err == nil && p.version == 3 && p.proto == 100
}

func isXHeaderInvite(b []byte) bool {
	return bytes.HasPrefix(b, []byte("INVITE sip:")) &&
		bytes.Contains(b, []byte("\r\nX-Siptrace-Dir: in\r\n"))
}

// TestRecordFixtures records one real packet of each kind from Kamailio. It
// only runs with -capture; the files are committed.
func TestRecordFixtures(t *testing.T) {
	if !*capture {
		t.Skip("records fixtures only with -capture")
	}
	peer.Require(t, "kamailio", "sipp")
	if err := os.MkdirAll(hepFixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures() {
		t.Run(f.file, func(t *testing.T) {
			network := f.cfg.HEPTransport
			if network == "" {
				network = "udp"
			}
			s := newSink(t, network)
			cfg := f.cfg
			cfg.HEPDest = s.addr
			k := peer.StartKamailio(t, cfg)
			peer.StartSippUAS(t, peer.SippRun{Scenario: peer.ScenarioUAS, Local: k.Hosts.UAS})
			peer.RunSipp(t, peer.SippRun{Scenario: peer.ScenarioUAC, Local: k.Hosts.UAC, Remote: k.Addr(), Service: "bob"})
			k.Stop()
			for _, b := range s.drain(t) {
				if f.pick(b) {
					if err := os.WriteFile(f.path(), b, 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("wrote %s (%d bytes)", f.path(), len(b))
					return
				}
			}
			t.Fatalf("no packet for %s among those received", f.file)
		})
	}
}

// TestFixturesAreRealKamailioPackets checks the committed fixtures still hold
// what TestRecordFixtures picked.
func TestFixturesAreRealKamailioPackets(t *testing.T) {
	if *capture {
		t.Skip("fixtures are being re-recorded")
	}
	for _, f := range fixtures() {
		b, err := os.ReadFile(f.path())
		if err != nil {
			t.Errorf("%s: %v (record it with -capture)", f.file, err)
			continue
		}
		if !f.pick(b) {
			t.Errorf("%s: not the packet kind it was recorded as (%d bytes)", f.file, len(b))
			continue
		}
		if filepath.Ext(f.file) == ".sip" {
			continue
		}
		p, err := parseHEP(b)
		if err != nil {
			t.Errorf("%s: %v", f.file, err)
			continue
		}
		if p.version == 3 && p.authKey != f.cfg.AuthKey {
			t.Errorf("%s: auth key %q, want %q", f.file, p.authKey, f.cfg.AuthKey)
		}
		if p.version >= 2 && p.proto == 1 && p.captureID != f.cfg.CaptureID {
			t.Errorf("%s: capture id %d, want %d", f.file, p.captureID, f.cfg.CaptureID)
		}
		if p.proto == 100 && (p.correlation == "" || !bytes.Contains(p.payload, []byte("INVITE"))) {
			t.Errorf("%s: hlog with correlation %q and text %q", f.file, p.correlation, p.payload)
		}
	}
}
