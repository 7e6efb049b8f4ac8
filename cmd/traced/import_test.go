package main

import (
	"traced/internal/peer"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"traced/capture"
	"traced/httpui"
)

// TestImportCaptures imports every sample capture into a running traced and
// finds, through the control socket's search, each SIP message tshark decodes
// in it: same capture time to the µs, addresses, first line, Call-ID and CSeq.
// The captures are years old: the archive finds them by their capture time,
// not by when they were imported. The RTCP of the RTP sample is stored as HEP
// type 5.
func TestImportCaptures(t *testing.T) {
	dir := peer.SampleCapture(t, "")
	shark := impTshark(t)
	d := startTraced(t, filepath.Join(t.TempDir(), "data"))

	type sample struct {
		name  string
		extra []string // tshark options
	}
	samples := []sample{
		{"heplify-erspan_sip_ipv4_udp.pcapng", nil},
		{"heplify-ipip0.pcap", nil},
		{"heplify-ipv6_udp_fragmented.pcap", nil},
		{"heplify-rtp_rtcp_sip_ipv4_udp.pcap", nil},
		{"heplify-sip_ipv4_tcp.pcap", nil},
		{"heplify-sip_ipv4_tcp_fragmented.pcap", []string{"-d", "tcp.port==6060,sip"}},
		{"heplify-sip_ipv4_tcp_retrans.pcap", nil},
		{"heplify-sip_ipv6_udp.pcap", nil},
		{"heplify-sip_sctp.pcap", nil},
		{"heplify-sip_tcp_websocket.pcap", nil},
	}
	var stored uint64
	results := map[string]impCounts{}
	for _, s := range samples {
		// Every file through the tracectl binary, as an admin runs it.
		c := importWithTracectl(t, d, filepath.Join(dir, s.name))
		if c.stored != c.sip+c.rtcp {
			t.Errorf("%s: %d SIP and %d RTCP found, %d stored", s.name, c.sip, c.rtcp, c.stored)
		}
		stored += uint64(c.stored)
		results[s.name] = c
	}
	st := d.waitStored(stored)
	if st.Received["import"] != stored || st.RejectedBy["import"] == nil {
		t.Errorf("status counts %d received on the import listener (rejections %v), want %d", st.Received["import"], st.RejectedBy["import"], stored)
	}

	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			want := impSharkSIP(t, shark, filepath.Join(dir, s.name), s.extra)
			found := 0
			byCall := map[string][]impSIP{}
			for _, m := range want {
				byCall[m.callID] = append(byCall[m.callID], m)
			}
			for callID, msgs := range byCall {
				lo, hi := msgs[0].usec, msgs[0].usec
				for _, m := range msgs {
					lo, hi = min(lo, m.usec), max(hi, m.usec)
				}
				q := url.Values{"call_id": {callID},
					"since": {time.UnixMicro(lo - 1e6).UTC().Format(time.RFC3339Nano)},
					"until": {time.UnixMicro(hi + 1e6).UTC().Format(time.RFC3339Nano)}, "limit": {"100000"}}
				got := d.searchAPI(q).Messages
				for _, m := range msgs {
					if i := impFind(got, m); i >= 0 {
						got = append(got[:i], got[i+1:]...)
						found++
						continue
					}
					t.Errorf("frame %s not in the archive: %s %s→%s %q CSeq %q (search by Call-ID gave %d messages)",
						m.frame, time.UnixMicro(m.usec).UTC().Format(httpui.TimeFormat), m.src, m.dst, m.line, m.cseq, len(d.searchAPI(q).Messages))
				}
			}
			c := results[s.name]
			t.Logf("SIP: tshark %d, capture %d, stored %d (with RTCP %d), found in the archive %d", len(want), c.sip, c.stored, c.rtcp, found)
		})
	}

	// The RTP sample's RTCP: stored as type 5 at its capture times, found by a
	// search of the capture's time range alone.
	c := results["heplify-rtp_rtcp_sip_ipv4_udp.pcap"]
	window := url.Values{"since": {c.first.Add(-time.Second).Format(time.RFC3339Nano)},
		"until": {c.last.Add(time.Second).Format(time.RFC3339Nano)}, "limit": {"100000"}}
	rtcp := url.Values{"type": {"5"}}
	for k, v := range window {
		rtcp[k] = v
	}
	got := d.searchAPI(rtcp).Messages
	if len(got) != c.rtcp || c.rtcp < 26 {
		t.Errorf("RTCP of the RTP sample: %d stored as type 5 in its time range, %d found in the file (tshark decodes 26)", len(got), c.rtcp)
	}
	for _, m := range got {
		if m.Type != "rtcp" || m.Transport != "udp" || m.Node != capture.NodeName {
			t.Errorf("RTCP stored as type %q over %q from node %q", m.Type, m.Transport, m.Node)
			break
		}
	}
	if got := d.searchAPI(window); got.Total != c.sip+c.rtcp {
		t.Errorf("a search of the RTP sample's capture time range finds %d messages, want its %d SIP and %d RTCP", got.Total, c.sip, c.rtcp)
	}
	// Its call's QoS tab shows the packets, jitter and loss tshark reads in
	// the capture, from the imported binary RTCP.
	_, rtcpPkts := readQoSPcap(t)
	var qres httpui.QoSResult
	if err := json.Unmarshal(webGet(t, d)("/api/v1/calls/"+url.PathEscape(qosCallID)+"/qos"), &qres); err != nil {
		t.Fatal(err)
	}
	checkLegA(t, qres, rtcpPkts, tsharkReports(t), "rtcp")
	after := url.Values{"since": {c.last.Add(2 * time.Second).Format(time.RFC3339Nano)},
		"until": {c.last.Add(time.Hour).Format(time.RFC3339Nano)}}
	if got := d.searchAPI(after); got.Total != 0 {
		t.Errorf("a search of the hour after the RTP sample finds %d messages, want none", got.Total)
	}
}

