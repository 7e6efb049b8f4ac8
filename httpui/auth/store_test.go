package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	_ "time/tzdata"
)

func TestFirstStartCreatesAdminThatMustChange(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	st := openStore(t, dir, clk)
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	want := []UserInfo{{Name: "admin", Role: RoleAdmin, MustChange: true, Created: clk.Now(), TimeZone: "UTC"}}
	if got := st.ListUsers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("users %+v, want %+v", got, want)
	}
	u, err := st.Authenticate("admin", "admin")
	if err != nil || !u.MustChange {
		t.Fatalf("admin/admin: %+v, %v; want accepted with must-change", u, err)
	}
	if _, err := st.Authenticate("admin", "Admin"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("admin/Admin: %v, want ErrBadCredentials", err)
	}
	if err := st.SetPassword("admin", "admin"); err == nil {
		t.Error("the default password was accepted as the new one")
	}
	must(t, st.SetPassword("admin", "a better one"))
	st2 := openStore(t, dir, clk)
	if u, err := st2.Authenticate("admin", "a better one"); err != nil || u.MustChange {
		t.Errorf("after restart: %+v, %v; want the new password without must-change", u, err)
	}
	if _, err := st2.Authenticate("admin", "admin"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("admin/admin after the change: %v, want ErrBadCredentials", err)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	st := openStore(t, dir, clk)
	must(t, st.SetPassword("admin", "admin pass 1"))
	clk.Advance(3600e9)
	must(t, st.AddUser("vera", RoleViewer, "vera pass 1"))
	must(t, st.SetTimeZone("vera", "Europe/Berlin"))
	must(t, st.AddUser("olga", RoleAdmin, "olga pass 1"))
	if _, err := st.CreateToken("ci", RoleViewer); err != nil {
		t.Fatal(err)
	}
	st2 := openStore(t, dir, clk)
	if got, want := st2.ListUsers(), st.ListUsers(); !reflect.DeepEqual(got, want) || len(got) != 3 {
		t.Errorf("users after reopening %+v, want %+v", got, want)
	}
	if got, want := st2.ListTokens(), st.ListTokens(); !reflect.DeepEqual(got, want) || len(got) != 1 {
		t.Errorf("tokens after reopening %+v, want %+v", got, want)
	}
	if u, _ := st2.User("vera"); u.TimeZone != "Europe/Berlin" || !u.MustChange || u.Role != RoleViewer {
		t.Errorf("vera after reopening: %+v", u)
	}
	if _, err := st2.Authenticate("olga", "olga pass 1"); err != nil {
		t.Errorf("olga after reopening: %v", err)
	}
}

func TestFailedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir, newClock())
	path := filepath.Join(dir, FileName)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	users := st.ListUsers()
	// A crash after the temporary file is written: it stays, half of it.
	st.beforeRename = func(tmp string) error {
		b, err := os.ReadFile(tmp)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path+".tmp-crashed", b[:len(b)/2], 0o600); err != nil {
			return err
		}
		return errors.New("power cut")
	}
	ops := []struct {
		name string
		op   func() error
	}{
		{"add user", func() error { return st.AddUser("vera", RoleViewer, "vera pass 1") }},
		{"set password", func() error { return st.SetPassword("admin", "admin pass 1") }},
		{"create token", func() error { _, err := st.CreateToken("ci", RoleAdmin); return err }},
		{"time zone", func() error { return st.SetTimeZone("admin", "Europe/Berlin") }},
	}
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); err == nil || !strings.Contains(err.Error(), "power cut") {
				t.Fatalf("err %v, want the write's failure", err)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, before) {
				t.Fatalf("the file changed: %v\n%s", err, after)
			}
			if got := st.ListUsers(); !reflect.DeepEqual(got, users) {
				t.Errorf("memory changed: %+v", got)
			}
			if len(st.ListTokens()) != 0 {
				t.Errorf("a token exists after its write failed")
			}
			if _, err := st.Authenticate("admin", "admin"); err != nil {
				t.Errorf("the old password no longer works: %v", err)
			}
		})
	}
	st2 := openStore(t, dir, newClock())
	if got := st2.ListUsers(); !reflect.DeepEqual(got, users) {
		t.Errorf("reopened after the crash: %+v, want %+v", got, users)
	}
	if left, _ := filepath.Glob(path + ".tmp*"); len(left) != 0 {
		t.Errorf("temporary files left after reopening: %v", left)
	}
}

