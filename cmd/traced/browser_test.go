package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"traced/internal/peer"
)

// browserTimeout bounds everything the browser does in TestBrowserAdminPath.
const browserTimeout = 60 * time.Second

// TestBrowserAdminPath drives a real Chromium through the admin's whole path on
// a real traced that stored a two-leg call among other traffic: the web root
// sends to the login page; admin/admin logs in and must change the password
// before anything else opens; a search by From user lists both legs and one by
// Call-ID lists the call; the call view draws every message of both legs and
// names leg B's rule; a click on an arrow shows the whole message with its HEP
// metadata; the "Download pcap" button saves a pcap that tshark reads back with
// every message of both legs; the users page lists the admin. Each page is kept
// as a full-page PNG in artifacts/screenshots (light, and the call and search
// pages in dark mode too), no page needs horizontal scrolling, no page loads
// anything from another host, and no page logs an error.
func TestBrowserAdminPath(t *testing.T) {
	peer.Require(t, "tshark")
	chromiumPath(t)
	binaries(t)
	shots := artifactDir(t, "screenshots")
	d := startTraced(t, filepath.Join(t.TempDir(), "data"))
	origin := fmt.Sprintf("http://127.0.0.1:%d", d.webPort)

	// Other traffic first, then the call, so that the searches must pick it out.
	background := sendGenerated(t, d, 400, 23)
	call := newB2BUACall(7, time.Now().Add(-3*time.Minute).Truncate(time.Millisecond))
	d.sendUDP(call.Packets)
	d.waitStored(uint64(len(background) + len(call.Packets)))

	pl := &pageLog{}
	began := time.Now()
	ctx := startChromium(t, browserTimeout, pl)
	timings := []string{fmt.Sprintf("chromium start %s", time.Since(began).Round(time.Millisecond))}
	step := func(name string, f func()) {
		t.Helper()
		s := time.Now()
		f()
		timings = append(timings, fmt.Sprintf("%s %s", name, time.Since(s).Round(time.Millisecond)))
	}
	defer func() {
		t.Logf("timings: %s; total %s", strings.Join(timings, ", "), time.Since(began).Round(time.Millisecond))
	}()

	// What the browser saw, checked even when a step stops the test.
	defer func() {
		requests, problems := pl.snapshot()
		if foreign := foreignURLs(requests, origin); len(foreign) > 0 {
			t.Errorf("the pages loaded from another host: %q", foreign)
		}
		if !slices.Contains(requests, origin+"/static/traced.css") || len(requests) < 15 {
			t.Errorf("requests seen: %q; want the pages and their stylesheet", requests)
		}
		if len(problems) > 0 {
			t.Errorf("the browser reported:\n%s", strings.Join(problems, "\n"))
		}
		t.Logf("%d requests seen; screenshots in %s", len(requests), shots)
	}()

	do := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(cctx, actions...); err != nil {
			t.Fatalf("browser: %v", err)
		}
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(loc, origin)
	}
	// submit clicks sel and waits for the page it loads.
	submit := func(sel string) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Run(cctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
			t.Fatalf("click %s on %s: no page loaded: %v", sel, location(), err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s on %s: %v", sel, location(), err)
		}
		return strings.TrimSpace(s)
	}
	eval := func(js string, out any) {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js))
		if err != nil {
			t.Fatalf("evaluate %q: %v", js, err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("evaluate %q: %v (%s)", js, err, raw)
		}
	}
	// fits checks the page needs no horizontal scrolling: wide content (the
	// ladder) scrolls inside its own box.
	fits := func(name string) {
		t.Helper()
		var w struct{ Scroll, Inner int }
		eval(`({Scroll: document.documentElement.scrollWidth, Inner: document.documentElement.clientWidth})`, &w)
		if w.Scroll > w.Inner {
			t.Errorf("%s: the page is %d px wide in a %d px window", name, w.Scroll, w.Inner)
		}
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(buf))
		if err != nil || cfg.Width < 1200 || cfg.Width > 1280 || cfg.Height < 400 {
			t.Errorf("screenshot %s: %dx%d, %v", name, cfg.Width, cfg.Height, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bodyBackground := func(want string) {
		t.Helper()
		var bg string
		eval(`getComputedStyle(document.body).backgroundColor`, &bg)
		if bg != want {
			t.Errorf("%s: body background %s, want %s", location(), bg, want)
		}
	}
	do(chromedp.EmulateViewport(1280, 800))

	// 1. The web root sends to the login page; admin/admin logs in and must
	// change the password first.
	step("login", func() {
		do(chromedp.Navigate(origin + "/"))
		if loc := location(); !strings.HasPrefix(loc, "/login") {
			t.Fatalf("the web root went to %s, want the login page", loc)
		}
		do(chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-form]`)))
		bodyBackground("rgb(255, 255, 255)")
		fits("login")
		shot("01-login")
		do(chromedp.SendKeys(chromedp.CSS(`[data-testid=login-user]`), "admin"),
			chromedp.SendKeys(chromedp.CSS(`[data-testid=login-password]`), "admin"))
		submit(`[data-testid=login-submit]`)
		if loc := location(); loc != "/password" {
			t.Fatalf("after the first login: %s, want /password", loc)
		}
		if s := text(`[data-testid=password-forced]`); !strings.Contains(s, "Set a new password") {
			t.Errorf("the password page says %q", s)
		}
		var links int
		eval(`document.querySelectorAll('header.top nav a').length`, &links)
		if links != 0 {
			t.Errorf("the forced password page links to %d other pages, which do not open", links)
		}
		if b := text(`[data-testid=logout]`); b != "Log out" {
			t.Errorf("the password page's header: %q, want Log out", b)
		}
		fits("password")
		shot("02-password-change")
		for _, p := range []string{"/", "/call/" + call.CallA, "/admin/users", "/?call_id=" + call.CallA} {
			do(chromedp.Navigate(origin + p))
			if loc := location(); loc != "/password" {
				t.Errorf("before the password is changed, %s opened %s; want /password", p, loc)
			}
		}
		do(chromedp.SendKeys(chromedp.CSS(`[data-testid=password-current]`), "admin"),
			chromedp.SendKeys(chromedp.CSS(`[data-testid=password-new]`), "brow5er-path-pw"),
			chromedp.SendKeys(chromedp.CSS(`[data-testid=password-again]`), "brow5er-path-pw"))
		submit(`[data-testid=password-submit]`)
		if loc := location(); loc != "/" {
			t.Fatalf("after the password change: %s, want /", loc)
		}
		if u := text(`[data-testid=nav-user]`); u != "admin" {
			t.Errorf("the header shows user %q", u)
		}
	})

	// 2. Search by From user, then by Call-ID.
	type row struct{ Start, From, To, Status, Messages, Legs, CallID string }
	rowsJS := `[...document.querySelectorAll('[data-testid=dialog-row]')].map(r => {
		const c = [...r.cells].map(td => td.textContent.trim());
		return {Start: c[0], From: c[1], To: c[2], Status: c[4], Messages: c[6], Legs: c[7], CallID: c[9]};
	})`
	step("search", func() {
		var rows []row
		do(chromedp.SendKeys(chromedp.CSS(`[data-testid=field-from_user]`), call.Caller))
		submit(`[data-testid=search-submit]`)
		eval(rowsJS, &rows)
		byID := map[string]row{}
		for _, r := range rows {
			byID[r.CallID] = r
		}
		if len(rows) != 2 || byID[call.CallA].Legs != "2" || byID[call.CallB].Legs != "2" ||
			byID[call.CallA].Messages != "7" || byID[call.CallB].Messages != "7" {
			t.Errorf("search by From user %s: rows %+v, want both legs, 7 messages each, in a call of 2 legs", call.Caller, rows)
		}
		fits("search by From user")
		shot("03-search-from-user")

		do(chromedp.Navigate(origin + "/"))
		do(chromedp.SendKeys(chromedp.CSS(`[data-testid=field-call_id]`), call.CallA))
		submit(`[data-testid=search-submit]`)
		eval(rowsJS, &rows)
		want := row{From: call.Caller, To: call.Callee, Status: "200", Messages: "7", CallID: call.CallA}
		if len(rows) != 1 {
			t.Fatalf("search by Call-ID %s: %d rows %+v, want 1", call.CallA, len(rows), rows)
		}
		got := rows[0]
		got.Start, got.Legs = "", "" // Legs counts the legs among the matches: here only leg A matches
		if got != want {
			t.Errorf("search by Call-ID: row %+v, want %+v", got, want)
		}
		if c := text(`[data-testid=result-count]`); !strings.HasPrefix(c, "Showing 1–1 of 1") {
			t.Errorf("result count %q", c)
		}
		fits("search by Call-ID")
		shot("04-search-call-id")
	})

	// 3. The call view: every message of both legs, both legs with their rule.
	type arrow struct {
		Label, Stroke, Color string
		Left, Right          float64
	}
	step("call view", func() {
		submit(`[data-testid=dialog-row] [data-testid=dialog-link]`)
		if loc := location(); !strings.HasPrefix(loc, "/call/") {
			t.Fatalf("the result link opened %s", loc)
		}
		if title := text(`[data-testid=call-title]`); title != "Call "+call.CallA {
			t.Errorf("call title %q", title)
		}
		var legs []struct{ CallID, Rule string }
		eval(`[...document.querySelectorAll('[data-testid=leg-row]')].map(r => ({
			CallID: r.cells[1].textContent.replace('■', '').trim(), Rule: r.cells[2].textContent.trim()}))`, &legs)
		rules := map[string]string{}
		for _, l := range legs {
			rules[l.CallID] = l.Rule
		}
		if len(legs) != 2 || rules[call.CallA] == "" || rules[call.CallB] == "" {
			t.Fatalf("legs table: %+v, want %s and %s", legs, call.CallA, call.CallB)
		}
		if r := rules[call.CallA]; r != "seed" {
			t.Errorf("leg A joined by %q, want seed (the Call-ID searched for)", r)
		}
		if r := rules[call.CallB]; !strings.HasPrefix(r, "x-cid") && !strings.HasPrefix(r, "session-id") {
			t.Errorf("leg B joined by %q, want x-cid or session-id", r)
		}
		var arrows []arrow
		eval(`[...document.querySelectorAll('[data-testid=ladder-arrow]')].map(a => {
			const line = a.querySelector('line, path'), texts = a.querySelectorAll('text'), b = line.getBoundingClientRect();
			return {Label: texts[texts.length-1].textContent, Stroke: line.getAttribute('stroke'),
				Color: getComputedStyle(line).stroke, Left: b.left, Right: b.right};
		})`, &arrows)
		wantLabels := []string{"INVITE (SDP)", "100 Trying", "INVITE (SDP)", "100 Trying", "180 Ringing", "180 Ringing",
			"200 OK (SDP)", "200 OK (SDP)", "ACK", "ACK", "BYE", "BYE", "200 OK", "200 OK"}
		var labels []string
		for _, a := range arrows {
			labels = append(labels, a.Label)
		}
		if !slices.Equal(labels, wantLabels) {
			t.Errorf("ladder arrows %q, want %q", labels, wantLabels)
		}
		// One colour per leg, as the browser paints it.
		colors := map[int]map[string]bool{0: {}, 1: {}}
		for i, a := range arrows {
			if i < len(call.Legs) {
				colors[call.Legs[i]][a.Color] = true
			}
			if a.Color == "" || a.Color == "none" || a.Right-a.Left < 100 {
				t.Errorf("arrow %d (%s): stroke %q painted %q, %.0f px long", i, a.Label, a.Stroke, a.Color, a.Right-a.Left)
			}
		}
		if len(colors[0]) != 1 || len(colors[1]) != 1 || only(colors[0]) == only(colors[1]) {
			t.Errorf("leg colours as painted: leg A %v, leg B %v; want one distinct colour each", colors[0], colors[1])
		}
		var hosts []string
		eval(`[...document.querySelectorAll('[data-testid=ladder-host] text')].map(t => t.textContent)`, &hosts)
		wantHosts := []string{call.Phone.String(), call.SBCIn.String(), call.SBCOut.String(), call.GW.String()}
		if !slices.Equal(hosts, wantHosts) {
			t.Errorf("ladder columns %q, want %q", hosts, wantHosts)
		}
		var marks []string
		eval(`[...document.querySelectorAll('[data-testid=leg-row] td:nth-child(2) span')].map(s => getComputedStyle(s).color)`, &marks)
		if len(marks) != 2 || marks[0] != only(colors[0]) || marks[1] != only(colors[1]) {
			t.Errorf("legs table marks painted %q, want the ladder's leg colours %v and %v", marks, colors[0], colors[1])
		}
		fits("call view")
		shot("05-call")
	})

	// 4. A click on leg B's INVITE shows it whole with its HEP metadata.
	var messageURL string
	step("message", func() {
		var n int
		eval(`document.querySelectorAll('[data-testid=ladder-arrow]').length`, &n)
		if n < 3 {
			t.Fatalf("%d arrows", n)
		}
		submit(`[data-testid=ladder-arrow]:nth-of-type(3)`)
		messageURL = location()
		if !strings.Contains(messageURL, "msg=") {
			t.Fatalf("the arrow opened %s", messageURL)
		}
		var sel []int
		eval(`[...document.querySelectorAll('[data-testid=ladder-arrow]')].flatMap((a, i) => a.classList.contains('sel') ? [i] : [])`, &sel)
		if !slices.Equal(sel, []int{2}) {
			t.Errorf("arrows marked as selected: %v, want the third", sel)
		}
		if title := text(`[data-testid=message-title]`); title != "INVITE" {
			t.Errorf("message title %q, want INVITE", title)
		}
		raw, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid=message-raw]`)))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(call.Payloads[2], "\r\n", "\n")
		if strings.TrimSpace(raw) != strings.TrimSpace(want) {
			t.Errorf("message panel shows\n%s\nwant the whole INVITE\n%s", raw, want)
		}
		meta := map[string]string{}
		eval(`Object.fromEntries([...document.querySelectorAll('[data-testid=message-meta] dt')].map(
			dt => [dt.textContent.trim(), dt.nextElementSibling.textContent.trim()]))`, &meta)
		for k, v := range map[string]string{"From": call.SBCOut.String(), "To": call.GW.String(), "Transport": "UDP",
			"HEP": "v3, type sip", "Capture id": "2101", "Capture node": call.Node, "Call-ID": call.CallB} {
			if !strings.EqualFold(meta[k], v) {
				t.Errorf("message metadata %s = %q, want %q (all: %v)", k, meta[k], v, meta)
			}
		}
		if !strings.HasPrefix(meta["Captured"], call.captured(2)) {
			t.Errorf("message captured %q, want %s", meta["Captured"], call.captured(2))
		}
		fits("message")
		shot("06-message")
	})

	// 5. The pcap of the call, downloaded with the page's button.
	step("pcap", func() {
		dir := t.TempDir()
		if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: new(true)}); err != nil {
			t.Fatal(err)
		}
		progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
		do(chromedp.Click(chromedp.CSS(`[data-testid=download-pcap]`)))
		var file string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("waiting for the download: %v", err)
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("the pcap download was canceled")
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				file = ev.FilePath
				break
			}
		}
		if file == "" {
			files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
			if len(files) != 1 {
				t.Fatalf("downloaded files: %v", files)
			}
			file = files[0]
		}
		if !strings.HasSuffix(file, ".pcap") {
			t.Errorf("downloaded as %s", file)
		}
		out, err := exec.Command("tshark", "-n", "-r", file, "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v", file, err)
		}
		count := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			count[strings.TrimSpace(line)]++
		}
		if count[call.CallA] != 7 || count[call.CallB] != 7 || len(count) != 2 {
			t.Errorf("tshark reads the pcap as %v, want 7 SIP messages of %s and 7 of %s", count, call.CallA, call.CallB)
		}
	})

	// The admin's users page, which the header links to.
	step("users", func() {
		submit(`[data-testid=nav-users]`)
		var users []string
		eval(`[...document.querySelectorAll('[data-testid=user-row] td:first-child')].map(td => td.textContent.trim())`, &users)
		if !slices.Equal(users, []string{"admin"}) {
			t.Errorf("users page lists %q, want admin alone, with no password to change", users)
		}
		fits("users")
		shot("07-admin-users")
	})

	// 6. Dark mode: the same pages with prefers-color-scheme: dark.
	step("dark", func() {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
			t.Fatal(err)
		}
		do(chromedp.Navigate(origin + messageURL))
		bodyBackground("rgb(15, 20, 25)")
		shot("08-message-dark")
		do(chromedp.Navigate(origin + "/?from_user=" + url.QueryEscape(call.Caller)))
		bodyBackground("rgb(15, 20, 25)")
		shot("09-search-dark")
	})
}

// captured is the capture time of packet i as the pages show it (UTC).
func (c *b2buaCall) captured(i int) string {
	return c.Times[i].UTC().Format("2006-01-02 15:04:05.000000")
}

// only returns the key of a set of one (any key of a larger set).
func only(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}
