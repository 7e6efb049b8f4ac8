package httpui

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"traced/httpui/auth"
)

// webRig is the whole web side as the daemon mounts it, over a real HTTP server
// with a browser-like client (cookie jar, no automatic redirects).
type webRig struct {
	srv *httptest.Server
	c   *http.Client
	am  *auth.Manager
}

func newWebRig(t *testing.T) *webRig {
	t.Helper()
	st, err := auth.OpenStore(t.TempDir(), auth.StoreOptions{Params: auth.Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	am := auth.New(st, auth.Options{})
	fs := &fakeSearcher{}
	fs.res.Hits = callHits(t, 3)
	fs.res.Total = len(fs.res.Hits)
	pages := &Web{Searcher: fs, Nav: NavOf, TimeZone: TimeZoneOf}
	pages.RememberTimeZone = func(r *http.Request, tz string) { _ = am.SetTimeZone(r.Context(), tz) }
	api := &API{Status: func() Status { return Status{Version: "test"} }, Searcher: fs}
	ap := &AuthPages{Auth: am, Web: pages}
	srv := httptest.NewServer(ap.Routes(pages.Handler(), api.Handler(), MetricsHandler(api.Status, nil)))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &webRig{srv: srv, c: c, am: am}
}

func (w *webRig) do(t *testing.T, method, path string, form url.Values, header ...string) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, w.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Origin", w.srv.URL)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := w.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// csrf reads the CSRF token from a page's hidden field.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	d := parseHTML(t, []byte(page))
	var tok string
	var walk func(n *htmlNode)
	_ = walk
	for _, n := range d.inputs("csrf_token") {
		tok = attr(n, "value")
	}
	if tok == "" {
		t.Fatalf("no csrf_token field in the page")
	}
	return tok
}

func TestEveryRouteRefusesWithoutSessionOrToken(t *testing.T) {
	w := newWebRig(t)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/", http.StatusSeeOther},
		{"GET", "/?call_id=x", http.StatusSeeOther},
		{"GET", "/password", http.StatusSeeOther},
		{"GET", "/admin/users", http.StatusSeeOther},
		{"GET", "/admin/tokens", http.StatusSeeOther},
		{"POST", "/admin/tokens", http.StatusSeeOther},
		{"POST", "/logout", http.StatusSeeOther},
		{"GET", "/api/v1/status", http.StatusUnauthorized},
		{"GET", "/api/v1/search?call_id=x", http.StatusUnauthorized},
		{"GET", "/api/v1/tokens", http.StatusUnauthorized},
		{"GET", "/metrics", http.StatusUnauthorized},
		{"GET", "/call/leg-a", http.StatusSeeOther},
		{"GET", "/call/leg-a/pcap", http.StatusSeeOther},
		{"GET", "/call/leg-a/text", http.StatusSeeOther},
		{"POST", "/admin/users", http.StatusSeeOther},
		{"POST", "/admin/users/remove", http.StatusSeeOther},
		{"POST", "/admin/tokens/revoke", http.StatusSeeOther},
		{"POST", "/admin/aliases", http.StatusSeeOther},
		{"GET", "/api/v1/calls/leg-a", http.StatusUnauthorized},
		{"GET", "/api/v1/calls/leg-a/pcap", http.StatusUnauthorized},
		{"GET", "/api/v1/calls/leg-a/text", http.StatusUnauthorized},
		{"GET", "/api/v1/users", http.StatusUnauthorized},
		{"POST", "/api/v1/tokens", http.StatusUnauthorized},
	} {
		code, loc, _ := w.do(t, c.method, c.path, nil)
		if code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, code, c.want)
		}
		if code == http.StatusSeeOther && !strings.HasPrefix(loc, "/login") {
			t.Errorf("%s %s: redirected to %q, want the login page", c.method, c.path, loc)
		}
	}
	for _, open := range []string{"/login", "/static/traced.css"} {
		if code, _, _ := w.do(t, "GET", open, nil); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200 without a session", open, code)
		}
	}
	if code, _, _ := w.do(t, "GET", "/api/v1/status", nil, "Authorization", "Bearer trc_not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("a bad token: %d", code)
	}
}

