package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"traced/httpui"
	"traced/internal/peer"
)

// corrHeader is the header the proxy turns into a HEP correlation id
// (peer.KamailioConfig.CorrelationHeader). traced is given no configured
// correlating header, so the header itself joins nothing.
const corrHeader = "X-Trace-Correlation"

// corrLeg is a leg a call view must show.
type corrLeg struct {
	rule  string // correlate.Rule name
	via   string // Call-ID of the leg it was found from; "" for the seed
	value string // what joined it
}

// corrTraffic is the real traffic of TestCallCorrelationFromKamailio: the
// Call-IDs of every scenario, and the values that link them.
type corrTraffic struct {
	// b2bua: leg A (X-Session-Id), leg B (X-CID naming A, the same
	// X-Session-Id).
	b2bA, b2bB, b2bSession string
	// Attended transfer: the consultation call, the original call whose REFER
	// names the consultation call in Refer-To, the call whose INVITE replaces
	// the consultation call.
	consult, original, replacing string
	// Chain: A plain, B with X-CID naming A and a Session-ID, C with the same
	// Session-ID (and a remote UUID).
	chainA, chainB, chainC, chainSession, chainRemote string
	// Correlation: A plain, D whose INVITE names A in corrHeader.
	corrA, corrD string
	// Unrelated calls sharing nothing, placed while the others run:
	// "unrelated-" + nonce + "-" + sipp's call number + "@" + address.
	unrelated []string
	nonce     string
}

// newCorrTraffic names the calls placed from uac, those of the unrelated calls
// from unrelatedUAC (IP addresses), as sipp names them by default:
// local part "@" address.
func newCorrTraffic(nonce, uac, unrelatedUAC string) corrTraffic {
	id := func(s string) string { return s + "-" + nonce + "@" + uac }
	tr := corrTraffic{
		b2bA: id("b2bua-a"), b2bB: id("b2bua-b"), b2bSession: corrUUID(),
		consult: id("xfer-consult"), original: id("xfer-original"), replacing: id("xfer-replacing"),
		chainA: id("chain-a"), chainB: id("chain-b"), chainC: id("chain-c"),
		chainSession: corrUUID(), chainRemote: corrUUID(),
		corrA: id("corrid-a"), corrD: id("corrid-d"),
		nonce: nonce,
	}
	for i := 1; i <= corrUnrelatedCalls; i++ {
		tr.unrelated = append(tr.unrelated, fmt.Sprintf("unrelated-%s-%d@%s", nonce, i, unrelatedUAC))
	}
	return tr
}

// corrUnrelatedCalls is how many unrelated calls run alongside, one a second.
const corrUnrelatedCalls = 4

// groups returns every call view to check, by seed: the legs it must show,
// exactly.
func (tr corrTraffic) groups() map[string]map[string]corrLeg {
	seed := corrLeg{rule: "seed"}
	out := map[string]map[string]corrLeg{
		tr.b2bA: {tr.b2bA: seed, tr.b2bB: {"x-cid", tr.b2bA, tr.b2bA}},
		tr.b2bB: {tr.b2bB: seed, tr.b2bA: {"x-cid", tr.b2bB, tr.b2bA}},

		tr.consult: {tr.consult: seed, tr.original: {"refer-to", tr.consult, tr.consult},
			tr.replacing: {"replaces", tr.consult, tr.consult}},
		tr.original: {tr.original: seed, tr.consult: {"refer-to", tr.original, tr.consult},
			tr.replacing: {"replaces", tr.consult, tr.consult}},
		tr.replacing: {tr.replacing: seed, tr.consult: {"replaces", tr.replacing, tr.consult},
			tr.original: {"refer-to", tr.consult, tr.consult}},

		tr.chainA: {tr.chainA: seed, tr.chainB: {"x-cid", tr.chainA, tr.chainA},
			tr.chainC: {"session-id", tr.chainB, tr.chainSession}},
		tr.chainB: {tr.chainB: seed, tr.chainA: {"x-cid", tr.chainB, tr.chainA},
			tr.chainC: {"session-id", tr.chainB, tr.chainSession}},
		tr.chainC: {tr.chainC: seed, tr.chainB: {"session-id", tr.chainC, tr.chainSession},
			tr.chainA: {"x-cid", tr.chainB, tr.chainA}},

		tr.corrA: {tr.corrA: seed, tr.corrD: {"correlation-id", tr.corrA, tr.corrA}},
		tr.corrD: {tr.corrD: seed, tr.corrA: {"correlation-id", tr.corrD, tr.corrA}},
	}
	for _, u := range tr.unrelated {
		out[u] = map[string]corrLeg{u: seed}
	}
	return out
}

