package ingest

import (
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"traced/ingest/hep"
	"traced/ingest/record"
)

// Rejection reasons beyond the HEP decoder's own (hep.Reason names).
const (
	ReasonAuthMissing  = "auth_missing"   // auth keys are configured and the packet carries none
	ReasonAuthWrong    = "auth_wrong"     // the packet's auth key matches no configured key
	ReasonOversize     = "oversize"       // a datagram larger than 64 KiB was cut by the read
	ReasonBadSIP       = "bad_sip"        // a SIP payload (HEP type 1 or the SIP listener) that is not SIP
	ReasonTCPGarbage   = "tcp_garbage"    // bytes skipped on a TCP stream to find the next HEP3 magic
	ReasonTCPTrunc     = "tcp_truncated"  // a connection closed in the middle of a frame
	ReasonTCPLimit     = "tcp_conn_limit" // a connection refused because too many are open
	ReasonStore        = "store_error"    // the store refused the record (closed)
	ReasonTLSHandshake = "tls_handshake"  // a TLS connection whose handshake failed
)

// Reasons lists every rejection reason, in a stable order.
func Reasons() []string {
	r := []string{ReasonAuthMissing, ReasonAuthWrong, ReasonOversize, ReasonBadSIP,
		ReasonTCPGarbage, ReasonTCPTrunc, ReasonTCPLimit, ReasonStore, ReasonTLSHandshake}
	for _, hr := range hep.Reasons() {
		r = append(r, hr.String())
	}
	sort.Strings(r)
	return r
}

// Stats is a snapshot of the listeners' counters.
type Stats struct {
	Received map[string]uint64 // packets read, by listener: udp, tcp, tls, sip, import
	Bytes    map[string]uint64 // bytes of those packets, by listener
	Accepted uint64            // packets handed to the store
	Ignored  uint64            // heplify's end-of-session packets (HEP type 0)
	Rejected map[string]uint64 // by reason, over every listener
	// RejectedBy counts rejections by listener (udp, tcp, tls, sip, import), then reason.
	RejectedBy map[string]map[string]uint64
	TCPOpen    int64  // connections open now
	TCPTotal   uint64 // connections accepted since start
}

type counters struct {
	received map[string]*atomic.Uint64
	bytes    map[string]*atomic.Uint64
	rejected map[string]map[string]*atomic.Uint64 // listener → reason
	accepted atomic.Uint64
	ignored  atomic.Uint64
	tcpOpen  atomic.Int64
	tcpTotal atomic.Uint64
}

func newCounters() *counters {
	c := &counters{received: map[string]*atomic.Uint64{}, bytes: map[string]*atomic.Uint64{},
		rejected: map[string]map[string]*atomic.Uint64{}}
	for _, l := range []string{"udp", "tcp", "tls", "sip", record.ListenerImport.String()} {
		c.received[l] = new(atomic.Uint64)
		c.bytes[l] = new(atomic.Uint64)
		c.rejected[l] = map[string]*atomic.Uint64{}
		for _, r := range Reasons() {
			c.rejected[l][r] = new(atomic.Uint64)
		}
	}
	return c
}

func (c *counters) snapshot() Stats {
	s := Stats{Received: map[string]uint64{}, Bytes: map[string]uint64{}, Rejected: map[string]uint64{}}
	for k, v := range c.received {
		s.Received[k] = v.Load()
		s.Bytes[k] = c.bytes[k].Load()
	}
	s.RejectedBy = map[string]map[string]uint64{}
	for l, reasons := range c.rejected {
		s.RejectedBy[l] = map[string]uint64{}
		for r, v := range reasons {
			n := v.Load()
			s.RejectedBy[l][r] = n
			s.Rejected[r] += n
		}
	}
	s.Accepted = c.accepted.Load()
	s.Ignored = c.ignored.Load()
	s.TCPOpen = c.tcpOpen.Load()
	s.TCPTotal = c.tcpTotal.Load()
	return s
}

// rateLog logs each rejection reason at most once per interval, with the number of
// rejections that were not logged in between.
type rateLog struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	quiet    map[string]int
}

func newRateLog(l *slog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: l, interval: every, last: map[string]time.Time{}, quiet: map[string]int{}}
}

func (r *rateLog) reject(now time.Time, reason string, from string, detail string) {
	r.mu.Lock()
	if t, ok := r.last[reason]; ok && now.Sub(t) < r.interval {
		r.quiet[reason]++
		r.mu.Unlock()
		return
	}
	n := r.quiet[reason]
	r.last[reason] = now
	r.quiet[reason] = 0
	r.mu.Unlock()
	r.log.Warn("packet rejected", "reason", reason, "from", from, "detail", detail, "suppressed", n)
}
