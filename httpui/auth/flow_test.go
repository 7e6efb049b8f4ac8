package auth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func (f *fixture) changePassword(c *http.Cookie, csrf, current, next string) (*http.Cookie, error) {
	f.t.Helper()
	r := httptest.NewRequest("POST", "/password", strings.NewReader(url.Values{CSRFField: {csrf}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(c)
	w := httptest.NewRecorder()
	if _, err := f.m.ChangePassword(w, r, current, next); err != nil {
		return nil, err
	}
	return sessionCookie(f.t, w, f.m), nil
}

// webMux wires the login and change-password pages as the web port does.
func webMux(m *Manager) *http.ServeMux {
	viewer := m.Require(RoleViewer)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		id, err := m.Login(w, r, r.PostFormValue("user"), r.PostFormValue("password"))
		if err != nil {
			http.Error(w, err.Error(), StatusOf(err))
			return
		}
		http.Redirect(w, r, m.Next(id, r.PostFormValue("next")), http.StatusSeeOther)
	})
	mux.Handle("GET /password", viewer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, CSRFToken(r.Context()))
	})))
	mux.Handle("POST /password", viewer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.ChangePassword(w, r, r.PostFormValue("current"), r.PostFormValue("new")); err != nil {
			http.Error(w, err.Error(), StatusOf(err))
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})))
	mux.Handle("GET /{$}", viewer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := UserFrom(r.Context())
		fmt.Fprintf(w, "ok %s", id.Name)
	})))
	mux.Handle("GET /api/v1/search", viewer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	return mux
}

