package consent

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter is a fixed-window counter per key (client IP) for the anonymous
// code endpoints. It lives in the process: with N `nudge serve` replicas a
// client gets up to N times the rate, which is fine for what it guards
// (codes are cheap, anonymous and expire).
type limiter struct {
	mu     sync.Mutex
	now    func() time.Time
	per    int
	window time.Duration
	start  time.Time
	counts map[string]int
}

func newLimiter(per int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{per: per, window: window, now: now, counts: map[string]int{}}
}

// allow counts one request for key and reports whether it is within the limit.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.start) >= l.window || now.Before(l.start) {
		l.start = now
		clear(l.counts)
	}
	if l.counts[key] >= l.per {
		return false
	}
	l.counts[key]++
	return true
}

// clientIP is the request's client address: the peer, or with trustForwarded
// the left-most X-Forwarded-For entry set by the operator's proxy.
func clientIP(r *http.Request, trustForwarded bool) string {
	if trustForwarded {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
				return a.Unmap().String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}
