package subscribers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// Body limits of the API (bytes).
const (
	DefaultMaxBody       = httpx.MaxBody // one subscriber or event
	DefaultMaxEventsBody = 8 << 20       // a batch of up to MaxEventBatch events
	DefaultMaxImportBody = 1 << 30       // a streamed CSV/TXT file
)

// APIConfig configures the /v1 subscriber API.
type APIConfig struct {
	Store         *Store
	Importer      *Importer
	Log           *slog.Logger
	MaxBody       int64 // 0 = DefaultMaxBody
	MaxEventsBody int64 // 0 = DefaultMaxEventsBody
	MaxImportBody int64 // 0 = DefaultMaxImportBody
}

// API serves the subscriber REST API under /v1 (see docs/api.md).
type API struct{ cfg APIConfig }

// NewAPI returns the API.
func NewAPI(cfg APIConfig) *API {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxEventsBody <= 0 {
		cfg.MaxEventsBody = DefaultMaxEventsBody
	}
	if cfg.MaxImportBody <= 0 {
		cfg.MaxImportBody = DefaultMaxImportBody
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg}
}

// Register mounts the routes on mux.
func (a *API) Register(mux *server.Mux) {
	mux.HandleFunc("POST /v1/subscribers", users.SubscribersWrite, a.upsert)
	mux.HandleFunc("GET /v1/subscribers", users.SubscribersRead, httpx.Handle(http.StatusOK, a.fail, queryFilter, a.cfg.Store.List))
	mux.HandleFunc("GET /v1/subscribers/{external_id}", users.SubscribersRead, httpx.Handle(http.StatusOK, a.fail, pathExternalID, a.cfg.Store.Get))
	mux.HandleFunc("DELETE /v1/subscribers/{external_id}", users.SubscribersErase, a.erase)
	// An access request: everything held about the subscriber.
	mux.HandleFunc("GET /v1/subscribers/{external_id}/export", users.SubscribersErase, httpx.Handle(http.StatusOK, a.fail, pathExternalID, a.cfg.Store.Export))
	mux.HandleFunc("POST /v1/subscribers/{external_id}/events", users.SubscribersWrite, a.postEvent)
	mux.HandleFunc("POST /v1/events", users.SubscribersWrite, httpx.Handle(http.StatusAccepted, a.fail, a.decodeEvents, a.cfg.Store.AddEvents))
	mux.HandleFunc("POST /v1/subscribers/import", users.SubscribersWrite, a.importFile)
}

// fail writes err as the JSON error shape with the field at fault.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fe *FieldError
		ce *ConflictError
		be *BatchError
		re *RowError
		le *LineTooLongError
		he *httpx.Error
	)
	switch {
	case errors.As(err, &he):
		httpx.WriteError(w, r, a.cfg.Log, he)
	case errors.Is(err, ErrNotFound):
		httpx.WriteError(w, r, a.cfg.Log, httpx.Errorf(httpx.CodeNotFound, "external_id", "no subscriber with this external_id"))
	case errors.As(err, &be):
		type item struct {
			Code    httpx.Code `json:"code"`
			Field   string     `json:"field"`
			Message string     `json:"message"`
		}
		items := make([]item, len(be.Items))
		for i, e := range be.Items {
			items[i] = item{httpx.CodeInvalid, e.Field, e.Msg}
		}
		first := be.Items[0]
		httpx.WriteJSON(w, http.StatusBadRequest, map[string]any{
			"error":  &httpx.Error{Code: httpx.CodeInvalid, Field: first.Field, Message: fmt.Sprintf("%d of the events are invalid; none was stored: %s", len(items), first.Msg)},
			"errors": items,
		})
	case errors.As(err, &fe):
		httpx.WriteError(w, r, a.cfg.Log, httpx.Errorf(httpx.CodeInvalid, fe.Field, "%s", fe.Msg))
	case errors.As(err, &ce):
		httpx.WriteError(w, r, a.cfg.Log, httpx.Errorf(httpx.CodeConflict, ce.Field, "this %s identity is already bound to another subscriber", ce.Channel))
	case errors.As(err, &re):
		httpx.WriteError(w, r, a.cfg.Log, httpx.Errorf(httpx.CodeInvalid, re.Field, "line %d: %s", re.Line, re.Reason))
	case errors.As(err, &le):
		httpx.WriteError(w, r, a.cfg.Log, httpx.Errorf(httpx.CodeInvalid, "", "%s", le.Error()))
	default:
		httpx.WriteError(w, r, a.cfg.Log, err)
	}
}

// decodeUpsert reads and validates an upsert body.
func decodeUpsert(w http.ResponseWriter, r *http.Request, limit int64) (Input, error) {
	var in Input
	if err := httpx.DecodeJSON(w, r, limit, &in); err != nil {
		return in, err
	}
	return in, in.Validate()
}

func (a *API) upsert(w http.ResponseWriter, r *http.Request) {
	in, err := decodeUpsert(w, r, a.cfg.MaxBody)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, created, err := a.cfg.Store.Upsert(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, s)
}

// pathExternalID reads and checks the path's external_id.
func pathExternalID(_ http.ResponseWriter, r *http.Request) (string, error) {
	id := r.PathValue("external_id")
	return id, ValidExternalID("external_id", id)
}

