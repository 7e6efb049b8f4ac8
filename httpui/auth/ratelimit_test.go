package auth

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

// attempt is one login and what it should give: "ok", "bad" (wrong password)
// or "limited N" (refused, Retry-After N seconds).
type attempt struct {
	wait       time.Duration
	user, pw   string
	addr, want string
}

func runAttempts(t *testing.T, f *fixture, steps []attempt) {
	t.Helper()
	for i, a := range steps {
		f.clk.Advance(a.wait)
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = a.addr
		_, err := f.m.Login(w, r, a.user, a.pw)
		var got string
		var rl *RateLimitError
		switch {
		case err == nil:
			got = "ok"
		case errors.Is(err, ErrBadCredentials):
			got = "bad"
		case errors.As(err, &rl):
			got = fmt.Sprintf("limited %s", w.Header().Get("Retry-After"))
			if StatusOf(err) != 429 || !errors.Is(err, ErrRateLimited) {
				t.Errorf("step %d: %v is not a 429", i, err)
			}
		default:
			got = err.Error()
		}
		if got != a.want {
			t.Fatalf("step %d (%s from %s): %s, want %s", i, a.user, a.addr, got, a.want)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	const ip1, ip2, ip3 = "198.51.100.1:1000", "198.51.100.2:1000", "198.51.100.3:1000"
	cases := []struct {
		name  string
		steps []attempt
	}{
		{"per client", []attempt{
			{0, "u1", "x", ip1, "bad"}, {0, "u2", "x", ip1, "bad"}, {0, "u3", "x", ip1, "bad"},
			{0, "u4", "x", ip1, "bad"}, {0, "u5", "x", ip1, "bad"},
			{0, "vera", veraPW, ip1, "limited 10"}, // the right password does not help
			{0, "vera", veraPW, ip2, "ok"},         // another client may
			{4 * time.Second, "u6", "x", ip1, "limited 6"},
			{6 * time.Second, "vera", veraPW, ip1, "ok"},
			{0, "u7", "x", ip1, "bad"}, // the success gave its attempt back
			{0, "u8", "x", ip1, "limited 10"},
		}},
		{"per user name", []attempt{
			{0, "vera", "x", ip1, "bad"}, {0, "vera", "x", ip2, "bad"}, {0, "vera", "x", ip3, "bad"},
			{0, "vera", "x", "[2001:db8::1]:1", "bad"}, {0, "vera", "x", "203.0.113.9:1", "bad"},
			{0, "vera", veraPW, "203.0.113.10:1", "limited 10"}, // from a fresh client too
			{0, "VERA", veraPW, "203.0.113.10:1", "limited 10"}, // names are limited in any case
			{0, "admin", adminPW, ip1, "ok"},                    // other users are not
			{10 * time.Second, "vera", veraPW, "203.0.113.10:1", "ok"},
		}},
		{"unknown users are limited like known ones", []attempt{
			{0, "ghost", "x", ip1, "bad"}, {0, "ghost", "x", ip2, "bad"}, {0, "ghost", "x", ip3, "bad"},
			{0, "ghost", "x", "203.0.113.1:1", "bad"}, {0, "ghost", "x", "203.0.113.2:1", "bad"},
			{0, "ghost", "x", "203.0.113.3:1", "limited 10"},
		}},
		{"one IPv6 /64 is one client", []attempt{
			{0, "u1", "x", "[2001:db8:1:2::1]:1", "bad"}, {0, "u2", "x", "[2001:db8:1:2::2]:1", "bad"},
			{0, "u3", "x", "[2001:db8:1:2:aaaa::3]:1", "bad"}, {0, "u4", "x", "[2001:db8:1:2::4]:1", "bad"},
			{0, "u5", "x", "[2001:db8:1:2::5]:1", "bad"},
			{0, "vera", veraPW, "[2001:db8:1:2::6]:1", "limited 10"},
			{0, "vera", veraPW, "[2001:db8:1:3::6]:1", "ok"},
		}},
		{"successful logins do not use up attempts", []attempt{
			{0, "vera", veraPW, ip1, "ok"}, {0, "vera", veraPW, ip1, "ok"}, {0, "vera", veraPW, ip1, "ok"},
			{0, "vera", veraPW, ip1, "ok"}, {0, "vera", veraPW, ip1, "ok"}, {0, "vera", veraPW, ip1, "ok"},
			{0, "vera", veraPW, ip1, "ok"}, {0, "vera", veraPW, ip1, "ok"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runAttempts(t, newFixture(t, Options{}), tc.steps)
		})
	}
}

func TestChangePasswordIsRateLimited(t *testing.T) {
	f := newFixture(t, Options{})
	c, id := f.mustLogin("vera", veraPW)
	for i := range 5 {
		_, err := f.changePassword(c, id.CSRF, "wrong pass", "new pass 123")
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v, want ErrBadCredentials", i, err)
		}
	}
	if _, err := f.changePassword(c, id.CSRF, veraPW, "new pass 123"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("sixth attempt: %v, want ErrRateLimited", err)
	}
}

func TestChangePasswordChecks(t *testing.T) {
	cases := []struct {
		name, csrf, current, next string
		want                      error
	}{
		{"no CSRF token", "", veraPW, "new pass 123", ErrCSRF},
		{"another CSRF token", "other", veraPW, "new pass 123", ErrCSRF},
		{"wrong current password", "own", "nope", "new pass 123", ErrBadCredentials},
		{"the same password", "own", veraPW, veraPW, ErrSamePassword},
		{"a weak password", "own", veraPW, "vera", &PolicyError{}},
		{"a good password", "own", veraPW, "new pass 123", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			c, id := f.mustLogin("vera", veraPW)
			_, other := f.mustLogin("admin", adminPW)
			csrf := map[string]string{"own": id.CSRF, "other": other.CSRF}[tc.csrf]
			_, err := f.changePassword(c, csrf, tc.current, tc.next)
			var pe *PolicyError
			switch want := tc.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("err %v", err)
				}
			case *PolicyError:
				if !errors.As(err, &pe) {
					t.Fatalf("err %v, want a PolicyError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err %v, want %v", err, want)
				}
			}
		})
	}
	f := newFixture(t, Options{})
	r := httptest.NewRequest("POST", "/password", nil)
	if _, err := f.m.ChangePassword(httptest.NewRecorder(), r, veraPW, "new pass 123"); !errors.Is(err, ErrNoSession) {
		t.Errorf("without a session: %v, want ErrNoSession", err)
	}
}

