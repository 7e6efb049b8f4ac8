package main

import (
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"testing"

	"traced/httpui"
)

// checkCallLogs checks that the log line text, correlated with callID, is
// in the call's /api/v1/calls/{id}/logs, in its Logs tab between its SIP
// messages, and marked on its call flow.
func checkCallLogs(t *testing.T, d *daemon, callID, text string) {
	t.Helper()
	get := webGet(t, d)
	esc := url.PathEscape(callID)
	var res httpui.LogsResult
	if err := json.Unmarshal(get("/api/v1/calls/"+esc+"/logs"), &res); err != nil {
		t.Fatal(err)
	}
	found := false
	for i, l := range res.Logs {
		if i > 0 && l.Time < res.Logs[i-1].Time {
			t.Errorf("logs not in time order: %s after %s", l.Time, res.Logs[i-1].Time)
		}
		if l.Text == strings.TrimRight(text, "\r\n") && l.CorrID == callID && l.Leg == callID {
			found = true
		}
	}
	if !found {
		t.Errorf("the log line %q of %s is not in /logs: %+v", text, callID, res.Logs)
	}
	tab := string(get("/call/" + esc + "?tab=logs"))
	escaped := html.EscapeString(strings.TrimRight(text, "\r\n"))
	i := strings.Index(tab, escaped)
	if i < 0 || strings.Count(tab, `data-testid="log-row"`) != len(res.Logs) {
		t.Errorf("the Logs tab of %s lacks the line %q or has another number of log rows than %d", callID, text, len(res.Logs))
	}
	// Interleaved with the call's SIP messages. Where the line falls among them
	// is the order of their capture times: Kamailio stamps a log line when
	// hlog() runs and a mirrored message when siptrace sends it, and plain SIP
	// copies carry traced's arrival time, so the test does not fix it.
	if !strings.Contains(tab, `data-testid="log-sip-row"`) {
		t.Errorf("the Logs tab of %s shows no SIP message beside the log line", callID)
	}
	flow := string(get("/call/" + esc))
	if n := strings.Count(flow, `data-testid="ladder-log"`); n != len(res.Logs) {
		t.Errorf("the call flow of %s marks %d log lines, want %d", callID, n, len(res.Logs))
	}
	t.Logf("%s: %d log lines in /logs, the Logs tab and the call flow, %q among them", callID, len(res.Logs), text)
}
