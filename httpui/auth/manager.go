package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Options tune a Manager. Zero values are the defaults.
type Options struct {
	Now  func() time.Time // clock; time.Now
	Rand io.Reader        // randomness of session ids and CSRF tokens; crypto/rand

	// Secure is set when the web port serves HTTPS: the cookie is then Secure
	// and named with the __Host- prefix. Requests over TLS get a Secure cookie
	// anyway.
	Secure bool

	IdleTimeout time.Duration // a session unused this long ends; 12 h
	MaxLifetime time.Duration // a session this old ends, used or not; 7 days
	MaxSessions int           // sessions kept; the ones idle longest go first; 10000

	LoginBurst   int           // login attempts per client and per user name at once; 5
	LoginEvery   time.Duration // then one attempt per LoginEvery; 10 s
	MaxLimited   int           // clients and names remembered by the limiter; 10000
	ClientIP     func(*http.Request) string
	LoginPath    string // where unauthenticated pages are sent; /login
	PasswordPath string // the change-password page; /password
	LogoutPath   string // /logout
	APIPrefix    string // requests under it get JSON errors, not redirects; /api/
	MetricsPath  string // Prometheus' scrape path, answered like the API; /metrics
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = cryptoRand()
	}
	setDefault(&o.IdleTimeout, 12*time.Hour)
	setDefault(&o.MaxLifetime, 7*24*time.Hour)
	setDefault(&o.MaxSessions, 10000)
	setDefault(&o.LoginBurst, 5)
	setDefault(&o.LoginEvery, 10*time.Second)
	setDefault(&o.MaxLimited, 10000)
	if o.ClientIP == nil {
		o.ClientIP = RemoteIP
	}
	setDefault(&o.LoginPath, "/login")
	setDefault(&o.PasswordPath, "/password")
	setDefault(&o.LogoutPath, "/logout")
	setDefault(&o.APIPrefix, "/api/")
	setDefault(&o.MetricsPath, "/metrics")
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Errors of the Manager.
var (
	ErrNoSession    = errors.New("not logged in")
	ErrCrossSite    = errors.New("cross-site login refused")
	ErrSamePassword = errors.New("the new password must differ from the current one")
	ErrRemoveSelf   = errors.New("an admin cannot remove the account it is logged in with")
	ErrCSRF         = errors.New("missing or wrong CSRF token; reload the page")
)

// Manager is the access control of the web port: logins, sessions, CSRF
// tokens, the login rate limit and the Require middleware, over a Store.
type Manager struct {
	Store *Store

	opt      Options
	sessions *sessions
	limiter  *limiter
	xsite    *http.CrossOriginProtection
}

// New returns a Manager over st.
func New(st *Store, opt Options) *Manager {
	opt.defaults()
	return &Manager{Store: st, opt: opt,
		sessions: newSessions(opt.IdleTimeout, opt.MaxLifetime, opt.MaxSessions),
		limiter:  newLimiter(opt.LoginBurst, opt.LoginEvery, opt.MaxLimited),
		xsite:    http.NewCrossOriginProtection()}
}

// Identity is who a request comes from: a user with a session, or an API token.
type Identity struct {
	Name       string // the user's name, or the token's
	Role       Role
	Token      bool   // authenticated by an API token
	MustChange bool   // the password must be changed before anything else
	TimeZone   string // the user's preference, UTC for tokens
	CSRF       string // the session's CSRF token; empty for tokens
}

type ctxKey struct{}

// UserFrom returns the identity Require put into ctx.
func UserFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// WithIdentity returns ctx carrying id, as Require does.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// CSRFField and CSRFHeader carry the CSRF token: a form's hidden input
// <input type="hidden" name="csrf_token" value="{CSRFToken}">, or a header
// of a script's request.
const (
	CSRFField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"
)

