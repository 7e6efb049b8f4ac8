package httpui

import (
	"errors"
	"net/http"
	"net/url"

	"traced/httpui/auth"
	"traced/httpui/views"
)

// AuthPages serves the login, change-password and admin pages on top of an
// auth.Manager. The routes that need a user are wrapped by the caller with
// Manager.Require.
type AuthPages struct {
	Auth *auth.Manager
	Web  *Web // for rendering and logging
}

// NavOf is the header of a page for the request's identity.
func NavOf(r *http.Request) views.Nav {
	id, ok := auth.UserFrom(r.Context())
	if !ok {
		return views.Nav{}
	}
	return views.Nav{User: id.Name, Admin: id.Role == auth.RoleAdmin, CSRF: id.CSRF}
}

// TimeZoneOf is the request user's remembered time zone.
func TimeZoneOf(r *http.Request) string {
	id, _ := auth.UserFrom(r.Context())
	return id.TimeZone
}

// LoginPage shows the login form.
func (a *AuthPages) LoginPage(w http.ResponseWriter, r *http.Request) {
	a.Web.render(w, r, views.Login(views.LoginPage{Next: auth.SafeNext(r.URL.Query().Get("next"))}))
}

// LoginPost checks the credentials and goes on to the page asked for, or to the
// change-password page when the password must be changed.
func (a *AuthPages) LoginPost(w http.ResponseWriter, r *http.Request) {
	user, next := r.PostFormValue("user"), auth.SafeNext(r.PostFormValue("next"))
	id, err := a.Auth.Login(w, r, user, r.PostFormValue("password"))
	if err != nil {
		w.WriteHeader(auth.StatusOf(err))
		a.Web.render(w, r, views.Login(views.LoginPage{Error: loginError(err), Next: next, User: user}))
		return
	}
	http.Redirect(w, r, a.Auth.Next(id, next), http.StatusSeeOther)
}

func loginError(err error) string {
	var rl *auth.RateLimitError
	if errors.As(err, &rl) {
		return err.Error()
	}
	if errors.Is(err, auth.ErrCrossSite) {
		return err.Error()
	}
	return "Wrong user or password."
}

// PasswordPage shows the change-password form.
func (a *AuthPages) PasswordPage(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.UserFrom(r.Context())
	a.Web.render(w, r, views.Password(views.PasswordPage{Nav: NavOf(r), Forced: id.MustChange}))
}

