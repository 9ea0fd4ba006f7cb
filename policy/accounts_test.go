package policy

import (
	"context"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// A campaign reaches a subscriber on a channel only through an identity of
// the account it names there (settings.accounts; main by default): the same
// chat id on two bots is two identities, and the decision carries the
// account to send through.
func TestIdentitiesOfTheCampaignsAccount(t *testing.T) {
	f := fixture{t, testenv.DB(t)}
	ctx := context.Background()
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	svc := campaigns.TopicService
	anna := f.subscriber("anna", "UTC")
	f.consent(anna, "telegram", svc, true)
	f.exec(`INSERT INTO channel_identities (subscriber_id, channel, account, address) VALUES ($1, 'telegram', 'brand-b', '100')`, anna)
	boris := f.subscriber("boris", "UTC")
	f.consent(boris, "telegram", svc, true)
	f.identity(boris, "telegram", "100", nil, nil) // main, the same chat id

	s := NewStore(f.db)
	for _, c := range []struct {
		accounts map[string]string
		sub      int64
		want     string // account of the chosen identity; "" = none
	}{
		{map[string]string{"telegram": "brand-b"}, anna, "brand-b"},
		{map[string]string{"telegram": "brand-b"}, boris, ""},
		{nil, anna, ""},
		{nil, boris, channels.DefaultAccount},
		{map[string]string{"viber": "brand-b"}, boris, channels.DefaultAccount},
	} {
		st := campaigns.Settings{Channels: []string{"telegram"}, Accounts: c.accounts}
		in, err := s.Load(ctx, c.sub, svc, st, now)
		if err != nil {
			t.Fatal(err)
		}
		id, ok := in.Identities[channels.Telegram]
		if got := id.Account; ok != (c.want != "") || got != c.want {
			t.Errorf("accounts %v, subscriber %d: identity %+v, want account %q", c.accounts, c.sub, id, c.want)
		}
		d := Decide(in, []channels.Kind{channels.Telegram})
		if d.Send != (c.want != "") || d.Send && (d.Account != c.want || d.Address != "100") {
			t.Errorf("accounts %v, subscriber %d: decision %+v", c.accounts, c.sub, d)
		}
	}
}
