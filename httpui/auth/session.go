package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// session is one login. The table keys it by the SHA-256 of its id, so the
// ids themselves (the cookies) are nowhere in memory but in requests.
type session struct {
	user  string
	stamp string // the user's stamp at login: a new password voids the session
	csrf  string
	// mustChange: the login's password fails the policy, whatever the store says.
	mustChange bool
	created    time.Time
	seen       time.Time
}

// sessions is the server-side session table, bounded in size.
type sessions struct {
	idle, life time.Duration
	max        int

	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessions(idle, life time.Duration, max int) *sessions {
	return &sessions{idle: idle, life: life, max: max, m: make(map[[32]byte]*session)}
}

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

func (t *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= t.idle || now.Sub(s.created) >= t.life
}

// add stores a new session under id. A full table first loses its expired
// sessions, then the ones idle longest.
func (t *sessions) add(id string, s session, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= t.max {
		for k, v := range t.m {
			if t.expired(v, now) {
				delete(t.m, k)
			}
		}
	}
	for len(t.m) >= t.max {
		var oldest [32]byte
		var at time.Time
		for k, v := range t.m {
			if at.IsZero() || v.seen.Before(at) {
				oldest, at = k, v.seen
			}
		}
		delete(t.m, oldest)
	}
	s.created, s.seen = now, now
	t.m[sessionKey(id)] = &s
}

// get returns the live session with id and marks it used now.
func (t *sessions) get(id string, now time.Time) (session, bool) {
	if id == "" {
		return session{}, false
	}
	k := sessionKey(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[k]
	if !ok {
		return session{}, false
	}
	if t.expired(s, now) {
		delete(t.m, k)
		return session{}, false
	}
	s.seen = now
	return *s, true
}

func (t *sessions) drop(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, sessionKey(id))
}

// dropUser ends every session of user.
func (t *sessions) dropUser(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.m {
		if v.user == user {
			delete(t.m, k)
		}
	}
}

// count returns the live sessions per user.
func (t *sessions) count(now time.Time) map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for _, v := range t.m {
		if !t.expired(v, now) {
			out[v.user]++
		}
	}
	return out
}
