package email

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// Tracker signs open-pixel and click-redirect URLs. Tokens carry the account
// and the Message-ID; a click token also signs the target URL, so the
// redirect cannot be pointed anywhere else (no open redirect).
type Tracker struct {
	BaseURL string // public base, no trailing slash
	Secret  []byte
}

const sep = "\x1f"

var b64 = base64.RawURLEncoding

func (t *Tracker) mac(parts ...string) string {
	m := hmac.New(sha256.New, t.Secret)
	m.Write([]byte(strings.Join(parts, sep)))
	return b64.EncodeToString(m.Sum(nil)[:16])
}

func (t *Tracker) token(kind, account, messageID, target string) string {
	payload := account + sep + messageID
	return b64.EncodeToString([]byte(payload)) + "." + t.mac(kind, payload, target)
}

// OpenURL is the pixel URL of a message.
func (t *Tracker) OpenURL(account, messageID string) string {
	return t.BaseURL + "/t/o/" + t.token("o", account, messageID, "") + ".gif"
}

// ClickURL is the tracked redirect to target.
func (t *Tracker) ClickURL(account, messageID, target string) string {
	return t.BaseURL + "/t/c/" + t.token("c", account, messageID, target) + "?u=" + url.QueryEscape(target)
}

// UnsubscribeURL is the one-click unsubscribe link of a recipient address
// (RFC 8058): the token signs the account and the address, so it cannot be
// forged to unsubscribe someone else.
func (t *Tracker) UnsubscribeURL(account, address string) string {
	return t.BaseURL + "/u/" + t.token("u", account, strings.ToLower(address), "")
}

// ErrBadToken is a tracking token that does not verify.
var ErrBadToken = errors.New("bad tracking token")

// Check verifies a token for kind ("o" or "c"; target for clicks) and
// returns its account and Message-ID.
func (t *Tracker) Check(kind, token, target string) (account, messageID string, err error) {
	if len(t.Secret) == 0 {
		return "", "", ErrBadToken
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", ErrBadToken
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return "", "", ErrBadToken
	}
	if !hmac.Equal([]byte(sig), []byte(t.mac(kind, string(raw), target))) {
		return "", "", ErrBadToken
	}
	account, messageID, ok = strings.Cut(string(raw), sep)
	if !ok || messageID == "" {
		return "", "", ErrBadToken
	}
	return account, messageID, nil
}

var (
	hrefRe   = regexp.MustCompile(`(?is)(<a\b[^>]*?\bhref\s*=\s*)("[^"]*"|'[^']*')`)
	bodyEnd  = regexp.MustCompile(`(?i)</body\s*>`)
	pixelFmt = `<img src="%s" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`
)

