package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"slices"
	"strings"
)

// TokenPrefix starts every API token, so that a leaked one is recognisable.
const TokenPrefix = "trc_"

// tokenBytes is the randomness of a token: 32 bytes, 43 base64url characters.
const tokenBytes = 32

func cryptoRand() io.Reader { return rand.Reader }

func tokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes an API token and returns its secret, which exists only in
// this answer: the store keeps its SHA-256.
func (s *Store) CreateToken(name string, role Role) (string, error) {
	if !ValidName(name) {
		return "", ErrBadName
	}
	if !role.Valid() {
		return "", ErrBadRole
	}
	r, err := randomString(s.rand, tokenBytes)
	if err != nil {
		return "", err
	}
	secret := TokenPrefix + r
	err = s.update(func(d *fileData) error {
		if d.token(name) >= 0 {
			return ErrTokenExists
		}
		d.Tokens = append(d.Tokens, tokenRec{Name: name, Role: role, SHA256: tokenHash(secret), Created: s.now().UTC()})
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// ListTokens returns the tokens by name.
func (s *Store) ListTokens() []TokenInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]TokenInfo, 0, len(s.data.Tokens))
	for _, t := range s.data.Tokens {
		out = append(out, TokenInfo{Name: t.Name, Role: t.Role, Created: t.Created})
	}
	slices.SortFunc(out, func(a, b TokenInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// RevokeToken deletes the token called name: it authenticates nothing more.
func (s *Store) RevokeToken(name string) error {
	return s.update(func(d *fileData) error {
		i := d.token(name)
		if i < 0 {
			return ErrNoToken
		}
		d.Tokens = slices.Delete(d.Tokens, i, i+1)
		return nil
	})
}

// TokenAuth returns the token whose secret is secret. Every stored hash is
// compared, in constant time.
func (s *Store) TokenAuth(secret string) (TokenInfo, bool) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 128 {
		return TokenInfo{}, false
	}
	want := []byte(tokenHash(secret))
	s.mu.RLock()
	defer s.mu.RUnlock()
	found := -1
	for i := range s.data.Tokens {
		if subtle.ConstantTimeCompare([]byte(s.data.Tokens[i].SHA256), want) == 1 {
			found = i
		}
	}
	if found < 0 {
		return TokenInfo{}, false
	}
	t := s.data.Tokens[found]
	return TokenInfo{Name: t.Name, Role: t.Role, Created: t.Created}, true
}
