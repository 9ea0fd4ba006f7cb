package scheduler

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// IdempotencyHeader is the request header that makes a trigger call safe to retry.
const IdempotencyHeader = "Idempotency-Key"

// CodeIdempotencyMismatch is the error code of a reused Idempotency-Key with
// a different request (HTTP 422).
const CodeIdempotencyMismatch httpx.Code = "idempotency_key_reused"

// APIConfig configures the transactional trigger API.
type APIConfig struct {
	Log *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// IdempotencyTTL is how long an Idempotency-Key is honoured; the scheduler
// leader deletes older keys.
const IdempotencyTTL = 24 * time.Hour

// API serves POST /v1/campaigns/{id}/trigger and the segments' live counts
// (GET /v1/segments, GET /v1/segments/{name}/count).
type API struct {
	db  *sqlx.DB
	cfg APIConfig
}

// NewAPI returns the trigger API on d.
func NewAPI(d *sqlx.DB, cfg APIConfig) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &API{db: d, cfg: cfg}
}

// Register mounts the routes on mux.
func (a *API) Register(mux *server.Mux) {
	mux.HandleFunc("POST /v1/campaigns/{id}/trigger", users.CampaignsTrigger, a.trigger)
	mux.HandleFunc("GET /v1/segments", users.CampaignsRead, a.segments)
	mux.HandleFunc("GET /v1/segments/{name}/count", users.CampaignsRead, a.segmentCount)
}

// TriggerRequest is the body of POST /v1/campaigns/{id}/trigger.
type TriggerRequest struct {
	Subscriber string         `json:"subscriber"` // external id
	Payload    map[string]any `json:"payload"`
}

// TriggerResponse describes the run a trigger call created (or found).
type TriggerResponse struct {
	RunID           int64     `json:"run_id"`
	CampaignID      string    `json:"campaign_id"`
	CampaignVersion string    `json:"campaign_version"`
	Subscriber      string    `json:"subscriber"`
	TriggerKey      string    `json:"trigger_key"`
	State           string    `json:"state"`
	Holdout         bool      `json:"holdout"`
	NextAt          time.Time `json:"next_at"`
	// Created is false when a run with this trigger key already existed.
	Created bool `json:"created"`
}

