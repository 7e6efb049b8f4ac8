package auth

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestControlHandler(t *testing.T) {
	f := newFixture(t, Options{})
	h := f.m.ControlHandler()
	var secret string
	steps := []struct {
		name, method, path, body string
		want                     int
		check                    func(t *testing.T, body []byte)
	}{
		{"create a token", "POST", "/api/v1/tokens", `{"name":"grafana","role":"admin"}`, 201, func(t *testing.T, b []byte) {
			var out map[string]string
			if json.Unmarshal(b, &out) != nil || !strings.HasPrefix(out["token"], TokenPrefix) || out["role"] != "admin" {
				t.Fatalf("answer %s", b)
			}
			secret = out["token"]
			if got := outcome(f.do("GET", "/users", nil, secret, "")); got != "200" {
				t.Errorf("the new token on an admin page: %s", got)
			}
		}},
		{"a token's role defaults to viewer", "POST", "/api/v1/tokens", `{"name":"dash"}`, 201, func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"role": "viewer"`) {
				t.Errorf("answer %s", b)
			}
		}},
		{"the same name again", "POST", "/api/v1/tokens", `{"name":"grafana"}`, 409, nil},
		{"an unknown role", "POST", "/api/v1/tokens", `{"name":"x","role":"root"}`, 400, nil},
		{"an unknown field", "POST", "/api/v1/tokens", `{"name":"x","roles":"admin"}`, 400, nil},
		{"not JSON", "POST", "/api/v1/tokens", `name=x`, 400, nil},
		{"list tokens", "GET", "/api/v1/tokens", "", 200, func(t *testing.T, b []byte) {
			var out []TokenInfo
			if json.Unmarshal(b, &out) != nil || len(out) != 4 || strings.Contains(string(b), secret) {
				t.Errorf("answer %s", b)
			}
		}},
		{"revoke", "DELETE", "/api/v1/tokens/grafana", "", 204, func(t *testing.T, _ []byte) {
			if got := outcome(f.do("GET", "/users", nil, secret, "")); got != "401" {
				t.Errorf("the revoked token: %s, want 401", got)
			}
		}},
		{"revoke again", "DELETE", "/api/v1/tokens/grafana", "", 404, nil},
		{"add a user", "POST", "/api/v1/users", `{"name":"bob","role":"viewer","password":"bob pass 12"}`, 201, nil},
		{"a weak password", "POST", "/api/v1/users", `{"name":"eve","password":"eve"}`, 400, nil},
		{"reset a password", "PUT", "/api/v1/users/bob/password", `{"password":"reset pass 1"}`, 204, func(t *testing.T, _ []byte) {
			if u, err := f.st.Authenticate("bob", "reset pass 1"); err != nil || !u.MustChange {
				t.Errorf("bob after the reset: %+v %v", u, err)
			}
		}},
		{"reset an unknown user", "PUT", "/api/v1/users/nobody/password", `{"password":"reset pass 1"}`, 404, nil},
		{"list users", "GET", "/api/v1/users", "", 200, func(t *testing.T, b []byte) {
			var out UsersPage
			if json.Unmarshal(b, &out) != nil || len(out.Users) != 4 || strings.Contains(string(b), "argon2") {
				t.Errorf("answer %s", b)
			}
		}},
		{"remove a user", "DELETE", "/api/v1/users/bob", "", 204, nil},
		{"remove an admin", "DELETE", "/api/v1/users/admin", "", 204, nil},
		{"remove the last admin", "DELETE", "/api/v1/users/newbie", "", 409, nil},
	}
	for _, s := range steps {
		r := httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != s.want {
			t.Fatalf("%s: %d, want %d (%s)", s.name, w.Code, s.want, w.Body.String())
		}
		if s.check != nil {
			s.check(t, w.Body.Bytes())
		}
	}
}

func TestAdminAPI(t *testing.T) {
	cases := []struct {
		name, method, path, who string
		csrf                    bool
		want                    int
	}{
		{"a viewer lists tokens", "GET", "/api/v1/tokens", "vera", false, 403},
		{"a viewer token lists tokens", "GET", "/api/v1/tokens", "ci", false, 403},
		{"nobody lists tokens", "GET", "/api/v1/tokens", "", false, 401},
		{"an admin token lists tokens", "GET", "/api/v1/tokens", "ops", false, 200},
		{"an admin lists users", "GET", "/api/v1/users", "admin", false, 200},
		{"an admin revokes without CSRF token", "DELETE", "/api/v1/tokens/ci", "admin", false, 403},
		{"an admin revokes", "DELETE", "/api/v1/tokens/ci", "admin", true, 204},
		{"an admin removes itself", "DELETE", "/api/v1/users/admin", "admin", true, 409},
		{"an admin token removes a user", "DELETE", "/api/v1/users/vera", "ops", false, 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			r := httptest.NewRequest(tc.method, tc.path, nil)
			switch tc.who {
			case "ci":
				r.Header.Set("Authorization", "Bearer "+f.ciToken)
			case "ops":
				r.Header.Set("Authorization", "Bearer "+f.opsToken)
			case "vera", "admin":
				pw := map[string]string{"vera": veraPW, "admin": adminPW}[tc.who]
				c, id := f.mustLogin(tc.who, pw)
				r.AddCookie(c)
				if tc.csrf {
					r.Header.Set(CSRFHeader, id.CSRF)
				}
			}
			w := httptest.NewRecorder()
			f.m.AdminAPI().ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("%d, want %d (%s)", w.Code, tc.want, w.Body.String())
			}
			if tc.want == 204 && tc.method == "DELETE" && strings.Contains(tc.path, "/users/") {
				if _, ok := f.st.User(tc.path[len("/api/v1/users/"):]); ok {
					t.Error("the user is still there")
				}
			}
		})
	}
}
