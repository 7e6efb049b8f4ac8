package capture

import (
	"traced/internal/peer"

	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The sample captures live outside the repository, in ../shared/pcaps from the
// module root; tshark dissects them and package capture must find every SIP
// message and RTCP packet tshark finds, with the same capture time, addresses
// and content.

// samples lists the captures with the tshark options that make it see their SIP.
var samples = []struct {
	name  string
	extra []string
}{
	{"heplify-erspan_sip_ipv4_udp.pcapng", nil},
	{"heplify-ipip0.pcap", nil},
	{"heplify-ipv6_udp_fragmented.pcap", nil},
	{"heplify-rtp_rtcp_sip_ipv4_udp.pcap", nil},
	{"heplify-sip_ipv4_tcp.pcap", nil},
	{"heplify-sip_ipv4_tcp_fragmented.pcap", []string{"-d", "tcp.port==6060,sip"}}, // SIP on a port tshark gives to X11
	{"heplify-sip_ipv4_tcp_retrans.pcap", nil},
	{"heplify-sip_ipv6_udp.pcap", nil},
	{"heplify-sip_sctp.pcap", nil},
	{"heplify-sip_tcp_websocket.pcap", nil},
}

// sampleDir returns the directory of the sample captures, or skips (fails under
// CI) when it is missing.
func sampleDir(t testing.TB) string {
	t.Helper()
	return peer.SampleCapture(t, "")
}

func needTshark(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is not installed (scripts/install-test-deps.sh installs it)")
		}
		t.Skip("tshark is not installed: skipped outside CI (scripts/install-test-deps.sh installs it)")
	}
	return p
}

// frameKey identifies a frame as both sides see it: its capture time in µs and
// the innermost addresses.
type frameKey struct {
	usec     int64
	src, dst string
}

// sharkFrame is what tshark dissected in one frame.
type sharkFrame struct {
	number   string
	key      frameKey
	ids      []string // "Call-ID|CSeq" of each SIP message
	lines    []string // their first lines
	rtcpPT   []string
	rtcpSSRC []string
}

const agg = "\x1f"

var sharkFields = []string{"frame.number", "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
	"udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport", "sctp.srcport", "sctp.dstport",
	"sip.Call-ID", "sip.CSeq", "sip.Request-Line", "sip.Status-Line", "rtcp.pt", "rtcp.senderssrc"}

// tshark returns the frames in which tshark decoded SIP or RTCP.
func tshark(t *testing.T, bin, file string, extra []string) []sharkFrame {
	t.Helper()
	args := append([]string{"-r", file, "-n"}, extra...)
	args = append(args, "-Y", "sip || rtcp", "-T", "fields", "-E", "separator=/t", "-E", "aggregator="+agg)
	for _, f := range sharkFields {
		args = append(args, "-e", f)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", file, err, stderr.String())
	}
	var frames []sharkFrame
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != len(sharkFields) {
			t.Fatalf("tshark line with %d fields: %q", len(f), line)
		}
		v := func(name string) []string {
			for i, n := range sharkFields {
				if n == name && f[i] != "" {
					return strings.Split(f[i], agg)
				}
			}
			return nil
		}
		last := func(names ...string) string {
			for _, n := range names {
				if l := v(n); len(l) > 0 {
					return l[len(l)-1]
				}
			}
			return ""
		}
		usec, err := epochMicro(f[1])
		if err != nil {
			t.Fatalf("frame %s: %v", f[0], err)
		}
		src := last("ipv6.src", "ip.src")
		dst := last("ipv6.dst", "ip.dst")
		if len(v("ipv6.src")) > 0 && len(v("ip.src")) > 0 {
			// A tunnel: tshark lists the layers in order; the innermost is
			// the last of the layer that comes last. The samples tunnel IPv4
			// only, so IPv4 wins when both are present with several values.
			src, dst = last("ip.src"), last("ip.dst")
		}
		sport := last("udp.srcport", "tcp.srcport", "sctp.srcport")
		dport := last("udp.dstport", "tcp.dstport", "sctp.dstport")
		fr := sharkFrame{number: f[0], key: frameKey{usec, hostPort(src, sport), hostPort(dst, dport)},
			lines: append(v("sip.Request-Line"), v("sip.Status-Line")...), rtcpPT: v("rtcp.pt"), rtcpSSRC: v("rtcp.senderssrc")}
		ids, cseqs := v("sip.Call-ID"), v("sip.CSeq")
		if len(ids) != len(cseqs) {
			t.Fatalf("frame %s: %d Call-IDs and %d CSeqs", f[0], len(ids), len(cseqs))
		}
		for i := range ids {
			fr.ids = append(fr.ids, ids[i]+"|"+cseqs[i])
		}
		frames = append(frames, fr)
	}
	return frames
}

func hostPort(ip, port string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + port
	}
	return ip + ":" + port
}

// epochMicro parses tshark's frame.time_epoch ("1526006114.962510000") into µs
// without going through a float.
func epochMicro(s string) (int64, error) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	frac = (frac + "000000")[:6]
	us, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	return n*1e6 + us, nil
}