// corrUUID is a random RFC 7989 Session-ID: 32 lower-case hex digits.
func corrUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// corrIP is the IP address of a SIP address.
func corrIP(addr string) string { return netip.MustParseAddrPort(addr).Addr().String() }

// corrHost is the SIP address with host number n in the /24 of h.Proxy.
func corrHost(h peer.Hosts, n byte) string {
	b := netip.MustParseAddrPort(h.Proxy).Addr().As4()
	b[3] = n
	return netip.AddrPortFrom(netip.AddrFrom4(b), peer.SIPPort).String()
}

// TestCallCorrelationFromKamailio builds calls from real traffic: sipp calls
// through Kamailio (siptrace, trace_mode=1) mirrored as HEPv3 to traced, then
// asks GET /api/v1/calls/{call-id} and the call page for every Call-ID placed:
//
//   - a B2BUA pair: leg B's INVITE carries X-CID naming leg A and the same
//     X-Session-Id as A's;
//   - an attended transfer: a REFER whose Refer-To carries an escaped
//     Replaces naming the consultation call, then an INVITE whose Replaces
//     header names it;
//   - a chain of three legs, A–B by X-CID and B–C by Session-ID, seeded from
//     each leg;
//   - a leg joined only by the HEP correlation id: the proxy mirrors leg D's
//     INVITE once more through sip_trace() with leg A's Call-ID (taken from a
//     header it removes before relaying) in HEP chunk 0x0011;
//   - unrelated calls placed at the same time, which must each stand alone and
//     appear in no other call.
//
// Every call view must hold exactly the expected legs, each with its rule, the
// leg it was found from and the value that joined it, and every packet
// Kamailio mirrored for each leg (counted in a capture of the loopback).
func TestCallCorrelationFromKamailio(t *testing.T) {
	peer.Require(t, "kamailio", "sipp", "tshark", "dumpcap")
	t.Parallel()
	binaries(t)
	begin := time.Now()
	phase := begin
	lap := func(what string) {
		t.Logf("%s: %v", what, time.Since(phase).Round(time.Millisecond))
		phase = time.Now()
	}

	d := startTraced(t, filepath.Join(t.TempDir(), "data"))
	hosts := peer.ReserveHosts(t)
	k := peer.StartKamailio(t, peer.KamailioConfig{
		Listen:            hosts.Proxy,
		HEPDest:           fmt.Sprintf("127.0.0.1:%d", d.hepPort),
		CaptureID:         4001,
		CorrelationHeader: corrHeader,
		UAS:               []peer.UASRoute{{Prefix: "", Addr: hosts.UAS}},
	})
	peer.StartSippUAS(t, peer.SippRun{Scenario: peer.ScenarioUASRefer, Local: hosts.UAS})
	capt := peer.StartCapture(t, k.CaptureFilter())
	lap("traced, kamailio, answering sipp and capture started")

	unrelatedUAC := corrHost(hosts, 21)
	tr := newCorrTraffic(corrUUID()[:8], corrIP(hosts.UAC), corrIP(unrelatedUAC))
	proxyIP := k.IP()
	run := func(scenario, service, callID string, extra ...string) {
		t.Helper()
		peer.RunSipp(t, peer.SippRun{Scenario: scenario, Local: hosts.UAC, Remote: k.Addr(), Service: service,
			Timeout: 15 * time.Second, Extra: append(peer.FixedCallID(callID), extra...)})
	}

	// The unrelated calls run in the background from their own address, one a
	// second, while the linked calls are placed one after the other.
	unrelated := peer.StartSippUAC(t, peer.SippRun{Scenario: peer.ScenarioUAC, Local: unrelatedUAC,
		Remote: k.Addr(), Service: "zoe", Calls: corrUnrelatedCalls, Rate: 1, Timeout: 20 * time.Second,
		Extra: []string{"-cid_str", "unrelated-" + tr.nonce + "-%u@%s"}})

	// B2BUA pair.
	run(peer.ScenarioUACHeaders, "bob", tr.b2bA, peer.InviteHeaders("X-Session-Id: "+tr.b2bSession)...)
	run(peer.ScenarioUACHeaders, "bob", tr.b2bB, peer.InviteHeaders("X-CID: "+tr.b2bA, "X-Session-Id: "+tr.b2bSession)...)

	// Attended transfer. The dialog tags come from the scenarios: "from-" and
	// "to-" + the Call-ID's local part. The Refer-To escapes the Replaces
	// value, '@' included, as phones do.
	run(peer.ScenarioUACHeaders, "carol", tr.consult, peer.InviteHeaders("Subject: consultation")...)
	local, _, _ := strings.Cut(tr.consult, "@")
	replaces := tr.consult + ";to-tag=to-" + local + ";from-tag=from-" + local
	referTo := fmt.Sprintf("<sip:carol@%s?Replaces=%s>", proxyIP, url.QueryEscape(replaces))
	run(peer.ScenarioUACRefer, "bob", tr.original, peer.ReferTo(referTo)...)
	run(peer.ScenarioUACHeaders, "carol", tr.replacing, peer.InviteHeaders("Replaces: "+replaces)...)

	// Chain of three.
	run(peer.ScenarioUAC, "dave", tr.chainA)
	run(peer.ScenarioUACHeaders, "erin", tr.chainB, peer.InviteHeaders("X-CID: "+tr.chainA, "Session-ID: "+tr.chainSession)...)
	run(peer.ScenarioUACHeaders, "frank", tr.chainC,
		peer.InviteHeaders("Session-ID: "+tr.chainSession+";remote="+tr.chainRemote)...)

	// Joined by the HEP correlation id only.
	run(peer.ScenarioUAC, "grace", tr.corrA)
	run(peer.ScenarioUACHeaders, "heidi", tr.corrD, peer.InviteHeaders(corrHeader+": "+tr.corrA)...)

	unrelated.Wait()
	lap("calls placed")
	k.Stop()
	pcap := capt.Stop()

	// What Kamailio mirrored, per call: SIP packets by Call-ID, hlog() lines by
	// correlation id.
	sent := peer.MirroredHEP3(t, pcap, d.hepPort)
	mirrored := map[string]int{}
	for _, m := range sent {
		mirrored[m.Call()]++
		switch {
		case m.Type == 100 && m.CorrID != m.Call():
			t.Errorf("log line with correlation id %q", m.CorrID)
		case m.Type == 1 && m.CorrID != "" && (m.CallID != tr.corrD || m.CorrID != tr.corrA):
			t.Errorf("%s: a SIP packet carries correlation id %q", m.CallID, m.CorrID)
		case m.Type != 1 && m.Type != 100:
			t.Errorf("%s: HEP protocol type %d", m.Call(), m.Type)
		}
	}
	dCorrelated := 0
	for _, m := range sent {
		if m.CallID == tr.corrD && m.CorrID == tr.corrA {
			dCorrelated++
		}
	}
	if dCorrelated == 0 {
		t.Errorf("no packet of %s carries the correlation id %s", tr.corrD, tr.corrA)
	}
	groups := tr.groups()
	if got, want := slices.Sorted(maps.Keys(mirrored)), slices.Sorted(maps.Keys(groups)); !slices.Equal(got, want) {
		t.Fatalf("kamailio mirrored the calls %q, want %q", got, want)
	}
	st := d.waitStored(uint64(len(sent)))
	if st.Stored != uint64(len(sent)) {
		t.Fatalf("kamailio mirrored %d packets, traced stored %d", len(sent), st.Stored)
	}
	lap(fmt.Sprintf("%d packets mirrored and stored (%d with a correlation id on %s)", len(sent), dCorrelated, tr.corrD))

	token := strings.TrimSpace(string(d.tracectl("token", "create", "correlation", "--role", "viewer")))
	get := func(t *testing.T, path string) []byte {
		t.Helper()
		return d.webGetWith(t, token, path)
	}
	spans := map[string][2]time.Time{} // each Call-ID's first and last message, from its own view
	for _, seed := range slices.Sorted(maps.Keys(groups)) {
		t.Run(seed, func(t *testing.T) {
			corrCheckCall(t, get, seed, groups[seed], mirrored, tr, spans)
		})
	}
	lap(fmt.Sprintf("%d call views checked", len(groups)))

	// The unrelated calls really ran while the linked ones did.
	overlapped := 0
	for _, u := range tr.unrelated {
		for seed, legs := range groups {
			if len(legs) > 1 && spans[u][0].Before(spans[seed][1]) && spans[seed][0].Before(spans[u][1]) {
				overlapped++
				break
			}
		}
	}
	if overlapped == 0 {
		t.Errorf("no unrelated call overlapped a linked call in time: %v", spans)
	}
	t.Logf("%d of %d unrelated calls overlapped linked calls; total %v", overlapped, len(tr.unrelated),
		time.Since(begin).Round(time.Millisecond))
}

