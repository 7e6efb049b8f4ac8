package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserQoSTabAndStatistics opens, in headless Chromium, the QoS tab of
// a call whose RTCP traced stored (the sample capture's call, its RTCP binary
// and as JSON, and a B leg with one-way RTCP) and the statistics page: the tab
// draws a chart for every figure of every stream with reports, the statistics
// page shows the call and its charts, and both are kept as screenshots in
// artifacts/screenshots.
func TestBrowserQoSTabAndStatistics(t *testing.T) {
	chromiumPath(t)
	binaries(t)
	shots := artifactDir(t, "screenshots")
	sip, rtcp := readQoSPcap(t)
	d := startTraced(t, filepath.Join(t.TempDir(), "data"))
	pkts, _, _ := qosCallPackets(t, sip, rtcp)
	d.sendUDP(pkts)
	d.waitStored(uint64(len(pkts)))
	origin := fmt.Sprintf("http://127.0.0.1:%d", d.webPort)

	pl := &pageLog{}
	ctx := startChromium(t, browserTimeout, pl)
	do := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(cctx, actions...); err != nil {
			t.Fatalf("browser: %v", err)
		}
	}
	submit := func(sel string) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Run(cctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
			t.Fatalf("click %s: no page loaded: %v", sel, err)
		}
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+fmt.Sprintf("%q", sel)+`).length`))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if cfg, err := png.DecodeConfig(bytes.NewReader(buf)); err != nil || cfg.Height < 400 {
			t.Errorf("screenshot %s: %dx%d, %v", name, cfg.Width, cfg.Height, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(chromedp.EmulateViewport(1280, 800))

	// Log in; the first login sets a new password.
	do(chromedp.Navigate(origin+"/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-form]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=login-user]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=login-password]`), "admin"))
	submit(`[data-testid=login-submit]`)
	do(chromedp.SendKeys(chromedp.CSS(`[data-testid=password-current]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=password-new]`), "qos-tab-pw-1"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=password-again]`), "qos-tab-pw-1"))
	submit(`[data-testid=password-submit]`)

	// The QoS tab: per stream, a chart per figure, each with a drawn series.
	do(chromedp.Navigate(origin+"/call/"+url.PathEscape(qosCallID)+"?tab=qos"),
		chromedp.WaitVisible(chromedp.CSS(`svg[data-testid=qos-chart]`)))
	charts, drawn := count(`svg[data-testid=qos-chart]`), count(`svg[data-testid=qos-chart] polyline.series`)
	if charts < 4 || drawn < charts/2 {
		t.Errorf("the QoS tab draws %d charts, %d with a series; want at least 4, most of them drawn", charts, drawn)
	}
	streams := count(`[data-testid=qos-stream]`)
	if streams < 3 {
		t.Errorf("the QoS tab shows %d streams; want both directions of leg A and leg B's one-way RTCP", streams)
	}
	shot("07-call-qos")

	// The statistics page counts the call.
	do(chromedp.Navigate(origin+"/stats?since=1h"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=stats-kpis]`)))
	att, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid=kpi-attempts]`)))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Calls struct{ Attempts int64 }
	}
	if err := json.Unmarshal(webGet(t, d)("/api/v1/stats?since=1h"), &rep); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(att) != fmt.Sprint(rep.Calls.Attempts) || rep.Calls.Attempts == 0 {
		t.Errorf("the statistics page counts %q call attempts, the API %d; want the same, and the call counted", att, rep.Calls.Attempts)
	}
	if n := count(`svg[data-testid=chart-messages] polyline.series`); n != 1 {
		t.Errorf("the statistics page draws %d message series, want 1", n)
	}
	shot("08-statistics")
	if _, problems := pl.snapshot(); len(problems) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(problems, "\n"))
	}
}
