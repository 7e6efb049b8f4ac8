package httpui

import (
	"bytes"
	"context"
	"testing"

	"traced/httpui/views"
)

// TestAuthPagesGolden renders the login, change-password and admin pages with
// fixed data and compares them with their normalised HTML golden files.
func TestAuthPagesGolden(t *testing.T) {
	nav := views.Nav{User: "admin", Admin: true, CSRF: "csrf-fixed"}
	for name, c := range map[string]func() ([]byte, error){
		"login": func() ([]byte, error) {
			var b bytes.Buffer
			err := views.Login(views.LoginPage{Next: "/?call_id=x", Error: "Wrong user or password.", User: "admin"}).Render(context.Background(), &b)
			return b.Bytes(), err
		},
		"password": func() ([]byte, error) {
			var b bytes.Buffer
			n := nav
			n.Locked = true
			err := views.Password(views.PasswordPage{Nav: n, Forced: true}).Render(context.Background(), &b)
			return b.Bytes(), err
		},
		"admin": func() ([]byte, error) {
			var b bytes.Buffer
			err := views.Admin(views.AdminPage{Nav: nav,
				Users: []views.UserItem{{Name: "admin", Role: "admin", TimeZone: "UTC", Created: "2026-11-23 00:00", Sessions: 1, Self: true},
					{Name: "noc", Role: "viewer", TimeZone: "Europe/Berlin", Created: "2026-11-23 01:00", MustChange: true}},
				Tokens:  []views.TokenItem{{Name: "grafana", Role: "viewer", Created: "2026-11-23 02:00"}},
				Aliases: []views.AliasItem{{Address: "10.0.0.1:5060", Name: "sbc"}},
				Done:    "Added noc."}).Render(context.Background(), &b)
			return b.Bytes(), err
		},
	} {
		t.Run(name, func(t *testing.T) {
			page, err := c()
			if err != nil {
				t.Fatal(err)
			}
			d := parseHTML(t, page)
			switch name {
			case "login":
				if len(d.all("login-form")) != 1 || len(d.all("login-error")) != 1 || len(d.all("nav-search")) != 0 {
					t.Error("login page: form and error, no navigation")
				}
			case "password":
				if len(d.all("password-forced")) != 1 || len(d.all("nav-search")) != 0 {
					t.Error("forced password page: the warning and no navigation")
				}
			case "admin":
				if len(d.all("user-row")) != 2 || len(d.all("token-row")) != 1 || len(d.all("alias-row")) != 1 || len(d.all("remove-admin")) != 0 {
					t.Error("admin page: rows, and no way to remove oneself")
				}
			}
			golden(t, name, page)
		})
	}
}
