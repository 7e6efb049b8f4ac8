package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSessionExpiry(t *testing.T) {
	type step struct {
		wait time.Duration // clock advance before the request
		want string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"fresh", []step{{0, "200"}}},
		{"idle just under the timeout", []step{{12*time.Hour - time.Second, "200"}}},
		{"idle for the timeout", []step{{12 * time.Hour, "303 /login?next=%2F"}}},
		{"kept alive by use", []step{{11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"}}},
		{"maximum lifetime despite use", []step{
			{11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"},
			{11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"},
			{11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"},
			{11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {11 * time.Hour, "200"}, {3 * time.Hour, "303 /login?next=%2F"}}},
		{"expired stays expired", []step{{13 * time.Hour, "303 /login?next=%2F"}, {0, "303 /login?next=%2F"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			c, _ := f.mustLogin("vera", veraPW)
			for i, s := range tc.steps {
				f.clk.Advance(s.wait)
				if got := outcome(f.do("GET", "/", c, "", "")); got != s.want {
					t.Fatalf("step %d (after %v): %s, want %s", i, s.wait, got, s.want)
				}
			}
		})
	}
}

func TestSessionsEndWithPasswordOrUser(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *fixture) error
	}{
		{"user sets a password", func(f *fixture) error { return f.st.SetPassword("vera", "another pass 9") }},
		{"admin resets the password", func(f *fixture) error { return f.m.ResetPassword("vera", "another pass 9") }},
		{"admin removes the user", func(f *fixture) error { return f.m.RemoveUser(Identity{Name: "admin"}, "vera") }},
		{"user removed and added again", func(f *fixture) error {
			if err := f.st.RemoveUser("vera"); err != nil {
				return err
			}
			return f.st.AddUser("vera", RoleViewer, veraPW)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			c1, _ := f.mustLogin("vera", veraPW)
			c2, _ := f.mustLogin("vera", veraPW)
			other, _ := f.mustLogin("admin", adminPW)
			must(t, tc.change(f))
			for i, c := range []*http.Cookie{c1, c2} {
				if got := outcome(f.do("GET", "/api/v1/search", c, "", "")); got != "401" {
					t.Errorf("session %d of vera: %s, want 401", i, got)
				}
			}
			if got := outcome(f.do("GET", "/api/v1/search", other, "", "")); got != "200" {
				t.Errorf("the admin's session: %s, want 200", got)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	f := newFixture(t, Options{})
	c, id := f.mustLogin("vera", veraPW)
	if got := outcome(f.do("POST", "/logout", c, "", id.CSRF)); got != "200" {
		t.Fatalf("POST /logout: %s", got)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/logout", nil)
	r.AddCookie(c)
	f.m.Logout(w, r)
	cleared := false
	for _, k := range w.Result().Cookies() {
		cleared = cleared || (k.Name == f.m.CookieName() && k.MaxAge < 0 && k.Value == "")
	}
	if !cleared {
		t.Errorf("logout left the cookie: %v", w.Result().Header)
	}
	if got := outcome(f.do("GET", "/", c, "", "")); got != "303 /login?next=%2F" {
		t.Errorf("after logout: %s", got)
	}
}

func TestSessionTableBounded(t *testing.T) {
	f := newFixture(t, Options{MaxSessions: 3})
	var cookies []*http.Cookie
	for range 4 {
		c, _ := f.mustLogin("vera", veraPW)
		cookies = append(cookies, c)
		f.clk.Advance(time.Minute)
	}
	want := []string{"401", "200", "200", "200"}
	for i, c := range cookies {
		if got := outcome(f.do("GET", "/api/v1/search", c, "", "")); got != want[i] {
			t.Errorf("session %d: %s, want %s", i, got, want[i])
		}
	}
	if n := len(f.m.sessions.m); n > 3 {
		t.Errorf("%d sessions kept, limit 3", n)
	}
}

func TestCookieAttributes(t *testing.T) {
	cases := []struct {
		name       string
		secure     bool
		tls        bool
		wantName   string
		wantSecure bool
	}{
		{"plain HTTP", false, false, "traced_session", false},
		{"HTTPS port", true, true, "__Host-traced_session", true},
		{"TLS request without the option", false, true, "traced_session", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{Secure: tc.secure})
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "https://traced.example/login", nil)
			if !tc.tls {
				r.TLS = nil
			}
			if _, err := f.m.Login(w, r, "vera", veraPW); err != nil {
				t.Fatal(err)
			}
			c := sessionCookie(t, w, f.m)
			if c.Name != tc.wantName || c.Secure != tc.wantSecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
				c.Path != "/" || c.Domain != "" || c.MaxAge != 0 || len(c.Value) != 43 {
				t.Errorf("cookie %+v", c)
			}
		})
	}
}

func TestLoginRotatesSession(t *testing.T) {
	f := newFixture(t, Options{})
	old, _ := f.mustLogin("vera", veraPW)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", nil)
	r.AddCookie(old)
	if _, err := f.m.Login(w, r, "admin", adminPW); err != nil {
		t.Fatal(err)
	}
	if c := sessionCookie(t, w, f.m); c.Value == old.Value {
		t.Fatal("the login kept the session id it was sent")
	}
	if got := outcome(f.do("GET", "/api/v1/search", old, "", "")); got != "401" {
		t.Errorf("the session before the login: %s, want 401", got)
	}
}