// corrCheckCall checks the call view of seed, through the API with every
// captured copy, the API with copies folded, and the call page.
func corrCheckCall(t *testing.T, get func(*testing.T, string) []byte, seed string, want map[string]corrLeg,
	mirrored map[string]int, tr corrTraffic, spans map[string][2]time.Time) {
	esc := url.PathEscape(seed)
	var all, folded httpui.CallResult
	for _, q := range []struct {
		path string
		into *httpui.CallResult
	}{{"/api/v1/calls/" + esc + "?copies=all", &all}, {"/api/v1/calls/" + esc, &folded}} {
		if err := json.Unmarshal(get(t, q.path), q.into); err != nil {
			t.Fatalf("%s: %v", q.path, err)
		}
	}
	if all.CallID != seed || !all.Complete || len(all.Unfollowed) > 0 {
		t.Errorf("call %q, complete %v, unfollowed %q", all.CallID, all.Complete, all.Unfollowed)
	}

	// Exactly the expected legs, each joined as expected.
	got := map[string]corrLeg{}
	for i, l := range all.Legs {
		if _, dup := got[l.CallID]; dup {
			t.Errorf("leg %s twice", l.CallID)
		}
		got[l.CallID] = corrLeg{rule: l.Rule, via: l.Via, value: l.Value}
		if i == 0 && l.CallID != seed {
			t.Errorf("first leg %s, want the seed", l.CallID)
		}
	}
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("leg %s missing (%s via %s)", id, w.rule, w.via)
		case g.rule != w.rule || g.via != w.via || g.value != w.value && w.rule != "seed":
			t.Errorf("leg %s joined by %s via %q value %q, want %s via %q value %q", id, g.rule, g.via, g.value, w.rule, w.via, w.value)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("foreign leg %s (%s via %s, value %q)", id, g.rule, g.via, g.value)
		}
	}

	// Every packet Kamailio mirrored for each leg, and nothing else.
	perLeg := map[string]int{}
	methods := map[string][]string{}
	for _, m := range all.Messages {
		perLeg[m.Leg]++
		own := m.CallID
		if m.Type == "log" {
			own = m.CorrID
		}
		if own != m.Leg {
			t.Errorf("%s message (call %q, correlation id %q) shown in leg %s", m.Type, m.CallID, m.CorrID, m.Leg)
		}
		what := m.Method
		if m.Status != 0 {
			what = fmt.Sprint(m.Status)
		}
		methods[m.Leg] = append(methods[m.Leg], what)
	}
	total := 0
	for _, l := range all.Legs {
		total += mirrored[l.CallID]
		if perLeg[l.CallID] != mirrored[l.CallID] || l.Messages != mirrored[l.CallID] {
			t.Errorf("leg %s: %d messages listed, %d counted, kamailio mirrored %d", l.CallID, perLeg[l.CallID], l.Messages, mirrored[l.CallID])
		}
		for _, need := range corrNeeded(l.CallID, tr) {
			if !slices.Contains(methods[l.CallID], need) {
				t.Errorf("leg %s has no %s: %q", l.CallID, need, methods[l.CallID])
			}
		}
		if l.First != "" {
			first, err1 := time.Parse(time.RFC3339Nano, l.First)
			last, err2 := time.Parse(time.RFC3339Nano, l.Last)
			if err1 != nil || err2 != nil {
				t.Errorf("leg %s: times %q, %q", l.CallID, l.First, l.Last)
			} else if l.CallID == seed {
				spans[seed] = [2]time.Time{first, last}
			}
		}
	}
	var summary []string
	for _, l := range all.Legs {
		summary = append(summary, fmt.Sprintf("%s (%s via %q, %d messages)", l.CallID, l.Rule, l.Via, l.Messages))
	}
	t.Logf("legs: %s", strings.Join(summary, "; "))
	if len(all.Messages) != total {
		t.Errorf("%d messages, the legs' mirrored packets are %d", len(all.Messages), total)
	}
	corrCheckContent(t, all, tr)

	// Folded, each message once with its copies: the same packets. The only
	// message Kamailio mirrors twice is leg D's INVITE as received (its
	// trace_mode=1 copy and the sip_trace() copy with the correlation id):
	// nothing else may fold, and those two must when captured within the
	// 50 ms the call view allows copies.
	copies, foldedD := 0, false
	for _, m := range folded.Messages {
		copies += max(1, len(m.Copies))
		switch {
		case len(m.Copies) == 2 && m.Leg == tr.corrD && m.Method == "INVITE" && strings.Contains(m.Raw, corrHeader):
			foldedD = true
		case len(m.Copies) > 1:
			t.Errorf("folded view: %s %s%s %s→%s shown with %d copies", m.Leg, m.Method, corrStatus(m.Status), m.Src, m.Dst, len(m.Copies))
		}
	}
	if copies != total || len(folded.Legs) != len(all.Legs) {
		t.Errorf("folded view: %d legs, %d messages holding %d copies; want %d legs, %d copies",
			len(folded.Legs), len(folded.Messages), copies, len(all.Legs), total)
	}
	var received []time.Time // leg D's INVITE copies that still carry the header
	for _, m := range all.Messages {
		if m.Leg == tr.corrD && m.Method == "INVITE" && strings.Contains(m.Raw, corrHeader) {
			at, _ := time.Parse(time.RFC3339Nano, m.Time)
			received = append(received, at)
		}
	}
	if len(received) == 2 && received[1].Sub(received[0]).Abs() <= 50*time.Millisecond && !foldedD {
		t.Errorf("folded view: the two copies of %s's INVITE (%v apart) are not shown as one", tr.corrD, received[1].Sub(received[0]))
	}

	// The call page: one row per leg with its rule, one arrow per message, no
	// foreign Call-ID anywhere.
	page := get(t, "/call/"+esc)
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("call page: %v", err)
	}
	rows := corrByTestID(doc, "leg-row")
	if len(rows) != len(want) {
		t.Errorf("call page: %d leg rows, want %d", len(rows), len(want))
	}
	for _, row := range rows {
		id := ""
		for _, in := range corrElements(row, "input") {
			id = corrAttr(in, "value")
		}
		rule := ""
		if r := corrByTestID(row, "leg-rule"); len(r) == 1 {
			rule = corrText(r[0])
		}
		w, ok := want[id]
		if !ok || !strings.HasPrefix(rule, w.rule) {
			t.Errorf("call page: leg row %q joined by %q", id, rule)
		}
	}
	if n := len(corrByTestID(doc, "ladder-arrow")); n != len(folded.Messages) {
		t.Errorf("call page: %d arrows in the ladder, %d messages", n, len(folded.Messages))
	}
	for id := range tr.groups() {
		if _, ok := want[id]; !ok && bytes.Contains(page, []byte(id)) {
			t.Errorf("call page names the foreign call %s", id)
		}
	}
}

