package links

import (
	"errors"
	"net/http"
	"strings"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// Register mounts GET /l/{code} for everyone and GET /v1/clicks/{code} for
// callers who may read subscribers (the shop's backend's API key).
func (s *Service) Register(mux *server.Mux) {
	mux.HandleFunc("GET "+PathPrefix+"{code}", users.Public, s.follow)
	mux.HandleFunc("GET /v1/clicks/{code}", users.SubscribersRead, s.get)
}

// follow counts the click and redirects. A HEAD or a link-preview bot
// (Telegram, WhatsApp, Facebook, VK unfurl every link they are sent) gets
// the same redirect without counting as the customer's click.
func (s *Service) follow(w http.ResponseWriter, r *http.Request) {
	bot := r.Method == http.MethodHead || IsBot(r.UserAgent())
	target, err := s.Follow(r.Context(), r.PathValue("code"), bot)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "link click not recorded", "err", err)
		http.Error(w, "please try again", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "no-store, private")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	c, err := s.Get(r.Context(), r.PathValue("code"))
	if errors.Is(err, ErrNotFound) {
		err = httpx.Errorf(httpx.CodeNotFound, "code", "no link with this code")
	}
	if err != nil {
		httpx.WriteError(w, r, s.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}

// bots are the User-Agent marks of link-preview fetchers and crawlers.
var bots = []string{"telegrambot", "whatsapp", "facebookexternalhit", "facebot", "vkshare", "viber bot",
	"twitterbot", "slackbot", "discordbot", "linkedinbot", "skypeuripreview", "googlebot", "bingbot",
	"yandexbot", "applebot", "bot/", "bot;", "crawler", "spider", "preview"}

// IsBot reports whether a User-Agent is a link-preview bot or a crawler
// rather than a person's browser.
func IsBot(ua string) bool {
	ua = strings.ToLower(ua)
	if ua == "" {
		return false
	}
	for _, b := range bots {
		if strings.Contains(ua, b) {
			return true
		}
	}
	return false
}
