package auth

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestTokenLifecycle(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	st := openStore(t, dir, clk)
	secret, err := st.CreateToken("ci", RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
		t.Fatalf("token %q: want %s and 43 base64url characters", secret, TokenPrefix)
	}
	admin, err := st.CreateToken("deploy", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, admin} {
		if bytes.Contains(file, []byte(s[len(TokenPrefix):])) {
			t.Errorf("the file holds the secret of a token:\n%s", file)
		}
		if !bytes.Contains(file, []byte(tokenHash(s))) {
			t.Errorf("the file lacks the SHA-256 of a token")
		}
	}
	if _, err := st.CreateToken("ci", RoleAdmin); !errors.Is(err, ErrTokenExists) {
		t.Errorf("a second token ci: %v", err)
	}
	if _, err := st.CreateToken("bad name", RoleAdmin); !errors.Is(err, ErrBadName) {
		t.Errorf("a token named with a space: %v", err)
	}
	if _, err := st.CreateToken("x", "root"); !errors.Is(err, ErrBadRole) {
		t.Errorf("a token with role root: %v", err)
	}
	want := []TokenInfo{{Name: "ci", Role: RoleViewer, Created: clk.Now()}, {Name: "deploy", Role: RoleAdmin, Created: clk.Now()}}
	if got := st.ListTokens(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("tokens %+v, want %+v", got, want)
	}
	cases := []struct {
		name, secret string
		ok           bool
		role         Role
	}{
		{"viewer token", secret, true, RoleViewer},
		{"admin token", admin, true, RoleAdmin},
		{"empty", "", false, ""},
		{"prefix only", TokenPrefix, false, ""},
		{"without prefix", secret[len(TokenPrefix):], false, ""},
		{"one character changed", secret[:len(secret)-1] + flip(secret[len(secret)-1]), false, ""},
		{"the stored hash", tokenHash(secret), false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ti, ok := st.TokenAuth(tc.secret)
			if ok != tc.ok || ti.Role != tc.role {
				t.Fatalf("TokenAuth = %+v, %v; want ok=%v role %q", ti, ok, tc.ok, tc.role)
			}
		})
	}
	must(t, st.RevokeToken("ci"))
	if _, ok := st.TokenAuth(secret); ok {
		t.Error("a revoked token still authenticates")
	}
	if err := st.RevokeToken("ci"); !errors.Is(err, ErrNoToken) {
		t.Errorf("revoking twice: %v", err)
	}
	st2 := openStore(t, dir, clk)
	if _, ok := st2.TokenAuth(secret); ok {
		t.Error("the revoked token authenticates after reopening")
	}
	if ti, ok := st2.TokenAuth(admin); !ok || ti.Name != "deploy" {
		t.Errorf("the kept token after reopening: %+v %v", ti, ok)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
