package auth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestPasswordPolicy(t *testing.T) {
	cases := []struct {
		name, user, pw string
		ok             bool
	}{
		{"long enough", "vera", "eight ch", true},
		{"seven characters", "vera", "seven c", false},
		{"empty", "vera", "", false},
		{"eight characters of UTF-8", "vera", "ääääääää", true},
		{"default password", "vera", "admin", false},
		{"default password in capitals", "vera", "ADMIN", false},
		{"user name", "veronica", "veronica", false},
		{"user name in another case", "veronica", "VeRoNiCa", false},
		{"too long", "vera", strings.Repeat("x", MaxPasswordLen+1), false},
		{"longest", "vera", strings.Repeat("x", MaxPasswordLen), true},
		{"not UTF-8", "vera", "abcdefg\xff", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassword(tc.user, tc.pw)
			var pe *PolicyError
			if tc.ok != (err == nil) || (err != nil && !errors.As(err, &pe)) {
				t.Fatalf("CheckPassword(%q, %q) = %v, want ok=%v", tc.user, tc.pw, err, tc.ok)
			}
		})
	}
}

func TestHashNeverThePasswordAndVerifies(t *testing.T) {
	h, err := newHasher(DefaultParams(), rand.Reader, 2)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery"
	a, err := h.hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if a == pw || strings.Contains(a, pw) || a == b {
		t.Fatalf("hashes %q and %q: equal to the password or to each other", a, b)
	}
	p, _, _, err := parseHash(a)
	if err != nil || p != DefaultParams() {
		t.Fatalf("parameters in the hash: %+v %v, want %+v", p, err, DefaultParams())
	}
	cases := []struct {
		name, hash, pw string
		want           bool
	}{
		{"right password", a, pw, true},
		{"right password, other salt", b, pw, true},
		{"wrong password", a, pw + "!", false},
		{"empty password", a, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.verify(tc.hash, tc.pw)
			if err != nil || ok != tc.want {
				t.Fatalf("verify = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

func TestParseHashRejects(t *testing.T) {
	h, err := newHasher(fastParams(), rand.Reader, 1)
	if err != nil {
		t.Fatal(err)
	}
	good, err := h.hash("some password")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := parseHash(good); err != nil {
		t.Fatalf("a good hash: %v", err)
	}
	f := strings.Split(good, "$")
	cases := []struct{ name, hash string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuDAYq0LIO6RZ8jK8lQp7S8Yvm1SSHHa2"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"memory beyond the limit", strings.Replace(good, "m=64,", "m=2097152,", 1)},
		{"zero passes", strings.Replace(good, "t=1,", "t=0,", 1)},
		{"bad salt", strings.Join(append(f[:4:4], "!!", f[5]), "$")},
		{"short key", strings.Join(append(f[:5:5], "AAAA"), "$")},
		{"extra field", good + "$x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := parseHash(tc.hash); err == nil {
				t.Fatalf("parseHash(%q) accepted it", tc.hash)
			}
			if ok, err := h.verify(tc.hash, "some password"); ok || err == nil {
				t.Fatalf("verify = %v, %v; want an error", ok, err)
			}
		})
	}
}

// A file whose admin still has the default password but no must-change flag
// (edited by hand) gives only a must-change login.
func TestDefaultPasswordOnlyEverChangesItself(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir, newClock())
	b, err := os.ReadFile(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	var d fileData
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	d.Users[0].MustChange = false
	b, _ = json.Marshal(&d)
	if err := os.WriteFile(st.Path(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clk: newClock(), st: openStore(t, dir, newClock())}
	f.m = New(f.st, Options{Now: f.clk.Now})
	f.mux = testMux(f.m)
	if u, _ := f.st.User("admin"); u.MustChange {
		t.Fatal("the edit did not clear must-change")
	}
	c, id := f.mustLogin("admin", "admin")
	if !id.MustChange || f.m.Next(id, "/users") != "/password" {
		t.Fatalf("login with the default password: %+v", id)
	}
	if got := outcome(f.do("GET", "/users", c, "", "")); got != "303 /password" {
		t.Errorf("GET /users: %s, want 303 /password", got)
	}
	if got := outcome(f.do("GET", "/api/v1/search", c, "", "")); got != "403" {
		t.Errorf("GET /api/v1/search: %s, want 403", got)
	}
	if got := outcome(f.do("GET", "/password", c, "", "")); got != "200" {
		t.Errorf("GET /password: %s, want 200", got)
	}
}