// CSRFToken returns the token the forms of the page being answered must carry.
func CSRFToken(ctx context.Context) string {
	id, _ := UserFrom(ctx)
	return id.CSRF
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string {
	if m.opt.Secure {
		return "__Host-traced_session"
	}
	return "traced_session"
}

// Paths returns the login, change-password and logout paths.
func (m *Manager) Paths() (login, password, logout string) {
	return m.opt.LoginPath, m.opt.PasswordPath, m.opt.LogoutPath
}

// sessionOf returns the live session of r's cookie and its user. A session
// whose user is gone or has a new password is dropped.
func (m *Manager) sessionOf(r *http.Request) (session, userRec, bool) {
	c, err := r.Cookie(m.CookieName())
	if err != nil {
		return session{}, userRec{}, false
	}
	s, ok := m.sessions.get(c.Value, m.opt.Now())
	if !ok {
		return session{}, userRec{}, false
	}
	u, ok := m.Store.lookup(s.user)
	if !ok || u.Stamp != s.stamp {
		m.sessions.drop(c.Value)
		return session{}, userRec{}, false
	}
	u.MustChange = u.MustChange || s.mustChange
	return s, u, true
}

func (m *Manager) startSession(w http.ResponseWriter, r *http.Request, u userRec) (Identity, error) {
	id, err := randomString(m.opt.Rand, 32)
	if err != nil {
		return Identity{}, err
	}
	csrf, err := randomString(m.opt.Rand, 32)
	if err != nil {
		return Identity{}, err
	}
	m.sessions.add(id, session{user: u.Name, stamp: u.Stamp, csrf: csrf, mustChange: u.MustChange}, m.opt.Now())
	http.SetCookie(w, &http.Cookie{Name: m.CookieName(), Value: id, Path: "/", HttpOnly: true,
		Secure: m.opt.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	return Identity{Name: u.Name, Role: u.Role, MustChange: u.MustChange, TimeZone: u.TimeZone, CSRF: csrf}, nil
}

// limit spends a login attempt of r's client and of name, or answers the
// RateLimitError with its Retry-After header.
func (m *Manager) limit(w http.ResponseWriter, r *http.Request, name string) ([]string, error) {
	keys := []string{clientKey(m.opt.ClientIP(r)), userKey(name)}
	if ok, wait := m.limiter.take(m.opt.Now(), keys...); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		return nil, &RateLimitError{RetryAfter: wait}
	}
	return keys, nil
}

// Login checks name and password and starts a session: it sets the cookie on
// w. An identity with MustChange may only change its password (see Next).
// Attempts are limited per client and per name; a refused one has set the
// Retry-After header and returns a *RateLimitError. A successful login gives
// its attempt back.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request, name, pw string) (Identity, error) {
	if m.xsite.Check(r) != nil {
		return Identity{}, ErrCrossSite
	}
	keys, err := m.limit(w, r, name)
	if err != nil {
		return Identity{}, err
	}
	u, err := m.Store.authenticate(name, pw)
	if err != nil {
		return Identity{}, err
	}
	m.limiter.give(m.opt.Now(), keys...)
	if c, err := r.Cookie(m.CookieName()); err == nil {
		m.sessions.drop(c.Value)
	}
	return m.startSession(w, r, u)
}

// Next is where a login page sends the browser after Login: the
// change-password page while the password must change, else next if it is a
// local path, else /.
func (m *Manager) Next(id Identity, next string) string {
	if id.MustChange {
		return m.opt.PasswordPath
	}
	return SafeNext(next)
}

// Logout ends r's session and clears the cookie.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(m.CookieName()); err == nil {
		m.sessions.drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: m.CookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: m.opt.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// ChangePassword sets the password of r's session user, who proves the
// current one. It counts as a login attempt. Every session of the user ends
// and a new one starts (the cookie on w), no longer bound to change the
// password. The request must carry the session's CSRF token.
func (m *Manager) ChangePassword(w http.ResponseWriter, r *http.Request, current, next string) (Identity, error) {
	s, u, ok := m.sessionOf(r)
	if !ok {
		return Identity{}, ErrNoSession
	}
	if !csrfOK(r, s.csrf) {
		return Identity{}, ErrCSRF
	}
	keys, err := m.limit(w, r, u.Name)
	if err != nil {
		return Identity{}, err
	}
	if _, err := m.Store.authenticate(u.Name, current); err != nil {
		return Identity{}, err
	}
	m.limiter.give(m.opt.Now(), keys...)
	if next == current {
		return Identity{}, ErrSamePassword
	}
	if err := m.Store.SetPassword(u.Name, next); err != nil {
		return Identity{}, err
	}
	m.sessions.dropUser(u.Name)
	nu, ok := m.Store.lookup(u.Name)
	if !ok {
		return Identity{}, ErrNoUser
	}
	return m.startSession(w, r, nu)
}

// SetTimeZone sets the time-zone preference of the identity in ctx.
func (m *Manager) SetTimeZone(ctx context.Context, tz string) error {
	id, ok := UserFrom(ctx)
	if !ok || id.Token {
		return ErrNoSession
	}
	return m.Store.SetTimeZone(id.Name, tz)
}

// ResetPassword sets a password an admin chose for user name, who must change
// it at the next login; its sessions end.
func (m *Manager) ResetPassword(name, pw string) error {
	if err := m.Store.ResetPassword(name, pw); err != nil {
		return err
	}
	m.sessions.dropUser(name)
	return nil
}

// RemoveUser removes user name for the admin actor (an identity from
// UserFrom, or the zero Identity on the control socket), never the actor's own
// account nor the last admin; the user's sessions end.
func (m *Manager) RemoveUser(actor Identity, name string) error {
	if !actor.Token && actor.Name == name {
		return ErrRemoveSelf
	}
	if err := m.Store.RemoveUser(name); err != nil {
		return err
	}
	m.sessions.dropUser(name)
	return nil
}

// UserRow is a line of the admin users page.
type UserRow struct {
	UserInfo
	Sessions int `json:"sessions"` // live sessions
}

// UsersPage is what the admin users page shows.
type UsersPage struct {
	Users  []UserRow   `json:"users"`
	Tokens []TokenInfo `json:"tokens"`
}

// Users returns the data of the admin users page.
func (m *Manager) Users() UsersPage {
	n := m.sessions.count(m.opt.Now())
	var p UsersPage
	for _, u := range m.Store.ListUsers() {
		p.Users = append(p.Users, UserRow{UserInfo: u, Sessions: n[u.Name]})
	}
	p.Tokens = m.Store.ListTokens()
	return p
}

// StatusOf is the HTTP status a page or the API answers err with.
func StatusOf(err error) int {
	var pe *PolicyError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &pe), errors.Is(err, ErrBadName), errors.Is(err, ErrBadRole),
		errors.Is(err, ErrBadTimeZone), errors.Is(err, ErrSamePassword):
		return http.StatusBadRequest
	case errors.Is(err, ErrBadCredentials), errors.Is(err, ErrNoSession):
		return http.StatusUnauthorized
	case errors.Is(err, ErrCrossSite), errors.Is(err, ErrCSRF):
		return http.StatusForbidden
	case errors.Is(err, ErrNoUser), errors.Is(err, ErrNoToken):
		return http.StatusNotFound
	case errors.Is(err, ErrUserExists), errors.Is(err, ErrTokenExists), errors.Is(err, ErrLastAdmin),
		errors.Is(err, ErrRemoveSelf):
		return http.StatusConflict
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}
