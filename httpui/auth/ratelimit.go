package auth

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ErrRateLimited is wrapped by every RateLimitError.
var ErrRateLimited = errors.New("too many login attempts")

// RateLimitError is a login refused before its password was checked, because
// the client or the user name used up its attempts.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v; try again in %d s", ErrRateLimited, retrySeconds(e.RetryAfter))
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

func retrySeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// limiter is a set of token buckets: burst attempts, then one per every. A
// bucket that has refilled is the same as no bucket, so the table, bounded by
// max, forgets those first.
type limiter struct {
	burst float64
	every time.Duration
	max   int

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, every time.Duration, max int) *limiter {
	return &limiter{burst: float64(burst), every: every, max: max, m: make(map[string]*bucket)}
}

func (l *limiter) level(b *bucket, now time.Time) float64 {
	if b == nil {
		return l.burst
	}
	return min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
}

// take spends one attempt from every bucket of keys, or from none: then it
// returns how long until all of them have one.
func (l *limiter) take(now time.Time, keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if lv := l.level(l.m[k], now); lv < 1 {
			wait = max(wait, time.Duration((1-lv)*float64(l.every)))
		}
	}
	if wait > 0 {
		return false, wait
	}
	for _, k := range keys {
		b := l.m[k]
		if b == nil {
			l.makeRoom(now)
			b = &bucket{}
			l.m[k] = b
		}
		b.tokens, b.at = l.level(b, now)-1, now
	}
	return true, 0
}

// give returns an attempt to every bucket of keys (a successful login).
func (l *limiter) give(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if b := l.m[k]; b != nil {
			b.tokens, b.at = min(l.burst, l.level(b, now)+1), now
		}
	}
}

// makeRoom keeps the table under max: refilled buckets go first, then the
// fullest ones (those closest to forgetting anyway).
func (l *limiter) makeRoom(now time.Time) {
	if len(l.m) < l.max {
		return
	}
	for k, b := range l.m {
		if l.level(b, now) >= l.burst {
			delete(l.m, k)
		}
	}
	for len(l.m) >= l.max {
		var fullest string
		top := -1.0
		for k, b := range l.m {
			if lv := l.level(b, now); lv > top {
				fullest, top = k, lv
			}
		}
		delete(l.m, fullest)
	}
}

// RemoteIP is the client address of r as the server sees it (the peer of the
// connection). Behind a reverse proxy, set Options.ClientIP instead.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey is the rate-limit key of a client address: the address for IPv4,
// its /64 for IPv6, since one host usually holds a whole /64.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

// userKey is the rate-limit key of a user name as typed at the login.
func userKey(name string) string {
	name = strings.ToLower(name)
	if len(name) > 64 {
		name = name[:64]
	}
	return "user:" + name
}
