package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// FileName is the store's file in the data directory.
const FileName = "auth.json"

// Role is what an identity may do: a viewer searches, an admin also manages
// users and tokens.
type Role string

// The roles.
const (
	RoleViewer Role = "viewer"
	RoleAdmin  Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleViewer || r == RoleAdmin }

// Allows reports whether an identity with role r may do what needs role need.
func (r Role) Allows(need Role) bool {
	return r == RoleAdmin || (r == RoleViewer && need == RoleViewer)
}

// Errors of the store. PolicyError is the other one.
var (
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrUserExists     = errors.New("user already exists")
	ErrNoUser         = errors.New("no such user")
	ErrLastAdmin      = errors.New("the last admin cannot be removed")
	ErrTokenExists    = errors.New("a token with that name already exists")
	ErrNoToken        = errors.New("no such token")
	ErrBadName        = errors.New("names are 1 to 64 letters, digits and . _ @ -")
	ErrBadRole        = errors.New(`role must be "admin" or "viewer"`)
	ErrBadTimeZone    = errors.New("unknown time zone")
)

// ValidName reports whether s may name a user or a token: 1 to 64 ASCII
// letters, digits and . _ @ -, starting with a letter or digit.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._@-", rune(c))) {
			return false
		}
	}
	return true
}

// UserInfo is a user as the admin pages show it: never its hash.
type UserInfo struct {
	Name       string    `json:"name"`
	Role       Role      `json:"role"`
	MustChange bool      `json:"must_change"`
	Created    time.Time `json:"created"`
	TimeZone   string    `json:"time_zone"`
}

// TokenInfo is an API token as listed: never its secret nor its hash.
type TokenInfo struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Created time.Time `json:"created"`
}

type userRec struct {
	Name       string    `json:"name"`
	Role       Role      `json:"role"`
	Hash       string    `json:"hash"`
	MustChange bool      `json:"must_change"`
	Created    time.Time `json:"created"`
	TimeZone   string    `json:"time_zone"`
	// Stamp changes with the password: sessions made under another stamp are void.
	Stamp string `json:"stamp"`
}

func (u *userRec) info() UserInfo {
	return UserInfo{Name: u.Name, Role: u.Role, MustChange: u.MustChange, Created: u.Created, TimeZone: u.TimeZone}
}

type tokenRec struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	SHA256  string    `json:"sha256"` // hex SHA-256 of the secret
	Created time.Time `json:"created"`
}

type fileData struct {
	Version int        `json:"version"`
	Users   []userRec  `json:"users"`
	Tokens  []tokenRec `json:"tokens"`
}

func (d *fileData) clone() fileData {
	return fileData{Version: d.Version, Users: slices.Clone(d.Users), Tokens: slices.Clone(d.Tokens)}
}

func (d *fileData) user(name string) int {
	return slices.IndexFunc(d.Users, func(u userRec) bool { return u.Name == name })
}

func (d *fileData) token(name string) int {
	return slices.IndexFunc(d.Tokens, func(t tokenRec) bool { return t.Name == name })
}

func (d *fileData) admins() int {
	n := 0
	for _, u := range d.Users {
		if u.Role == RoleAdmin {
			n++
		}
	}
	return n
}

// StoreOptions tune a store. Zero values are the defaults.
type StoreOptions struct {
	Now        func() time.Time // clock; time.Now
	Rand       io.Reader        // randomness; crypto/rand
	Params     Params           // argon2id cost; DefaultParams
	MaxHashing int              // password hashes computed at once; 2
}

// Store holds the users and the API tokens in one JSON file, replaced
// atomically on every change.
type Store struct {
	path   string
	now    func() time.Time
	rand   io.Reader
	hasher *hasher
	// beforeRename runs between writing the temporary file and renaming it.
	beforeRename func(tmp string) error

	mu   sync.RWMutex // guards data; writers hold it across the file write
	data fileData
}

