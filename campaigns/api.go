package campaigns

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// APIConfig configures the campaigns REST API.
type APIConfig struct {
	Store *Store
	Log   *slog.Logger
}

// API serves /v1/campaigns.
type API struct {
	cfg APIConfig
	log *slog.Logger
}

// NewAPI returns the campaigns API.
func NewAPI(cfg APIConfig) *API {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg, log: log}
}

// Register mounts the routes. POST /v1/campaigns/{id}/trigger belongs to the
// scheduler and GET /v1/campaigns/{id}/preview to package campaigns/preview;
// neither is registered here.
func (a *API) Register(mux *server.Mux) {
	mux.HandleFunc("GET /v1/campaigns", users.CampaignsRead, a.list)
	mux.HandleFunc("POST /v1/campaigns", users.CampaignsWrite, a.apply())
	mux.HandleFunc("GET /v1/campaigns/{id}", users.CampaignsRead, a.current)
	mux.HandleFunc("GET /v1/campaigns/{id}/versions/{version}", users.CampaignsRead, a.version)
	mux.HandleFunc("POST /v1/campaigns/{id}/archive", users.CampaignsWrite, a.archive)
	mux.HandleFunc("POST /v1/segments", users.CampaignsWrite, a.applySegment())
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		err = httpx.Errorf(httpx.CodeNotFound, "", "campaign not found")
	}
	httpx.WriteError(w, r, a.log, err)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	list, err := a.cfg.Store.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"campaigns": list})
}

type storedResponse struct {
	*Stored
	Versions []Version `json:"versions,omitempty"`
}

func (a *API) current(w http.ResponseWriter, r *http.Request) {
	st, err := a.cfg.Store.Get(r.Context(), r.PathValue("id"), "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	vs, err := a.cfg.Store.Versions(r.Context(), st.CampaignID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, storedResponse{Stored: st, Versions: vs})
}

func (a *API) version(w http.ResponseWriter, r *http.Request) {
	st, err := a.cfg.Store.Get(r.Context(), r.PathValue("id"), r.PathValue("version"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, storedResponse{Stored: st})
}

// problemsResponse is the body of a refused apply: the error shape plus the
// positioned problems.
type problemsResponse struct {
	Error    *httpx.Error `json:"error"`
	Problems []LintError  `json:"problems"`
}

type applyResponse struct {
	Version
	Created bool `json:"created"`
}

// readFile reads a YAML body named by ?file= (default def) and parses it;
// what names the body in the too-large error.
func (a *API) readFile(w http.ResponseWriter, r *http.Request, def, what string) (*File, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFileSize)
	src, err := io.ReadAll(r.Body)
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			a.fail(w, r, httpx.Errorf(httpx.CodeTooLarge, "", "%s larger than %d bytes", what, MaxFileSize))
			return nil, false
		}
		a.fail(w, r, httpx.Errorf(httpx.CodeInvalid, "", "cannot read body: %v", err))
		return nil, false
	}
	name := path.Base(r.URL.Query().Get("file"))
	if name == "." || name == "/" {
		name = def
	}
	f, _ := Parse(name, src)
	return f, true
}

// applied answers a refused apply (400 with its positioned problems) or a
// failed one and reports false; otherwise it returns the status of the
// answer: 201 when a version was created, 200 when the file was unchanged.
func (a *API) applied(w http.ResponseWriter, r *http.Request, err error, created bool) (int, bool) {
	var probs Problems
	switch {
	case errors.As(err, &probs):
		httpx.WriteJSON(w, httpx.Status(httpx.CodeInvalid), problemsResponse{
			Error:    &httpx.Error{Code: httpx.CodeInvalid, Message: probs.Error()},
			Problems: probs,
		})
		return 0, false
	case err != nil:
		a.fail(w, r, err)
		return 0, false
	case created:
		return http.StatusCreated, true
	}
	return http.StatusOK, true
}

// applyFile is the handler of a POST of one YAML file (?file= names it in
// problem positions, default def; what names it when too large): apply
// stores it, a file of the other kind is refused on "kind" saying
// wrongKind, and the answer is what reply makes of the version (logging
// it), 201 when it was created, 200 when the file was unchanged.
func applyFile[V any](a *API, def, what, wrongKind string, apply func(context.Context, *File) (V, bool, error), reply func(ctx context.Context, v V, created bool) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, ok := a.readFile(w, r, def, what)
		if !ok {
			return
		}
		v, created, err := apply(r.Context(), f)
		if errors.Is(err, ErrNotASegment) {
			err = httpx.Errorf(httpx.CodeInvalid, "kind", "%s", wrongKind)
		}
		status, ok := a.applied(w, r, err, created)
		if !ok {
			return
		}
		httpx.WriteJSON(w, status, reply(r.Context(), v, created))
	}
}

// applySegment takes a segment YAML body (kind: segment).
func (a *API) applySegment() http.HandlerFunc {
	return applyFile(a, "segment.yaml", "file", "not a segment: the file needs kind: segment", a.cfg.Store.ApplySegment,
		func(ctx context.Context, v SegmentVersion, created bool) any {
			a.log.InfoContext(ctx, "segment applied", "segment_id", v.ID, "version", v.Version, "number", v.Number, "created", created)
			return map[string]any{"id": v.ID, "version": v.Version, "number": v.Number, "created": created}
		})
}

// apply takes a campaign YAML body.
func (a *API) apply() http.HandlerFunc {
	return applyFile(a, "campaign.yaml", "campaign file", "a segment file: POST it to /v1/segments", a.cfg.Store.Apply,
		func(ctx context.Context, v Version, created bool) any {
			a.log.InfoContext(ctx, "campaign applied", "campaign_id", v.CampaignID, "version", v.Version, "number", v.Number, "created", created)
			return applyResponse{Version: v, Created: created}
		})
}

func (a *API) archive(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.cfg.Store.Archive(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "campaign archived", "campaign_id", id)
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "archived": true})
}