func TestOpenRefusesDamagedFile(t *testing.T) {
	dir := t.TempDir()
	good := openStore(t, dir, newClock())
	b, err := os.ReadFile(good.Path())
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(d *fileData)) []byte {
		var d fileData
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		f(&d)
		out, _ := json.Marshal(&d)
		return out
	}
	cases := []struct {
		name string
		file []byte
	}{
		{"not json", []byte("{\"users\": [")},
		{"empty", nil},
		{"other version", edit(func(d *fileData) { d.Version = 2 })},
		{"no admin", edit(func(d *fileData) { d.Users[0].Role = RoleViewer })},
		{"bad role", edit(func(d *fileData) { d.Users[0].Role = "root" })},
		{"plain password", edit(func(d *fileData) { d.Users[0].Hash = "admin" })},
		{"huge argon2 memory", edit(func(d *fileData) {
			d.Users[0].Hash = strings.Replace(d.Users[0].Hash, "m=64,", "m=99999999,", 1)
		})},
		{"repeated user", edit(func(d *fileData) { d.Users = append(d.Users, d.Users[0]) })},
		{"bad token hash", edit(func(d *fileData) { d.Tokens = []tokenRec{{Name: "x", Role: RoleAdmin, SHA256: "abc"}} })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			p := filepath.Join(d, FileName)
			if err := os.WriteFile(p, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenStore(d, StoreOptions{Params: fastParams()}); err == nil {
				t.Fatal("a damaged file was accepted")
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(after, tc.file) {
				t.Errorf("the damaged file was replaced")
			}
		})
	}
}

func TestOpenRestrictsFileMode(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir, newClock())
	if err := os.Chmod(st.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir, newClock())
	if fi, err := os.Stat(st.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after reopening: %v %v, want 0600", fi.Mode().Perm(), err)
	}
}

func TestAddAndRemoveUsers(t *testing.T) {
	st := openStore(t, t.TempDir(), newClock())
	must(t, st.AddUser("vera", RoleViewer, "vera pass 1"))
	cases := []struct {
		name string
		op   func() error
		want error
	}{
		{"bad name", func() error { return st.AddUser("../x", RoleViewer, "good pass 1") }, ErrBadName},
		{"empty name", func() error { return st.AddUser("", RoleViewer, "good pass 1") }, ErrBadName},
		{"bad role", func() error { return st.AddUser("bob", "root", "good pass 1") }, ErrBadRole},
		{"weak password", func() error { return st.AddUser("bob", RoleViewer, "short") }, &PolicyError{}},
		{"password is the name", func() error { return st.AddUser("robert12", RoleViewer, "Robert12") }, &PolicyError{}},
		{"existing", func() error { return st.AddUser("vera", RoleAdmin, "good pass 1") }, ErrUserExists},
		{"remove unknown", func() error { return st.RemoveUser("bob") }, ErrNoUser},
		{"remove last admin", func() error { return st.RemoveUser("admin") }, ErrLastAdmin},
		{"reset unknown", func() error { return st.ResetPassword("bob", "good pass 1") }, ErrNoUser},
		{"remove viewer", func() error { return st.RemoveUser("vera") }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
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
	if got := st.ListUsers(); len(got) != 1 || got[0].Name != "admin" {
		t.Errorf("users %+v, want admin only", got)
	}
	must(t, st.AddUser("olga", RoleAdmin, "olga pass 1"))
	must(t, st.RemoveUser("admin"))
	if err := st.RemoveUser("olga"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("removing the remaining admin: %v", err)
	}
}

func TestResetPasswordMustChange(t *testing.T) {
	st := openStore(t, t.TempDir(), newClock())
	must(t, st.AddUser("vera", RoleViewer, "vera pass 1"))
	must(t, st.SetPassword("vera", "vera pass 2"))
	if u, _ := st.User("vera"); u.MustChange {
		t.Fatal("must-change set after the user chose a password")
	}
	must(t, st.ResetPassword("vera", "given by admin"))
	u, err := st.Authenticate("vera", "given by admin")
	if err != nil || !u.MustChange {
		t.Errorf("after a reset: %+v %v, want must-change", u, err)
	}
}

func TestSetTimeZone(t *testing.T) {
	st := openStore(t, t.TempDir(), newClock())
	cases := []struct {
		tz   string
		want error
	}{
		{"Europe/Berlin", nil},
		{"America/New_York", nil},
		{"UTC", nil},
		{"Mars/Olympus", ErrBadTimeZone},
		{"", ErrBadTimeZone},
		{"Local", ErrBadTimeZone},
		{"../../etc/passwd", ErrBadTimeZone},
	}
	for _, tc := range cases {
		t.Run(tc.tz, func(t *testing.T) {
			err := st.SetTimeZone("admin", tc.tz)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if u, _ := st.User("admin"); tc.want == nil && u.TimeZone != tc.tz {
				t.Errorf("time zone %q, want %q", u.TimeZone, tc.tz)
			}
		})
	}
	if err := st.SetTimeZone("nobody", "UTC"); !errors.Is(err, ErrNoUser) {
		t.Errorf("unknown user: %v", err)
	}
}
