package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRequire runs every route against every kind of caller.
func TestRequire(t *testing.T) {
	states := []string{"none", "viewer", "admin", "must-change", "bad token", "expired session", "viewer token", "admin token"}
	routes := []struct {
		method, path string
		want         []string // by state, in the order of states
	}{
		{"GET", "/", []string{"303 /login?next=%2F", "200", "200", "303 /password", "401", "303 /login?next=%2F", "200", "200"}},
		{"GET", "/?call_id=a%26b", []string{"303 /login?next=%2F%3Fcall_id%3Da%2526b", "200", "200", "303 /password", "401", "303 /login?next=%2F%3Fcall_id%3Da%2526b", "200", "200"}},
		{"GET", "/api/v1/search", []string{"401", "200", "200", "403", "401", "401", "200", "200"}},
		{"GET", "/users", []string{"303 /login?next=%2Fusers", "403", "200", "303 /password", "401", "303 /login?next=%2Fusers", "403", "200"}},
		{"POST", "/users", []string{"303 /login", "403", "200", "303 /password", "401", "303 /login", "403", "200"}},
		{"POST", "/api/v1/probe", []string{"401", "403", "200", "403", "401", "401", "403", "200"}},
		{"GET", "/password", []string{"303 /login?next=%2Fpassword", "200", "200", "200", "401", "303 /login?next=%2Fpassword", "200", "200"}},
		{"POST", "/logout", []string{"303 /login", "200", "200", "200", "401", "303 /login", "200", "200"}},
	}
	wantName := map[string]string{"viewer": "vera viewer", "admin": "admin admin", "must-change": "newbie admin",
		"viewer token": "ci viewer", "admin token": "ops admin"}
	for _, rt := range routes {
		for i, state := range states {
			t.Run(rt.method+" "+rt.path+" as "+state, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, Options{})
				var c *http.Cookie
				var id Identity
				var bearer string
				switch state {
				case "viewer":
					c, id = f.mustLogin("vera", veraPW)
				case "admin":
					c, id = f.mustLogin("admin", adminPW)
				case "must-change":
					c, id = f.mustLogin("newbie", newbiePW)
				case "bad token":
					c, id = f.mustLogin("admin", adminPW) // the bad token wins over a good cookie
					bearer = f.opsToken + "x"
				case "expired session":
					c, id = f.mustLogin("admin", adminPW)
					f.clk.Advance(13 * time.Hour)
				case "viewer token":
					bearer = f.ciToken
				case "admin token":
					bearer = f.opsToken
				}
				w := f.do(rt.method, rt.path, c, bearer, id.CSRF)
				if got := outcome(w); got != rt.want[i] {
					t.Fatalf("%s, want %s; body %q", got, rt.want[i], w.Body.String())
				}
				if w.Code == 200 && w.Body.String() != "ok "+wantName[state] {
					t.Errorf("identity in the context: %q, want %q", w.Body.String(), "ok "+wantName[state])
				}
				if w.Code == 200 && w.Header().Get("Cache-Control") != "private, no-store" {
					t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
				}
				if strings.HasPrefix(rt.path, "/api/") && w.Code >= 400 {
					var e struct{ Error string }
					if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
						t.Errorf("API error is not JSON: %q", w.Body.String())
					}
				}
			})
		}
	}
}

func TestCSRF(t *testing.T) {
	cases := []struct {
		name   string
		method string
		how    string // how the token is sent: none, form, header, wrong, bearer
		want   string
	}{
		{"POST without token", "POST", "none", "403"},
		{"POST with a wrong token", "POST", "wrong", "403"},
		{"POST with another session's token", "POST", "other", "403"},
		{"POST with the form field", "POST", "form", "200"},
		{"POST with the header", "POST", "header", "200"},
		{"DELETE without token", "DELETE", "none", "403"},
		{"PUT with the header", "PUT", "header", "200"},
		{"GET without token", "GET", "none", "200"},
		{"POST with a bearer token and no CSRF token", "POST", "bearer", "200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			mux := http.NewServeMux()
			mux.Handle("/act", f.m.Require(RoleViewer)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
			c, id := f.mustLogin("vera", veraPW)
			_, other := f.mustLogin("admin", adminPW)
			body := ""
			switch tc.how {
			case "form":
				body = CSRFField + "=" + id.CSRF
			case "wrong":
				body = CSRFField + "=" + strings.Repeat("A", len(id.CSRF))
			case "other":
				body = CSRFField + "=" + other.CSRF
			}
			r := httptest.NewRequest(tc.method, "/act", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			switch tc.how {
			case "header":
				r.Header.Set(CSRFHeader, id.CSRF)
			case "bearer":
				r.Header.Set("Authorization", "Bearer "+f.ciToken)
			}
			if tc.how != "bearer" {
				r.AddCookie(c)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if got := outcome(w); got != tc.want {
				t.Fatalf("%s, want %s (%s)", got, tc.want, w.Body.String())
			}
		})
	}
}

func TestCSRFTokenInContext(t *testing.T) {
	f := newFixture(t, Options{})
	c, id := f.mustLogin("vera", veraPW)
	var got string
	h := f.m.Require(RoleViewer)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = CSRFToken(r.Context()) }))
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got == "" || got != id.CSRF || len(got) != 43 {
		t.Errorf("CSRFToken = %q, want the session's %q", got, id.CSRF)
	}
}

func TestSafeNext(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/search?call_id=abc&since=15m", "/search?call_id=abc&since=15m"},
		{"/calls/a%2Fb#flow", "/calls/a%2Fb#flow"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/%0a/evil", "/%0a/evil"},
		{"/" + strings.Repeat("a", 3000), "/"},
		{"/x\x7f", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := SafeNext(tc.in); got != tc.want {
				t.Fatalf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNextAfterLogin(t *testing.T) {
	f := newFixture(t, Options{})
	_, viewer := f.mustLogin("vera", veraPW)
	_, newbie := f.mustLogin("newbie", newbiePW)
	cases := []struct {
		name string
		id   Identity
		next string
		want string
	}{
		{"local page", viewer, "/search?x=1", "/search?x=1"},
		{"another site", viewer, "//evil.example", "/"},
		{"must change", newbie, "/search?x=1", "/password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.m.Next(tc.id, tc.next); got != tc.want {
				t.Fatalf("Next = %q, want %q", got, tc.want)
			}
		})
	}
}