// sipFields returns the first line, "Call-ID|CSeq" of a SIP message (full or
// compact header names), as tshark shows them.
func sipFields(msg []byte) (line, id string) {
	head := msg
	if i := headerEnd(msg); i >= 0 {
		head = msg[:i]
	}
	var callID, cseq string
	for i, l := range strings.Split(string(head), "\n") {
		l = strings.TrimRight(l, "\r")
		if i == 0 {
			line = l
			continue
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "call-id", "i":
			callID = strings.TrimSpace(val)
		case "cseq":
			cseq = strings.Join(strings.Fields(val), " ")
		}
	}
	return line, callID + "|" + cseq
}

// rtcpFields returns the packet types of an RTCP compound and the sender SSRC of
// each of its SR and RR packets.
func rtcpFields(b []byte) (pts, ssrcs []string) {
	for off := 0; off+8 <= len(b); off += (int(binary.BigEndian.Uint16(b[off+2:])) + 1) * 4 {
		pts = append(pts, strconv.Itoa(int(b[off+1])))
		if b[off+1] == 200 || b[off+1] == 201 {
			ssrcs = append(ssrcs, fmt.Sprintf("0x%08x", binary.BigEndian.Uint32(b[off+4:])))
		}
	}
	return pts, ssrcs
}

// captured groups a file's messages by frame key.
type captured struct {
	ids, lines map[frameKey][]string
	rtcp       map[frameKey][][2][]string
	sip, nrtcp int
	sum        Summary
}

func readCaptured(t *testing.T, path string) captured {
	t.Helper()
	r, c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ms, err := ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	got := captured{ids: map[frameKey][]string{}, lines: map[frameKey][]string{}, rtcp: map[frameKey][][2][]string{}, sum: r.Summary()}
	for _, m := range ms {
		k := frameKey{m.Time.UnixMicro(), m.Src.String(), m.Dst.String()}
		switch m.Kind {
		case KindSIP:
			got.sip++
			line, id := sipFields(m.Payload)
			got.ids[k] = append(got.ids[k], id)
			got.lines[k] = append(got.lines[k], line)
		case KindRTCP:
			got.nrtcp++
			pts, ssrcs := rtcpFields(m.Payload)
			got.rtcp[k] = append(got.rtcp[k], [2][]string{pts, ssrcs})
		}
	}
	return got
}

// takeAll removes each of want from have (a multiset) and returns what was not
// there.
func takeAll(have *[]string, want []string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for i, h := range *have {
			if h == w {
				*have = append((*have)[:i], (*have)[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

func TestMatchesTshark(t *testing.T) {
	dir := sampleDir(t)
	bin := needTshark(t)
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(dir, s.name)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("sample missing: %v", err)
			}
			frames := tshark(t, bin, path, s.extra)
			got := readCaptured(t, path)
			sharkSIP, sharkRTCP := 0, 0
			for _, fr := range frames {
				sharkSIP += len(fr.ids)
				if len(fr.lines) != len(fr.ids) {
					t.Errorf("frame %s: tshark shows %d first lines for %d messages", fr.number, len(fr.lines), len(fr.ids))
				}
				ids, lines := got.ids[fr.key], got.lines[fr.key]
				if miss := takeAll(&ids, fr.ids); len(miss) > 0 {
					t.Errorf("frame %s %v: SIP %q not yielded (yielded there: %q)", fr.number, fr.key, miss, got.ids[fr.key])
				}
				if miss := takeAll(&lines, fr.lines); len(miss) > 0 {
					t.Errorf("frame %s %v: first lines %q not yielded (yielded there: %q)", fr.number, fr.key, miss, got.lines[fr.key])
				}
				got.ids[fr.key], got.lines[fr.key] = ids, lines
				if len(fr.rtcpPT) > 0 {
					sharkRTCP++
					if !takeRTCP(got.rtcp, fr) {
						t.Errorf("frame %s %v: RTCP pt %v ssrc %v not yielded (yielded there: %v)", fr.number, fr.key, fr.rtcpPT, fr.rtcpSSRC, got.rtcp[fr.key])
					}
				}
			}
			extra := 0
			for k, ids := range got.ids {
				for _, id := range ids {
					extra++
					t.Logf("yielded a SIP message tshark did not decode: %v %s", k, id)
				}
			}
			t.Logf("SIP: tshark %d, capture %d (%d more); RTCP: tshark %d, capture %d; summary %+v",
				sharkSIP, got.sip, extra, sharkRTCP, got.nrtcp, got.sum)
			if got.sip != got.sum.SIP || got.nrtcp != got.sum.RTCP {
				t.Errorf("summary counts SIP %d RTCP %d, yielded %d and %d", got.sum.SIP, got.sum.RTCP, got.sip, got.nrtcp)
			}
			if got.sum.Packets == 0 {
				t.Error("summary counts no packets")
			}
		})
	}
}

// takeRTCP finds and removes a yielded RTCP compound that matches tshark's
// frame: the same packet types, and the sender SSRCs tshark shows.
func takeRTCP(got map[frameKey][][2][]string, fr sharkFrame) bool {
	for i, r := range got[fr.key] {
		if strings.Join(r[0], ",") != strings.Join(fr.rtcpPT, ",") {
			continue
		}
		have := append([]string(nil), r[1]...)
		if len(takeAll(&have, fr.rtcpSSRC)) > 0 {
			continue
		}
		got[fr.key] = append(got[fr.key][:i], got[fr.key][i+1:]...)
		return true
	}
	return false
}

var _ = time.Second
