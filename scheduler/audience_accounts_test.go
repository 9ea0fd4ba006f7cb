package scheduler

import (
	"slices"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
)

// audience.reachable of a campaign counts identities of the accounts it
// sends through (main unless settings.accounts names another); a segment's
// counts every account.
func TestAudienceReachableOnTheCampaignsAccount(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Now()
	for _, s := range []struct{ ext, account string }{{"on-main", "main"}, {"on-b", "brand-b"}} {
		id := f.subscriber(sub{ext: s.ext})
		f.consent(id, "telegram", "service", true)
		if _, err := f.db.Exec(`INSERT INTO channel_identities (subscriber_id, channel, account, address) VALUES ($1, 'telegram', $2, $3)`,
			id, s.account, s.ext); err != nil {
			t.Fatal(err)
		}
	}
	aud := campaigns.Audience{Reachable: []string{"telegram"}}
	for _, c := range []struct {
		accounts map[string]string
		want     []string
	}{
		{nil, []string{"on-b", "on-main"}},
		{map[string]string{}, []string{"on-main"}},
		{map[string]string{"telegram": "brand-b"}, []string{"on-b"}},
		{map[string]string{"viber": "brand-b"}, []string{"on-main"}},
	} {
		got := audienceMembers(t, f, aud, AudienceTarget{Topic: "service", Channels: []string{"telegram"}, Now: now, Accounts: c.accounts})
		if !slices.Equal(got, c.want) {
			t.Errorf("accounts %v: %v, want %v", c.accounts, got, c.want)
		}
	}
}