// TestImportNeedsRunningTraced: without a daemon, the import says so (the
// error tracectl turns into exit status 3).
func TestImportNeedsRunningTraced(t *testing.T) {
	c := httpui.NewClient(httpui.SocketPath(t.TempDir()))
	_, err := c.Import(context.Background(), strings.NewReader("HEP3"))
	if !errors.Is(err, httpui.ErrNotRunning) {
		t.Fatalf("import without traced: %v, want ErrNotRunning", err)
	}
}

type impCounts struct {
	sip, rtcp, stored int
	first, last       time.Time
}

func importWithTracectl(t *testing.T, d *daemon, path string) impCounts {
	t.Helper()
	out := d.tracectl("import", "--json", path)
	var sums []struct {
		SIP, RTCP, Stored int
		First, Last       time.Time
		Rejected          map[string]int
	}
	if err := json.Unmarshal(out, &sums); err != nil || len(sums) != 1 {
		t.Fatalf("tracectl import --json: %v\n%s", err, out)
	}
	s := sums[0]
	if len(s.Rejected) > 0 {
		t.Errorf("import %s: rejected %v", path, s.Rejected)
	}
	return impCounts{sip: s.SIP, rtcp: s.RTCP, stored: s.Stored, first: s.First, last: s.Last}
}

// impSIP is one SIP message as tshark decodes it.
type impSIP struct {
	frame        string
	usec         int64
	src, dst     string
	callID, cseq string
	line         string
}

// impFind returns the index of the stored message that is m, or -1.
func impFind(got []httpui.Message, m impSIP) int {
	when := time.UnixMicro(m.usec).UTC().Format(httpui.TimeFormat)
	for i, g := range got {
		first, _, _ := strings.Cut(g.Raw, "\n")
		if g.Time == when && g.Src == m.src && g.Dst == m.dst && g.CallID == m.callID && g.Type == "sip" &&
			strings.Join(strings.Fields(g.CSeq), " ") == m.cseq && strings.TrimRight(first, "\r") == m.line {
			return i
		}
	}
	return -1
}

// impSharkSIP lists the SIP messages tshark decodes in path.
func impSharkSIP(t *testing.T, bin, path string, extra []string) []impSIP {
	t.Helper()
	const agg = "\x1f"
	fields := []string{"frame.number", "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
		"udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport", "sctp.srcport", "sctp.dstport",
		"sip.Call-ID", "sip.CSeq", "sip.Request-Line", "sip.Status-Line"}
	args := append(append([]string{"-r", path, "-n"}, extra...), "-Y", "sip", "-T", "fields", "-E", "aggregator="+agg)
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", path, err, stderr.String())
	}
	var msgs []impSIP
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != len(fields) {
			t.Fatalf("tshark line %q", line)
		}
		list := func(i int) []string {
			if f[i] == "" {
				return nil
			}
			return strings.Split(f[i], agg)
		}
		last := func(is ...int) string {
			for _, i := range is {
				if l := list(i); len(l) > 0 {
					return l[len(l)-1]
				}
			}
			return ""
		}
		sec, frac, _ := strings.Cut(f[1], ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		us, err2 := strconv.ParseInt((frac + "000000")[:6], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("tshark time %q", f[1])
		}
		hp := func(ip, port string) string {
			if strings.Contains(ip, ":") {
				return "[" + ip + "]:" + port
			}
			return ip + ":" + port
		}
		src, dst := hp(last(4, 2), last(6, 8, 10)), hp(last(5, 3), last(7, 9, 11))
		ids, cseqs, lines := list(12), list(13), append(list(14), list(15)...)
		if len(ids) != len(cseqs) || len(ids) != len(lines) {
			t.Fatalf("frame %s: %d Call-IDs, %d CSeqs, %d first lines", f[0], len(ids), len(cseqs), len(lines))
		}
		// Several messages in one frame: the first lines are listed requests
		// first, so pair them by content rather than by position.
		for i := range ids {
			msgs = append(msgs, impSIP{frame: f[0], usec: s*1e6 + us, src: src, dst: dst, callID: ids[i],
				cseq: strings.Join(strings.Fields(cseqs[i]), " "), line: impLineFor(cseqs[i], lines)})
		}
	}
	return msgs
}

// impLineFor picks, among a frame's first lines, the one of the message whose
// CSeq is cseq: the request of that method, or a response.
func impLineFor(cseq string, lines []string) string {
	if len(lines) == 1 {
		return lines[0]
	}
	f := strings.Fields(cseq)
	method := f[len(f)-1]
	for _, l := range lines {
		if strings.HasPrefix(l, method+" ") {
			return l
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "SIP/2.0 ") {
			return l
		}
	}
	return lines[0]
}

func impTshark(t *testing.T) string {
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