func TestFirstLoginMustChangePassword(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	m := New(openStore(t, dir, clk), Options{Now: clk.Now})
	srv := httptest.NewServer(webMux(m))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var csrf string
	var before []*http.Cookie
	u, _ := url.Parse(srv.URL)
	steps := []struct {
		name, method, path string
		form               url.Values
		want               string
	}{
		{"pages need a login", "GET", "/", nil, "303 /login?next=%2F"},
		{"wrong password", "POST", "/login", url.Values{"user": {"admin"}, "password": {"nimda"}}, "401"},
		{"default password", "POST", "/login", url.Values{"user": {"admin"}, "password": {"admin"}, "next": {"/"}}, "303 /password"},
		{"no page before the change", "GET", "/", nil, "303 /password"},
		{"no API before the change", "GET", "/api/v1/search", nil, "403"},
		{"the change-password page", "GET", "/password", nil, "200"},
		{"the default password again", "POST", "/password", url.Values{"current": {"admin"}, "new": {"admin"}}, "400"},
		{"too short", "POST", "/password", url.Values{"current": {"admin"}, "new": {"short"}}, "400"},
		{"the user name", "POST", "/password", url.Values{"current": {"admin"}, "new": {"Admin"}}, "400"},
		{"without CSRF token", "POST", "/password", url.Values{"current": {"admin"}, "new": {"strong pass 1"}, CSRFField: {"x"}}, "403"},
		{"wrong current password", "POST", "/password", url.Values{"current": {"x"}, "new": {"strong pass 1"}}, "401"},
		{"a good password", "POST", "/password", url.Values{"current": {"admin"}, "new": {"strong pass 1"}}, "303 /"},
		{"pages open", "GET", "/", nil, "200"},
		{"the default password is gone", "POST", "/login", url.Values{"user": {"admin"}, "password": {"admin"}}, "401"},
	}
	for _, s := range steps {
		if s.name == "a good password" {
			before = jar.Cookies(u)
		}
		var resp *http.Response
		var err error
		if s.method == "GET" {
			resp, err = cl.Get(srv.URL + s.path)
		} else {
			if s.path == "/password" && !s.form.Has(CSRFField) {
				s.form.Set(CSRFField, csrf)
			}
			resp, err = cl.PostForm(srv.URL+s.path, s.form)
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := fmt.Sprint(resp.StatusCode)
		if loc := resp.Header.Get("Location"); loc != "" {
			got += " " + loc
		}
		if got != s.want {
			t.Fatalf("%s: %s, want %s (%s)", s.name, got, s.want, body)
		}
		if s.path == "/password" && s.method == "GET" {
			csrf = string(body)
		}
	}
	if len(before) != 1 {
		t.Fatalf("cookies before the change: %v", before)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.AddCookie(before[0])
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session of the default password after the change: %d, want 303", resp.StatusCode)
	}
	st2 := openStore(t, dir, clk)
	if u, err := st2.Authenticate("admin", "strong pass 1"); err != nil || u.MustChange {
		t.Errorf("after a restart: %+v %v", u, err)
	}
}

func TestLoginRefusesCrossSite(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		want    error
	}{
		{"no browser headers", nil, nil},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, nil},
		{"typed into the address bar", map[string]string{"Sec-Fetch-Site": "none"}, nil},
		{"cross site", map[string]string{"Sec-Fetch-Site": "cross-site"}, ErrCrossSite},
		{"same site, other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, ErrCrossSite},
		{"old browser, other origin", map[string]string{"Origin": "https://evil.example"}, ErrCrossSite},
		{"old browser, same origin", map[string]string{"Origin": "http://traced.example"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			r := httptest.NewRequest("POST", "http://traced.example/login", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			_, err := f.m.Login(httptest.NewRecorder(), r, "vera", veraPW)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestConcurrentLogins(t *testing.T) {
	f := newFixture(t, Options{LoginBurst: 1000})
	var wg sync.WaitGroup
	var ok, bad atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user, pw := "vera", veraPW
			if i%2 == 1 {
				user, pw = "admin", adminPW
			}
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/login", nil)
			r.RemoteAddr = fmt.Sprintf("192.0.2.%d:1", i%4)
			if _, err := f.m.Login(w, r, user, pw); err != nil {
				bad.Add(1)
				return
			}
			var c *http.Cookie
			for _, k := range w.Result().Cookies() {
				c = k
			}
			if f.do("GET", "/api/v1/search", c, "", "").Code == 200 && f.do("GET", "/", nil, f.ciToken, "").Code == 200 {
				ok.Add(1)
			} else {
				bad.Add(1)
			}
		}()
	}
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.st.CreateToken(fmt.Sprint("t", i), RoleViewer)
			err = errors.Join(err, f.m.ResetPassword("newbie", fmt.Sprint("reset pass ", i)))
			if err != nil {
				t.Error(err)
			}
			f.m.Users()
		}()
	}
	wg.Wait()
	if ok.Load() != 40 || bad.Load() != 0 {
		t.Fatalf("%d logins served, %d failed; want 40 and 0", ok.Load(), bad.Load())
	}
	if got := len(openStore(t, filepath.Dir(f.st.Path()), newClock()).ListTokens()); got != 12 {
		t.Errorf("%d tokens on disk, want 12", got)
	}
	if n := f.m.Users().Users; len(n) != 3 || n[0].Sessions != 20 || n[2].Sessions != 20 {
		t.Errorf("sessions per user: %+v, want 20 for admin and vera", n)
	}
}

func TestStatusOf(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{&PolicyError{"x"}, 400},
		{fmt.Errorf("wrapped: %w", ErrBadName), 400},
		{ErrBadTimeZone, 400},
		{ErrSamePassword, 400},
		{ErrBadCredentials, 401},
		{ErrNoSession, 401},
		{ErrCSRF, 403},
		{ErrCrossSite, 403},
		{ErrNoUser, 404},
		{ErrNoToken, 404},
		{ErrLastAdmin, 409},
		{ErrRemoveSelf, 409},
		{ErrUserExists, 409},
		{&RateLimitError{RetryAfter: 3}, 429},
		{errors.New("disk full"), 500},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			if got := StatusOf(tc.err); got != tc.want {
				t.Fatalf("StatusOf = %d, want %d", got, tc.want)
			}
		})
	}
}
