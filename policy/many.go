package policy

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/templates"
)

// DecideMany is the gate for a batch: one set-based load (Store.LoadMany)
// through q, then Decide per subscriber, for sending template of def at now.
// The worker's claims and a broadcast's dry run both call it, so a dry run
// counts exactly what the send would do. A subscriber that does not exist
// gets Reason no_identity.
func DecideMany(ctx context.Context, q db.Executor, ids []int64, def *campaigns.Definition, template string,
	candidates []channels.Kind, now time.Time) (map[int64]Decision, error) {
	ins, err := NewStore(q).LoadMany(ctx, ids, def.Topic, def.Settings, now)
	if err != nil {
		return nil, err
	}
	okOutside := templates.OutsideWindow(def, template, "")
	out := make(map[int64]Decision, len(ids))
	for _, id := range ids {
		in, ok := ins[id]
		if !ok {
			out[id] = Decision{Reason: ReasonNoIdentity}
			continue
		}
		in.OutsideWindowOK = okOutside
		out[id] = Decide(in, candidates)
	}
	return out, nil
}