// OpenStore loads DIR/auth.json, or creates it with the user admin, password
// admin, which must be changed at the first login. A file that cannot be read
// is an error, never a reason to start over.
func OpenStore(dir string, opt StoreOptions) (*Store, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = cryptoRand()
	}
	if opt.Params == (Params{}) {
		opt.Params = DefaultParams()
	}
	if opt.MaxHashing <= 0 {
		opt.MaxHashing = 2
	}
	h, err := newHasher(opt.Params, opt.Rand, opt.MaxHashing)
	if err != nil {
		return nil, err
	}
	s := &Store{path: filepath.Join(dir, FileName), now: opt.Now, rand: opt.Rand, hasher: h}
	stale, _ := filepath.Glob(s.path + ".tmp*")
	for _, f := range stale {
		_ = os.Remove(f)
	}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err := s.update(func(d *fileData) error {
			d.Version = 1
			hash, err := s.hasher.hash(DefaultPassword)
			if err != nil {
				return err
			}
			stamp, err := randomString(s.rand, 16)
			d.Users = []userRec{{Name: DefaultUser, Role: RoleAdmin, Hash: hash, MustChange: true,
				Created: s.now().UTC(), TimeZone: "UTC", Stamp: stamp}}
			return err
		})
		if err != nil {
			return nil, err
		}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	if err := json.Unmarshal(b, &s.data); err != nil {
		return nil, fmt.Errorf("%s: %w (repair it, or remove it to start again with admin/admin)", s.path, err)
	}
	if err := s.data.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w (repair it, or remove it to start again with admin/admin)", s.path, err)
	}
	if fi, err := os.Stat(s.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(s.path, 0o600); err != nil {
			return nil, fmt.Errorf("restrict %s to its owner: %w", s.path, err)
		}
	}
	return s, nil
}

