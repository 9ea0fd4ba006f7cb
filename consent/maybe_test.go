package consent_test

import (
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

func TestMaybeStartWhatsAppText(t *testing.T) {
	t.Parallel()
	e := newBinderEnv(t)
	code, err := e.codes.Create(ctx(), e.db, consent.NewCode{Topics: consent.Topics, Source: consent.SourceWidget, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		ev      channels.Event
		started bool
	}{
		{"plain question", channels.Event{Type: channels.EventText, Channel: channels.WhatsApp, From: "79001110000", Text: "Когда доставка?"}, false},
		{"code-shaped but unknown", channels.Event{Type: channels.EventText, Channel: channels.WhatsApp, From: "79001110000", Text: "order ABCDEFGHIJKLMNOPQRSTUV"}, false},
		{"status is not a start", channels.Event{Type: channels.EventDelivered, Channel: channels.WhatsApp, From: "79001110000", Text: code.Code}, false},
		{"edited prefilled text", channels.Event{Type: channels.EventText, Channel: channels.WhatsApp, From: "79001110000", Text: "Привет! " + code.Code + " хочу меню", ProviderEventID: "wamid.7"}, true},
	}
	for _, c := range cases {
		sub, started, err := e.b.MaybeStart(ctx(), c.ev)
		if err != nil || started != c.started {
			t.Errorf("%s: started %v, %v", c.name, started, err)
			continue
		}
		if started && !e.current(t, sub, channels.WhatsApp, consent.TopicMarketing) {
			t.Errorf("%s: marketing not granted", c.name)
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
