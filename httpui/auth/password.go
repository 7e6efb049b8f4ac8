package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. They are written into every hash, so a
// hash made with other parameters still verifies.
type Params struct {
	Time    uint32 // passes over the memory
	Memory  uint32 // KiB
	Threads uint8  // lanes
}

// DefaultParams are the cost of a password hash on the appliance: 19 MiB, two
// passes, one lane (the OWASP minimum for argon2id). One hash takes about 40 ms
// of one core of the 2-core appliance; with at most MaxHashing (2) hashes at
// once, logins can never take more than 38 MiB together, while 64 MiB per hash
// would cost 128 MiB and 100 ms of both cores each.
func DefaultParams() Params { return Params{Time: 2, Memory: 19 * 1024, Threads: 1} }

// Limits of a hash read from the file, so that an edited file cannot make a
// login allocate without bound.
const (
	saltLen    = 16
	keyLen     = 32
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	hashPrefix = "$argon2id$v=19$"
)

// DefaultUser and DefaultPassword are the account made on first start (the
// PortSIP Trace Server default). The password is never accepted for anything
// but setting a new one.
const (
	DefaultUser     = "admin"
	DefaultPassword = "admin"
)

// Password policy.
const (
	MinPasswordLen = 8   // characters
	MaxPasswordLen = 256 // bytes
)

// PolicyError is a password the policy refuses, with the reason.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return "password " + e.Reason }

// CheckPassword applies the password policy to pw as user's password: at least
// MinPasswordLen characters, at most MaxPasswordLen bytes, not the default
// password and not the user name (in any case).
func CheckPassword(user, pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return &PolicyError{fmt.Sprintf("must have at least %d characters", MinPasswordLen)}
	case len(pw) > MaxPasswordLen:
		return &PolicyError{fmt.Sprintf("must have at most %d bytes", MaxPasswordLen)}
	case strings.EqualFold(pw, DefaultPassword):
		return &PolicyError{"must not be the default password"}
	case strings.EqualFold(pw, user):
		return &PolicyError{"must not be the user name"}
	case !utf8.ValidString(pw):
		return &PolicyError{"must be valid UTF-8"}
	}
	return nil
}

// hasher makes and verifies argon2id hashes, at most cap(sem) at once.
type hasher struct {
	p     Params
	rand  io.Reader
	sem   chan struct{}
	dummy string // verified against for unknown users, so they take as long
}

func newHasher(p Params, rand io.Reader, concurrent int) (*hasher, error) {
	if p.Time == 0 || p.Memory < 8*uint32(max(p.Threads, 1)) || p.Threads == 0 || p.Memory > maxMemory || p.Time > maxTime {
		return nil, fmt.Errorf("argon2id parameters %+v out of range", p)
	}
	h := &hasher{p: p, rand: rand, sem: make(chan struct{}, max(concurrent, 1))}
	pw := make([]byte, 24)
	if _, err := io.ReadFull(rand, pw); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	d, err := h.hash(base64.RawURLEncoding.EncodeToString(pw))
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

// hash returns the PHC string of pw: $argon2id$v=19$m=M,t=T,p=P$SALT$KEY.
func (h *hasher) hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	h.sem <- struct{}{}
	key := argon2.IDKey([]byte(pw), salt, h.p.Time, h.p.Memory, h.p.Threads, keyLen)
	<-h.sem
	return fmt.Sprintf("%sm=%d,t=%d,p=%d$%s$%s", hashPrefix, h.p.Memory, h.p.Time, h.p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verify reports whether pw matches the hash encoded, comparing in constant time.
func (h *hasher) verify(encoded, pw string) (bool, error) {
	p, salt, key, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	h.sem <- struct{}{}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	<-h.sem
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

var errHashFormat = errors.New("not an argon2id hash")

func parseHash(s string) (p Params, salt, key []byte, err error) {
	rest, ok := strings.CutPrefix(s, hashPrefix)
	if !ok {
		return p, nil, nil, errHashFormat
	}
	f := strings.Split(rest, "$")
	if len(f) != 3 {
		return p, nil, nil, errHashFormat
	}
	var threads uint32
	if n, err := fmt.Sscanf(f[0], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 {
		return p, nil, nil, errHashFormat
	}
	if p.Time == 0 || p.Time > maxTime || threads == 0 || threads > 255 || p.Memory < 8*threads || p.Memory > maxMemory {
		return p, nil, nil, fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d out of range", p.Memory, p.Time, threads)
	}
	p.Threads = uint8(threads)
	if salt, err = base64.RawStdEncoding.DecodeString(f[1]); err != nil || len(salt) < 8 {
		return p, nil, nil, errHashFormat
	}
	if key, err = base64.RawStdEncoding.DecodeString(f[2]); err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, errHashFormat
	}
	return p, salt, key, nil
}