// Instrument rewrites the http(s) links of an HTML part through ClickURL
// (except skip, the unsubscribe URL, which must work without redirects) and
// adds the open pixel before </body> (or at the end).
func (t *Tracker) Instrument(doc, account, messageID, skip string) string {
	doc = hrefRe.ReplaceAllStringFunc(doc, func(m string) string {
		sub := hrefRe.FindStringSubmatch(m)
		quoted := sub[2]
		target := html.UnescapeString(strings.TrimSpace(quoted[1 : len(quoted)-1]))
		lower := strings.ToLower(target)
		if !(strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://")) || target == skip ||
			strings.HasPrefix(target, t.BaseURL+"/t/") {
			return m
		}
		return sub[1] + `"` + html.EscapeString(t.ClickURL(account, messageID, target)) + `"`
	})
	pixel := strings.Replace(pixelFmt, "%s", html.EscapeString(t.OpenURL(account, messageID)), 1)
	if loc := bodyEnd.FindAllStringIndex(doc, -1); len(loc) > 0 {
		i := loc[len(loc)-1][0]
		return doc[:i] + pixel + doc[i:]
	}
	return doc + pixel
}

// gif is a transparent 1×1 GIF.
var gif = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

// Tracking serves GET /t/o/{token}.gif and GET /t/c/{token}?u=… for every
// email account of an install and reports both as EventRead.
type Tracking struct {
	t    *Tracker
	sink channels.Sink
	log  *slog.Logger
	now  func() time.Time
}

// NewTracking returns the tracking routes; secret is
// NUDGE_EMAIL_TRACKING_SECRET (Config.TrackingSecret).
func NewTracking(secret string, sink channels.Sink, log *slog.Logger) *Tracking {
	return &Tracking{t: &Tracker{Secret: []byte(secret)}, sink: sink, log: cmp.Or(log, slog.Default()), now: time.Now}
}

// Register mounts the tracking and unsubscribe routes.
func (h *Tracking) Register(mux *server.Mux) {
	mux.HandleFunc("GET /t/o/{file}", users.Public, h.open)
	mux.HandleFunc("GET /t/c/{token}", users.Public, h.click)
	mux.HandleFunc("GET /u/{token}", users.Public, h.unsubscribePage)
	mux.HandleFunc("POST /u/{token}", users.Public, h.unsubscribe)
}

// unsubscribePage asks for a confirmation: mail scanners follow links with
// GET, so only a POST unsubscribes (the one-click POST of RFC 8058, or this
// page's button).
func (h *Tracking) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	if _, _, err := h.t.Check("u", r.PathValue("token"), ""); err != nil {
		http.Error(w, "bad link", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, private")
	_, _ = w.Write([]byte(`<!doctype html><html lang="ru"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
		`<title>Отписка / Unsubscribe</title><body style="font-family:system-ui,sans-serif;max-width:32rem;margin:10vh auto;padding:1rem">` +
		`<h1>Отписаться от писем? / Unsubscribe from emails?</h1><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">` +
		`<button type="submit" style="font:inherit;padding:.5rem 1rem">Отписаться / Unsubscribe</button></form></body></html>`))
}

// unsubscribe revokes email consent for the token's address: an opt-out
// event goes through the same durable sink as a STOP in a messenger.
func (h *Tracking) unsubscribe(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	acc, addr, err := h.t.Check("u", tok, "")
	if err != nil {
		http.Error(w, "bad link", http.StatusBadRequest)
		return
	}
	now := h.now()
	ev := channels.Event{Type: channels.EventOptOut, Channel: channels.Email, Account: acc, From: addr,
		ProviderEventID: "unsubscribe:" + tok + ":" + strconv.FormatInt(now.Unix(), 10), Payload: "list-unsubscribe", At: now}
	if _, err := h.sink.Accept(r.Context(), []channels.Event{ev}); err != nil {
		h.log.ErrorContext(r.Context(), "unsubscribe not stored", "account", acc, "err", err)
		http.Error(w, "please try again", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><html lang="ru"><meta charset="utf-8"><title>Готово / Done</title>` +
		`<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:10vh auto;padding:1rem">` +
		`<h1>Вы отписаны от писем. / You are unsubscribed from emails.</h1></body></html>`))
}

func (h *Tracking) open(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutSuffix(r.PathValue("file"), ".gif")
	acc, id, err := h.t.Check("o", tok, "")
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	h.accept(r, channels.Event{Type: channels.EventRead, Channel: channels.Email, Account: acc,
		ProviderEventID: "open:" + id, ProviderMessageID: id, At: h.now()})
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Cache-Control", "no-store, private")
	_, _ = w.Write(gif)
}

func (h *Tracking) click(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("u")
	acc, id, err := h.t.Check("c", r.PathValue("token"), target)
	if err != nil {
		http.Error(w, "bad link", http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256([]byte(target))
	h.accept(r, channels.Event{Type: channels.EventRead, Channel: channels.Email, Account: acc,
		ProviderEventID: "click:" + id + ":" + b64.EncodeToString(sum[:8]), ProviderMessageID: id,
		Payload: target, At: h.now()})
	w.Header().Set("Cache-Control", "no-store, private")
	http.Redirect(w, r, target, http.StatusFound)
}

// accept hands the event on; a failure is logged, never shown to the reader
// (the pixel and the redirect still work).
func (h *Tracking) accept(r *http.Request, ev channels.Event) {
	if _, err := h.sink.Accept(r.Context(), []channels.Event{ev}); err != nil {
		h.log.ErrorContext(r.Context(), "email tracking event not stored", "account", ev.Account, "err", err)
	}
}