func corrStatus(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprint(code)
}

// corrNeeded lists the methods and statuses a leg's messages must include.
func corrNeeded(callID string, tr corrTraffic) []string {
	need := []string{"INVITE", "180", "200", "ACK", "BYE"}
	if callID == tr.original {
		need = append(need, "REFER", "202")
	}
	return need
}

// corrCheckContent checks what joined the legs is really in their messages:
// the REFER's Refer-To, the Replaces header, and the correlation id that only
// the extra copy of leg D's INVITE carries, while the INVITE relayed to the
// answering side has lost the header.
func corrCheckContent(t *testing.T, c httpui.CallResult, tr corrTraffic) {
	t.Helper()
	legs := map[string]bool{}
	for _, l := range c.Legs {
		legs[l.CallID] = true
	}
	var refer, replacing, correlated, relayedClean bool
	for _, m := range c.Messages {
		switch {
		case m.Leg == tr.original && m.Method == "REFER":
			local, _, _ := strings.Cut(tr.consult, "@")
			escaped := url.QueryEscape(tr.consult + ";to-tag=to-" + local + ";from-tag=from-" + local)
			refer = refer || strings.Contains(m.Raw, "\r\nRefer-To: <sip:carol@") && strings.Contains(m.Raw, "?Replaces="+escaped+">\r\n")
		case m.Leg == tr.replacing && m.Method == "INVITE":
			replacing = replacing || strings.Contains(m.Raw, "\r\nReplaces: "+tr.consult+";to-tag=")
		case m.Leg == tr.corrD && m.Method == "INVITE":
			if m.CorrID == tr.corrA {
				correlated = true
			}
			if !strings.Contains(m.Raw, corrHeader) {
				relayedClean = true
			}
		}
	}
	if legs[tr.original] && !refer {
		t.Errorf("no REFER of %s with the escaped Replaces of %s", tr.original, tr.consult)
	}
	if legs[tr.replacing] && !replacing {
		t.Errorf("no INVITE of %s with Replaces: %s", tr.replacing, tr.consult)
	}
	if legs[tr.corrD] && !correlated {
		t.Errorf("no INVITE of %s with the correlation id %s", tr.corrD, tr.corrA)
	}
	if legs[tr.corrD] && !relayedClean {
		t.Errorf("every INVITE of %s still carries %s: the proxy did not remove it", tr.corrD, corrHeader)
	}
}

// corrByTestID returns the elements under n whose data-testid is id.
func corrByTestID(n *html.Node, id string) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && corrAttr(c, "data-testid") == id {
			out = append(out, c)
		}
	}
	return out
}

// corrElements returns the elements under n with the tag name.
func corrElements(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && c.Data == tag {
			out = append(out, c)
		}
	}
	return out
}

func corrAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func corrText(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return strings.TrimSpace(b.String())
}