// An unknown user name costs a password hash like a known one, so the time of
// an answer does not tell which names exist.
func TestUnknownUserCostsAHash(t *testing.T) {
	for _, user := range []string{"vera", "ghost"} {
		t.Run(user, func(t *testing.T) {
			f := newFixture(t, Options{})
			for range cap(f.st.hasher.sem) {
				f.st.hasher.sem <- struct{}{} // every hashing slot busy
			}
			done := make(chan error, 1)
			go func() { _, err := f.st.Authenticate(user, "wrong pass"); done <- err }()
			select {
			case err := <-done:
				t.Fatalf("answered %v without computing a hash", err)
			case <-time.After(50 * time.Millisecond):
			}
			for range cap(f.st.hasher.sem) {
				<-f.st.hasher.sem
			}
			if err := <-done; !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("err %v, want ErrBadCredentials", err)
			}
		})
	}
}

func TestLimiterBounded(t *testing.T) {
	now := newClock().Now()
	l := newLimiter(2, 10*time.Second, 3)
	for i := range 10 {
		if ok, _ := l.take(now, fmt.Sprint("k", i)); !ok {
			t.Fatalf("key %d refused on its first attempt", i)
		}
		if len(l.m) > 3 {
			t.Fatalf("%d buckets, limit 3", len(l.m))
		}
	}
	// An empty bucket is kept while fuller ones are forgotten first.
	l = newLimiter(2, 10*time.Second, 3)
	l.take(now, "victim")
	l.take(now, "victim")
	for i := range 10 {
		l.take(now, fmt.Sprint("k", i))
	}
	if ok, wait := l.take(now, "victim"); ok || wait != 10*time.Second {
		t.Errorf("the emptied bucket was forgotten: ok=%v wait=%v", ok, wait)
	}
}
