package catalogue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/internal/db"
)

const (
	qDeleteAccount = `DELETE FROM whatsapp_templates WHERE account = $1`
	qInsert        = `INSERT INTO whatsapp_templates (account, waba_id, name, language, category, status,
  body_params, header_params, button_params, buttons, components, synced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (account, name, language) DO UPDATE SET waba_id = EXCLUDED.waba_id, category = EXCLUDED.category,
  status = EXCLUDED.status, body_params = EXCLUDED.body_params, header_params = EXCLUDED.header_params,
  button_params = EXCLUDED.button_params, buttons = EXCLUDED.buttons, components = EXCLUDED.components,
  synced_at = EXCLUDED.synced_at`
	qSynced = `INSERT INTO whatsapp_template_syncs (account, waba_id, templates, synced_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (account) DO UPDATE SET waba_id = EXCLUDED.waba_id, templates = EXCLUDED.templates, synced_at = EXCLUDED.synced_at`
	qPrevious = `SELECT count(*) FROM whatsapp_templates WHERE account = $1`
	qLoad     = `SELECT account, name, language, category, status, body_params, header_params, button_params, components
FROM whatsapp_templates ORDER BY account, name, language`
	qSyncs = `SELECT count(*) FROM whatsapp_template_syncs`
)

// Lister lists a business account's templates (*whatsapp.Client).
type Lister interface {
	Templates(ctx context.Context) ([]whatsapp.Template, error)
}

// Result is what a sync did.
type Result struct {
	Templates int // listed and stored
	Approved  int
	Removed   int // stored before, no longer listed
}

// Sync lists the templates of account's business account wabaID through l
// and replaces the account's stored templates with them, at now.
func Sync(ctx context.Context, d *sqlx.DB, account, wabaID string, l Lister, now time.Time) (Result, error) {
	ts, err := l.Templates(ctx)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = db.WithTx(ctx, d, func(tx *sqlx.Tx) error {
		var before int
		if err := tx.GetContext(ctx, &before, qPrevious, account); err != nil {
			return fmt.Errorf("count templates: %w", err)
		}
		if _, err := tx.ExecContext(ctx, qDeleteAccount, account); err != nil {
			return fmt.Errorf("clear templates: %w", err)
		}
		kept := map[[2]string]bool{}
		for _, t := range ts {
			if t.Name == "" || t.Language == "" {
				return fmt.Errorf("whatsapp listed a template without a name or language (id %q)", t.ID)
			}
			p := t.Params()
			buttons, err := json.Marshal(append([]string{}, t.ButtonTexts()...))
			if err != nil {
				return err
			}
			comps, err := json.Marshal(t.Components)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, qInsert, account, wabaID, t.Name, t.Language, t.Category, t.Status,
				p.Body, p.Header, p.Button, buttons, comps, now); err != nil {
				return fmt.Errorf("store template %s (%s): %w", t.Name, t.Language, err)
			}
			kept[[2]string{t.Name, t.Language}] = true
			if t.Status == "APPROVED" {
				res.Approved++
			}
		}
		res.Templates = len(kept)
		res.Removed = max(before-len(kept), 0)
		if _, err := tx.ExecContext(ctx, qSynced, account, wabaID, len(kept), now); err != nil {
			return fmt.Errorf("record sync: %w", err)
		}
		return nil
	})
	return res, err
}

// ErrNeverSynced means no account's templates were ever synced.
var ErrNeverSynced = errors.New("no WhatsApp template catalogue: run nudge channels sync whatsapp")

// Load reads every synced account's templates. It returns ErrNeverSynced
// when no sync ran, so callers can say the references were not checked.
func Load(ctx context.Context, q db.Executor) (*campaigns.WhatsAppCatalogue, error) {
	var n int
	if err := q.GetContext(ctx, &n, qSyncs); err != nil {
		return nil, fmt.Errorf("read template syncs: %w", err)
	}
	if n == 0 {
		return nil, ErrNeverSynced
	}
	var rows []struct {
		Account, Name, Language, Category, Status string
		Body                                      int `db:"body_params"`
		Header                                    int `db:"header_params"`
		Button                                    int `db:"button_params"`
		Components                                []byte
	}
	if err := q.SelectContext(ctx, &rows, qLoad); err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	c := &campaigns.WhatsAppCatalogue{Templates: make([]campaigns.CatalogueTemplate, len(rows))}
	for i, r := range rows {
		// A carousel's cards are counted from the stored components, as a
		// sync counted the rest (a row synced before Nudge read cards has
		// none until the next sync).
		var t whatsapp.Template
		if err := json.Unmarshal(r.Components, &t.Components); err != nil {
			return nil, fmt.Errorf("read template %s (%s): components: %w", r.Name, r.Language, err)
		}
		p := t.Params()
		c.Templates[i] = campaigns.CatalogueTemplate{Account: r.Account, Name: r.Name, Language: r.Language, Category: r.Category,
			Status: r.Status, BodyParams: r.Body, HeaderParams: r.Header, ButtonParams: r.Button,
			CardParams: p.CardBody, CardButtonParams: p.CardButton}
	}
	return c, nil
}

// ForLint is the catalogue lint and preview use: Load's, or an unavailable
// one saying why (no database, never synced, unreadable), never nil.
func ForLint(ctx context.Context, q db.Executor) *campaigns.WhatsAppCatalogue {
	if q == nil {
		return &campaigns.WhatsAppCatalogue{Unavailable: "no database to read the synced catalogue from (NUDGE_DATABASE_URL)"}
	}
	c, err := Load(ctx, q)
	if errors.Is(err, ErrNeverSynced) {
		return &campaigns.WhatsAppCatalogue{Unavailable: "the catalogue was never synced"}
	}
	if err != nil {
		return &campaigns.WhatsAppCatalogue{Unavailable: err.Error()}
	}
	return c
}

// Loader is a campaigns.Linter.LoadWhatsApp reading q at each lint: the
// synced catalogue, or nil (no check) when none can be read, so a server
// applies campaigns before the first sync.
func Loader(q db.Executor) func() *campaigns.WhatsAppCatalogue {
	return func() *campaigns.WhatsAppCatalogue {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := Load(ctx, q)
		if err != nil {
			return nil
		}
		return c
	}
}
