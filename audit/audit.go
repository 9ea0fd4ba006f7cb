package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/users"
)

// All SQL of the package.
const (
	qInsert = `INSERT INTO audit_log (at, actor, role, action, subject, subscriber_id, detail, remote_addr)
	           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	qList = `SELECT id, at, actor, role, action, subject, subscriber_id, detail, remote_addr
	           FROM audit_log
	          WHERE ($1 = '' OR actor = $1)
	            AND ($2 = '' OR action = $2 OR action LIKE $2 || '.%')
	            AND ($3 = '' OR subject = $3)
	            AND ($4::bigint = 0 OR subscriber_id = $4)
	            AND ($5::timestamptz IS NULL OR at >= $5)
	            AND ($6::timestamptz IS NULL OR at < $6)
	            AND ($7::bigint = 0 OR id < $7)
	          ORDER BY id DESC
	          LIMIT $8`
	// Erasure: the rows about the subscriber keep who did what and when,
	// but name the subscriber by the pseudonym and lose their details.
	qPseudonymise = `UPDATE audit_log SET subject = $2, detail = '{}' WHERE subscriber_id = $1`
)

// CLI is the actor of a change made by a command run on the server (it has
// the database's credentials, so no role applies).
const CLI = "cli"

// Event is a change to record. Detail must never hold message bodies or
// contact details: ids, names of campaigns, counts, roles.
type Event struct {
	Action       string // campaign.apply, inbox.reply, user.sign_in …
	Subject      string // what it changed: a campaign id, "conversation:12" …
	SubscriberID int64  // the subscriber it is about, 0 for none
	Detail       map[string]any
}

// Entry is a recorded event.
type Entry struct {
	ID           int64           `db:"id" json:"id"`
	At           time.Time       `db:"at" json:"at"`
	Actor        string          `db:"actor" json:"actor"`
	Role         string          `db:"role" json:"role"`
	Action       string          `db:"action" json:"action"`
	Subject      string          `db:"subject" json:"subject"`
	SubscriberID *int64          `db:"subscriber_id" json:"subscriber_id,omitempty"`
	Detail       json.RawMessage `db:"detail" json:"detail"`
	RemoteAddr   string          `db:"remote_addr" json:"remote_addr"`
}

// By names who acts in ctx: "user:EMAIL", "key:NAME", or CLI when no
// request carries an actor. Campaign versions record it as applied_by.
func By(ctx context.Context) string {
	if a, ok := users.ActorFrom(ctx); ok {
		return a.Ref()
	}
	return CLI
}

// Record appends e, done at at by the actor of ctx, through q (the change's
// transaction, or the pool).
func Record(ctx context.Context, q db.Executor, at time.Time, e Event) error {
	a, _ := users.ActorFrom(ctx)
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return fmt.Errorf("audit %s: %w", e.Action, err)
		}
	}
	var sub any
	if e.SubscriberID > 0 {
		sub = e.SubscriberID
	}
	if _, err := q.ExecContext(ctx, qInsert, at, By(ctx), string(a.Role), e.Action, e.Subject, sub, detail, a.From); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// Filter selects entries; zero fields select all.
type Filter struct {
	Actor        string // "user:anna@shop.example", "key:backend", "cli"
	Action       string // an action, or its family ("inbox" for inbox.*)
	Subject      string
	SubscriberID int64
	Since, Until time.Time // at in [Since, Until)
	Before       int64     // entries with a smaller id: the next page
	Limit        int       // default 100, at most 1000
}

func (f Filter) limit() int {
	if f.Limit <= 0 {
		return 100
	}
	return min(f.Limit, 1000)
}

// List returns the entries matching f, newest first.
func List(ctx context.Context, q db.Executor, f Filter) ([]Entry, error) {
	var since, until any
	if !f.Since.IsZero() {
		since = f.Since
	}
	if !f.Until.IsZero() {
		until = f.Until
	}
	return db.Select[Entry](ctx, q, "list audit log", qList, f.Actor, f.Action, f.Subject, f.SubscriberID, since, until, f.Before, f.limit())
}

// Pseudonymise rewrites the rows about subscriberID, inside the erasing
// transaction q: their subject becomes the pseudonym and their details go.
func Pseudonymise(ctx context.Context, q db.Executor, subscriberID int64, pseudonym string) error {
	if _, err := q.ExecContext(ctx, qPseudonymise, subscriberID, pseudonym); err != nil {
		return fmt.Errorf("pseudonymise audit log: %w", err)
	}
	return nil
}
