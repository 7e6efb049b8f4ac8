package auth

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Require wraps handlers that need an identity with role need (RoleViewer:
// any user or token). A request is admitted with a live session cookie or an
// "Authorization: Bearer TOKEN" header; then
//   - without either, pages are redirected to the login page (GET and HEAD with
//     next=the original URL) and the API answers 401 JSON;
//   - a bad token is 401, whatever the cookie;
//   - a session bound to change its password reaches only the change-password
//     page and logout: pages are redirected there, the API answers 403;
//   - a role below need is 403;
//   - a POST, PUT, PATCH or DELETE with a session must carry the session's CSRF
//     token (form field csrf_token or header X-CSRF-Token), else 403.
//
// The identity is in the request's context (UserFrom). Answers are marked
// "Cache-Control: private, no-store".
func (m *Manager) Require(need Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := m.identify(w, r)
			if !ok {
				return
			}
			if id.MustChange && r.URL.Path != m.opt.PasswordPath && r.URL.Path != m.opt.LogoutPath {
				if m.isAPI(r) {
					m.fail(w, r, http.StatusForbidden, "the password must be changed first")
					return
				}
				http.Redirect(w, r, m.opt.PasswordPath, http.StatusSeeOther)
				return
			}
			if !id.Role.Allows(need) {
				m.fail(w, r, http.StatusForbidden, "this needs the "+string(need)+" role")
				return
			}
			if !id.Token && !safeMethod(r.Method) && !csrfOK(r, id.CSRF) {
				m.fail(w, r, http.StatusForbidden, ErrCSRF.Error())
				return
			}
			w.Header().Set("Cache-Control", "private, no-store")
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// identify returns r's identity, or answers r and returns false.
func (m *Manager) identify(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			if t, ok := m.Store.TokenAuth(strings.TrimSpace(secret)); ok {
				return Identity{Name: t.Name, Role: t.Role, Token: true, TimeZone: "UTC"}, true
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, "invalid API token")
		return Identity{}, false
	}
	s, u, ok := m.sessionOf(r)
	if ok {
		return Identity{Name: u.Name, Role: u.Role, MustChange: u.MustChange, TimeZone: u.TimeZone, CSRF: s.csrf}, true
	}
	if m.isAPI(r) {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		writeJSON(w, http.StatusUnauthorized, "log in or send Authorization: Bearer TOKEN")
		return Identity{}, false
	}
	to := m.opt.LoginPath
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		to += "?next=" + url.QueryEscape(SafeNext(r.URL.RequestURI()))
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return Identity{}, false
}

func (m *Manager) isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, m.opt.APIPrefix) || r.URL.Path == m.opt.MetricsPath
}

func (m *Manager) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if m.isAPI(r) {
		writeJSON(w, code, msg)
		return
	}
	http.Error(w, msg, code)
}

func writeJSON(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// csrfOK reports whether r carries want, in the header or the form.
func csrfOK(r *http.Request, want string) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.PostFormValue(CSRFField)
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// SafeNext returns next if it is a path on this server ("/search?x=1"), else
// "/": never a URL that leaves the site, such as //evil.example, /\evil.example,
// https://evil.example or one with control characters that browsers drop.
func SafeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}
