package inbound_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/inbound"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/subscribers"
)

// A WhatsApp STOP in Meta's webhook format ("from" without "+") revokes
// consent of a subscriber whose number came from the CSV import or the API
// in another spelling: the webhook parser, the inbound sink and the binder
// are the production ones.
func TestWhatsAppStopReachesImportedAndAPISubscribers(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	csv := "external_id,phone,consent_marketing,consent_service,consent_proof\n" +
		"imp-1,8 916 123-45-67,true,true,Checkbox on checkout v3\n"
	if rep, err := subscribers.NewImporter(d, now).Import(ctx, strings.NewReader(csv), subscribers.ImportOptions{Format: subscribers.CSV}); err != nil || rep.Imported != 1 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	api, _, err := subscribers.NewStore(d, now).Upsert(ctx, subscribers.Input{ExternalID: "api-1",
		Identities: []subscribers.IdentityInput{{Channel: channels.WhatsApp, Address: "+7 (916) 765-43-21"}}})
	if err != nil {
		t.Fatal(err)
	}
	l := consent.NewLedger()
	for _, topic := range consent.Topics {
		if err := l.Grant(ctx, d, consent.Change{SubscriberID: api.ID, Channel: consent.AllChannels, Topic: topic, Source: consent.SourceAPI}); err != nil {
			t.Fatal(err)
		}
	}
	var imp int64
	if err := d.Get(&imp, `SELECT id FROM subscribers WHERE external_id = 'imp-1'`); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile("../channels/whatsapp/testdata/text.json")
	if err != nil {
		t.Fatal(err)
	}
	binder := consent.NewBinder(d, log, now)
	sink := inbound.New(d, log, now)
	sink.Connect(inbound.Routes{Consent: binder})
	for i, c := range []struct {
		sub  int64
		from string
	}{{imp, "79161234567"}, {api.ID, "79167654321"}} {
		body := strings.NewReplacer(`"Подписаться GF-7K2Q"`, `"СТОП"`, "79161234567", c.from,
			"wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzQUI2QkM2NzI1RjQ0QTVERTdBNgA=", fmt.Sprintf("wamid.stop-%d", i)).Replace(string(raw))
		evs, err := whatsapp.Parse([]byte(body), "default")
		if err != nil || len(evs) != 1 || evs[0].From != c.from {
			t.Fatalf("parse: %+v, %v", evs, err)
		}
		if _, err := sink.Accept(ctx, evs); err != nil {
			t.Fatal(err)
		}
		for _, topic := range consent.Topics {
			if ok, err := l.Current(ctx, d, c.sub, channels.WhatsApp, topic); err != nil || ok {
				t.Errorf("subscriber %d: whatsapp %s consent after STOP = %v, %v; want revoked", c.sub, topic, ok, err)
			}
		}
		// The opt-out is the channel's: SMS to the same number stays allowed.
		if ok, _ := l.Current(ctx, d, c.sub, channels.SMS, consent.TopicService); !ok {
			t.Errorf("subscriber %d: sms consent lost with the WhatsApp STOP", c.sub)
		}
	}
}