func (a *API) trigger(w http.ResponseWriter, r *http.Request) {
	campaignID := r.PathValue("id")
	var req TriggerRequest
	if err := httpx.DecodeJSON(w, r, httpx.MaxBody, &req); err != nil {
		httpx.WriteError(w, r, a.cfg.Log, err)
		return
	}
	if req.Subscriber == "" {
		httpx.WriteError(w, r, a.cfg.Log, httpx.Errorf(httpx.CodeInvalid, "subscriber", "is required: the subscriber's external id"))
		return
	}
	if req.Payload == nil {
		req.Payload = map[string]any{}
	}
	key := r.Header.Get(IdempotencyHeader)
	if err := checkKey(key); err != nil {
		httpx.WriteError(w, r, a.cfg.Log, err)
		return
	}
	status, body, replayed, err := a.Trigger(r.Context(), campaignID, req, key)
	if err != nil {
		var mm *mismatchError
		if errors.As(err, &mm) {
			httpx.WriteJSON(w, http.StatusUnprocessableEntity, map[string]*httpx.Error{"error": {
				Code: CodeIdempotencyMismatch, Field: IdempotencyHeader,
				Message: "this Idempotency-Key was already used with a different request; use a new key for a new request",
			}})
			return
		}
		httpx.WriteError(w, r, a.cfg.Log, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type mismatchError struct{}

func (*mismatchError) Error() string { return "idempotency key reused with a different request" }

func checkKey(k string) error {
	if k == "" {
		return nil
	}
	if len(k) > 255 {
		return httpx.Errorf(httpx.CodeInvalid, IdempotencyHeader, "must be at most 255 characters")
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return httpx.Errorf(httpx.CodeInvalid, IdempotencyHeader, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// requestHash identifies a request for idempotency: the campaign and the
// body re-encoded canonically (map keys sorted), so whitespace and key order
// do not matter.
func requestHash(campaignID string, req TriggerRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(campaignID))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Trigger creates a run of an API-triggered campaign for one subscriber and
// returns the HTTP status and JSON body of the answer. With a key, the first
// successful answer is stored and replayed for IdempotencyTTL (replayed is
// true); the same key with another request is a *mismatchError. Failed
// calls store nothing, so they can be retried with the same key.
func (a *API) Trigger(ctx context.Context, campaignID string, req TriggerRequest, key string) (status int, body []byte, replayed bool, err error) {
	now := a.cfg.Now()
	hash, err := requestHash(campaignID, req)
	if err != nil {
		return 0, nil, false, httpx.Errorf(httpx.CodeInvalid, "payload", "cannot be encoded: %v", err)
	}
	triggerKey := "api:" + key
	if key == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		triggerKey = "api:" + hex.EncodeToString(b)
	}
	err = db.WithTx(ctx, a.db, func(tx *sqlx.Tx) error {
		if key != "" {
			if _, err := tx.ExecContext(ctx, qIdemExpire, key, now.Add(-IdempotencyTTL)); err != nil {
				return fmt.Errorf("expire idempotency key: %w", err)
			}
			var claimed []int
			// A concurrent call with the same key waits here until the first commits.
			if err := tx.SelectContext(ctx, &claimed, qIdemClaim, key, campaignID, hash, now); err != nil {
				return fmt.Errorf("claim idempotency key: %w", err)
			}
			if len(claimed) == 0 {
				var prev struct {
					Campaign string `db:"campaign_id"`
					Hash     string `db:"request_hash"`
					Status   int    `db:"status"`
					Response []byte `db:"response"`
				}
				if err := tx.GetContext(ctx, &prev, qIdemGet, key); err != nil {
					return fmt.Errorf("read idempotency key: %w", err)
				}
				if prev.Hash != hash {
					return &mismatchError{}
				}
				status, body, replayed = prev.Status, prev.Response, true
				return nil
			}
		}
		resp, created, err := a.createRun(ctx, tx, now, campaignID, req, triggerKey)
		if err != nil {
			return err
		}
		status = http.StatusOK
		if created {
			status = http.StatusCreated
		}
		body, err = json.Marshal(resp)
		if err != nil {
			return err
		}
		body = append(body, '\n')
		if key != "" {
			if _, err := tx.ExecContext(ctx, qIdemDone, key, status, string(body)); err != nil {
				return fmt.Errorf("store idempotent response: %w", err)
			}
		}
		return nil
	})
	return status, body, replayed, err
}

func (a *API) createRun(ctx context.Context, tx *sqlx.Tx, now time.Time, campaignID string, req TriggerRequest, triggerKey string) (TriggerResponse, bool, error) {
	var resp TriggerResponse
	var c campaignRow
	if err := tx.GetContext(ctx, &c, qCampaign, campaignID); err != nil {
		if db.IsNoRows(err) {
			return resp, false, httpx.Errorf(httpx.CodeNotFound, "id", "campaign %q does not exist or is archived", campaignID)
		}
		return resp, false, fmt.Errorf("load campaign: %w", err)
	}
	if err := c.decode(); err != nil {
		return resp, false, err
	}
	if c.Def.Trigger.API == nil {
		return resp, false, httpx.Errorf(httpx.CodeConflict, "id", "campaign %q is not triggered by the API (its trigger is %s)", campaignID, triggerKind(c))
	}
	step, err := firstStep(c.Def)
	if err != nil {
		return resp, false, httpx.Errorf(httpx.CodeConflict, "id", "campaign %q has no steps", campaignID)
	}
	var subID int64
	if err := tx.GetContext(ctx, &subID, qSubscriberByExternal, req.Subscriber); err != nil {
		if db.IsNoRows(err) {
			return resp, false, httpx.Errorf(httpx.CodeNotFound, "subscriber", "no subscriber with this external id")
		}
		return resp, false, fmt.Errorf("find subscriber: %w", err)
	}
	args := &Args{}
	target, err := ResolveTarget(ctx, tx, c.Def, now)
	if err != nil {
		return resp, false, fmt.Errorf("campaign %s: %w", campaignID, err)
	}
	where, err := AudienceWhere(c.Def.Audience, target, args)
	if err != nil {
		return resp, false, fmt.Errorf("campaign %s: %w", campaignID, err)
	}
	runCtx, err := json.Marshal(map[string]any{"trigger": "api", "payload": req.Payload})
	if err != nil {
		return resp, false, httpx.Errorf(httpx.CodeInvalid, "payload", "cannot be encoded: %v", err)
	}
	n, err := insertRuns(ctx, tx, runSpec{
		Campaign: c.ID, Version: c.Version, Step: step,
		HoldoutPercent: c.Def.Settings.HoldoutPercent, Now: now,
		From:       "subscribers s",
		Where:      where + " AND s.id = " + args.Add(subID),
		TriggerKey: args.Add(triggerKey) + "::text",
		NextAt:     args.Add(now) + "::timestamptz",
		Context:    args.Add(string(runCtx)) + "::jsonb",
		Args:       args,
	})
	if err != nil {
		return resp, false, err
	}
	var run struct {
		ID      int64      `db:"id"`
		Version string     `db:"campaign_version"`
		Holdout bool       `db:"holdout"`
		State   string     `db:"state"`
		NextAt  *time.Time `db:"next_at"`
	}
	if err := tx.GetContext(ctx, &run, qRunByKey, c.ID, subID, triggerKey); err != nil {
		if db.IsNoRows(err) {
			return resp, false, httpx.Errorf(httpx.CodeConflict, "subscriber",
				"is not in the campaign's audience (needs %s consent on one of %v and the audience conditions)", topicOf(c.Def), c.Def.Settings.Channels)
		}
		return resp, false, fmt.Errorf("read run: %w", err)
	}
	if n > 0 {
		if err := notify(ctx, tx, c.ID); err != nil {
			return resp, false, err
		}
	}
	resp = TriggerResponse{
		RunID: run.ID, CampaignID: c.ID, CampaignVersion: run.Version, Subscriber: req.Subscriber,
		TriggerKey: triggerKey, State: run.State, Holdout: run.Holdout, Created: n > 0,
	}
	if run.NextAt != nil {
		resp.NextAt = run.NextAt.UTC()
	}
	return resp, n > 0, nil
}

func triggerKind(c campaignRow) string {
	switch {
	case c.Def.Trigger.Schedule != nil:
		return "schedule"
	case c.Def.Trigger.Event != nil:
		return "event"
	default:
		return "not set"
	}
}