func (d *fileData) validate() error {
	if d.Version != 1 {
		return fmt.Errorf("version %d, want 1", d.Version)
	}
	seen := map[string]bool{}
	for _, u := range d.Users {
		if !ValidName(u.Name) || seen[u.Name] {
			return fmt.Errorf("user %q: bad or repeated name", u.Name)
		}
		seen[u.Name] = true
		if !u.Role.Valid() {
			return fmt.Errorf("user %q: %w", u.Name, ErrBadRole)
		}
		if _, _, _, err := parseHash(u.Hash); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
		if u.Stamp == "" {
			return fmt.Errorf("user %q: no stamp", u.Name)
		}
	}
	if d.admins() == 0 {
		return errors.New("no admin user")
	}
	clear(seen)
	for _, t := range d.Tokens {
		if !ValidName(t.Name) || seen[t.Name] || !t.Role.Valid() || len(t.SHA256) != 64 {
			return fmt.Errorf("token %q: bad name, role or hash", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// update applies f to a copy of the data, writes the copy and only then makes
// it the store's: a failed write changes nothing, on disk or in memory.
func (s *Store) update(f func(d *fileData) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data.clone()
	if err := f(&d); err != nil {
		return err
	}
	b, err := json.MarshalIndent(&d, "", " ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, append(b, '\n'), s.beforeRename); err != nil {
		return fmt.Errorf("save users: %w", err)
	}
	s.data = d
	return nil
}

// writeAtomic replaces path by data: a temporary file in the same directory,
// fsync, rename, fsync of the directory. Readers see the old or the new file,
// never a part of one.
func writeAtomic(path string, data []byte, beforeRename func(string) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		if err = beforeRename(tmp); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// randomString returns n random bytes from r, base64url.
func randomString(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// authenticate checks name and pw and returns the user. It takes as long for
// an unknown user as for a known one. A password the policy refuses (the
// default one) is accepted only with MustChange set.
func (s *Store) authenticate(name, pw string) (userRec, error) {
	s.mu.RLock()
	i := s.data.user(name)
	var u userRec
	if i >= 0 {
		u = s.data.Users[i]
	}
	s.mu.RUnlock()
	hash := u.Hash
	if i < 0 {
		hash = s.hasher.dummy
	}
	ok, err := s.hasher.verify(hash, pw)
	if err != nil {
		return userRec{}, fmt.Errorf("user %q: %w", name, err)
	}
	if !ok || i < 0 {
		return userRec{}, ErrBadCredentials
	}
	if CheckPassword(name, pw) != nil {
		u.MustChange = true
	}
	return u, nil
}

// Authenticate checks a user name and password. MustChange in the answer means
// the password is good for nothing but setting a new one.
func (s *Store) Authenticate(name, pw string) (UserInfo, error) {
	u, err := s.authenticate(name, pw)
	if err != nil {
		return UserInfo{}, err
	}
	return u.info(), nil
}

// lookup returns the user called name.
func (s *Store) lookup(name string) (userRec, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i := s.data.user(name); i >= 0 {
		return s.data.Users[i], true
	}
	return userRec{}, false
}

// User returns the user called name.
func (s *Store) User(name string) (UserInfo, bool) {
	u, ok := s.lookup(name)
	return u.info(), ok
}

func (s *Store) setPassword(name, pw string, mustChange bool) error {
	if err := CheckPassword(name, pw); err != nil {
		return err
	}
	hash, err := s.hasher.hash(pw)
	if err != nil {
		return err
	}
	return s.update(func(d *fileData) error {
		i := d.user(name)
		if i < 0 {
			return ErrNoUser
		}
		stamp, err := randomString(s.rand, 16)
		d.Users[i].Hash, d.Users[i].MustChange, d.Users[i].Stamp = hash, mustChange, stamp
		return err
	})
}

// SetPassword sets the password a user chose: it must pass the policy, and it
// clears MustChange. The user's sessions end.
func (s *Store) SetPassword(name, pw string) error { return s.setPassword(name, pw, false) }

// ResetPassword sets a password an admin chose for a user, who must change it
// at the next login. The user's sessions end.
func (s *Store) ResetPassword(name, pw string) error { return s.setPassword(name, pw, true) }

// AddUser adds a user, who must change the password at the first login.
func (s *Store) AddUser(name string, role Role, pw string) error {
	if !ValidName(name) {
		return ErrBadName
	}
	if !role.Valid() {
		return ErrBadRole
	}
	if err := CheckPassword(name, pw); err != nil {
		return err
	}
	hash, err := s.hasher.hash(pw)
	if err != nil {
		return err
	}
	return s.update(func(d *fileData) error {
		if d.user(name) >= 0 {
			return ErrUserExists
		}
		stamp, err := randomString(s.rand, 16)
		d.Users = append(d.Users, userRec{Name: name, Role: role, Hash: hash, MustChange: true,
			Created: s.now().UTC(), TimeZone: "UTC", Stamp: stamp})
		return err
	})
}

// RemoveUser removes a user, never the last admin. The user's sessions end.
func (s *Store) RemoveUser(name string) error {
	return s.update(func(d *fileData) error {
		i := d.user(name)
		if i < 0 {
			return ErrNoUser
		}
		if d.Users[i].Role == RoleAdmin && d.admins() == 1 {
			return ErrLastAdmin
		}
		d.Users = slices.Delete(d.Users, i, i+1)
		return nil
	})
}

// ListUsers returns the users by name.
func (s *Store) ListUsers() []UserInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]UserInfo, 0, len(s.data.Users))
	for i := range s.data.Users {
		out = append(out, s.data.Users[i].info())
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetTimeZone sets the time zone the user's pages show times in: an IANA name
// such as Europe/Berlin, or UTC.
func (s *Store) SetTimeZone(name, tz string) error {
	if tz == "" || tz == "Local" {
		return ErrBadTimeZone
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("%w %q", ErrBadTimeZone, tz)
	}
	return s.update(func(d *fileData) error {
		i := d.user(name)
		if i < 0 {
			return ErrNoUser
		}
		d.Users[i].TimeZone = tz
		return nil
	})
}