// parseFilter reads list query parameters; unknown ones are an error.
func parseFilter(q url.Values) (Filter, error) {
	var f Filter
	for k, vs := range q {
		if len(vs) != 1 {
			return f, fieldErr(k, "must be given once")
		}
		v := vs[0]
		switch {
		case k == "locale":
			f.Locale = v
		case k == "time_zone":
			f.TimeZone = v
		case k == "channel":
			f.Channel = channels.Kind(v)
		case k == "cursor":
			f.Cursor = v
		case k == "limit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return f, fieldErr("limit", "must be a number between 1 and %d", MaxPage)
			}
			f.Limit = n
			if n == 0 {
				f.Limit = -1 // explicit 0 is invalid, not "default"
			}
		case k == "created_after":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fieldErr("created_after", "must be an RFC 3339 time like 2026-03-01T00:00:00Z")
			}
			f.CreatedAfter = t
		case strings.HasPrefix(k, "attr."):
			if f.Attributes == nil {
				f.Attributes = map[string]string{}
			}
			f.Attributes[strings.TrimPrefix(k, "attr.")] = v
		default:
			return f, fieldErr(k, "unknown parameter; use locale, time_zone, channel, created_after, attr.<name>, limit, cursor")
		}
	}
	return f, f.Validate()
}

// queryFilter reads the list query parameters.
func queryFilter(_ http.ResponseWriter, r *http.Request) (Filter, error) {
	return parseFilter(r.URL.Query())
}

func (a *API) erase(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("external_id")
	if _, err := a.cfg.Store.Erase(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) postEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("external_id")
	var body eventBody
	if err := httpx.DecodeJSON(w, r, a.cfg.MaxBody, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := body.event("")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if e.ExternalID != "" && e.ExternalID != id {
		a.fail(w, r, fieldErr("external_id", "differs from the external_id in the path"))
		return
	}
	e.ExternalID = id
	if err := e.Validate(""); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.cfg.Store.AddEvents(r.Context(), []Event{e})
	var be *BatchError
	if errors.As(err, &be) { // one event: report it without the events[0]. prefix
		f := be.Items[0]
		err = fieldErr(strings.TrimPrefix(f.Field, "events[0]."), "%s", f.Msg)
		if strings.HasSuffix(f.Field, "external_id") {
			err = ErrNotFound
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, res)
}

// eventBody is an event as JSON carries it; occurred_at is read here so that
// a bad time is reported with its field.
type eventBody struct {
	ExternalID     string         `json:"external_id,omitempty"`
	Name           string         `json:"name"`
	OccurredAt     string         `json:"occurred_at,omitempty"`
	Payload        map[string]any `json:"payload,omitempty"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
}

func (b eventBody) event(prefix string) (Event, error) {
	e := Event{ExternalID: b.ExternalID, Name: b.Name, Payload: b.Payload, IdempotencyKey: b.IdempotencyKey}
	if b.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, b.OccurredAt)
		if err != nil {
			return e, fieldErr(prefix+"occurred_at", "must be an RFC 3339 time like 2026-03-01T10:00:00+03:00")
		}
		e.OccurredAt = &t
	}
	return e, nil
}

// eventsBody is the body of POST /v1/events.
type eventsBody struct {
	Events []eventBody `json:"events"`
}

// decodeEvents reads a batch body; every item's time is checked, and all
// bad items are reported together.
func decodeEvents(w http.ResponseWriter, r *http.Request, limit int64) ([]Event, error) {
	var req eventsBody
	if err := httpx.DecodeJSON(w, r, limit, &req); err != nil {
		return nil, err
	}
	if len(req.Events) == 0 {
		return nil, fieldErr("events", "must hold at least one event")
	}
	if len(req.Events) > MaxEventBatch {
		return nil, fieldErr("events", "must hold at most %d events, got %d", MaxEventBatch, len(req.Events))
	}
	evs := make([]Event, len(req.Events))
	var bad BatchError
	for i, b := range req.Events {
		e, err := b.event(fmt.Sprintf("events[%d].", i))
		if err != nil {
			bad.Items = append(bad.Items, err.(*FieldError))
		}
		evs[i] = e
	}
	if len(bad.Items) > 0 {
		return nil, &bad
	}
	return evs, nil
}

// decodeEvents reads the batch body of POST /v1/events.
func (a *API) decodeEvents(w http.ResponseWriter, r *http.Request) ([]Event, error) {
	return decodeEvents(w, r, a.cfg.MaxEventsBody)
}

// importFile streams the request body through the importer. ?format=csv|txt
// (default: txt for Content-Type text/plain, else csv).
func (a *API) importFile(w http.ResponseWriter, r *http.Request) {
	format := CSV
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
		format = TXT
	}
	q := r.URL.Query()
	for k := range q {
		if k != "format" {
			a.fail(w, r, fieldErr(k, "unknown parameter; use format=csv or format=txt"))
			return
		}
	}
	if v := q.Get("format"); v != "" {
		f, err := ParseFormat(v)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		format = f
	}
	// A large file takes minutes to stream; lift the server's read deadline for
	// this (authenticated) request. Servers that do not support it keep theirs.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	body := http.MaxBytesReader(w, r.Body, a.cfg.MaxImportBody)
	rep, err := a.cfg.Importer.Import(r.Context(), body, ImportOptions{Format: format})
	var big *http.MaxBytesError
	if errors.As(err, &big) {
		// The whole file is read before anything is written, so nothing was.
		a.fail(w, r, httpx.Errorf(httpx.CodeTooLarge, "", "the file is larger than %d bytes; nothing was imported", a.cfg.MaxImportBody))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.cfg.Log.InfoContext(r.Context(), "subscribers imported", "rows", rep.Rows, "imported", rep.Imported,
		"updated", rep.Updated, "rejected", rep.Rejected)
	httpx.WriteJSON(w, http.StatusOK, rep)
}