func TestFirstLoginFlowTokensAndCSRF(t *testing.T) {
	w := newWebRig(t)
	code, loc, _ := w.do(t, "POST", "/login", url.Values{"user": {"admin"}, "password": {"wrong"}, "next": {"/"}})
	if code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	code, loc, _ = w.do(t, "POST", "/login", url.Values{"user": {"admin"}, "password": {"admin"}, "next": {"/?call_id=x"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/password") {
		t.Fatalf("first login: %d → %q, want the change-password page", code, loc)
	}
	// Nothing else is shown before the password is changed.
	if code, loc, _ := w.do(t, "GET", "/", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/password") {
		t.Errorf("search before the change: %d → %q", code, loc)
	}
	_, _, page := w.do(t, "GET", "/password", nil)
	if len(parseHTML(t, []byte(page)).all("password-forced")) != 1 {
		t.Error("the forced change is not explained")
	}
	tok := csrfOf(t, page)
	form := url.Values{"current": {"admin"}, "new": {"n3w-Secret-pw"}, "again": {"n3w-Secret-pw"}}
	if code, _, _ := w.do(t, "POST", "/password", form); code != http.StatusForbidden {
		t.Errorf("password change without CSRF token: %d, want 403", code)
	}
	form.Set("csrf_token", tok)
	if code, loc, body := w.do(t, "POST", "/password", form); code != http.StatusSeeOther || loc != "/" {
		t.Fatalf("password change: %d → %q %s", code, loc, body)
	}
	code, _, page = w.do(t, "GET", "/?from_user=alice", nil)
	if code != http.StatusOK || len(parseHTML(t, []byte(page)).all("dialog-row")) != 3 {
		t.Fatalf("search after the change: %d", code)
	}
	if user := parseHTML(t, []byte(page)).all("nav-user"); len(user) != 1 || text(user[0]) != "admin" {
		t.Error("the header does not name the user")
	}
	// A time zone chosen in the form is remembered for the next pages.
	w.do(t, "GET", "/?from_user=alice&tz=Europe/Berlin", nil)
	_, _, page = w.do(t, "GET", "/?from_user=alice", nil)
	if c := text(parseHTML(t, []byte(page)).all("result-count")[0]); !strings.Contains(c, "Times in Europe/Berlin") {
		t.Errorf("time zone not remembered: %q", c)
	}

	// An admin creates a token; it opens the API and /metrics, and is revoked.
	_, _, page = w.do(t, "GET", "/admin/tokens", nil)
	tok = csrfOf(t, page)
	if code, _, _ := w.do(t, "POST", "/admin/tokens", url.Values{"name": {"prom"}, "role": {"viewer"}}); code != http.StatusForbidden {
		t.Errorf("token form without CSRF: %d", code)
	}
	code, _, page = w.do(t, "POST", "/admin/tokens", url.Values{"name": {"prom"}, "role": {"viewer"}, "csrf_token": {tok}})
	shown := parseHTML(t, []byte(page)).all("new-token")
	if code != http.StatusOK || len(shown) != 1 {
		t.Fatalf("token creation: %d", code)
	}
	secret := text(shown[0])
	anon := &webRig{srv: w.srv, c: &http.Client{}}
	if code, _, _ := anon.do(t, "GET", "/api/v1/status", nil, "Authorization", "Bearer "+secret); code != http.StatusOK {
		t.Errorf("API with the token: %d", code)
	}
	if code, _, body := anon.do(t, "GET", "/metrics", nil, "Authorization", "Bearer "+secret); code != http.StatusOK || !strings.Contains(body, "traced_packets_stored_total") {
		t.Errorf("metrics with the token: %d", code)
	}
	if code, _, _ := anon.do(t, "GET", "/admin/users", nil, "Authorization", "Bearer "+secret); code != http.StatusForbidden {
		t.Errorf("a viewer token on an admin page: %d, want 403", code)
	}
	w.do(t, "POST", "/admin/tokens/revoke", url.Values{"name": {"prom"}, "csrf_token": {tok}})
	if code, _, _ := anon.do(t, "GET", "/api/v1/status", nil, "Authorization", "Bearer "+secret); code != http.StatusUnauthorized {
		t.Errorf("API with a revoked token: %d", code)
	}

	// Every state-changing form refuses a post that carries the session but no
	// CSRF token.
	for _, path := range []string{"/password", "/admin/users", "/admin/users/remove", "/admin/tokens",
		"/admin/tokens/revoke", "/admin/aliases", "/logout"} {
		if code, _, _ := w.do(t, "POST", path, url.Values{"name": {"x"}, "address": {"10.0.0.1"}}); code != http.StatusForbidden {
			t.Errorf("POST %s with a session and no CSRF token: %d, want 403", path, code)
		}
	}

	// Log out: the session is gone.
	w.do(t, "POST", "/logout", url.Values{"csrf_token": {tok}})
	if code, _, _ := w.do(t, "GET", "/", nil); code != http.StatusSeeOther {
		t.Errorf("after logout: %d", code)
	}
}