// PasswordPost changes the password.
func (a *AuthPages) PasswordPost(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.UserFrom(r.Context())
	p := views.PasswordPage{Nav: NavOf(r), Forced: id.MustChange}
	if r.PostFormValue("new") != r.PostFormValue("again") {
		p.Error = "The two new passwords differ."
		w.WriteHeader(http.StatusBadRequest)
		a.Web.render(w, r, views.Password(p))
		return
	}
	if _, err := a.Auth.ChangePassword(w, r, r.PostFormValue("current"), r.PostFormValue("new")); err != nil {
		p.Error = err.Error()
		w.WriteHeader(auth.StatusOf(err))
		a.Web.render(w, r, views.Password(p))
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// Logout ends the session.
func (a *AuthPages) Logout(w http.ResponseWriter, r *http.Request) {
	a.Auth.Logout(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// AdminPage lists users and tokens.
func (a *AuthPages) AdminPage(w http.ResponseWriter, r *http.Request) {
	a.renderAdmin(w, r, http.StatusOK, r.URL.Query().Get("done"), "", "")
}

func (a *AuthPages) renderAdmin(w http.ResponseWriter, r *http.Request, code int, done, errText, newToken string) {
	id, _ := auth.UserFrom(r.Context())
	up := a.Auth.Users()
	p := views.AdminPage{Nav: NavOf(r), Done: done, Error: errText, NewToken: newToken}
	for _, u := range up.Users {
		p.Users = append(p.Users, views.UserItem{Name: u.Name, Role: string(u.Role), TimeZone: u.TimeZone,
			Created: u.Created.UTC().Format("2006-01-02 15:04"), MustChange: u.MustChange, Sessions: u.Sessions,
			Self: u.Name == id.Name})
	}
	for _, al := range a.Web.Aliases.List() {
		p.Aliases = append(p.Aliases, views.AliasItem{Address: al.Address, Name: al.Name})
	}
	for _, t := range up.Tokens {
		p.Tokens = append(p.Tokens, views.TokenItem{Name: t.Name, Role: string(t.Role), Created: t.Created.UTC().Format("2006-01-02 15:04")})
	}
	if code != http.StatusOK {
		w.WriteHeader(code)
	}
	a.Web.render(w, r, views.Admin(p))
}

// AddUser, RemoveUser, CreateToken and RevokeToken are the admin forms.
func (a *AuthPages) AddUser(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("name")
	err := a.Auth.Store.AddUser(name, auth.Role(r.PostFormValue("role")), r.PostFormValue("password"))
	a.after(w, r, err, "Added "+name+"; the password must be changed at the first login.")
}

func (a *AuthPages) RemoveUser(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.UserFrom(r.Context())
	name := r.PostFormValue("name")
	a.after(w, r, a.Auth.RemoveUser(id, name), "Removed "+name+".")
}

func (a *AuthPages) CreateToken(w http.ResponseWriter, r *http.Request) {
	secret, err := a.Auth.Store.CreateToken(r.PostFormValue("name"), auth.Role(r.PostFormValue("role")))
	if err != nil {
		a.renderAdmin(w, r, auth.StatusOf(err), "", err.Error(), "")
		return
	}
	a.renderAdmin(w, r, http.StatusOK, "Created token "+r.PostFormValue("name")+".", "", secret)
}

func (a *AuthPages) RevokeToken(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("name")
	a.after(w, r, a.Auth.Store.RevokeToken(name), "Revoked token "+name+".")
}

// SetAlias names (or, with an empty name, unnames) a host.
func (a *AuthPages) SetAlias(w http.ResponseWriter, r *http.Request) {
	addr, name := r.PostFormValue("address"), r.PostFormValue("name")
	if err := a.Web.Aliases.Set(addr, name); err != nil {
		a.renderAdmin(w, r, http.StatusBadRequest, "", err.Error(), "")
		return
	}
	a.after(w, r, nil, "Alias of "+addr+" saved.")
}

func (a *AuthPages) after(w http.ResponseWriter, r *http.Request, err error, done string) {
	if err != nil {
		a.renderAdmin(w, r, auth.StatusOf(err), "", err.Error(), "")
		return
	}
	http.Redirect(w, r, "/admin/users?done="+url.QueryEscape(done), http.StatusSeeOther)
}

// Routes mounts the web side: open login page and assets, everything else behind
// a session or a token, admin pages for admins only. api serves /api/v1/ and
// metrics /metrics.
func (a *AuthPages) Routes(pages, api, metrics http.Handler) http.Handler {
	viewer, admin := a.Auth.Require(auth.RoleViewer), a.Auth.Require(auth.RoleAdmin)
	mux := http.NewServeMux()
	mux.Handle("GET /static/", StaticHandler())
	mux.HandleFunc("GET /login", a.LoginPage)
	mux.HandleFunc("POST /login", a.LoginPost)
	mux.Handle("GET /password", viewer(http.HandlerFunc(a.PasswordPage)))
	mux.Handle("POST /password", viewer(http.HandlerFunc(a.PasswordPost)))
	mux.Handle("POST /logout", viewer(http.HandlerFunc(a.Logout)))
	mux.Handle("GET /admin/users", admin(http.HandlerFunc(a.AdminPage)))
	mux.Handle("GET /admin/tokens", admin(http.HandlerFunc(a.AdminPage)))
	mux.Handle("POST /admin/users", admin(http.HandlerFunc(a.AddUser)))
	mux.Handle("POST /admin/users/remove", admin(http.HandlerFunc(a.RemoveUser)))
	mux.Handle("POST /admin/tokens", admin(http.HandlerFunc(a.CreateToken)))
	mux.Handle("POST /admin/tokens/revoke", admin(http.HandlerFunc(a.RevokeToken)))
	mux.Handle("POST /admin/aliases", admin(http.HandlerFunc(a.SetAlias)))
	for _, p := range []string{"/api/v1/users", "/api/v1/users/", "/api/v1/tokens", "/api/v1/tokens/"} {
		mux.Handle(p, a.Auth.AdminAPI())
	}
	mux.Handle("/api/", viewer(api))
	mux.Handle("GET /metrics", viewer(metrics))
	mux.Handle("/", viewer(pages))
	return mux
}
