package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
)

// Parts of multi-part sends. An adapter that sends one message as several
// provider calls (channels.SendParts) reports, when a later call fails, how
// many went before it. The outbox records that in message_parts under the
// message's key, on the pool and at once (the customer has those parts
// whatever becomes of the claim's transaction), and every later try of the
// message starts at the first part not sent. The row goes when the message
// is sent.

const (
	qPartsSent = `SELECT idempotency_key, parts_sent FROM message_parts WHERE idempotency_key = ANY($1)`
	qSaveParts = `INSERT INTO message_parts (idempotency_key, parts_sent, updated_at)
SELECT k, n, $3 FROM unnest($1::text[], $2::int[]) AS t(k, n)
ON CONFLICT (idempotency_key) DO UPDATE SET parts_sent = greatest(message_parts.parts_sent, excluded.parts_sent), updated_at = excluded.updated_at`
	qDropParts = `DELETE FROM message_parts WHERE idempotency_key = ANY($1)`
)

// multiPart reports whether m may go out as several provider calls: only
// those messages can have parts recorded.
func multiPart(m channels.Message) bool {
	return len(m.Images) > 0 || m.Document != nil || (m.ImageURL != "" && m.Text != "")
}

// resumeParts sets SkipParts on the jobs whose earlier tries delivered parts.
func (e *Engine) resumeParts(ctx context.Context, jobs []job) error {
	var keys []string
	for _, j := range jobs {
		if multiPart(j.msg) {
			keys = append(keys, j.m.Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	var rows []struct {
		Key   string `db:"idempotency_key"`
		Parts int    `db:"parts_sent"`
	}
	if err := e.db.SelectContext(ctx, &rows, qPartsSent, pq.Array(keys)); err != nil {
		return fmt.Errorf("load message parts: %w", err)
	}
	sent := make(map[string]int, len(rows))
	for _, r := range rows {
		sent[r.Key] = r.Parts
	}
	for i := range jobs {
		jobs[i].msg.SkipParts = sent[jobs[i].m.Key]
	}
	return nil
}

// partsLog collects, during one sendJobs, the parts delivered by failed
// sends and the keys of resumed messages that went out in full.
type partsLog struct {
	keys  []string
	parts []int64
	done  []string
}

// note records the outcome of job j's send.
func (p *partsLog) note(j job, err error) {
	var n int
	if ce := (*channels.Error)(nil); errors.As(err, &ce) {
		n = ce.PartsSent
	}
	switch {
	case err == nil && j.msg.SkipParts > 0:
		p.done = append(p.done, j.m.Key)
	case err != nil && n > j.msg.SkipParts:
		p.keys, p.parts = append(p.keys, j.m.Key), append(p.parts, int64(n))
	}
}

// save writes what p collected. It runs on the pool with a context of its
// own: a lease lost mid-send must not lose the record of what went.
func (e *Engine) saveParts(ctx context.Context, p *partsLog, now time.Time) error {
	ctx = context.WithoutCancel(ctx)
	if len(p.keys) > 0 {
		if _, err := e.db.ExecContext(ctx, qSaveParts, pq.Array(p.keys), pq.Array(p.parts), now); err != nil {
			return fmt.Errorf("record message parts: %w", err)
		}
	}
	if len(p.done) > 0 {
		if _, err := e.db.ExecContext(ctx, qDropParts, pq.Array(p.done)); err != nil {
			return fmt.Errorf("drop message parts: %w", err)
		}
	}
	return nil
}
