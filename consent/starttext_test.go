package consent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

// A WhatsApp opt-in arrives as a start carrying the customer's message: it
// binds when a token in the text is a known code, and is no start otherwise.
func TestStartFromCustomerText(t *testing.T) {
	t.Parallel()
	e := newBinderEnv(t)
	code, err := e.codes.Create(ctx(), e.db, consent.NewCode{Topics: consent.Topics, Source: consent.SourceWidget, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	start := func(id, text string) channels.Event {
		return channels.Event{Type: channels.EventStart, Channel: channels.WhatsApp, From: "79001110000", Text: text, ProviderEventID: id}
	}
	cases := []struct {
		name    string
		ev      channels.Event
		started bool
	}{
		{"code-shaped but unknown", start("wamid.1", "order ABCDEFGHIJKLMNOPQRSTUV"), false},
		{"edited prefilled text", start("wamid.7", "Привет! "+code.Code+" хочу меню"), true},
		{"the code after an unknown token", start("wamid.8", "ABCDEFGHIJKLMNOPQRSTUV "+code.Code), true},
	}
	for _, c := range cases {
		sub, err := e.b.Start(ctx(), c.ev)
		if started := err == nil; started != c.started || err != nil && !errors.Is(err, consent.ErrNotStart) {
			t.Errorf("%s: subscriber %d, %v", c.name, sub, err)
			continue
		}
		if c.started && !e.current(t, sub, channels.WhatsApp, consent.TopicMarketing) {
			t.Errorf("%s: marketing not granted", c.name)
		}
	}
	var identities int
	if err := e.db.Get(&identities, `SELECT count(*) FROM channel_identities WHERE channel = 'whatsapp'`); err != nil || identities != 1 {
		t.Errorf("whatsapp identities %d (%v): an unknown code must bind nobody", identities, err)
	}
}

func TestWelcomeSpeaksTheSendersLanguage(t *testing.T) {
	for locale, want := range map[string]string{"en-US": "Thanks", "EN": "Thanks", "ru": "Спасибо", "": "Спасибо", "de-DE": "Спасибо"} {
		if got := consent.Welcome(locale); !strings.HasPrefix(got, want) {
			t.Errorf("Welcome(%q) = %q", locale, got)
		}
	}
}

func TestCodesPrune(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	codes := consent.NewCodes(func() time.Time { return testNow.Add(-72 * time.Hour) })
	old, err := codes.Create(ctx(), h.db, consent.NewCode{Topics: consent.Topics, Source: consent.SourceWidget, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := consent.NewCodes(clock).Create(ctx(), h.db, consent.NewCode{Topics: consent.Topics, Source: consent.SourceWidget, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// A used JWT whose token is still valid keeps its code (and its replay guard).
	res, _ := h.get(t, "/s/"+sign(t, jwtHS256(), "hs-new", keys(t).hsNew, baseClaims("prune-1"))+"?channel=telegram")
	if res.StatusCode != 302 {
		t.Fatal(res.StatusCode)
	}
	n, err := consent.NewCodes(clock).Prune(ctx(), h.db, testNow.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if _, err := codes.Get(ctx(), h.db, old.Code); err != consent.ErrCodeNotFound {
		t.Errorf("old code kept: %v", err)
	}
	if _, err := codes.Get(ctx(), h.db, fresh.Code); err != nil {
		t.Errorf("fresh code pruned: %v", err)
	}
	var jti int
	_ = h.db.Get(&jti, `SELECT count(*) FROM consent_jwt_uses`)
	if jti != 1 {
		t.Errorf("jti rows %d", jti)
	}
}
