package db

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WithSessionTimeouts returns the connection string dsn with Postgres's
// statement_timeout and idle_in_transaction_session_timeout set for every
// session opened with it (lib/pq sends parameters it does not know as
// run-time parameters at startup). A zero duration leaves that parameter to
// the server. The worker opens its pool with them: a worker frozen with a
// claim open (SIGSTOP, a stalled VM) has its session ended by the server after
// idleTx, which releases the claim's row and consent locks, so an opt-out
// does not wait for the worker to come back.
//
// dsn is a URL (postgres://…) or key=value pairs, the two forms lib/pq reads.
func WithSessionTimeouts(dsn string, statement, idleTx time.Duration) (string, error) {
	if statement < 0 || idleTx < 0 {
		return "", fmt.Errorf("db: session timeouts must not be negative (statement %v, idle in transaction %v)", statement, idleTx)
	}
	params := []struct {
		name string
		d    time.Duration
	}{{"statement_timeout", statement}, {"idle_in_transaction_session_timeout", idleTx}}
	if statement == 0 && idleTx == 0 {
		return dsn, nil
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("db: parse database URL: %w", err)
		}
		q := u.Query()
		for _, p := range params {
			if p.d > 0 {
				q.Set(p.name, millis(p.d))
			}
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	var b strings.Builder
	b.WriteString(dsn)
	for _, p := range params {
		if p.d > 0 {
			// A later key=value pair overrides an earlier one in lib/pq.
			fmt.Fprintf(&b, " %s=%s", p.name, millis(p.d))
		}
	}
	return strings.TrimSpace(b.String()), nil
}

// millis is d in whole milliseconds (Postgres's unit for both settings), at least 1.
func millis(d time.Duration) string {
	return strconv.FormatInt(max(1, d.Milliseconds()), 10)
}
