package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastParams keep the tests fast; DefaultParams are tested on their own.
func fastParams() Params { return Params{Time: 1, Memory: 64, Threads: 1} }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T, dir string, clk *clock) *Store {
	t.Helper()
	st, err := OpenStore(dir, StoreOptions{Now: clk.Now, Params: fastParams()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

// Passwords of the fixture's users.
const (
	adminPW  = "correct horse 1"
	veraPW   = "battery staple 2"
	newbiePW = "first-day-pass"
)

// fixture is a Manager with an admin (password changed), a viewer "vera", an
// admin "newbie" who must change the password, and tokens "ci" (viewer) and
// "ops" (admin).
type fixture struct {
	t        *testing.T
	clk      *clock
	st       *Store
	m        *Manager
	ciToken  string
	opsToken string
	mux      http.Handler
}

func newFixture(t *testing.T, opt Options) *fixture {
	t.Helper()
	clk := newClock()
	st := openStore(t, t.TempDir(), clk)
	opt.Now = clk.Now
	f := &fixture{t: t, clk: clk, st: st, m: New(st, opt),
		ciToken: TokenPrefix + "ci-" + strings.Repeat("c", 40), opsToken: TokenPrefix + "ops-" + strings.Repeat("o", 39)}
	// One write instead of one per user and token: the same file the store's
	// methods would make (TestStoreRoundTrip and TestTokenLifecycle use those).
	err := st.update(func(d *fileData) error {
		for _, u := range []struct {
			name, pw   string
			role       Role
			mustChange bool
		}{{"admin", adminPW, RoleAdmin, false}, {"vera", veraPW, RoleViewer, false}, {"newbie", newbiePW, RoleAdmin, true}} {
			hash, err := st.hasher.hash(u.pw)
			if err != nil {
				return err
			}
			rec := userRec{Name: u.name, Role: u.role, Hash: hash, MustChange: u.mustChange, Created: clk.Now(),
				TimeZone: "UTC", Stamp: "stamp-" + u.name}
			if i := d.user(u.name); i >= 0 {
				d.Users[i] = rec
			} else {
				d.Users = append(d.Users, rec)
			}
		}
		d.Tokens = []tokenRec{{Name: "ci", Role: RoleViewer, SHA256: tokenHash(f.ciToken), Created: clk.Now()},
			{Name: "ops", Role: RoleAdmin, SHA256: tokenHash(f.opsToken), Created: clk.Now()}}
		return nil
	})
	must(t, err)
	f.mux = testMux(f.m)
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testMux mounts the routes the way the web port does: pages and API behind
// Require, the login page open.
func testMux(m *Manager) http.Handler {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, found := UserFrom(r.Context())
		if !found {
			http.Error(w, "no identity", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "ok %s %s", id.Name, id.Role)
	})
	viewer, admin := m.Require(RoleViewer), m.Require(RoleAdmin)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", viewer(ok))
	mux.Handle("GET /api/v1/search", viewer(ok))
	mux.Handle("GET /users", admin(ok))
	mux.Handle("POST /users", admin(ok))
	mux.Handle("POST /api/v1/probe", admin(ok))
	mux.Handle("GET /password", viewer(ok))
	mux.Handle("POST /logout", viewer(ok))
	mux.Handle("GET /login", ok)
	return mux
}

// login logs name in from addr and returns the session cookie and identity.
func (f *fixture) login(name, pw, addr string) (*http.Cookie, Identity, error) {
	f.t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.RemoteAddr = addr
	id, err := f.m.Login(w, r, name, pw)
	if err != nil {
		return nil, id, err
	}
	return sessionCookie(f.t, w, f.m), id, nil
}

func (f *fixture) mustLogin(name, pw string) (*http.Cookie, Identity) {
	f.t.Helper()
	c, id, err := f.login(name, pw, "192.0.2.1:40000")
	if err != nil {
		f.t.Fatalf("login %s: %v", name, err)
	}
	return c, id
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder, m *Manager) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == m.CookieName() && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", w.Result().Header)
	return nil
}

// do sends a request through the fixture's routes. A cookie request that
// changes state carries csrf when it is not empty.
func (f *fixture) do(method, target string, c *http.Cookie, bearer, csrf string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if csrf != "" {
		body = strings.NewReader(url.Values{CSRFField: {csrf}}.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	if csrf != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c != nil {
		r.AddCookie(c)
	}
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

// outcome is a response as the tables write it: "200", "403", or
// "303 /password".
func outcome(w *httptest.ResponseRecorder) string {
	if loc := w.Header().Get("Location"); loc != "" {
		return fmt.Sprintf("%d %s", w.Code, loc)
	}
	return fmt.Sprint(w.Code)
}
