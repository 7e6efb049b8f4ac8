package export

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"traced/ingest/record"
)

// requireTshark returns the path of tshark. Without it the test fails under CI
// (which installs it with scripts/install-test-deps.sh) and is skipped
// elsewhere.
func requireTshark(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("tshark not installed; CI must run this test: run scripts/install-test-deps.sh as root")
	}
	t.Skip("tshark not installed; run scripts/install-test-deps.sh as root (skipped outside CI)")
	return ""
}

// checksumPrefs make tshark validate every checksum the export writes.
var checksumPrefs = []string{
	"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
	"-o", "tcp.check_checksum:TRUE", "-o", "sctp.checksum:CRC-32C",
	"-o", "tcp.desegment_tcp_streams:TRUE",
	"-o", "sip.desegment_headers:TRUE", "-o", "sip.desegment_body:TRUE",
}

// tshark runs tshark -n -r file with the checksum preferences and args and
// returns its standard output. Anything it writes to standard error (a cut
// short or unreadable file) fails the test, except its warning about running
// as root.
func tshark(t *testing.T, bin, file string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{"-n", "-r", file}, checksumPrefs...)
	cmd := exec.CommandContext(ctx, bin, append(all, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	for line := range strings.SplitSeq(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "Running as user") {
			t.Errorf("tshark %v warns: %s", args, line)
		}
	}
	return string(out)
}

// expertSections are the severities of tshark -z expert that an export must
// not produce; Chats (such as "Connection establish request (SYN)") are fine.
var expertSections = []string{"Errors", "Warnings", "Notes"}

// TestTsharkReadsExport writes the fixture and has tshark read it back: no
// expert errors, warnings or notes with every checksum validated, and for
// each call every SIP message once, with its Call-ID, CSeq, addresses, ports
// and capture time to the microsecond.
func TestTsharkReadsExport(t *testing.T) {
	bin := requireTshark(t)
	msgs := fixture(t)
	for _, tc := range []struct {
		name string
		opts PcapOptions
		hep  int // HEP packets expected on port 9060
	}{
		{"default", PcapOptions{}, 0},
		{"hep", PcapOptions{HEP: true}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "call.pcap")
			if err := os.WriteFile(file, writePcap(t, msgs, tc.opts), 0o644); err != nil {
				t.Fatal(err)
			}
			expert := tshark(t, bin, file, "-q", "-z", "expert")
			for _, s := range expertSections {
				if strings.Contains(expert, "\n"+s+" (") {
					t.Errorf("tshark reports %s:\n%s", strings.ToLower(s), expert)
				}
			}
			if !strings.Contains(expert, "Chats (") {
				t.Errorf("tshark -z expert shows no TCP handshake; output:\n%s", expert)
			}
			if n := strings.Count(tshark(t, bin, file, "-Y", "udp.port == 9060 && !sip && !rtcp && !rtp"), "\n"); n != tc.hep {
				t.Errorf("%d HEP datagrams, want %d", n, tc.hep)
			}
			if n := strings.Count(tshark(t, bin, file, "-Y", "rtp || rtcp"), "\n"); n != 0 {
				t.Errorf("%d packets dissected as RTP or RTCP, want none", n)
			}
			checkSIPFields(t, bin, file, msgs)
		})
	}
}

// sipFields are the fields tshark prints for each SIP message.
var sipFields = []string{
	"frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "udp.srcport", "sctp.srcport",
	"ip.dst", "ipv6.dst", "tcp.dstport", "udp.dstport", "sctp.dstport", "sip.Call-ID", "sip.CSeq",
}

// sipRow is the line tshark prints for a message with sipFields, or that
// WritePcap must make it print.
func sipRow(m *record.Message) string {
	port := map[uint8]int{protoTCP: 0, protoTLS: 0, protoUDP: 1, protoSCTP: 2}[m.Proto]
	row := make([]string, len(sipFields))
	row[0] = fmt.Sprintf("%d.%06d000", m.Time/1e6, m.Time%1e6)
	ip := 1
	if m.Src.Addr().Is6() {
		ip = 2
	}
	row[ip], row[ip+5] = m.Src.Addr().String(), m.Dst.Addr().String()
	row[3+port], row[8+port] = fmt.Sprint(m.Src.Port()), fmt.Sprint(m.Dst.Port())
	row[11] = string(m.SIP.CallID)
	row[12] = fmt.Sprintf("%d %s", m.SIP.CSeq, m.SIP.CSeqMethod)
	return strings.Join(row, "\t")
}

func checkSIPFields(t *testing.T, bin, file string, msgs []*record.Message) {
	t.Helper()
	args := []string{"-Y", "sip", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"}
	for _, f := range sipFields {
		args = append(args, "-e", f)
	}
	got := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimRight(tshark(t, bin, file, args...), "\n"), "\n") {
		f := strings.Split(line, "\t")
		got[f[11]] = append(got[f[11]], line)
	}
	want := map[string][]string{}
	for _, m := range byTime(msgs) {
		if m.Type == 1 {
			want[string(m.SIP.CallID)] = append(want[string(m.SIP.CallID)], sipRow(m))
		}
	}
	calls := []struct{ name, callID string }{
		{"udp", "udp-call-1@traced.test"},
		{"tcp", "tcp-call-2@traced.test"},
		{"ipv6", "ipv6-call-3@traced.test"},
		{"sctp", "sctp-call-4@traced.test"},
		{"tls", "tls-call-5@traced.test"},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if len(want[c.callID]) == 0 {
				t.Fatalf("the fixture has no call %s", c.callID)
			}
			if !slices.Equal(got[c.callID], want[c.callID]) {
				t.Errorf("tshark shows\n%s\nwant\n%s", strings.Join(got[c.callID], "\n"), strings.Join(want[c.callID], "\n"))
			}
		})
	}
	if len(got) != len(calls) {
		t.Errorf("tshark shows %d Call-IDs, want %d: %v", len(got), len(calls), slices.Sorted(func(yield func(string) bool) {
			for k := range got {
				if !yield(k) {
					return
				}
			}
		}))
	}
}
